"""Image manifests and indexes as values: descriptors, the blobs a manifest points at, and
platform selection in an index. Parsing only; fetching and storing live above."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hoist.core import mediatypes
from hoist.core.digest import Digest, DigestError
from hoist.core.platform import Platform, PlatformError

# containerd core/remotes/docker: manifests above this size are refused (4 * 1048 * 1048).
MAX_MANIFEST_SIZE = 4 * 1048 * 1048


class ManifestError(ValueError):
    """A manifest or index that is not what it claims to be; ``str()`` says what is wrong."""


@dataclass(frozen=True, slots=True)
class Descriptor:
    """An OCI content descriptor: what a blob is, how big, and where it is addressed."""

    media_type: str
    digest: Digest
    size: int
    platform: Platform | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)
    artifact_type: str = ""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": str(self.digest),
            "size": self.size,
        }
        if self.platform is not None:
            p: dict[str, str] = {
                "architecture": self.platform.architecture,
                "os": self.platform.os,
            }
            if self.platform.variant:
                p["variant"] = self.platform.variant
            out["platform"] = p
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        return out


@dataclass(frozen=True, slots=True)
class Manifest:
    """A parsed manifest or index. For an index, ``manifests`` lists its entries; for an
    image manifest, ``config`` and ``layers`` are set."""

    media_type: str
    digest: Digest
    raw: bytes
    config: Descriptor | None = None
    layers: tuple[Descriptor, ...] = ()
    manifests: tuple[Descriptor, ...] = ()
    subject: Descriptor | None = None

    @property
    def is_index(self) -> bool:
        return mediatypes.is_index(self.media_type)

    @property
    def size(self) -> int:
        return len(self.raw)

    @property
    def descriptor(self) -> Descriptor:
        return Descriptor(self.media_type, self.digest, len(self.raw))

    def blobs(self) -> tuple[Descriptor, ...]:
        """Config and layers of an image manifest (not the children of an index)."""
        return ((self.config,) if self.config else ()) + self.layers

    def select(self, platform: Platform) -> Descriptor:
        """The index entry serving ``platform`` (containerd's normalised match)."""
        return select_platform(self.manifests, platform, self.digest)


def _descriptor(obj: Any, where: str) -> Descriptor:
    if not isinstance(obj, Mapping):
        raise ManifestError(f"{where} is not an object")
    media_type = obj.get("mediaType", "")
    digest = obj.get("digest")
    size = obj.get("size")
    if not isinstance(media_type, str):
        raise ManifestError(f"{where}: mediaType is not a string")
    if not isinstance(digest, str):
        raise ManifestError(f"{where}: digest is missing")
    try:
        parsed = Digest.parse(digest)
    except DigestError as e:
        raise ManifestError(f"{where}: digest {digest!r}: {e}") from None
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ManifestError(f"{where}: size is not a non-negative integer")
    platform = None
    raw_platform = obj.get("platform")
    if raw_platform is not None:
        if not isinstance(raw_platform, Mapping):
            raise ManifestError(f"{where}: platform is not an object")
        os_name = raw_platform.get("os", "")
        arch = raw_platform.get("architecture", "")
        variant = raw_platform.get("variant", "") or ""
        if not all(isinstance(v, str) for v in (os_name, arch, variant)):
            raise ManifestError(f"{where}: platform fields are not strings")
        platform = Platform(os_name, arch, variant)
    annotations = obj.get("annotations") or {}
    if not isinstance(annotations, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in annotations.items()
    ):
        raise ManifestError(f"{where}: annotations is not a map of strings")
    artifact_type = obj.get("artifactType", "")
    if not isinstance(artifact_type, str):
        raise ManifestError(f"{where}: artifactType is not a string")
    return Descriptor(media_type, parsed, size, platform, dict(annotations), artifact_type)


def parse_manifest(raw: bytes, media_type: str = "") -> Manifest:
    """Parse ``raw`` as a manifest or index.

    ``media_type`` is what the registry's Content-Type said; the document's own
    ``mediaType`` wins when present, and when both are missing the shape decides (an OCI
    index has ``manifests``, an image manifest has ``config``), as containerd does.
    """
    if len(raw) > MAX_MANIFEST_SIZE:
        raise ManifestError(f"manifest is {len(raw)} bytes, over the {MAX_MANIFEST_SIZE} limit")
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError) as e:  # also over-long ints, over-deep nesting
        raise ManifestError(f"manifest is not JSON: {e}") from None
    if not isinstance(doc, Mapping):
        raise ManifestError("manifest is not a JSON object")
    declared = doc.get("mediaType")
    if declared is not None and not isinstance(declared, str):
        raise ManifestError("mediaType is not a string")
    kind = declared or ""
    if not mediatypes.is_index(kind) and not mediatypes.is_manifest(kind):
        hint = media_type.split(";")[0].strip()
        if mediatypes.is_index(hint) or mediatypes.is_manifest(hint):
            kind = hint
        elif "manifests" in doc:
            kind = mediatypes.OCI_INDEX
        elif "config" in doc:
            kind = mediatypes.OCI_MANIFEST
        elif doc.get("schemaVersion") == 1:
            raise ManifestError("schema 1 manifests are not supported")
        else:
            raise ManifestError(f"unknown manifest media type {kind or hint or '(none)'!r}")
    digest = Digest.from_bytes(raw)
    subject = _descriptor(doc["subject"], "subject") if doc.get("subject") else None
    if mediatypes.is_index(kind):
        entries = doc.get("manifests")
        if not isinstance(entries, list):
            raise ManifestError("index has no manifests list")
        children = tuple(_descriptor(e, f"manifests[{i}]") for i, e in enumerate(entries))
        return Manifest(kind, digest, raw, manifests=children, subject=subject)
    config = _descriptor(doc.get("config"), "config")
    layers_raw = doc.get("layers", [])
    if not isinstance(layers_raw, list):
        raise ManifestError("layers is not a list")
    layers = tuple(_descriptor(e, f"layers[{i}]") for i, e in enumerate(layers_raw))
    return Manifest(kind, digest, raw, config=config, layers=layers, subject=subject)


def select_platform(
    entries: Sequence[Descriptor], platform: Platform, index_digest: Digest | None = None
) -> Descriptor:
    """The first index entry whose normalised platform equals ``platform``'s.

    Entries without a platform never match (containerd skips them). Raises
    :class:`ManifestError` listing what the index offers when nothing matches."""
    want = platform.normalized()
    offered: list[str] = []
    for entry in entries:
        if entry.platform is None:
            continue
        try:
            have = entry.platform.normalized()
        except PlatformError:  # pragma: no cover - normalization does not raise today
            continue
        offered.append(str(have))
        if have == want:
            return entry
    where = f"index {index_digest}" if index_digest else "index"
    has = ", ".join(offered) or "no platforms"
    raise ManifestError(f"{where} has no image for {want} (it has {has})")


def build_manifest(
    config: Descriptor, layers: Sequence[Descriptor], media_type: str = mediatypes.OCI_MANIFEST,
    annotations: Mapping[str, str] | None = None,
) -> bytes:
    """Serialise an image manifest (compact JSON with the key order registries emit)."""
    doc: dict[str, Any] = {"schemaVersion": 2, "mediaType": media_type,
                           "config": config.to_json(), "layers": [d.to_json() for d in layers]}
    if annotations:
        doc["annotations"] = dict(annotations)
    return json.dumps(doc, separators=(",", ":")).encode()


def build_index(
    manifests: Sequence[Descriptor], media_type: str = mediatypes.OCI_INDEX
) -> bytes:
    doc = {"schemaVersion": 2, "mediaType": media_type,
           "manifests": [d.to_json() for d in manifests]}
    return json.dumps(doc, separators=(",", ":")).encode()
