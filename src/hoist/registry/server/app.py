"""The distribution API over a :class:`~hoist.store.ContentStore` (aiohttp.web).

One catch-all route hands every request to :meth:`Registry.dispatch`, which parses the raw
request path itself (so ``..`` and ``%2e%2e`` reach the name check as sent, and no path
normalisation can turn a bad name into a different, valid one), authenticates, and calls
the endpoint's handler. Handlers raise :class:`ApiError` for the spec's error answers.

SQLite calls run on one worker thread (one connection, calls in order); fsync, rename and
bcrypt on the default executor; bodies stream between socket and disk in pieces."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.web_request import BaseRequest

from hoist.core import mediatypes
from hoist.core.digest import Digest
from hoist.core.manifest import MAX_MANIFEST_SIZE, ManifestError, parse_manifest
from hoist.registry.server import names
from hoist.registry.server.auth import (
    REALM,
    SERVICE,
    Htpasswd,
    Scope,
    TokenIssuer,
    allows,
    grant,
    parse_basic,
    parse_scopes,
)
from hoist.registry.server.errors import (
    ApiError,
    blob_unknown,
    digest_invalid,
    manifest_invalid,
    manifest_unknown,
    name_unknown,
    unsupported,
    upload_unknown,
)
from hoist.registry.server.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from hoist.registry.server.metrics import Metrics
from hoist.registry.server.uploads import UploadError, Uploads, UploadSession
from hoist.store import ContentStore
from hoist.store.repos import ManifestRow, RepositoryIndex

T = TypeVar("T")
log = logging.getLogger("hoist.registry.server")
access_log = logging.getLogger("hoist.registry.server.access")

API_VERSION_HEADER = {"Docker-Distribution-API-Version": "registry/2.0"}
MANIFEST_TYPES = mediatypes.MANIFEST_TYPES | mediatypes.INDEX_TYPES
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Idle upload sessions are dropped after this long (Distribution's upload purging uses
# a week; our sessions are in memory and a client that went quiet for an hour is gone).
UPLOAD_IDLE_SECONDS = 3600.0
RECEIVE_CHUNK = 1 << 20
# A link older than this is renewed when a client finds the blob by HEAD, so gc's grace
# period counts from the last time a pusher relied on it.
LINK_REFRESH_SECONDS = 3600.0


@dataclass(frozen=True)
class ServerOptions:
    store_root: Path
    htpasswd: Path | None = None
    token_auth: bool = False
    read_only: bool = False
    max_manifest_bytes: int = MAX_MANIFEST_SIZE
    upload_idle_seconds: float = UPLOAD_IDLE_SECONDS
    # Where /token is, as clients see it; None: this server's own address.
    token_realm: str | None = None


def _location_range(offset: int) -> str:
    # Distribution answers "0-0" for an empty session (registry/handlers/blobupload.go).
    return f"0-{max(offset - 1, 0)}"


def _parse_content_range(text: str) -> tuple[int, int] | None:
    text = text.strip()
    if text.startswith("bytes "):
        text = text[6:].split("/")[0]
    start, sep, end = text.partition("-")
    if not sep or not start.isdigit() or not end.isdigit():
        return None
    a, b = int(start), int(end)
    return (a, b) if b >= a else None


def _accepts(accept_values: list[str], media_type: str) -> bool:
    """Whether the Accept header(s) take ``media_type``; no header takes anything."""
    offered = [v.split(";")[0].strip() for h in accept_values for v in h.split(",")]
    offered = [o for o in offered if o]
    if not offered:
        return True
    return any(o in (media_type, "*/*", "application/*") for o in offered)


class Registry:
    def __init__(self, options: ServerOptions) -> None:
        self.options = options
        self.store = ContentStore(options.store_root)
        self.blobs = self.store.blobs
        self.index = RepositoryIndex(self.store)
        self._db_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="registry-db")
        self.uploads = Uploads(self.store.root)
        self.metrics = Metrics(uploads_in_flight=lambda: len(self.uploads))
        self.htpasswd = Htpasswd(options.htpasswd) if options.htpasswd else None
        self.tokens = TokenIssuer() if options.token_auth else None
        self._commit_locks: dict[Digest, tuple[asyncio.Lock, int]] = {}
        self._purger: asyncio.Task[None] | None = None
        # ensure the schema exists before the first request
        self._db_thread.submit(lambda: self.store.db).result()

    # ---------------------------------------------------------------- plumbing

    async def db(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._db_thread, fn, *args)

    async def blocking(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)

    @contextlib.asynccontextmanager
    async def gc_guard(self) -> AsyncIterator[None]:
        """Hold the store's gc lock shared: blobs committed and linked meanwhile cannot be
        swept by a concurrent ``hoist store gc`` between commit and link."""
        holder = self.store.writing()
        await self.blocking(holder.__enter__)
        try:
            yield
        finally:
            holder.__exit__(None, None, None)

    @contextlib.asynccontextmanager
    async def commit_lock(self, digest: Digest) -> AsyncIterator[None]:
        lock, users = self._commit_locks.get(digest, (asyncio.Lock(), 0))
        self._commit_locks[digest] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._commit_locks[digest]
            if users <= 1:
                del self._commit_locks[digest]
            else:
                self._commit_locks[digest] = (lock, users - 1)

    async def on_startup(self, app: web.Application) -> None:
        self._purger = asyncio.create_task(self._purge_loop())

    async def on_cleanup(self, app: web.Application) -> None:
        if self._purger is not None:
            self._purger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._purger
        self.uploads.close()
        await self.db(self.store.close)
        self._db_thread.shutdown(wait=True)

    async def _purge_loop(self) -> None:
        every = max(1.0, min(60.0, self.options.upload_idle_seconds / 4))
        while True:
            await asyncio.sleep(every)
            self.uploads.purge_idle(self.options.upload_idle_seconds)

    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=self.options.max_manifest_bytes + 1)
        app.router.add_route("*", "/{tail:.*}", self.dispatch)
        app.on_startup.append(self.on_startup)
        app.on_cleanup.append(self.on_cleanup)
        return app

    # ---------------------------------------------------------------- dispatch

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        method = request.method
        status = 500
        try:
            response = await self._dispatch(request)
            status = response.status
            return response
        except ApiError as e:
            status = e.status
            return self._error_response(request, e)
        except web.HTTPException as e:
            status = e.status
            raise
        except Exception:
            log.exception("%s %s failed", method, request.path)
            status = 500
            return self._error_response(
                request, ApiError(500, "UNKNOWN", message="internal error"))
        finally:
            self.metrics.count_request(method, status)

    def _error_response(self, request: web.Request, e: ApiError) -> web.Response:
        headers = {**API_VERSION_HEADER, **e.headers}
        body = None if request.method == "HEAD" else e.body()
        return web.Response(status=e.status, body=body, headers=headers,
                            content_type="application/json")

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        raw_path = request.raw_path.split("?", 1)[0]
        r = names.route(raw_path)
        if r.endpoint == "metrics":
            return web.Response(text=self.metrics.render(),
                                headers={"Content-Type": METRICS_CONTENT_TYPE})
        if r.endpoint == "token":
            return await self.token_endpoint(request)
        user = await self.authorize(request, self._needed(request, r))
        if user:
            request["user"] = user
        if self.options.read_only and request.method in MUTATING:
            raise unsupported("the registry is read-only")
        handler = self._handlers.get((r.endpoint, request.method))
        if handler is None:
            if r.endpoint in ("manifest", "blob") and request.method == "HEAD":
                handler = self._handlers[(r.endpoint, "GET")]
            else:
                raise unsupported(f"{request.method} is not supported on this endpoint")
        response = await handler(self, request, r)
        response.headers.update(API_VERSION_HEADER)
        return response

    # ---------------------------------------------------------------- auth

    def _needed(self, request: web.Request, r: names.Route) -> list[Scope]:
        if r.endpoint == "ping":
            return []
        if r.endpoint == "catalog":
            return [Scope("registry", "catalog", frozenset({"*"}))]
        action = "push" if request.method in MUTATING else "pull"
        if r.endpoint == "manifest" and request.method == "DELETE":
            action = "delete"
        needed = [Scope("repository", r.name, frozenset({action}))]
        if action == "push":  # what the docker client asks for when it pushes
            needed = [Scope("repository", r.name, frozenset({"pull", "push"}))]
        source = request.query.get("from")
        if (r.endpoint == "upload_start" and request.query.get("mount") and source
                and names.valid_name(source)):
            needed.append(Scope("repository", source, frozenset({"pull"})))
        return needed

    async def authorize(self, request: web.Request, needed: list[Scope]) -> str:
        """The authenticated user ('' when no auth is configured), or a 401 ApiError."""
        if self.htpasswd is None:
            return ""
        header = request.headers.get("Authorization", "")
        if self.tokens is not None:
            scheme, _, value = header.partition(" ")
            if scheme.lower() == "bearer":
                verified = self.tokens.verify(value.strip())
                if verified is not None and all(allows(verified[1], n) for n in needed):
                    return verified[0] or "-"
            raise self._challenge(request, needed, bool(header))
        creds = parse_basic(header) if header else None
        if creds is not None and await self.blocking(self.htpasswd.check, *creds):
            return creds[0]
        raise self._challenge(request, needed, bool(header))

    def _challenge(self, request: web.Request, needed: list[Scope],
                   sent: bool) -> ApiError:
        if self.tokens is not None:
            realm = self.options.token_realm or f"{request.scheme}://{request.host}/token"
            challenge = f'Bearer realm="{realm}",service="{SERVICE}"'
            if needed:
                challenge += f',scope="{" ".join(str(n) for n in needed)}"'
        else:
            challenge = f'Basic realm="{REALM}"'
        detail = [{"Type": n.type, "Name": n.name, "Action": a}
                  for n in needed for a in sorted(n.actions)] or None
        message = "authentication required" if not sent else "access to the resource is denied"
        return ApiError(401, "UNAUTHORIZED", detail, message=message,
                        headers={"WWW-Authenticate": challenge})

    async def token_endpoint(self, request: web.Request) -> web.Response:
        if self.tokens is None or self.htpasswd is None:
            raise ApiError(404, "UNSUPPORTED", message="this registry issues no tokens")
        scopes_text: list[str] = list(request.query.getall("scope", []))
        subject = ""
        refresh = False
        if request.method == "POST":
            form = await request.post()
            grant_type = str(form.get("grant_type", ""))
            scopes_text.append(str(form.get("scope", "")))
            if grant_type == "password":
                user, password = str(form.get("username", "")), str(form.get("password", ""))
                if not await self.blocking(self.htpasswd.check, user, password):
                    raise ApiError(401, "UNAUTHORIZED", message="invalid credentials")
                subject = user
                refresh = str(form.get("access_type", "")) == "offline"
            elif grant_type == "refresh_token":
                found = self.tokens.refresh_subject(str(form.get("refresh_token", "")))
                if found is None:
                    raise ApiError(401, "UNAUTHORIZED", message="invalid refresh token")
                subject = found
            else:
                raise ApiError(400, "UNSUPPORTED", message="unknown grant_type")
        elif request.method == "GET":
            header = request.headers.get("Authorization", "")
            if header:
                creds = parse_basic(header)
                if creds is None or not await self.blocking(self.htpasswd.check, *creds):
                    raise ApiError(401, "UNAUTHORIZED", message="invalid credentials",
                                   headers={"WWW-Authenticate": f'Basic realm="{REALM}"'})
                subject = creds[0]
                refresh = request.query.get("offline_token") == "true"
        else:
            raise unsupported(f"{request.method} /token")
        granted = grant(parse_scopes(scopes_text)) if subject else []
        token = self.tokens.issue(subject, granted)
        doc: dict[str, Any] = {
            "token": token, "access_token": token, "expires_in": self.tokens.seconds,
            "issued_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
        if refresh and subject:
            doc["refresh_token"] = self.tokens.issue_refresh(subject)
        return web.json_response(doc)

    # ---------------------------------------------------------------- base, catalog, tags

    async def ping(self, request: web.Request, r: names.Route) -> web.StreamResponse:
        return web.json_response({})

    @staticmethod
    def _page_size(request: web.Request) -> int | None:
        n_text = request.query.get("n")
        if n_text is None or n_text == "":
            return None
        if not n_text.isdigit():
            raise ApiError(400, "PAGINATION_NUMBER_INVALID", {"n": n_text[:40]})
        return int(n_text)

    def _next_link(self, path: str, last: str, n: int) -> str:
        query = urllib.parse.urlencode({"last": last, "n": n})
        return f'<{path}?{query}>; rel="next"'

    async def catalog(self, request: web.Request, r: names.Route) -> web.StreamResponse:
        n = self._page_size(request)
        last = request.query.get("last", "")
        repos = [] if n == 0 else await self.db(self.index.repositories, last,
                                                None if n is None else n + 1)
        headers = {}
        if n is not None and len(repos) > n:
            repos = repos[:n]
            headers["Link"] = self._next_link("/v2/_catalog", repos[-1], n)
        return web.json_response({"repositories": repos}, headers=headers)

    async def tags(self, request: web.Request, r: names.Route) -> web.StreamResponse:
        n = self._page_size(request)
        last = request.query.get("last", "")
        if not await self.db(self.index.exists, r.name):
            raise name_unknown(r.name)
        tags = [] if n == 0 else await self.db(self.index.tags, r.name, last,
                                               None if n is None else n + 1)
        headers = {}
        if n is not None and len(tags) > n:
            tags = tags[:n]
            headers["Link"] = self._next_link(f"/v2/{r.name}/tags/list", tags[-1], n)
        return web.json_response({"name": r.name, "tags": tags}, headers=headers)

    # ---------------------------------------------------------------- manifests

    async def _resolve(self, r: names.Route) -> ManifestRow:
        if ":" in r.reference:
            digest = names.parse_digest(r.reference)
        else:
            if not names.valid_tag(r.reference):
                raise ApiError(400, "TAG_INVALID", {"tag": r.reference[:200]})
            found = await self.db(self.index.resolve_tag, r.name, r.reference)
            if found is None:
                raise manifest_unknown(r.reference)
            digest = found
        row = await self.db(self.index.manifest, r.name, digest)
        if row is None or not self.blobs.has(digest):
            raise manifest_unknown(r.reference)
        return row

    async def get_manifest(self, request: web.Request, r: names.Route) -> web.StreamResponse:
        row = await self._resolve(r)
        if not _accepts(request.headers.getall("Accept", []), row.media_type):
            # As Distribution does for a manifest type the client did not list.
            raise ApiError(404, "MANIFEST_UNKNOWN", {
                "reference": r.reference, "mediaType": row.media_type},
                message="manifest unknown: not available in an accepted media type")
        headers = {"Docker-Content-Digest": str(row.digest), "ETag": f'"{row.digest}"',
                   "Content-Type": row.media_type}
        if request.method == "HEAD":
            headers["Content-Length"] = str(row.size)
            return web.Response(status=200, headers=headers)
        raw = await self.blocking(self.blobs.read, row.digest)
        self.metrics.bytes_served += len(raw)
        return web.Response(status=200, body=raw, headers=headers)

    async def _read_manifest_body(self, request: web.Request) -> bytes:
        limit = self.options.max_manifest_bytes
        if request.content_length is not None and request.content_length > limit:
            raise ApiError(413, "SIZE_INVALID", {"limit": limit},
                           message=f"manifest is over the {limit}-byte limit")
        data = bytearray()
        while chunk := await request.content.read(RECEIVE_CHUNK):
            data += chunk
            if len(data) > limit:
                raise ApiError(413, "SIZE_INVALID", {"limit": limit},
                               message=f"manifest is over the {limit}-byte limit")
        return bytes(data)

    async def put_manifest(self, request: web.Request, r: names.Route) -> web.StreamResponse:
        tag: str | None = None
        wanted: Digest | None = None
        if ":" in r.reference:
            wanted = names.parse_digest(r.reference)
        elif names.valid_tag(r.reference):
            tag = r.reference
        else:
            raise ApiError(400, "TAG_INVALID", {"tag": r.reference[:200]})
        raw = await self._read_manifest_body(request)
        content_type = request.headers.get("Content-Type", "").split(";")[0].strip()
        try:
            doc = json.loads(raw)
        except (ValueError, RecursionError) as e:
            raise manifest_invalid(f"not JSON: {str(e)[:200]}") from None
        if not isinstance(doc, dict):
            raise manifest_invalid("not a JSON object")
        declared = doc.get("mediaType")
        if declared is not None and not isinstance(declared, str):
            raise manifest_invalid("mediaType is not a string")
        # spec.md "Pushing Manifests": Content-Type must match the document's mediaType.
        if declared and content_type and declared != content_type:
            raise manifest_invalid(f"Content-Type {content_type!r} does not match the "
                                   f"manifest's mediaType {declared!r}")
        kind = declared or content_type
        if kind not in MANIFEST_TYPES:
            raise manifest_invalid(f"unsupported manifest media type {kind[:100]!r}")
        if doc.get("schemaVersion") != 2:
            raise manifest_invalid("schemaVersion is not 2")
        try:
            manifest = parse_manifest(raw, kind)
        except ManifestError as e:
            raise manifest_invalid(str(e)[:300]) from None
        digest = manifest.digest
        if wanted is not None:
            if wanted.algorithm != digest.algorithm:
                digest = Digest.from_bytes(raw, wanted.algorithm)
            if wanted != digest:
                raise digest_invalid(f"manifest hashes to {digest}, not {wanted}")
        if manifest.is_index:
            needed = [d.digest for d in manifest.manifests]
        else:
            # Foreign layers (with urls) are fetched from elsewhere by design.
            needed = [d.digest for d in manifest.blobs()
                      if d.media_type != mediatypes.DOCKER_FOREIGN_LAYER]
        artifact_type = doc.get("artifactType")
        if not isinstance(artifact_type, str) or not artifact_type:
            artifact_type = manifest.config.media_type if manifest.config else ""
        annotations = doc.get("annotations")
        if not isinstance(annotations, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in annotations.items()):
            annotations = {}
        row = ManifestRow(r.name, digest, kind, len(raw),
                          manifest.subject.digest if manifest.subject else None,
                          artifact_type, annotations)
        async with self.gc_guard():
            missing = await self.db(self.index.unlinked, r.name, needed)
            missing += [d for d in needed if d not in missing and not self.blobs.has(d)]
            if missing:
                raise ApiError(400, "MANIFEST_BLOB_UNKNOWN", {"digest": str(missing[0])})
            await self.blocking(self.blobs.put, raw, digest)
            await self.db(self.index.put_manifest, row, tag)
        headers = {"Location": f"/v2/{r.name}/manifests/{digest}",
                   "Docker-Content-Digest": str(digest)}
        if manifest.subject is not None:
            headers["OCI-Subject"] = str(manifest.subject.digest)
        return web.Response(status=201, headers=headers)

    async def delete_manifest(self, request: web.Request,
                              r: names.Route) -> web.StreamResponse:
        if ":" in r.reference:
            digest = names.parse_digest(r.reference)
            if not await self.db(self.index.delete_manifest, r.name, digest):
                raise manifest_unknown(r.reference)
        else:
            if not names.valid_tag(r.reference):
                raise ApiError(400, "TAG_INVALID", {"tag": r.reference[:200]})
            if not await self.db(self.index.delete_tag, r.name, r.reference):
                raise manifest_unknown(r.reference)
        return web.Response(status=202)

    async def referrers(self, request: web.Request, r: names.Route) -> web.StreamResponse:
        subject = names.parse_digest(r.reference)
        rows = await self.db(self.index.referrers, r.name, subject)
        wanted = request.query.get("artifactType")
        headers = {}
        if wanted:
            rows = [row for row in rows if row.artifact_type == wanted]
            headers["OCI-Filters-Applied"] = "artifactType"
        entries = []
        for row in rows:
            entry: dict[str, Any] = {"mediaType": row.media_type, "digest": str(row.digest),
                                     "size": row.size}
            if row.artifact_type:
                entry["artifactType"] = row.artifact_type
            if row.annotations:
                entry["annotations"] = dict(row.annotations)
            entries.append(entry)
        body = json.dumps({"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX,
                           "manifests": entries}).encode()
        headers["Content-Type"] = mediatypes.OCI_INDEX
        return web.Response(status=200, body=body, headers=headers)

    # ---------------------------------------------------------------- blobs

    async def get_blob(self, request: web.Request, r: names.Route) -> web.StreamResponse:
        digest = names.parse_digest(r.reference)
        # a manifest is content too: clients fetch manifests through /blobs/ at times
        if (not await self.db(self.index.blob_linked, r.name, digest)
                and await self.db(self.index.manifest, r.name, digest) is None):
            raise blob_unknown(str(digest))
        size = self.blobs.size(digest)
        if size is None:
            raise blob_unknown(str(digest))
        headers = {"Docker-Content-Digest": str(digest),
                   "Content-Type": "application/octet-stream",
                   "ETag": f'"{digest}"', "Accept-Ranges": "bytes"}
        if request.method == "HEAD":
            await self.db(self.index.refresh_link, r.name, digest, LINK_REFRESH_SECONDS)
            headers["Content-Length"] = str(size)
            return web.Response(status=200, headers=headers)
        return _BlobResponse(self.metrics, self.blobs.path(digest), headers=headers)

    async def delete_blob(self, request: web.Request, r: names.Route) -> web.StreamResponse:
        digest = names.parse_digest(r.reference)
        if not await self.db(self.index.unlink_blob, r.name, digest):
            raise blob_unknown(str(digest))
        return web.Response(status=202, headers={"Docker-Content-Digest": str(digest)})

    # ---------------------------------------------------------------- uploads

    def _session_headers(self, session: UploadSession) -> dict[str, str]:
        return {"Location": f"/v2/{session.repo}/blobs/uploads/{session.id}",
                "Range": _location_range(session.offset),
                "Docker-Upload-UUID": session.id}

    def _session(self, r: names.Route) -> UploadSession:
        session = self.uploads.get(r.name, r.reference)
        if session is None:
            raise upload_unknown(r.reference[:64])
        return session

    async def _link(self, repo: str, digest: Digest) -> web.Response:
        return web.Response(status=201, headers={
            "Location": f"/v2/{repo}/blobs/{digest}", "Docker-Content-Digest": str(digest)})

    async def start_upload(self, request: web.Request, r: names.Route) -> web.StreamResponse:
        mount, source = request.query.get("mount"), request.query.get("from")
        if mount and source:
            digest = names.parse_digest(mount)
            names.check_name(source)
            async with self.gc_guard():
                if (await self.db(self.index.blob_linked, source, digest)
                        and self.blobs.has(digest)):
                    await self.db(self.index.link_blob, r.name, digest)
                    return await self._link(r.name, digest)
        digest_text = request.query.get("digest")
        if digest_text:
            digest = names.parse_digest(digest_text)
            session = self.uploads.create(r.name)
            return await self._finish(request, session, digest)
        session = self.uploads.create(r.name)
        return web.Response(status=202, headers={**self._session_headers(session),
                                                 "Content-Length": "0"})

    async def _receive(self, request: web.Request, session: UploadSession) -> None:
        """Append the request body; on PATCH (and a PUT carrying a last chunk) a
        Content-Range must start where the session ends (416 otherwise)."""
        range_header = request.headers.get("Content-Range")
        length = request.content_length
        if range_header:
            parsed = _parse_content_range(range_header)
            if parsed is None:
                raise ApiError(416, "RANGE_INVALID", {"Content-Range": range_header[:100]},
                               headers=self._session_headers(session))
            start, end = parsed
            if start != session.offset or (length is not None and length != end - start + 1):
                raise ApiError(416, "RANGE_INVALID", {
                    "Content-Range": range_header[:100], "offset": session.offset},
                    message="chunk does not start where the upload ends",
                    headers=self._session_headers(session))
            length = end - start + 1
        if length == 0 or (length is None and not request.body_exists):
            return
        self.metrics.bytes_received += await self.uploads.append(
            session, request.content.iter_chunked(RECEIVE_CHUNK), length)

    async def patch_upload(self, request: web.Request, r: names.Route) -> web.StreamResponse:
        session = self._session(r)
        async with session.lock:
            try:
                await self._receive(request, session)
            except UploadError as e:
                raise ApiError(400, "BLOB_UPLOAD_INVALID", str(e)) from None
        return web.Response(status=202, headers={**self._session_headers(session),
                                                 "Content-Length": "0"})

    async def put_upload(self, request: web.Request, r: names.Route) -> web.StreamResponse:
        session = self._session(r)
        digest_text = request.query.get("digest")
        if not digest_text:
            raise digest_invalid("the digest query parameter is missing")
        digest = names.parse_digest(digest_text)
        return await self._finish(request, session, digest)

    async def _finish(self, request: web.Request, session: UploadSession,
                      digest: Digest) -> web.Response:
        """Receive the last bytes, verify, commit once, link. Any failure removes the
        session and its bytes: nothing of a failed upload stays on disk."""
        async with session.lock:
            try:
                try:
                    await self._receive(request, session)
                except UploadError as e:
                    raise ApiError(400, "BLOB_UPLOAD_INVALID", str(e)) from None
                actual = await self.blocking(self.uploads.digest_of, session,
                                             digest.algorithm)
                if actual != digest:
                    raise digest_invalid(f"upload of {session.offset} bytes hashes to "
                                         f"{actual}, not {digest}")
                async with self.commit_lock(digest), self.gc_guard():
                    if await self.blocking(self.uploads.commit, session, self.blobs, digest):
                        self.metrics.blobs_committed += 1
                    await self.db(self.index.link_blob, session.repo, digest)
            except BaseException:
                self.uploads.discard(session)
                raise
        return await self._link(session.repo, digest)

    async def upload_status(self, request: web.Request, r: names.Route) -> web.StreamResponse:
        session = self._session(r)
        return web.Response(status=204, headers=self._session_headers(session))

    async def cancel_upload(self, request: web.Request, r: names.Route) -> web.StreamResponse:
        session = self._session(r)
        async with session.lock:
            self.uploads.discard(session)
        return web.Response(status=204)

    Handler = Callable[["Registry", web.Request, names.Route], Awaitable[web.StreamResponse]]
    _handlers: ClassVar[dict[tuple[str, str], Handler]] = {
        ("ping", "GET"): ping,
        ("catalog", "GET"): catalog,
        ("tags", "GET"): tags,
        ("manifest", "GET"): get_manifest,
        ("manifest", "PUT"): put_manifest,
        ("manifest", "DELETE"): delete_manifest,
        ("referrers", "GET"): referrers,
        ("blob", "GET"): get_blob,
        ("blob", "DELETE"): delete_blob,
        ("upload_start", "POST"): start_upload,
        ("upload", "PATCH"): patch_upload,
        ("upload", "PUT"): put_upload,
        ("upload", "GET"): upload_status,
        ("upload", "DELETE"): cancel_upload,
    }


class _BlobResponse(web.FileResponse):
    """A blob from disk (aiohttp sends it with sendfile and answers Range requests);
    counts the bytes it sent once they are written."""

    def __init__(self, metrics: Metrics, path: Path, headers: Mapping[str, str]) -> None:
        super().__init__(path, headers=headers)
        self._metrics = metrics

    async def prepare(self, request: BaseRequest) -> Any:
        writer = await super().prepare(request)
        if request.method != "HEAD" and self.status in (200, 206):
            self._metrics.bytes_served += self.content_length or 0
        return writer


class AccessLogger(AbstractAccessLogger):
    """Common Log Format: ``host ident user [time] "request line" status bytes``."""

    def __init__(self, logger: logging.Logger, log_format: str) -> None:
        super().__init__(logger, log_format)

    def log(self, request: BaseRequest, response: web.StreamResponse, time_: float) -> None:
        if not self.logger.isEnabledFor(logging.INFO):
            return
        size = response.body_length
        if isinstance(response, web.FileResponse):  # sendfile bytes are not in body_length
            size = response.content_length or 0 if request.method != "HEAD" else 0
        user = request.get("user") or "-"
        stamp = datetime.now(UTC).astimezone().strftime("%d/%b/%Y:%H:%M:%S %z")
        line = (f"{request.remote or '-'} - {user} [{stamp}] "
                f'"{request.method} {request.raw_path} HTTP/{request.version.major}.'
                f'{request.version.minor}" {response.status} {size or "-"}')
        self.logger.info(line)

    @property
    def enabled(self) -> bool:
        return True


REGISTRY_KEY = web.AppKey("registry", Registry)


def build_app(options: ServerOptions) -> web.Application:
    registry = Registry(options)
    app = registry.make_app()
    app[REGISTRY_KEY] = registry
    return app

