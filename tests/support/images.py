"""Build test images as OCI image layouts, in pure Python and deterministically.

``make_image`` writes one image (config, layers, manifest) into an OCI image layout and
names it in ``index.json`` with ``org.opencontainers.image.ref.name`` so skopeo can read
it as ``oci:<dir>:<tag>``. ``make_index`` writes a multi-platform image (OCI index or
Docker manifest list). Given the same arguments and seed, the bytes and digests are the
same on every run: tar entries have fixed metadata, gzip has mtime 0, contents come from
a seeded PRNG.

Docker media types are written to the layout too, but skopeo 1.9's ``oci:`` transport
only looks at OCI media types in index.json ("no descriptor found for reference"), so
for ``media="docker"`` the image is also written in skopeo's ``dir:`` format beside the
layout and ``.ref`` names that.

Layers are gzip-compressed tars holding one file each, or with ``raw=True`` the bytes
themselves as an uncompressed-layer blob (incompressible, streamed to disk, for big
transfer benchmarks; registries and skopeo never look inside a layer when copying).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import random
import shutil
import tarfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

Media = Literal["oci", "docker"]
Platform = tuple[str, str] | tuple[str, str, str]  # (os, architecture[, variant])
LayerSpec = bytes | int  # file content, or the size of seeded pseudo-random content

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER_TAR = "application/vnd.docker.image.rootfs.diff.tar"

_TYPES: dict[str, dict[str, str]] = {
    "oci": {
        "manifest": OCI_MANIFEST,
        "index": OCI_INDEX,
        "config": OCI_CONFIG,
        "layer_gzip": OCI_LAYER_GZIP,
        "layer_tar": OCI_LAYER_TAR,
    },
    "docker": {
        "manifest": DOCKER_MANIFEST,
        "index": DOCKER_LIST,
        "config": DOCKER_CONFIG,
        "layer_gzip": DOCKER_LAYER_GZIP,
        "layer_tar": DOCKER_LAYER_TAR,
    },
}

REF_NAME = "org.opencontainers.image.ref.name"
DEFAULT_PLATFORMS: tuple[Platform, ...] = (
    ("linux", "amd64"),
    ("linux", "arm64", "v8"),
    ("linux", "arm", "v7"),
)
# A fixed creation time keeps configs (and so digests) stable.
CREATED = "2024-01-01T00:00:00Z"
_STREAM_PIECE = 1024 * 1024


@dataclass(frozen=True)
class BlobInfo:
    digest: str
    size: int
    media_type: str
    path: Path

    def descriptor(self) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


@dataclass(frozen=True)
class ImageInfo:
    """One image manifest written to a layout."""

    layout_dir: Path
    tag: str | None  # None for the per-platform children of an index
    digest: str  # the manifest digest
    media_type: str
    size: int
    manifest: bytes
    config: BlobInfo
    layers: tuple[BlobInfo, ...]
    platform: Platform
    dir_path: Path | None = None  # skopeo ``dir:`` copy, written for Docker media types

    @property
    def manifest_digest(self) -> str:
        return self.digest

    @property
    def blobs(self) -> tuple[BlobInfo, ...]:
        """Config first, then layers: every blob the manifest references."""
        return (self.config, *self.layers)

    @property
    def blob_digests(self) -> list[str]:
        return [b.digest for b in self.blobs]

    @property
    def ref(self) -> str:
        """The skopeo source reference: ``oci:<layout>:<tag>``, or ``dir:<path>`` for Docker
        media types (skopeo 1.9's ``oci:`` transport skips non-OCI entries in index.json)."""
        if self.tag is None:
            raise ValueError("an index child has no tag of its own; use IndexInfo.ref")
        if self.dir_path is not None:
            return f"dir:{self.dir_path}"
        return f"oci:{self.layout_dir}:{self.tag}"


@dataclass(frozen=True)
class IndexInfo:
    """A multi-platform image: the index (or manifest list) and its children."""

    layout_dir: Path
    tag: str
    digest: str
    media_type: str
    size: int
    index: bytes
    manifests: tuple[ImageInfo, ...]
    dir_path: Path | None = None  # as ImageInfo.dir_path

    @property
    def manifest_digest(self) -> str:
        return self.digest

    @property
    def ref(self) -> str:
        """As :attr:`ImageInfo.ref`."""
        if self.dir_path is not None:
            return f"dir:{self.dir_path}"
        return f"oci:{self.layout_dir}:{self.tag}"

    @property
    def blobs(self) -> tuple[BlobInfo, ...]:
        seen: dict[str, BlobInfo] = {}
        for image in self.manifests:
            for blob in image.blobs:
                seen.setdefault(blob.digest, blob)
        return tuple(seen.values())

    def for_platform(self, platform: Platform) -> ImageInfo:
        return next(m for m in self.manifests if m.platform == platform)


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _rng(seed: object, *parts: object) -> random.Random:
    # String seeds hash with SHA-512 inside random.seed(), independent of PYTHONHASHSEED.
    return random.Random(":".join(str(p) for p in (seed, *parts)))


def _init_layout(layout_dir: Path) -> None:
    (layout_dir / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    marker = layout_dir / "oci-layout"
    if not marker.exists():
        marker.write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))


def _blob_path(layout_dir: Path, digest: str) -> Path:
    algorithm, _, hexdigest = digest.partition(":")
    return layout_dir / "blobs" / algorithm / hexdigest


def _put_blob(layout_dir: Path, data: bytes, media_type: str) -> BlobInfo:
    digest = sha256_digest(data)
    path = _blob_path(layout_dir, digest)
    if not path.exists():
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    return BlobInfo(digest, len(data), media_type, path)


def _put_stream(layout_dir: Path, pieces: Iterator[bytes], media_type: str) -> BlobInfo:
    """Write a blob without holding it in memory: hash while writing, then rename."""
    hasher = hashlib.sha256()
    size = 0
    tmp = layout_dir / "blobs" / "sha256" / f".incoming-{os.getpid()}"
    with tmp.open("wb") as out:
        for piece in pieces:
            hasher.update(piece)
            out.write(piece)
            size += len(piece)
    digest = "sha256:" + hasher.hexdigest()
    path = _blob_path(layout_dir, digest)
    os.replace(tmp, path)
    return BlobInfo(digest, size, media_type, path)


def _random_pieces(rng: random.Random, size: int) -> Iterator[bytes]:
    left = size
    while left:
        n = min(left, _STREAM_PIECE)
        yield rng.randbytes(n)
        left -= n


def _tar_gz_layer(content: bytes, index: int) -> tuple[bytes, str]:
    """(gzip blob, diff_id) of a tar holding ``content`` as one file with fixed metadata."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(f"hoist-test/layer-{index}.bin")
        info.size = len(content)
        info.mode = 0o644
        info.mtime = 0
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        tar.addfile(info, io.BytesIO(content))
    tar_bytes = buf.getvalue()
    return gzip.compress(tar_bytes, compresslevel=6, mtime=0), sha256_digest(tar_bytes)


def _write_layers(
    layout_dir: Path, layers: Sequence[LayerSpec], media: Media, seed: object, raw: bool
) -> tuple[list[BlobInfo], list[str]]:
    types = _TYPES[media]
    blobs: list[BlobInfo] = []
    diff_ids: list[str] = []
    for i, spec in enumerate(layers):
        if raw:
            # An uncompressed layer: its diff_id is its own digest.
            if isinstance(spec, bytes):
                blob = _put_blob(layout_dir, spec, types["layer_tar"])
            else:
                pieces = _random_pieces(_rng(seed, "layer", i), spec)
                blob = _put_stream(layout_dir, pieces, types["layer_tar"])
            diff_ids.append(blob.digest)
        else:
            content = spec if isinstance(spec, bytes) else _rng(seed, "layer", i).randbytes(spec)
            compressed, diff_id = _tar_gz_layer(content, i)
            blob = _put_blob(layout_dir, compressed, types["layer_gzip"])
            diff_ids.append(diff_id)
        blobs.append(blob)
    return blobs, diff_ids


def _platform_fields(platform: Platform) -> dict[str, str]:
    fields = {"architecture": platform[1], "os": platform[0]}
    if len(platform) == 3:
        fields["variant"] = platform[2]
    return fields


def _dumps(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, indent=2).encode()


def _build_image(
    layout_dir: Path,
    tag: str | None,
    layers: Sequence[LayerSpec],
    media: Media,
    platform: Platform,
    seed: object,
    raw: bool,
) -> ImageInfo:
    types = _TYPES[media]
    layer_blobs, diff_ids = _write_layers(layout_dir, layers, media, seed, raw)
    config_doc: dict[str, Any] = {
        "created": CREATED,
        **_platform_fields(platform),
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["/bin/sh"],
            "Labels": {"dev.hoist.test.seed": str(seed)},
        },
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [
            {"created": CREATED, "created_by": f"hoist test layer {i}"}
            for i in range(len(diff_ids))
        ],
    }
    config = _put_blob(layout_dir, _dumps(config_doc), types["config"])
    manifest_doc = {
        "schemaVersion": 2,
        "mediaType": types["manifest"],
        "config": config.descriptor(),
        "layers": [b.descriptor() for b in layer_blobs],
    }
    manifest = _dumps(manifest_doc)
    blob = _put_blob(layout_dir, manifest, types["manifest"])
    return ImageInfo(
        layout_dir=layout_dir,
        tag=tag,
        digest=blob.digest,
        media_type=types["manifest"],
        size=blob.size,
        manifest=manifest,
        config=config,
        layers=tuple(layer_blobs),
        platform=platform,
    )


def _tag_in_index(layout_dir: Path, tag: str, descriptor: dict[str, Any]) -> None:
    """Point ``tag`` at ``descriptor`` in index.json, replacing an older entry for it."""
    index_path = layout_dir / "index.json"
    if index_path.exists():
        index = json.loads(index_path.read_text())
    else:
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
    index["manifests"] = [
        m for m in index["manifests"] if m.get("annotations", {}).get(REF_NAME) != tag
    ]
    index["manifests"].append({**descriptor, "annotations": {REF_NAME: tag}})
    tmp = index_path.with_name("index.json.tmp")
    tmp.write_bytes(_dumps(index))
    os.replace(tmp, index_path)


def dir_transport_path(layout_dir: Path, tag: str) -> Path:
    """Where the ``dir:`` copy of ``tag`` goes: beside the layout, not inside it."""
    return layout_dir.parent / f"{layout_dir.name}.dir" / tag


def _write_dir_transport(
    path: Path, top: bytes, blobs: Sequence[BlobInfo], instances: Sequence[ImageInfo] = ()
) -> Path:
    """containers/image's ``dir:`` layout: manifest.json, ``<hex>.manifest.json`` for the
    instances of a list, one file per blob named by its hex digest, and a version file."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    (path / "version").write_text("Directory Transport Version: 1.1\n")
    (path / "manifest.json").write_bytes(top)
    for instance in instances:
        hexdigest = instance.digest.partition(":")[2]
        (path / f"{hexdigest}.manifest.json").write_bytes(instance.manifest)
    for blob in blobs:
        target = path / blob.digest.partition(":")[2]
        try:
            os.link(blob.path, target)  # blobs can be big: share them when we can
        except OSError:
            shutil.copyfile(blob.path, target)
    return path


def make_image(
    layout_dir: Path,
    tag: str,
    *,
    layers: Sequence[LayerSpec] = (1024,),
    media: Media = "oci",
    platform: Platform = ("linux", "amd64"),
    seed: object = None,
    raw: bool = False,
) -> ImageInfo:
    """Write one single-platform image into the OCI layout at ``layout_dir``.

    ``layers`` holds file contents (bytes) or sizes (int) of seeded pseudo-random content.
    ``seed`` defaults to the tag, so different tags get different blobs and the same tag
    the same ones.
    """
    layout_dir = Path(layout_dir)
    _init_layout(layout_dir)
    image = _build_image(
        layout_dir, tag, layers, media, platform, tag if seed is None else seed, raw
    )
    _tag_in_index(
        layout_dir, tag, {"mediaType": image.media_type, "digest": image.digest, "size": image.size}
    )
    if media == "docker":
        path = _write_dir_transport(
            dir_transport_path(layout_dir, tag), image.manifest, image.blobs
        )
        image = replace(image, dir_path=path)
    return image


def make_index(
    layout_dir: Path,
    tag: str,
    *,
    platforms: Sequence[Platform] = DEFAULT_PLATFORMS,
    layers: Sequence[LayerSpec] = (1024,),
    media: Media = "oci",
    seed: object = None,
    raw: bool = False,
) -> IndexInfo:
    """Write a multi-platform image: one child image per platform plus the index.

    ``media="oci"`` gives an OCI image index over OCI manifests, ``"docker"`` a Docker
    manifest list over Docker v2 schema 2 manifests. Children differ per platform.
    """
    layout_dir = Path(layout_dir)
    _init_layout(layout_dir)
    base_seed = tag if seed is None else seed
    children = tuple(
        _build_image(
            layout_dir, None, layers, media, platform, f"{base_seed}/{'/'.join(platform)}", raw
        )
        for platform in platforms
    )
    types = _TYPES[media]
    index_doc = {
        "schemaVersion": 2,
        "mediaType": types["index"],
        "manifests": [
            {
                "mediaType": child.media_type,
                "digest": child.digest,
                "size": child.size,
                "platform": _platform_fields(child.platform),
            }
            for child in children
        ],
    }
    index = _dumps(index_doc)
    blob = _put_blob(layout_dir, index, types["index"])
    _tag_in_index(
        layout_dir, tag, {"mediaType": types["index"], "digest": blob.digest, "size": blob.size}
    )
    info = IndexInfo(
        layout_dir=layout_dir,
        tag=tag,
        digest=blob.digest,
        media_type=types["index"],
        size=blob.size,
        index=index,
        manifests=children,
    )
    if media == "docker":
        path = _write_dir_transport(
            dir_transport_path(layout_dir, tag), index, info.blobs, children
        )
        info = replace(info, dir_path=path)
    return info


class ImageFactory:
    """Builds images into one layout directory (what the ``image_factory`` fixture hands out)."""

    def __init__(self, layout_dir: Path) -> None:
        self.layout_dir = Path(layout_dir)

    def make_image(self, tag: str, **kwargs: Any) -> ImageInfo:
        return make_image(self.layout_dir, tag, **kwargs)

    def make_index(self, tag: str, **kwargs: Any) -> IndexInfo:
        return make_index(self.layout_dir, tag, **kwargs)
