"""Where images are read from and written to: a registry, an OCI layout, the store.

A copy reads from a :class:`Source` and writes to a :class:`Destination` (as crane's
``remote``/``layout`` packages do); each side knows only its own medium."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterable, AsyncIterator, Callable
from concurrent.futures import Executor
from typing import Protocol

from hoist.core.digest import Digest
from hoist.core.manifest import Descriptor, Manifest, ManifestError, parse_manifest
from hoist.errors import InputError, OperationError
from hoist.registry.blobreader import Sink
from hoist.registry.client import CHUNK, ProgressFn, RegistryClient
from hoist.store.blobs import BlobDigestMismatch, BlobDir, BlobError, BlobSizeMismatch, Ingest
from hoist.store.layout import OciLayout
from hoist.store.store import ContentStore


class Source(Protocol):
    description: str

    async def resolve(self) -> Descriptor: ...
    async def manifest(self, desc: Descriptor) -> Manifest: ...
    async def blob_into(self, desc: Descriptor, sink: Sink,
                        progress: ProgressFn | None) -> None: ...
    def blob_body(self, desc: Descriptor) -> Callable[[], AsyncIterable[bytes]]: ...
    def blob_path(self, desc: Descriptor) -> str | None: ...
    def origin(self) -> tuple[str, str] | None: ...


class Destination(Protocol):
    description: str

    async def current(self) -> Descriptor | None: ...
    async def has_blob(self, desc: Descriptor) -> bool: ...
    async def write_blob(self, desc: Descriptor, source: Source,
                         progress: ProgressFn | None) -> str: ...
    async def write_manifest(self, manifest: Manifest, top: bool) -> None: ...
    async def finish(self, top: Manifest) -> None: ...


# ---------------------------------------------------------------------- registry


class RegistrySource:
    def __init__(self, client: RegistryClient, repository: str, ref: str) -> None:
        self.client, self.repository, self.ref = client, repository, ref
        self.description = f"{client.registry}/{repository}" + (
            f"@{ref}" if ref.startswith("sha") else f":{ref}")

    async def resolve(self) -> Descriptor:
        return await self.client.resolve(self.repository, self.ref)

    async def manifest(self, desc: Descriptor) -> Manifest:
        return await self.client.get_manifest(self.repository, str(desc.digest))

    async def blob_into(self, desc: Descriptor, sink: Sink,
                        progress: ProgressFn | None) -> None:
        await self.client.fetch_blob(self.repository, desc, sink, progress)

    def blob_body(self, desc: Descriptor) -> Callable[[], AsyncIterable[bytes]]:
        return lambda: self.client.stream_blob(self.repository, desc)

    def blob_path(self, desc: Descriptor) -> str | None:
        return None

    def origin(self) -> tuple[str, str] | None:
        return (self.client.registry, self.repository)


class RegistryDestination:
    def __init__(self, client: RegistryClient, repository: str, ref: str,
                 chunk_size: int | None = None) -> None:
        self.client, self.repository, self.ref = client, repository, ref
        self.chunk_size = chunk_size
        self.description = f"{client.registry}/{repository}:{ref}"

    async def current(self) -> Descriptor | None:
        from hoist.registry.errors import NotFound

        try:
            return await self.client.resolve(self.repository, self.ref)
        except NotFound:
            return None

    async def has_blob(self, desc: Descriptor) -> bool:
        return await self.client.blob_size(self.repository, desc.digest) is not None

    async def write_blob(self, desc: Descriptor, source: Source,
                         progress: ProgressFn | None) -> str:
        origin = source.origin()
        mount_from = None
        if origin and origin[0] == self.client.registry and origin[1] != self.repository:
            mount_from = origin[1]
        pushed = await self.client.push_blob(self.repository, desc, source.blob_body(desc),
                                             mount_from=mount_from,
                                             chunk_size=self.chunk_size, progress=progress,
                                             path=source.blob_path(desc))
        return pushed.how

    async def write_manifest(self, manifest: Manifest, top: bool) -> None:
        ref = self.ref if top else str(manifest.digest)
        if not top and await self.client.manifest_exists(self.repository, manifest.digest):
            return
        await self.client.put_manifest(self.repository, ref, manifest.raw, manifest.media_type)

    async def finish(self, top: Manifest) -> None:
        return None


# ---------------------------------------------------------------------- local


def _file_body(blobs: BlobDir, desc: Descriptor) -> Callable[[], AsyncIterable[bytes]]:
    async def body() -> AsyncIterator[bytes]:
        # Page-cache reads of 1 MiB take ~0.1 ms: cheaper inline than a thread hop.
        with blobs.open(desc.digest) as fh:
            while chunk := fh.read(CHUNK):
                yield chunk

    return body


class _LocalSource:
    """Blobs in a BlobDir (the store's or a layout's)."""

    blobs: BlobDir
    description: str

    def __init__(self, executor: Executor | None) -> None:
        self._executor = executor

    async def manifest(self, desc: Descriptor) -> Manifest:
        try:
            raw = self.blobs.read(desc.digest)
        except BlobError:
            platform = f" ({desc.platform})" if desc.platform else ""
            raise OperationError(
                f"{self.description}: manifest {desc.digest}{platform} is not here (a pull "
                "with --platform keeps one platform of an index; copy that one with "
                "--platform)") from None
        if Digest.from_bytes(raw, desc.digest.algorithm) != desc.digest:
            raise OperationError(f"{self.description}: manifest {desc.digest} is corrupt")
        try:
            return parse_manifest(raw, desc.media_type)
        except ManifestError as e:
            raise OperationError(f"{self.description}: manifest {desc.digest}: {e}") from None

    async def blob_into(self, desc: Descriptor, sink: Sink,
                        progress: ProgressFn | None) -> None:
        def copy() -> None:
            with self.blobs.open(desc.digest) as fh:
                fh.seek(sink.offset)
                while chunk := fh.read(CHUNK):
                    sink.write(chunk)
                    if progress:
                        progress(len(chunk))

        await asyncio.get_running_loop().run_in_executor(self._executor, copy)

    def blob_body(self, desc: Descriptor) -> Callable[[], AsyncIterable[bytes]]:
        return _file_body(self.blobs, desc)

    def blob_path(self, desc: Descriptor) -> str | None:
        path = self.blobs.path(desc.digest)
        if (size := self.blobs.size(desc.digest)) is None:
            raise OperationError(f"{self.description}: blob {desc.digest} is missing")
        if size != desc.size:
            raise OperationError(f"{self.description}: blob {desc.digest} is {size} bytes, "
                                 f"its descriptor says {desc.size}")
        return str(path)

    def origin(self) -> tuple[str, str] | None:
        return None


class _LocalDestination:
    blobs: BlobDir
    description: str

    def __init__(self, executor: Executor | None) -> None:
        self._executor = executor

    async def has_blob(self, desc: Descriptor) -> bool:
        return self.blobs.has(desc.digest)

    async def write_blob(self, desc: Descriptor, source: Source,
                         progress: ProgressFn | None) -> str:
        if self.blobs.has(desc.digest):
            return "exists"
        loop = asyncio.get_running_loop()
        failed_once = False
        while True:
            try:
                ingest: Ingest = await loop.run_in_executor(
                    self._executor, self.blobs.ingest, desc.digest, desc.size)
            except BlobError:
                # Another process is writing this very blob (two builds FROM one base, a
                # pull beside a build): wait for it, then take its result or carry on
                # from its bytes. Its lock goes when it finishes or dies.
                if await self._wait_for_writer(desc):
                    return "exists"
                continue
            resumed = ingest.offset
            if progress and resumed:
                progress(resumed)
            try:
                await source.blob_into(desc, ingest, progress)
                await loop.run_in_executor(self._executor, ingest.commit)
            except (BlobDigestMismatch, BlobSizeMismatch) as e:
                # The bytes were wrong (a flipped bit, a lying server): commit() threw them
                # away; one fresh download, then give up.
                if failed_once:
                    raise OperationError(f"{source.description}: {e}") from None
                failed_once = True
                if progress:
                    progress(-ingest.offset)
                continue
            finally:
                ingest.close()
            return "resumed" if resumed else "copied"

    async def _wait_for_writer(self, desc: Descriptor) -> bool:
        """Wait while another writer holds ``desc``'s ingest; True once the blob is in."""
        delay = 0.005
        while not self.blobs.has(desc.digest):
            if not self.blobs.ingest_locked(desc.digest):
                return self.blobs.has(desc.digest)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.1)
        return True


class LayoutSource(_LocalSource):
    def __init__(self, layout: OciLayout, tag: str, executor: Executor | None = None) -> None:
        super().__init__(executor)
        self.layout, self.tag = layout, tag
        self.blobs = layout.blobs
        self.description = f"oci:{layout.root}" + (f":{tag}" if tag else "")

    async def resolve(self) -> Descriptor:
        return self.layout.resolve(self.tag or None)


class LayoutDestination(_LocalDestination):
    def __init__(self, layout: OciLayout, tag: str, executor: Executor | None = None) -> None:
        super().__init__(executor)
        self.layout, self.tag = layout, tag
        self.blobs = layout.blobs
        self.description = f"oci:{layout.root}" + (f":{tag}" if tag else "")

    async def current(self) -> Descriptor | None:
        if not self.layout.exists():
            return None
        with contextlib.suppress(InputError):
            desc = self.layout.resolve(self.tag or None)
            if self.tag or desc:
                return desc
        return None

    async def write_manifest(self, manifest: Manifest, top: bool) -> None:
        self.layout.init()
        self.blobs.put(manifest.raw, manifest.digest)

    async def finish(self, top: Manifest) -> None:
        self.layout.add(top.descriptor, self.tag or None)


class StoreSource(_LocalSource):
    def __init__(self, store: ContentStore, name: str, executor: Executor | None = None) -> None:
        super().__init__(executor)
        self.store, self.name = store, name
        self.blobs = store.blobs
        self.description = f"store:{name}"

    async def resolve(self) -> Descriptor:
        rec = self.store.lookup(self.name)
        if rec is None:
            raise InputError(f"store:{self.name}: no such image in the store at "
                             f"{self.store.root} (hoist images lists them)")
        self.store.touch(self.name)
        size = self.store.blobs.size(rec.digest) or 0
        return Descriptor(rec.media_type, rec.digest, size)


class StoreDestination(_LocalDestination):
    def __init__(self, store: ContentStore, name: str, executor: Executor | None = None) -> None:
        super().__init__(executor)
        self.store, self.name = store, name
        self.blobs = store.blobs
        self.description = f"store:{name}"

    async def current(self) -> Descriptor | None:
        rec = self.store.lookup(self.name)
        if rec is None or not self.blobs.has(rec.digest):
            return None
        size = self.blobs.size(rec.digest) or 0
        return Descriptor(rec.media_type, rec.digest, size)

    async def write_manifest(self, manifest: Manifest, top: bool) -> None:
        self.blobs.put(manifest.raw, manifest.digest)

    async def finish(self, top: Manifest) -> None:
        self.store.record(self.name, top)

