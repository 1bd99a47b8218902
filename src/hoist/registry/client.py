"""The OCI distribution API, client side, for one registry host.

Reads verify everything: a manifest against the digest asked for (or the one the registry
announced), a blob byte by byte as it arrives, with ``Range`` resume when the connection
breaks. Pushes skip blobs the registry has, mount across repositories when they can, and
follow the newest ``Location`` of an upload session (Distribution 2.8 issues a new state
token with every response)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import http.client
import logging
import re
import threading
from collections.abc import AsyncIterable, AsyncIterator, Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import aiohttp

from hoist.core import mediatypes
from hoist.core.digest import Digest, DigestError
from hoist.core.manifest import (
    MAX_MANIFEST_SIZE,
    Descriptor,
    Manifest,
    ManifestError,
    parse_manifest,
)
from hoist.registry.auth import repository_scope
from hoist.registry.blobreader import Outcome, Sink, fetch_into, put_file
from hoist.registry.errors import (
    DigestMismatch,
    InvalidContent,
    NotFound,
    RegistryError,
    TransferError,
    Unsupported,
    decode_error,
)
from hoist.registry.transport import (
    RETRY_STATUSES,
    BodyFactory,
    RetryPolicy,
    Transport,
    retry_after_seconds,
    wait_refused,
)

log = logging.getLogger("hoist.registry")

# Reads of 1 MiB keep the per-chunk overhead of the loop and the hand-off to the hashing
# thread small (facts/oci.md: aiohttp at 1 MiB reads ≈ 910 MiB/s).
CHUNK = 1 << 20
# Resumes that make progress do not count as failures, but a server that breaks every
# response after a few bytes must not keep us going for ever.
MAX_RESUMES = 100
_LINK_RE = re.compile(r'<([^>]*)>\s*;\s*rel="?next"?')
_CONTENT_RANGE_RE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
_EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


ProgressFn = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class PushedBlob:
    digest: Digest
    how: str  # "exists", "mounted" or "uploaded"


class RegistryClient:
    """Operations on one registry. Share one :class:`aiohttp.ClientSession` between
    clients; the token cache and the remembered challenge live in the transport."""

    def __init__(self, transport: Transport, executor: Executor | None = None) -> None:
        self.t = transport
        self.registry = transport.registry
        self._executor = executor

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _pull(repo: str) -> tuple[str, ...]:
        return (repository_scope(repo, ["pull"]),)

    @staticmethod
    def _push(repo: str, mount_from: str | None = None) -> tuple[str, ...]:
        scopes = [repository_scope(repo, ["pull", "push"])]
        if mount_from and mount_from != repo:
            scopes.append(repository_scope(mount_from, ["pull"]))
        return tuple(scopes)

    @property
    def retry(self) -> RetryPolicy:
        return self.t.retry

    async def ping(self) -> None:
        """``GET /v2/``: checks the registry answers and that our credential works."""
        await self.t.request("GET", "/v2/", ok=(200,), action="ping")

    # ------------------------------------------------------------------ manifests

    async def resolve(self, repo: str, ref: str) -> Descriptor:
        """The descriptor a tag or digest names: one HEAD, or a GET when the registry's
        HEAD does not say the digest (or is not allowed)."""
        accept = ", ".join(mediatypes.MANIFEST_ACCEPT)
        try:
            resp = await self.t.request(
                "HEAD", f"/v2/{repo}/manifests/{ref}", scopes=self._pull(repo),
                headers={"Accept": accept}, repository=repo, reference=ref, action="resolve")
        except NotFound:
            raise NotFound("manifest unknown", registry=self.registry, repository=repo,
                           reference=ref, status=404, code="MANIFEST_UNKNOWN") from None
        except Unsupported as e:
            if e.status != 405:
                raise
            return (await self.get_manifest(repo, ref)).descriptor
        header = resp.headers.get("Docker-Content-Digest")
        ctype = resp.headers.get("Content-Type", "").split(";")[0].strip()
        length = resp.headers.get("Content-Length")
        if header and length and length.isdigit() and (
                mediatypes.is_index(ctype) or mediatypes.is_manifest(ctype)):
            try:
                digest = Digest.parse(header)
            except DigestError:
                digest = None
            if digest is not None and (not _is_digest(ref) or str(digest) == ref):
                return Descriptor(ctype, digest, int(length))
        manifest = await self.get_manifest(repo, ref)
        return manifest.descriptor

    async def get_manifest(self, repo: str, ref: str,
                           accept: Sequence[str] = mediatypes.MANIFEST_ACCEPT) -> Manifest:
        """Fetch and verify a manifest. A broken or corrupted body is fetched again, up to
        the retry policy's attempts: a manifest is small, and a pull should not fail for
        one reset connection."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self._get_manifest_once(repo, ref, accept)
            except (TransferError, DigestMismatch):
                if attempt >= self.retry.attempts:
                    raise
                await asyncio.sleep(self.retry.delay(attempt))

    async def _get_manifest_once(self, repo: str, ref: str,
                                 accept: Sequence[str]) -> Manifest:
        resp = await self.t.request(
            "GET", f"/v2/{repo}/manifests/{ref}", scopes=self._pull(repo),
            headers={"Accept": ", ".join(accept)}, repository=repo, reference=ref,
            action="get manifest", stream=True)
        try:
            raw = await _read_capped(resp, MAX_MANIFEST_SIZE)
        except ValueError:
            raise InvalidContent(f"manifest larger than {MAX_MANIFEST_SIZE} bytes",
                                 registry=self.registry, repository=repo,
                                 reference=ref) from None
        except (TimeoutError, aiohttp.ClientError, asyncio.IncompleteReadError) as e:
            raise TransferError(f"get manifest: connection broke ({type(e).__name__})",
                                registry=self.registry, repository=repo,
                                reference=ref) from None
        finally:
            resp.release()
        expected = None
        if _is_digest(ref):
            expected = Digest.parse(ref)
        elif (header := resp.headers.get("Docker-Content-Digest")):
            with contextlib.suppress(DigestError):
                expected = Digest.parse(header)
        actual = Digest.from_bytes(raw, expected.algorithm if expected else "sha256")
        if expected is not None and actual != expected:
            raise DigestMismatch(f"manifest hashes to {actual}, expected {expected}",
                                 registry=self.registry, repository=repo, reference=ref)
        try:
            return parse_manifest(raw, resp.headers.get("Content-Type", ""))
        except ManifestError as e:
            raise InvalidContent(f"manifest: {e}", registry=self.registry, repository=repo,
                                 reference=ref) from None

    async def manifest_exists(self, repo: str, digest: Digest) -> bool:
        try:
            await self.t.request(
                "HEAD", f"/v2/{repo}/manifests/{digest}", scopes=self._pull(repo),
                headers={"Accept": ", ".join(mediatypes.MANIFEST_ACCEPT)},
                repository=repo, reference=str(digest), action="check manifest")
        except NotFound:
            return False
        return True

    async def put_manifest(self, repo: str, ref: str, raw: bytes, media_type: str) -> Digest:
        """PUT a manifest under a tag or its digest, with its media type as Content-Type."""
        digest = Digest.from_bytes(raw)
        resp = await self.t.request(
            "PUT", f"/v2/{repo}/manifests/{ref}", scopes=self._push(repo),
            headers={"Content-Type": media_type}, body=raw, ok=(200, 201, 202),
            repository=repo, reference=ref, action="put manifest")
        header = resp.headers.get("Docker-Content-Digest")
        if header and header != str(digest):
            raise DigestMismatch(f"registry stored the manifest as {header}, we sent {digest}",
                                 registry=self.registry, repository=repo, reference=ref)
        return digest

    async def delete_manifest(self, repo: str, ref: str) -> None:
        scopes = (repository_scope(repo, ["pull", "push", "delete"]),)
        try:
            await self.t.request("DELETE", f"/v2/{repo}/manifests/{ref}", scopes=scopes,
                                 ok=(200, 202), repository=repo, reference=ref,
                                 action="delete manifest")
        except InvalidContent as e:
            if not _is_digest(ref):
                # Distribution 2.8 answers 400 to deleting a tag; only digests delete there.
                raise Unsupported(f"this registry deletes manifests by digest only ({e.code})",
                                  registry=self.registry, repository=repo,
                                  reference=ref) from None
            raise

    async def list_tags(self, repo: str, page_size: int | None = None) -> list[str]:
        """Every tag, following ``Link: <…>; rel="next"`` pages."""
        tags: list[str] = []
        path = f"/v2/{repo}/tags/list"
        query = {"n": str(page_size)} if page_size else None
        pages = 0
        while path:
            pages += 1
            if pages > 10_000:
                raise TransferError("tag listing did not end after 10000 pages",
                                    registry=self.registry, repository=repo)
            resp = await self.t.request("GET", path, scopes=self._pull(repo), query=query,
                                        repository=repo, action="list tags")
            try:
                doc = await resp.json(content_type=None)
            except ValueError:
                raise InvalidContent("tag list is not JSON", registry=self.registry,
                                     repository=repo) from None
            page = doc.get("tags") if isinstance(doc, dict) else None
            tags += [t for t in (page or []) if isinstance(t, str)]
            path, query = "", None
            link = resp.headers.get("Link")
            if link and (m := _LINK_RE.search(link)):
                path = urljoin(self.t.base_url + f"/v2/{repo}/tags/list", m.group(1))
        return tags

    # ------------------------------------------------------------------ blobs

    async def blob_size(self, repo: str, digest: Digest,
                        scopes: tuple[str, ...] | None = None) -> int | None:
        """The size of a blob the registry has, or None (one HEAD)."""
        try:
            resp = await self.t.request("HEAD", f"/v2/{repo}/blobs/{digest}",
                                        scopes=scopes or self._pull(repo), repository=repo,
                                        reference=str(digest), action="check blob")
        except NotFound:
            return None
        length = resp.headers.get("Content-Length", "")
        return int(length) if length.isdigit() else 0

    async def fetch_blob(self, repo: str, desc: Descriptor, sink: Sink,
                         progress: ProgressFn | None = None) -> None:
        """Write the blob into ``sink`` from ``sink.offset`` on, resuming with ``Range``
        after a broken connection. The sink hashes; the caller commits (and so verifies).
        Attempts that make progress do not count against the retry budget."""
        if desc.size == 0 and desc.digest.encoded == _EMPTY_SHA256:
            return
        loop = asyncio.get_running_loop()
        failures = 0
        restarts = 0
        auth_retried = False
        path = f"/v2/{repo}/blobs/{desc.digest}"
        scopes = self._pull(repo)
        while sink.offset < desc.size:
            start = sink.offset
            url, headers = await self.t.prepare(path, scopes)
            stop = threading.Event()
            try:
                outcome = await loop.run_in_executor(
                    self._executor, functools.partial(
                        fetch_into, url, headers, sink, desc.size,
                        timeout=self.retry.read_timeout, progress=progress, stop=stop))
            except asyncio.CancelledError:
                stop.set()  # the worker thread stops at its next buffer
                raise
            except (OSError, http.client.HTTPException) as e:
                failures = 0 if sink.offset > start else failures + 1
                restarts += 1
                if failures >= self.retry.attempts or restarts > MAX_RESUMES:
                    why = (f"{failures} times without progress" if failures
                           else f"{restarts} times")
                    raise TransferError(
                        f"get blob: connection broke {why} ({_describe(e)}) at byte "
                        f"{sink.offset} of {desc.size}",
                        registry=self.registry, repository=repo,
                        reference=str(desc.digest)) from None
                log.debug("blob %s: %s at %d/%d; resuming", desc.digest, type(e).__name__,
                          sink.offset, desc.size)
                if failures:
                    await asyncio.sleep(self.retry.delay(failures))
                continue
            if outcome.status in (200, 206):
                continue
            if outcome.status == 401 and not auth_retried and self.t.note_unauthorized(
                    outcome.headers.get("www-authenticate", []), scopes):
                auth_retried = True
                continue
            failures += 1
            err = self._outcome_error(outcome, repo, desc.digest, "get blob")
            wait = err.retry_after or 0.0
            if outcome.status in RETRY_STATUSES and failures < self.retry.attempts and (
                    wait <= self.retry.max_retry_after):
                await asyncio.sleep(max(self.retry.delay(failures), wait))
                continue
            raise err

    def _outcome_error(self, outcome: Outcome, repo: str, digest: Digest,
                       action: str) -> RegistryError:
        """The error a failed threaded request stands for, carrying its Retry-After; a
        wait longer than we accept is said so."""
        after = retry_after_seconds(outcome.header("Retry-After"))
        if outcome.status in RETRY_STATUSES and after is not None and (
                after > self.retry.max_retry_after):
            return wait_refused(outcome.status, after, self.retry, registry=self.registry,
                                repository=repo, reference=str(digest), action=action)
        err = decode_error(outcome.status, outcome.body, registry=self.registry,
                           repository=repo, reference=str(digest), action=action)
        err.retry_after = after
        return err

    async def stream_blob(self, repo: str, desc: Descriptor) -> AsyncIterator[bytes]:
        """The blob's bytes, unverified (the receiving registry verifies on PUT)."""
        resp = await self.t.request("GET", f"/v2/{repo}/blobs/{desc.digest}",
                                    scopes=self._pull(repo), stream=True, repository=repo,
                                    reference=str(desc.digest), action="get blob")
        try:
            remaining = desc.size
            while remaining > 0:
                chunk = await resp.content.readexactly(min(CHUNK, remaining))
                remaining -= len(chunk)
                yield chunk
        finally:
            resp.release()

    async def mount_blob(self, repo: str, digest: Digest, from_repo: str) -> str | None:
        """Ask for a cross-repository mount: None when mounted (201), else the upload
        location the registry opened instead (202)."""
        resp = await self.t.request(
            "POST", f"/v2/{repo}/blobs/uploads/", scopes=self._push(repo, from_repo),
            query={"mount": str(digest), "from": from_repo}, ok=(201, 202),
            repository=repo, reference=str(digest), action="mount blob", retry=False)
        if resp.status == 201:
            return None
        return self._location(resp, repo)

    def _location(self, resp: aiohttp.ClientResponse, repo: str) -> str:
        location = resp.headers.get("Location")
        if not location:
            raise InvalidContent("upload response has no Location", registry=self.registry,
                                 repository=repo)
        return urljoin(str(resp.url), location)

    async def push_blob(
        self,
        repo: str,
        desc: Descriptor,
        body: Callable[[], AsyncIterable[bytes]],
        *,
        mount_from: str | None = None,
        chunk_size: int | None = None,
        progress: ProgressFn | None = None,
        path: str | None = None,
    ) -> PushedBlob:
        """Upload a blob unless the registry has it. ``body`` is called for each attempt
        (a failed upload starts over with a new session). With ``chunk_size`` the upload
        goes as PATCHes of that size with ``Content-Range``, else as one PUT; a ``path``
        (a local file holding the blob) is sent from a worker thread with sendfile."""
        scopes = self._push(repo, mount_from)
        if await self.blob_size(repo, desc.digest, scopes) is not None:
            return PushedBlob(desc.digest, "exists")
        attempts = 0
        while True:
            attempts += 1
            try:
                location = None
                if mount_from and mount_from != repo:
                    location = await self.mount_blob(repo, desc.digest, mount_from)
                    if location is None:
                        return PushedBlob(desc.digest, "mounted")
                if location is None:
                    resp = await self.t.request(
                        "POST", f"/v2/{repo}/blobs/uploads/", scopes=scopes, ok=(202,),
                        repository=repo, reference=str(desc.digest), action="start upload",
                        retry=False)
                    location = self._location(resp, repo)
                if chunk_size and desc.size > chunk_size:
                    await self._upload_chunked(repo, desc, location, body, chunk_size,
                                               progress)
                elif path is not None:
                    await self._upload_file(repo, desc, location, path, progress)
                else:
                    await self._upload_monolithic(repo, desc, location, body, progress)
                return PushedBlob(desc.digest, "uploaded")
            except RegistryError as e:
                retryable = isinstance(e, TransferError) or e.status in (0, 408, 429) or (
                    e.status >= 500)
                after = e.retry_after or 0.0
                if not retryable or attempts >= self.retry.attempts or (
                        after > self.retry.max_retry_after):
                    raise
                await asyncio.sleep(max(self.retry.delay(attempts), after))
            except (TimeoutError, aiohttp.ClientError, OSError) as e:
                if attempts >= self.retry.attempts:
                    raise TransferError(f"upload failed: {type(e).__name__}",
                                        registry=self.registry, repository=repo,
                                        reference=str(desc.digest)) from None
                await asyncio.sleep(self.retry.delay(attempts))

    async def _upload_monolithic(self, repo: str, desc: Descriptor, location: str,
                                 body: Callable[[], AsyncIterable[bytes]],
                                 progress: ProgressFn | None) -> None:
        factory: BodyFactory = _counting(body, progress)
        await self.t.request(
            "PUT", location, query={"digest": str(desc.digest)}, scopes=self._push(repo),
            headers={"Content-Type": "application/octet-stream",
                     "Content-Length": str(desc.size)},
            body=factory, ok=(201, 204), repository=repo, reference=str(desc.digest),
            action="upload blob", retry=False)

    async def _upload_file(self, repo: str, desc: Descriptor, location: str, path: str,
                           progress: ProgressFn | None) -> None:
        scopes = self._push(repo)
        url = self.t.url(location, {"digest": str(desc.digest)})
        _, headers = await self.t.prepare("", scopes)
        if urlsplit(url).netloc != urlsplit(self.t.base_url).netloc:
            headers.pop("Authorization", None)  # the credential stays with its host
        headers["Content-Type"] = "application/octet-stream"
        stop = threading.Event()
        loop = asyncio.get_running_loop()
        sent = [0]

        def counted(n: int) -> None:
            sent[0] += n
            if progress:
                progress(n)

        try:
            outcome = await loop.run_in_executor(self._executor, functools.partial(
                put_file, url, headers, path, desc.size, timeout=self.retry.read_timeout,
                progress=counted, stop=stop))
        except asyncio.CancelledError:
            stop.set()
            raise
        except (OSError, http.client.HTTPException) as e:
            if progress and sent[0]:
                progress(-sent[0])  # the next attempt sends everything again
            raise TransferError(f"upload blob: {_describe(e)}", registry=self.registry,
                                repository=repo, reference=str(desc.digest)) from None
        if outcome.status in (201, 204):
            return
        if progress and sent[0]:
            progress(-sent[0])
        if outcome.status == 401 and self.t.note_unauthorized(
                outcome.headers.get("www-authenticate", []), scopes):
            # The token expired between starting the session and sending: start over.
            raise TransferError("upload blob: token refused mid-upload",
                                registry=self.registry, repository=repo,
                                reference=str(desc.digest))
        raise self._outcome_error(outcome, repo, desc.digest, "upload blob")

    async def _upload_chunked(self, repo: str, desc: Descriptor, location: str,
                              body: Callable[[], AsyncIterable[bytes]], chunk_size: int,
                              progress: ProgressFn | None) -> None:
        offset = 0
        buf = bytearray()

        async def send(data: bytes) -> None:
            nonlocal location, offset
            end = offset + len(data) - 1
            resp = await self.t.request(
                "PATCH", location, scopes=self._push(repo),
                headers={"Content-Type": "application/octet-stream",
                         "Content-Range": f"{offset}-{end}",
                         "Content-Length": str(len(data))},
                body=data, ok=(202,), repository=repo, reference=str(desc.digest),
                action="upload chunk", retry=False)
            # Always continue at the newest Location: Distribution 2.8 rotates its state.
            location = self._location(resp, repo)
            offset += len(data)
            if progress:
                progress(len(data))

        async for piece in body():
            buf += piece
            while len(buf) >= chunk_size:
                await send(bytes(buf[:chunk_size]))
                del buf[:chunk_size]
        if buf:
            await send(bytes(buf))
        await self.t.request(
            "PUT", location, query={"digest": str(desc.digest)}, scopes=self._push(repo),
            headers={"Content-Length": "0"}, body=b"", ok=(201, 204), repository=repo,
            reference=str(desc.digest), action="finish upload", retry=False)

    async def delete_blob(self, repo: str, digest: Digest) -> None:
        scopes = (repository_scope(repo, ["pull", "push", "delete"]),)
        await self.t.request("DELETE", f"/v2/{repo}/blobs/{digest}", scopes=scopes,
                             ok=(200, 202), repository=repo, reference=str(digest),
                             action="delete blob")


def _counting(body: Callable[[], AsyncIterable[bytes]],
              progress: ProgressFn | None) -> BodyFactory:
    if progress is None:
        return body

    async def counted() -> AsyncIterator[bytes]:
        async for chunk in body():
            progress(len(chunk))
            yield chunk

    return counted


def _describe(e: BaseException) -> str:
    text = str(e).split("\n")[0]
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def _is_digest(ref: str) -> bool:
    try:
        Digest.parse(ref)
    except DigestError:
        return False
    return True


async def _read_capped(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    buf = bytearray()
    while True:
        chunk = await resp.content.read(min(CHUNK, limit + 1 - len(buf)))
        if not chunk:
            return bytes(buf)
        buf += chunk
        if len(buf) > limit:
            raise ValueError("too large")


def new_session(*, limit: int = 32, connect_timeout: float = 30.0,
                read_timeout: float = 120.0) -> aiohttp.ClientSession:
    """A session tuned for blob traffic: large read buffers, no total timeout (a 1 GiB
    layer may take a while), timeouts on connecting and on each read."""
    timeout = aiohttp.ClientTimeout(total=None, connect=connect_timeout,
                                    sock_read=read_timeout)
    connector = aiohttp.TCPConnector(limit=limit, limit_per_host=limit, ttl_dns_cache=300)
    return aiohttp.ClientSession(timeout=timeout, connector=connector,
                                 read_bufsize=4 * CHUNK, auto_decompress=False,
                                 headers={"User-Agent": "hoist"})
