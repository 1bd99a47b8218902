"""Copy an image from one place to another: registry, OCI layout or store, any direction.

The order makes every destination consistent at every moment: blobs first (in parallel,
bounded), then platform manifests, then the top manifest or index, and last the name
(tag, ``index.json`` entry, store record). A copy that stops half-way leaves blobs
nobody names, which gc collects, and never a name pointing at missing content."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import aiohttp

from hoist.auth.credential import Credential
from hoist.core.digest import Digest
from hoist.core.manifest import Descriptor, Manifest, ManifestError
from hoist.core.platform import Platform
from hoist.errors import InputError, OperationError
from hoist.registry.client import ProgressFn, RegistryClient, new_session
from hoist.registry.transport import CredentialSource, RetryPolicy, Transport
from hoist.store.layout import OciLayout
from hoist.store.store import ContentStore
from hoist.transfer.endpoints import (
    Destination,
    LayoutDestination,
    LayoutSource,
    RegistryDestination,
    RegistrySource,
    Source,
    StoreDestination,
    StoreSource,
)
from hoist.transfer.names import ImageName, parse_image_name

T = TypeVar("T")

# skopeo copies 6 blobs at once, containerd 3, crane 4 (facts/oci.md).
DEFAULT_JOBS = 6


class Progress(Protocol):
    """Receives per-blob progress; the CLI draws bars from it."""

    def start(self, desc: Descriptor, label: str) -> ProgressFn: ...
    def done(self, desc: Descriptor, how: str) -> None: ...


@dataclass(slots=True)
class Options:
    platform: Platform | None = None
    jobs: int = DEFAULT_JOBS
    insecure: bool = False
    credentials: Credential | CredentialSource | None = None
    authfile: str | None = None
    chunk_size: int | None = None
    store: ContentStore | None = None
    store_root: str | Path | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    progress: Progress | None = None
    # Kubernetes pull Secrets (files): credentials through the kubelet's keyring instead
    # of the docker CLI's config.json lookup.
    secret_files: Sequence[str | Path] = ()


@dataclass(slots=True)
class CopyResult:
    source: str
    destination: str
    digest: Digest
    media_type: str
    size: int
    up_to_date: bool = False
    blobs: dict[str, int] = field(default_factory=dict)
    bytes_copied: int = 0

    def to_json(self) -> dict[str, object]:
        return {"source": self.source, "destination": self.destination,
                "digest": str(self.digest), "mediaType": self.media_type, "size": self.size,
                "upToDate": self.up_to_date, "blobs": dict(self.blobs),
                "bytesCopied": self.bytes_copied}


def default_credentials(authfile: str | None) -> CredentialSource:
    """The docker CLI's lookup: credHelpers, credsStore, then ``auths`` in config.json."""
    from hoist.auth.dockerconfig import DockerConfig

    config = DockerConfig.load(authfile)
    return config.credential_for


def secret_credentials(secret_files: Sequence[str | Path], images: Sequence[ImageName]
                       ) -> CredentialSource:
    """Credentials from Kubernetes pull Secrets, matched as the kubelet's keyring matches
    them: for a registry, the first credential the keyring returns for the image of ours
    on that registry (a copy has one image per side). No match → anonymous."""
    import yaml

    from hoist.auth.credential import ANONYMOUS
    from hoist.auth.keyring import Keyring

    secrets: list[Mapping[str, Any]] = []
    for f in secret_files:
        try:
            text = Path(f).read_text(encoding="utf-8")
            docs = list(yaml.load_all(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))
        except OSError as e:
            raise InputError(f"{f}: cannot read ({e.strerror})") from None
        except (UnicodeDecodeError, yaml.YAMLError):
            raise InputError(f"{f}: not a YAML or JSON Secret") from None
        found = [d for d in docs if isinstance(d, Mapping) and d.get("kind") == "Secret"]
        if not found:
            raise InputError(f"{f}: holds no Secret")
        secrets += found
    keyring = Keyring.from_secrets(secrets)
    by_registry = {n.registry: str(n.reference) for n in images if n.transport == "docker"}

    def lookup(registry: str) -> Credential:
        image = by_registry.get(registry)
        matches = keyring.lookup(image) if image else []
        return matches[0] if matches else ANONYMOUS

    return lookup


class Session:
    """One aiohttp session, one thread pool and one store for a whole command; registry
    clients (one per host, each with its token cache) are made on demand."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.http: aiohttp.ClientSession | None = None
        self.executor = ThreadPoolExecutor(max_workers=max(2, options.jobs + 2),
                                           thread_name_prefix="hoist-io")
        self._clients: dict[str, RegistryClient] = {}
        self._store = options.store
        self._credentials = options.credentials

    @property
    def store(self) -> ContentStore:
        if self._store is None:
            self._store = ContentStore(self.options.store_root)
        return self._store

    def client(self, registry: str) -> RegistryClient:
        if registry not in self._clients:
            assert self.http is not None
            creds = self._credentials
            if creds is None:
                creds = self._credentials = default_credentials(self.options.authfile)
            transport = Transport(registry, self.http, credentials=creds,
                                  insecure=self.options.insecure, retry=self.options.retry)
            self._clients[registry] = RegistryClient(transport, self.executor)
        return self._clients[registry]

    def source(self, name: ImageName) -> Source:
        if name.transport == "docker":
            return RegistrySource(self.client(name.registry), name.repository, name.ref)
        if name.transport == "oci":
            layout = OciLayout(Path(name.path))
            return LayoutSource(layout, name.tag, self.executor)
        return StoreSource(self.store, name.store_key, self.executor)

    def destination(self, name: ImageName) -> Destination:
        if name.transport == "docker":
            ref = name.ref
            return RegistryDestination(self.client(name.registry), name.repository, ref,
                                       self.options.chunk_size)
        if name.transport == "oci":
            return LayoutDestination(OciLayout(Path(name.path)), name.tag, self.executor)
        return StoreDestination(self.store, name.store_key, self.executor)

    async def __aenter__(self) -> Session:
        self.http = new_session(limit=max(8, self.options.jobs * 2),
                                read_timeout=self.options.retry.read_timeout)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.http is not None:
            await self.http.close()
        self.executor.shutdown(wait=True)
        if self._store is not None and self.options.store is None:
            self._store.close()


@asynccontextmanager
async def _holding(session: Session, names: tuple[ImageName, ...]) -> AsyncIterator[None]:
    """Hold the store's gc lock while writing into it."""
    if any(n.transport == "store" for n in names):
        with session.store.writing():
            yield
    else:
        yield


def _complete_for(destination: Destination, current: Descriptor,
                  platform: Platform | None) -> bool:
    """Whether a local destination already holds what this copy would write. A store name
    may hold an index with some platforms only; the one asked for must be there."""
    if not isinstance(destination, StoreDestination):
        return platform is None
    store = destination.store
    try:
        manifest = store.manifest(current.digest)
        if not manifest.is_index:
            return True
        if platform is None:
            return all(store.blobs.has(d.digest) for d in manifest.manifests)
        return store.blobs.has(manifest.select(platform).digest)
    except (OperationError, ManifestError):
        return False


def select_platform(source: Source, index: Manifest, platform: Platform) -> Descriptor:
    """The entry of ``index`` for ``platform``; none is a one-line error naming the image."""
    try:
        return index.select(platform)
    except ManifestError as e:
        raise OperationError(f"{source.description}: {e}") from None


async def _manifests(source: Source, top: Manifest) -> list[Manifest]:
    """Every manifest under ``top`` (children of indexes, depth first), top excluded."""
    out: list[Manifest] = []
    for desc in top.manifests:
        child = await source.manifest(desc)
        out += await _manifests(source, child)
        out.append(child)
    return out


async def copy_image(session: Session, src: ImageName, dst: ImageName) -> CopyResult:
    options = session.options
    source = session.source(src)
    destination = session.destination(dst)
    top_desc = await source.resolve()
    result = CopyResult(str(src), str(dst), top_desc.digest, top_desc.media_type,
                        top_desc.size)
    async with _holding(session, (dst,)):
        current = await destination.current()
        if current is not None and current.digest == top_desc.digest and \
                dst.transport != "docker" and _complete_for(destination, current,
                                                            options.platform):
            # Same digest already named there (and local names only exist once their content
            # is complete): nothing to move. A pull of an unchanged image costs one HEAD.
            result.up_to_date = True
            if isinstance(destination, StoreDestination):
                destination.store.touch(destination.name)
            return result
        top = await source.manifest(top_desc)
        if top.is_index and options.platform is not None:
            child = await source.manifest(select_platform(source, top, options.platform))
            if isinstance(destination, StoreDestination):
                # As containerd keeps it: the index under the name, with the content of
                # one platform. The next pull for that platform is then one HEAD.
                children = [*await _manifests(source, child), child]
            else:
                # As skopeo --multi-arch system does: the destination gets the platform's
                # own manifest, and its digest.
                top = child
                result.digest, result.media_type, result.size = (top.digest, top.media_type,
                                                                 top.size)
                children = await _manifests(source, top)
        else:
            children = await _manifests(source, top)
        images = [m for m in (*children, top) if not m.is_index]
        seen: dict[Digest, Descriptor] = {}
        for m in images:
            for d in m.blobs():
                seen.setdefault(d.digest, d)
        semaphore = asyncio.Semaphore(max(1, options.jobs))

        async def one(desc: Descriptor) -> None:
            async with semaphore:
                label = desc.digest.short
                report: ProgressFn | None = None
                if options.progress is not None:
                    report = options.progress.start(desc, label)
                how = await destination.write_blob(desc, source, report)
                result.blobs[how] = result.blobs.get(how, 0) + 1
                if how not in ("exists", "mounted"):
                    result.bytes_copied += desc.size
                if options.progress is not None:
                    options.progress.done(desc, how)

        tasks = [asyncio.ensure_future(one(d)) for d in seen.values()]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        for child in children:
            await destination.write_manifest(child, top=False)
        await destination.write_manifest(top, top=True)
        await destination.finish(top)
    return result


def with_secrets(options: Options, names: Sequence[ImageName]) -> Options:
    """``options`` with ``secret_files`` turned into the credential source for these
    images (a copy, so the caller's options serve another image unchanged)."""
    if options.secret_files and options.credentials is None:
        return dataclasses.replace(
            options, credentials=secret_credentials(options.secret_files, names))
    return options


def run(operation: Callable[[Session], Awaitable[T]], options: Options) -> T:
    """Run one async operation in a fresh session (the CLI's entry point)."""

    async def main() -> T:
        async with Session(options) as session:
            return await operation(session)

    return asyncio.run(main())


def copy(src: str | ImageName, dst: str | ImageName, options: Options | None = None) -> CopyResult:
    """Copy an image; ``src``/``dst`` take ``docker://REF``, ``oci:DIR[:TAG]``,
    ``store:REF`` (a bare name is ``docker://``)."""
    options = options or Options()
    s = src if isinstance(src, ImageName) else parse_image_name(src)
    d = dst if isinstance(dst, ImageName) else parse_image_name(dst)
    options = with_secrets(options, (s, d))
    if options.jobs < 1:
        raise InputError(f"--jobs must be at least 1, not {options.jobs}")
    return run(lambda session: copy_image(session, s, d), options)


def pull(ref: str, options: Options | None = None) -> CopyResult:
    """``hoist pull REF``: the registry image into the store under its own name."""
    src = parse_image_name(ref)
    if src.transport != "docker":
        raise InputError(f"pull: {ref!r} is not a registry reference")
    return copy(src, ImageName("store", src.reference), options)


def push(src: str, ref: str, options: Options | None = None) -> CopyResult:
    """``hoist push SRC REF``: a store image (bare name or ``store:``) or ``oci:`` layout to
    the registry reference ``ref``."""
    source = parse_image_name(src, default="store")
    if source.transport == "docker":
        source = ImageName("store", source.reference)
    dest = parse_image_name(ref)
    if dest.transport != "docker":
        raise InputError(f"push: {ref!r} is not a registry reference")
    return copy(source, dest, options)
