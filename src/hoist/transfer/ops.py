"""Read operations on images wherever they are, and ``login``: what ``hoist inspect``,
``resolve``, ``tags``, ``images`` and ``login`` do, as functions."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from hoist.core.digest import Digest
from hoist.core.manifest import Descriptor, Manifest
from hoist.core.platform import (
    Platform,
    host_platform,
)
from hoist.errors import InputError, OperationError
from hoist.registry.transport import Transport
from hoist.transfer.copy import Options, Session, run, select_platform, with_secrets
from hoist.transfer.names import ImageName, parse_image_name, parse_reference


@dataclass(slots=True)
class Inspection:
    name: str
    descriptor: Descriptor
    manifest: Manifest
    index: Manifest | None
    config: dict[str, Any] | None
    config_raw: bytes

    def to_json(self) -> dict[str, Any]:
        cfg = self.config or {}
        inner = cfg.get("config") or {}
        out: dict[str, Any] = {
            "Name": self.name,
            "Digest": str(self.descriptor.digest),
            "MediaType": self.descriptor.media_type,
            "ManifestDigest": str(self.manifest.digest),
            "Created": cfg.get("created"),
            "Architecture": cfg.get("architecture"),
            "Os": cfg.get("os"),
            "Variant": cfg.get("variant"),
            "Layers": [str(d.digest) for d in self.manifest.layers],
            "LayersData": [{"MIMEType": d.media_type, "Digest": str(d.digest),
                            "Size": d.size} for d in self.manifest.layers],
            "Size": self.manifest.size + sum(d.size for d in self.manifest.blobs()),
            "Env": inner.get("Env") or [],
            "Labels": inner.get("Labels") or {},
        }
        if self.index is not None:
            out["Platforms"] = [str(d.platform) for d in self.index.manifests if d.platform]
        return out


async def _inspect(session: Session, name: ImageName, platform: Platform | None,
                   raw_only: bool) -> tuple[Inspection | None, bytes]:
    source = session.source(name)
    desc = await source.resolve()
    top = await source.manifest(desc)
    if raw_only:
        return None, top.raw
    index = None
    manifest = top
    if top.is_index:
        index = top
        manifest = await source.manifest(
            select_platform(source, top, platform or host_platform()))
    config: dict[str, Any] | None = None
    config_raw = b""
    if manifest.config is not None:
        sink = _MemorySink(manifest.config.size)
        await source.blob_into(manifest.config, sink, None)
        config_raw = bytes(sink.buf)
        if Digest.from_bytes(config_raw, manifest.config.digest.algorithm) != \
                manifest.config.digest:
            raise OperationError(f"{name}: config {manifest.config.digest} does not match "
                                 "its digest")
        try:
            parsed = json.loads(config_raw)
            config = parsed if isinstance(parsed, dict) else None
        except (UnicodeDecodeError, json.JSONDecodeError):
            config = None
    return Inspection(str(name), desc, manifest, index, config, config_raw), top.raw


class _MemorySink:
    """A small blob (a config) read into memory, bounded by its descriptor's size."""

    def __init__(self, limit: int) -> None:
        self.buf = bytearray()
        self.offset = 0
        self.limit = limit

    def write(self, data: bytes | memoryview) -> None:
        if self.offset + len(data) > self.limit:
            raise OperationError("config is larger than its descriptor says")
        self.buf += data
        self.offset += len(data)

    def truncate(self) -> None:
        self.buf.clear()
        self.offset = 0


def inspect(ref: str, options: Options | None = None) -> Inspection:
    options = options or Options()
    name = parse_image_name(ref)
    options = with_secrets(options, (name,))

    async def go(session: Session) -> Inspection:
        result, _ = await _inspect(session, name, options.platform, False)
        assert result is not None
        return result

    return run(go, options)


def inspect_raw(ref: str, options: Options | None = None) -> bytes:
    options = options or Options()
    name = parse_image_name(ref)
    options = with_secrets(options, (name,))

    async def go(session: Session) -> bytes:
        return (await _inspect(session, name, options.platform, True))[1]

    return run(go, options)


def resolve(ref: str, options: Options | None = None) -> Descriptor:
    """The descriptor (digest, media type, size) ``ref`` names, in one request."""
    options = options or Options()
    name = parse_image_name(ref)
    options = with_secrets(options, (name,))

    async def go(session: Session) -> Descriptor:
        return await session.source(name).resolve()

    return run(go, options)


def list_tags(repo: str, options: Options | None = None, page_size: int | None = None
              ) -> list[str]:
    options = options or Options()
    text = repo[len("docker://"):] if repo.startswith("docker://") else repo
    if text.startswith("oci:"):
        from hoist.store.layout import OciLayout

        return OciLayout(text[4:].partition(":")[0]).tags()
    ref = parse_reference(text, "repository")
    options = with_secrets(options, (ImageName("docker", ref),))
    if ref.digest is not None or (ref.tag and ref.tag != "latest" and ":" in text.split("/")[-1]):
        raise InputError(f"repository {repo!r}: name a repository, without tag or digest")

    async def go(session: Session) -> list[str]:
        return await session.client(ref.domain).list_tags(ref.path, page_size)

    return run(go, options)


def login(registry: str, username: str, password: str, options: Options | None = None
          ) -> str:
    """Check the credential against the registry (``GET /v2/`` with its challenge), then
    store it as ``docker login`` does. Returns where it was stored."""
    from hoist.auth.credential import Credential
    from hoist.auth.dockerconfig import DockerConfig

    options = options or Options()
    if not username:
        raise InputError("login: a username is required (-u USER)")
    if not password:
        raise InputError("login: the password read from stdin is empty")
    host = registry.removeprefix("https://").removeprefix("http://").split("/")[0]
    if not host:
        raise InputError(f"login: {registry!r} is not a registry host")
    credential = Credential(username=username, password=password, source="login")

    async def check(session: Session) -> None:
        assert session.http is not None
        transport = Transport(host, session.http, credentials=credential,
                              insecure=options.insecure, retry=options.retry)
        # Behind Basic auth the retry carries the password; behind Bearer it is sent to
        # the token realm, which refuses a wrong one. Either way a bad password fails here.
        await transport.request("GET", "/v2/", ok=(200,), action="login")

    run(check, options)
    config = DockerConfig.load(options.authfile)
    return config.store_login(host, username, password)
