"""The ``builtin`` runtime: hoist's own content store and registry client as a node's
image service, for machines without containerd (macOS, no root). It pulls, lists,
inspects and removes images as CRI would; it does not run containers.

Image identity follows containerd's CRI plugin: the image ID is the config digest of the
node's platform image, an image is known by every name it was pulled under
(``repo:tag``) and by its repository digest (``repo@sha256:…``), and ImageStatus accepts
any of those or the ID."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from hoist.core.digest import Digest
from hoist.core.manifest import Manifest
from hoist.core.platform import Platform
from hoist.core.reference import Reference, parse_normalized_named
from hoist.errors import HoistError
from hoist.node.credentials import credential_from_auth
from hoist.node.runtime import AuthConfig, FsUsage, ImageInfo, RuntimeFailure
from hoist.registry.transport import RetryPolicy
from hoist.store.store import ContentStore, ImageRecord


def _normalized(image: str) -> Reference:
    try:
        ref = parse_normalized_named(image)
    except ValueError as e:
        raise RuntimeFailure(f"failed to parse image reference {image!r}: {e}") from None
    if not ref.tag and ref.digest is None:
        ref = ref.with_tag("latest")
    return ref


def store_names(ref: Reference) -> list[str]:
    """The store names an image is looked up by: ``name:tag`` and/or ``name@digest``."""
    names = []
    if ref.tag:
        names.append(f"{ref.name}:{ref.tag}")
    if ref.digest is not None:
        names.append(f"{ref.name}@{ref.digest}")
    return names


# A node retries a failed pull through its own back-off (10 s, 20 s, …); the runtime itself
# tries a request twice, so an unreachable registry fails in well under a second.
PULL_RETRY = RetryPolicy(attempts=2, base_delay=0.1, max_delay=0.5)


def pull_error_text(ref: Reference, error: HoistError) -> str:
    """The runtime's error text for a failed pull, which the kubelet puts verbatim into its
    "Failed to pull image" event. Like containerd's, it names the image and carries the
    registry's HTTP status where there was one (users search for "401 Unauthorized")."""
    from http import HTTPStatus

    from hoist.registry.errors import RegistryError

    status = ""
    if isinstance(error, RegistryError) and error.status:
        try:
            status = f"{error.status} {HTTPStatus(error.status).phrase}: "
        except ValueError:
            status = f"{error.status}: "
    return f'failed to pull image "{ref}": {status}{error}'


class BuiltinRuntime:
    name = "builtin"

    def __init__(self, store_root: Path | str, *, platform: Platform | None = None,
                 insecure: bool = False) -> None:
        from hoist.core.platform import host_platform

        self.store_root = Path(store_root)
        self.platform = platform or host_platform()
        self.insecure = insecure
        self._store = ContentStore(self.store_root)
        self._lock = threading.Lock()
        # manifest digest → (image ID, size); content is immutable, so this never goes stale.
        self._identity: dict[Digest, tuple[str, int]] = {}

    # -- identity ------------------------------------------------------------------------

    def _platform_manifest(self, top: Manifest) -> Manifest:
        if not top.is_index:
            return top
        for child in self._store.children(top):
            desc = next(d for d in top.manifests if d.digest == child.digest)
            if desc.platform is None or desc.platform.normalized().matches(self.platform):
                return child
        raise RuntimeFailure(f"no image for platform {self.platform} in {top.digest}")

    def _identify(self, digest: Digest) -> tuple[str, int]:
        known = self._identity.get(digest)
        if known is None:
            top = self._store.manifest(digest)
            image = self._platform_manifest(top)
            assert image.config is not None
            known = (str(image.config.digest), self._store.image_size(top))
            self._identity[digest] = known
        return known

    def _records(self) -> list[ImageRecord]:
        return self._store.images()

    # -- ImageService --------------------------------------------------------------------

    def image_status(self, image: str) -> ImageInfo | None:
        try:
            with self._lock:
                if image.startswith("sha256:"):
                    recs = [r for r in self._records() if self._identify(r.digest)[0] == image]
                    if not recs:
                        return None
                    return self._info(recs[0].digest, recs)
                ref = _normalized(image)
                for name in store_names(ref):
                    rec = self._store.lookup(name)
                    # With a digest the tag is only a label (containerd drops it): the
                    # image under that tag counts only if it is that digest.
                    if rec is not None and (ref.digest is None or rec.digest == ref.digest):
                        image_id, size = self._identify(rec.digest)
                        return ImageInfo(id=image_id, size=size)
                return None
        except HoistError as e:
            if isinstance(e, RuntimeFailure):
                raise
            raise RuntimeFailure(f"image status of {image!r}: {e}") from None

    def _info(self, digest: Digest, recs: list[ImageRecord]) -> ImageInfo:
        image_id, size = self._identify(digest)
        tags = tuple(sorted(r.name for r in recs if "@" not in r.name))
        digests = tuple(sorted(r.name for r in recs if "@" in r.name))
        return ImageInfo(id=image_id, repo_tags=tags, repo_digests=digests, size=size)

    def list_images(self) -> list[ImageInfo]:
        with self._lock:
            by_id: dict[str, list[ImageRecord]] = {}
            for rec in self._records():
                try:
                    image_id, _ = self._identify(rec.digest)
                except HoistError:
                    continue  # a name whose content is damaged is not an image
                by_id.setdefault(image_id, []).append(rec)
            return [self._info(recs[0].digest, recs) for recs in by_id.values()]

    def pull_image(self, image: str, auth: AuthConfig | None = None) -> str:
        from hoist.auth.credential import ANONYMOUS
        from hoist.transfer.copy import Options, copy
        from hoist.transfer.names import ImageName

        ref = _normalized(image)
        options = Options(platform=self.platform, insecure=self.insecure,
                          credentials=credential_from_auth(auth) or ANONYMOUS,
                          store=ContentStore(self.store_root), retry=PULL_RETRY)
        try:
            result = copy(ImageName("docker", ref), ImageName("store", ref), options)
        except HoistError as e:
            raise RuntimeFailure(pull_error_text(ref, e)) from None
        finally:
            assert options.store is not None
            options.store.close()
        with self._lock:
            top = self._store.manifest(result.digest)
            # containerd records the repository digest as a name of its own.
            self._store.record(f"{ref.name}@{result.digest}", top)
            return self._identify(result.digest)[0]

    def remove_image(self, image: str) -> None:
        with self._lock:
            recs = self._records()
            if image.startswith("sha256:"):
                doomed = [r for r in recs if self._identify(r.digest)[0] == image]
            else:
                try:
                    names = set(store_names(_normalized(image)))
                except RuntimeFailure:
                    return
                hit = [r for r in recs if r.name in names]
                ids = {self._identify(r.digest)[0] for r in hit}
                # Removing by one name removes the image, i.e. all its names (CRI semantics).
                doomed = [r for r in recs if self._identify(r.digest)[0] in ids]
            for r in doomed:
                self._store.remove_image(r.name)
        # Blobs no image needs any more go now, as containerd's GC would.
        self._store.gc()

    def image_fs_info(self) -> FsUsage:
        self.store_root.mkdir(parents=True, exist_ok=True)
        used = inodes = 0
        for dirpath, _dirs, files in os.walk(self.store_root):
            for f in files:
                try:
                    used += os.lstat(os.path.join(dirpath, f)).st_blocks * 512
                except OSError:
                    continue
                inodes += 1
        st = os.statvfs(self.store_root)
        return FsUsage(mountpoint=str(self.store_root), used_bytes=used, inodes_used=inodes,
                       capacity_bytes=st.f_blocks * st.f_frsize,
                       available_bytes=st.f_bavail * st.f_frsize)

    def import_image(self, source_store: ContentStore, name: str) -> str:
        """Load an image from another store into the node (what ``imagePullPolicy: Never``
        needs before a deploy). Blobs are re-verified as they are written."""
        ref = _normalized(name)
        rec = next((r for n in store_names(ref) if (r := source_store.lookup(n))
                    and (ref.digest is None or r.digest == ref.digest)), None)
        if rec is None:
            raise RuntimeFailure(f"{name}: not in the store at {source_store.root}")
        top = source_store.manifest(rec.digest)
        with self._lock, self._store.writing():
            for d in [*self._all_blobs(source_store, top), top.digest]:
                if self._store.blobs.has(d):
                    continue
                with source_store.blobs.open(d) as src, \
                        self._store.blobs.ingest(d, source_store.blobs.size(d)) as ingest:
                    while chunk := src.read(1 << 20):
                        ingest.write(chunk)
                    ingest.commit()
            for n in store_names(ref):
                self._store.record(n, top)
            self._store.record(f"{ref.name}@{top.digest}", top)
            return self._identify(top.digest)[0]

    def _all_blobs(self, store: ContentStore, top: Manifest) -> list[Digest]:
        out: list[Digest] = []
        for child in store.children(top) if top.is_index else [top]:
            out += [d.digest for d in child.blobs()]
            if top.is_index:
                out.append(child.digest)
        return out

    def close(self) -> None:
        self._store.close()
