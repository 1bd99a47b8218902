"""OCI image layouts (image-spec image-layout.md): ``oci-layout``, ``index.json`` and
``blobs/``, the on-disk form skopeo, buildah and containerd exchange images in.

A tag is the ``org.opencontainers.image.ref.name`` annotation of an ``index.json`` entry,
as skopeo's ``oci:DIR:TAG`` reads and writes it."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

from hoist.core import mediatypes
from hoist.core.digest import Digest, DigestError
from hoist.core.manifest import Descriptor
from hoist.errors import InputError
from hoist.fileio import write_atomically
from hoist.store.blobs import BlobDir

REF_NAME = "org.opencontainers.image.ref.name"
LAYOUT_FILE = "oci-layout"
LAYOUT_VERSION = "1.0.0"
# Partial writes live here, out of sight of OCI readers, and are removed when empty.
INGEST_DIR = ".hoist-ingest"


class OciLayout:
    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.blobs = BlobDir(self.root, ingest_dir=INGEST_DIR)

    def exists(self) -> bool:
        return (self.root / LAYOUT_FILE).is_file()

    def _index(self) -> dict[str, Any]:
        path = self.root / "index.json"
        if not self.exists():
            raise InputError(f"{self.root}: not an OCI image layout (no {LAYOUT_FILE} file)")
        try:
            doc = json.loads(path.read_bytes())
        except FileNotFoundError:
            raise InputError(f"{path}: missing") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise InputError(f"{path}: not valid JSON ({e})") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("manifests", []), list):
            raise InputError(f"{path}: not an OCI index")
        return doc

    def entries(self) -> list[Descriptor]:
        out = []
        for i, e in enumerate(self._index().get("manifests", [])):
            try:
                out.append(Descriptor(
                    str(e["mediaType"]), Digest.parse(str(e["digest"])), int(e["size"]),
                    annotations=dict(e.get("annotations") or {})))
            except (KeyError, TypeError, ValueError, DigestError) as err:
                raise InputError(f"{self.root}/index.json: manifests[{i}] is not a "
                                 f"descriptor ({err})") from None
        return out

    def tags(self) -> list[str]:
        return [d.annotations[REF_NAME] for d in self.entries() if REF_NAME in d.annotations]

    def resolve(self, tag: str | None) -> Descriptor:
        entries = self.entries()
        if tag:
            for d in entries:
                if d.annotations.get(REF_NAME) == tag:
                    return d
            raise InputError(f"oci:{self.root}:{tag}: no image with that tag "
                             f"(tags: {', '.join(self.tags()) or 'none'})")
        if len(entries) == 1:
            return entries[0]
        raise InputError(f"oci:{self.root}: holds {len(entries)} images; name one with "
                         f"oci:{self.root}:TAG")

    def init(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if not self.exists():
            write_atomically(self.root / LAYOUT_FILE,
                          json.dumps({"imageLayoutVersion": LAYOUT_VERSION}).encode())
        if not (self.root / "index.json").exists():
            write_atomically(self.root / "index.json", json.dumps(
                {"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX,
                 "manifests": []}).encode())

    def add(self, desc: Descriptor, tag: str | None) -> None:
        """Point ``tag`` (or an untagged entry) at ``desc``; its blobs must be written."""
        self.init()
        doc = self._index()
        if not all(isinstance(m, dict) for m in doc.get("manifests", [])):
            raise InputError(f"{self.root}/index.json: an entry of manifests is not an object")
        manifests = [m for m in doc.get("manifests", [])
                     if not (tag and (m.get("annotations") or {}).get(REF_NAME) == tag)
                     and not (not tag and m.get("digest") == str(desc.digest)
                              and REF_NAME not in (m.get("annotations") or {}))]
        entry = Descriptor(desc.media_type, desc.digest, desc.size,
                           annotations={REF_NAME: tag} if tag else {}).to_json()
        manifests.append(entry)
        doc["manifests"] = manifests
        doc.setdefault("schemaVersion", 2)
        write_atomically(self.root / "index.json", json.dumps(doc).encode())
        self.tidy()

    def tidy(self) -> None:
        """Remove the ingest directory when nothing is left in it."""
        with contextlib.suppress(OSError):
            self.blobs.ingest_root.rmdir()
