"""One pull attempt, as far as deciding its outcome needs: the manifest HEAD with one
credential (the GET of an index to see its platforms), and after a failure the follow-up
checks that tell the causes apart — the tag list (does the repository exist?) and a bare
connection in the other scheme (does the port speak TLS, or plain HTTP?).

The registry client is hoist's own (:class:`hoist.registry.transport.Transport`): its
scheme choice (plain HTTP for localhost and loopback only), its authentication and its
redirects are the builtin node runtime's. Only the retries differ: none, since a node
retries through its own back-off and a diagnosis wants the first answer."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import ssl
from dataclasses import replace
from urllib.parse import urlsplit

import aiohttp

from hoist.core import mediatypes
from hoist.core.digest import Digest, DigestError
from hoist.core.manifest import MAX_MANIFEST_SIZE, ManifestError, parse_manifest
from hoist.core.platform import Platform
from hoist.core.reference import Reference
from hoist.doctor.classify import (
    ANONYMOUS_LABEL,
    SCHEME_SUSPECTS,
    Observation,
    connection_failure,
)
from hoist.doctor.credentials import CredentialChoice
from hoist.registry.auth import TokenCache, repository_scope
from hoist.registry.errors import RegistryError, TransferError
from hoist.registry.transport import RetryPolicy, Transport

# Every status comes back as an answer except 401, which the transport answers itself by
# authenticating (and raises Unauthorized when that fails too).
ANSWERS = frozenset(range(100, 600)) - {401}
# How many tags of a repository are read to suggest one (a page, not the whole list).
TAG_PAGE = 100
_TOKEN_SERVER = re.compile(r"token server \S+ answered \d+")


def _headers(resp: aiohttp.ClientResponse) -> dict[str, str]:
    return {k.lower(): v for k, v in resp.headers.items()}


def _redact(text: str, secrets: tuple[str, ...]) -> str:
    for s in secrets:
        if s:
            text = text.replace(s, "<redacted>")
    return text


def _host_port(host: str, scheme: str) -> tuple[str, int]:
    parts = urlsplit(f"//{host}")
    try:
        port = parts.port
    except ValueError:
        port = None
    return parts.hostname or host, port or (443 if scheme == "https" else 80)


async def speaks_tls(host: str, port: int, timeout: float) -> bool:
    """Whether ``host:port`` completes a TLS handshake (any certificate: the question is
    only which protocol the port speaks)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=ctx, server_hostname=host), timeout)
    except (OSError, ssl.SSLError, TimeoutError, ValueError):
        return False
    writer.close()
    with contextlib.suppress(OSError, ssl.SSLError, TimeoutError):
        await asyncio.wait_for(writer.wait_closed(), timeout)
    return True


async def speaks_plain_http(host: str, port: int, timeout: float) -> bool:
    """Whether ``host:port`` answers a plain-text HTTP request with an HTTP status line."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, TimeoutError, ValueError):
        return False
    try:
        writer.write(f"GET /v2/ HTTP/1.0\r\nHost: {host}\r\nUser-Agent: hoist\r\n\r\n"
                     .encode("ascii", "replace"))
        await writer.drain()
        head = await asyncio.wait_for(reader.readexactly(5), timeout)
    except (OSError, TimeoutError, asyncio.IncompleteReadError):
        head = b""
    finally:
        writer.close()
    return head == b"HTTP/"


async def _other_scheme(transport: Transport, timeout: float) -> bool:
    host, port = _host_port(transport.host, transport.scheme)
    if transport.scheme == "https":
        return await speaks_plain_http(host, port, timeout)
    return await speaks_tls(host, port, timeout)


async def _repository_state(transport: Transport, repo: str,
                            scopes: tuple[str, ...]) -> tuple[bool | None, tuple[str, ...]]:
    """(exists, some tags) from the tag list: 404 means no such repository (Distribution
    answers MANIFEST_UNKNOWN for a manifest of a repository it does not have, so the
    manifest's 404 alone cannot tell). None when the list cannot be read."""
    try:
        resp = await transport.request("GET", f"/v2/{repo}/tags/list", scopes=scopes,
                                       query={"n": str(TAG_PAGE)}, ok=ANSWERS, retry=False,
                                       repository=repo, action="list tags")
        if resp.status == 404:
            return False, ()
        if resp.status != 200:
            return None, ()
        doc = json.loads(await resp.read())
    except (RegistryError, ValueError, RecursionError, aiohttp.ClientError, TimeoutError):
        return None, ()
    tags = doc.get("tags") if isinstance(doc, dict) else None
    return True, tuple(t for t in (tags or []) if isinstance(t, str))


def _from_error(base: Observation, error: RegistryError, secrets: tuple[str, ...]) -> Observation:
    if error.status:
        said = _TOKEN_SERVER.search(str(error))
        return replace(base, status=error.status, error_code=error.code,
                       message=_redact(said.group(0), secrets) if said else "")
    if isinstance(error, TransferError):  # no answer: the connection failed
        failure = connection_failure(error)
        return replace(base, failure=replace(failure, text=_redact(failure.text, secrets)))
    # An answer that does not hold up (a manifest that does not verify or parse).
    return replace(base, message=_redact(str(error), secrets))


async def observe(session: aiohttp.ClientSession, ref: Reference,
                  choice: CredentialChoice | None, *, platform: Platform,
                  insecure: bool = False, timeout: float = 10.0) -> Observation:
    """Try the pull of ``ref`` (normalized, with a tag or digest) with one credential
    (None: anonymous) and record what happened."""
    credential = choice.credential if choice is not None else None
    secrets = credential.secrets() if credential is not None else ()
    transport = Transport(ref.domain, session, credentials=credential, insecure=insecure,
                          retry=RetryPolicy(attempts=1, read_timeout=timeout),
                          tokens=TokenCache())
    repo = ref.path
    reference = str(ref.digest) if ref.digest is not None else ref.tag
    base = Observation(registry=ref.domain, repository=repo, reference=reference,
                       scheme=transport.scheme,
                       credential=choice.label if choice is not None else ANONYMOUS_LABEL,
                       node_platform=platform)
    scopes = (repository_scope(repo, ["pull"]),)
    try:
        resp = await transport.request(
            "HEAD", f"/v2/{repo}/manifests/{reference}", scopes=scopes,
            headers={"Accept": ", ".join(mediatypes.MANIFEST_ACCEPT)}, ok=ANSWERS,
            retry=False, repository=repo, reference=reference, action="check manifest")
    except RegistryError as e:
        obs = _from_error(base, e, secrets)
        if obs.failure is not None and obs.failure.kind in SCHEME_SUSPECTS:
            obs = replace(obs, other_scheme_answers=await _other_scheme(transport, timeout))
        return obs
    status, headers = resp.status, _headers(resp)
    obs = replace(base, status=status, headers=headers)
    if status == 404:
        exists, tags = await _repository_state(transport, repo, scopes)
        return replace(obs, repository_exists=exists, tags=tags)
    if status == 400 and transport.scheme == "http":
        return replace(obs, other_scheme_answers=await _other_scheme(transport, timeout))
    if not 200 <= status < 300:
        return obs
    media_type = headers.get("content-type", "").split(";")[0].strip()
    digest = headers.get("docker-content-digest", "")
    if mediatypes.is_manifest(media_type):
        return replace(obs, media_type=media_type, digest=digest)
    # An index (or a HEAD that does not say): the node reads it to choose its platform.
    try:
        return await _get_manifest(transport, base, scopes)
    except RegistryError as e:
        return _from_error(base, e, secrets)


async def _read_capped(resp: aiohttp.ClientResponse, limit: int) -> bytes | None:
    buf = bytearray()
    while chunk := await resp.content.read(1 << 16):
        buf += chunk
        if len(buf) > limit:
            return None
    return bytes(buf)


async def _get_manifest(transport: Transport, base: Observation,
                        scopes: tuple[str, ...]) -> Observation:
    """GET the manifest and read the platforms of an index. Not RegistryClient's
    get_manifest: its errors do not keep the response headers, and a GET is what Docker
    Hub counts against the rate limit, so its 429 is where the limit's headers come."""
    repo, reference = base.repository, base.reference
    resp = await transport.request(
        "GET", f"/v2/{repo}/manifests/{reference}", scopes=scopes,
        headers={"Accept": ", ".join(mediatypes.MANIFEST_ACCEPT)}, ok=ANSWERS, retry=False,
        stream=True, repository=repo, reference=reference, action="get manifest")
    try:
        headers = _headers(resp)
        if resp.status != 200:
            return replace(base, status=resp.status, headers=headers)
        raw = await _read_capped(resp, MAX_MANIFEST_SIZE)
    except (aiohttp.ClientError, TimeoutError) as e:
        raise TransferError(f"get manifest: {type(e).__name__}",
                            registry=transport.registry) from e
    finally:
        resp.release()
    obs = replace(base, status=200, headers=headers)
    if raw is None:
        return replace(obs, status=0, message=f"manifest larger than {MAX_MANIFEST_SIZE} bytes")
    announced = reference if ":" in reference else headers.get("docker-content-digest", "")
    try:
        expected = Digest.parse(announced) if announced else None
    except DigestError:
        expected = None
    actual = Digest.from_bytes(raw, expected.algorithm if expected else "sha256")
    if expected is not None and actual != expected:
        return replace(obs, status=0, message=f"manifest hashes to {actual}, not {expected}")
    try:
        manifest = parse_manifest(raw, headers.get("content-type", ""))
    except ManifestError as e:
        return replace(obs, status=0, message=f"manifest: {e}")
    return replace(obs, media_type=manifest.media_type, digest=str(manifest.digest),
                   index=manifest.manifests if manifest.is_index else None)
