"""Reproducible layers: the same files give the same tar, the same gzip, the same digest.

What makes a layer depend only on its inputs:
- entries sorted by path, parent directories made explicit (0755, root);
- every mtime fixed (``SOURCE_DATE_EPOCH`` when set, else the epoch), uid/gid 0 unless
  ``--chown`` says otherwise, no user or group names;
- file modes reduced to 0644 or 0755 (the executable bit is the only mode bit a git checkout
  carries, so a umask on another machine cannot change the digest);
- gzip with a fixed header (no name, mtime 0) around raw deflate from ISA-L at level 2.

ISA-L level 2, chosen by ``python -m bench.gzip_choice`` (12.2 MB of busybox, Python source
and random bytes, best of 3): zlib -6 393 ms / 6.15 MB, zlib-ng -1 75 ms / 7.49 MB, isal -2
22 ms / 6.72 MB. The compressor is part of the digest: changing it changes every
layer digest, so ``COMPRESSOR`` is part of the layer cache key.
"""

from __future__ import annotations

import hashlib
import io
import os
import struct
import tarfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Literal

from isal import isal_zlib

from hoist.core.digest import Digest
from hoist.store.blobs import BlobDir

COMPRESSOR = "isal-2-raw-deflate-v1"
_LEVEL = 2
_CHUNK = 1 << 20
# gzip member header (RFC 1952): magic, CM=deflate, no flags, MTIME 0, XFL 0, OS 255
# ("unknown") so the bytes do not depend on the machine that wrote them.
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"

EntryKind = Literal["file", "dir", "symlink", "hardlink"]


def fixed_mtime() -> int:
    """``SOURCE_DATE_EPOCH`` (reproducible-builds.org) when set, else 0."""
    value = os.environ.get("SOURCE_DATE_EPOCH", "")
    return int(value) if value.isdigit() else 0


def normalized_mode(mode: int, kind: EntryKind) -> int:
    if kind == "dir":
        return 0o755
    if kind == "symlink":
        return 0o777
    return 0o755 if mode & 0o111 else 0o644


@dataclass(frozen=True, slots=True)
class LayerEntry:
    """One tar entry: ``path`` inside the image (absolute, posix), content from ``source``
    (a file on disk), ``data`` (bytes) or ``link`` (symlink/hardlink target)."""

    path: str
    kind: EntryKind
    mode: int
    uid: int = 0
    gid: int = 0
    digest: str = ""  # sha256 hex of the content (files), for the cache key
    size: int = 0
    source: Path | None = None
    data: bytes | None = None
    link: str = ""
    mtime: int | None = None  # None: fixed_mtime()

    @property
    def name(self) -> str:
        return self.path.lstrip("/")

    def key(self) -> tuple[str, str, int, int, int, str, str, int | None]:
        return (self.name, self.kind, self.mode, self.uid, self.gid, self.digest, self.link,
                self.mtime)


def with_parents(entries: Iterable[LayerEntry]) -> list[LayerEntry]:
    """The entries plus a directory entry for every parent not already present, sorted by
    path so that a directory always precedes what it holds."""
    by_name: dict[str, LayerEntry] = {}
    for e in entries:
        by_name[e.name] = e  # a later entry for the same path wins, as a later COPY would
    for name in list(by_name):
        parent = PurePosixPath(name).parent
        while str(parent) not in (".", "/", ""):
            by_name.setdefault(str(parent), LayerEntry("/" + str(parent), "dir", 0o755))
            parent = parent.parent
    return [by_name[n] for n in sorted(by_name, key=lambda n: n.split("/"))]


def layer_key(entries: Sequence[LayerEntry]) -> str:
    """What a layer's bytes depend on, hashed: the cache key of a built layer."""
    h = hashlib.sha256(COMPRESSOR.encode())
    h.update(str(fixed_mtime()).encode())
    for e in entries:
        if e.kind in ("file", "hardlink") and e.data is not None and not e.digest:
            h.update(hashlib.sha256(e.data).digest())
        h.update(repr(e.key()).encode())
        h.update(b"\0")
    return h.hexdigest()


@dataclass(frozen=True, slots=True)
class BuiltLayer:
    """A layer blob in the store and the digest of its uncompressed tar."""

    diff_id: Digest  # sha256 of the uncompressed tar
    digest: Digest  # sha256 of the gzip blob
    size: int


class _GzipSink(io.RawIOBase):
    """A write-only stream: hashes the tar (diff_id), deflates it, hashes and writes the
    gzip member to ``out``."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.tar_hash = hashlib.sha256()
        self.gz_hash = hashlib.sha256()
        self.crc = 0
        self.length = 0
        self.size = 0
        self.deflate = isal_zlib.compressobj(_LEVEL, isal_zlib.DEFLATED, -15)
        self._emit(_GZIP_HEADER)

    def _emit(self, data: bytes) -> None:
        if data:
            self.gz_hash.update(data)
            self.out.write(data)
            self.size += len(data)

    def writable(self) -> bool:
        return True

    def write(self, b: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        data = bytes(b)
        self.tar_hash.update(data)
        self.crc = isal_zlib.crc32(data, self.crc)
        self.length += len(data)
        self._emit(self.deflate.compress(data))
        return len(data)

    def finish(self) -> None:
        self._emit(self.deflate.flush())
        self._emit(struct.pack("<II", self.crc & 0xFFFFFFFF, self.length & 0xFFFFFFFF))


def _tarinfo(e: LayerEntry, mtime: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(e.name + ("/" if e.kind == "dir" else ""))
    info.mode = e.mode & 0o7777
    info.uid, info.gid = e.uid, e.gid
    info.uname = info.gname = ""
    info.mtime = e.mtime if e.mtime is not None else mtime
    if e.kind == "dir":
        info.type = tarfile.DIRTYPE
    elif e.kind == "symlink":
        info.type, info.linkname = tarfile.SYMTYPE, e.link
    elif e.kind == "hardlink":
        info.type, info.linkname = tarfile.LNKTYPE, e.link.lstrip("/")
    else:
        info.type = tarfile.REGTYPE
        info.size = len(e.data) if e.data is not None else e.size
    return info


def _file_reader(e: LayerEntry) -> BinaryIO:
    if e.data is not None:
        return io.BytesIO(e.data)
    assert e.source is not None
    return open(e.source, "rb")


def write_tar(entries: Sequence[LayerEntry], out: BinaryIO) -> None:
    """The tar stream of ``entries`` (already sorted, parents included)."""
    mtime = fixed_mtime()
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT,
                      bufsize=_CHUNK) as tar:
        for e in entries:
            info = _tarinfo(e, mtime)
            if info.type == tarfile.REGTYPE:
                with _file_reader(e) as fh:
                    if e.data is None:
                        # the size at hashing time is the size we promised the tar header
                        actual = os.fstat(fh.fileno()).st_size
                        if actual != info.size:
                            raise OSError(f"{e.source} changed while the layer was written")
                    tar.addfile(info, fh)
            else:
                tar.addfile(info)


def build_layer(entries: Sequence[LayerEntry], blobs: BlobDir) -> BuiltLayer:
    """Write the gzip layer of ``entries`` into ``blobs`` (verified, committed by rename)
    and return its digests. The compressed bytes go to a temporary file in the ingest
    area first, since the digest is known only at the end."""
    import tempfile

    blobs.ingest_root.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="layer-", dir=blobs.ingest_root)
    try:
        with os.fdopen(fd, "wb") as fh:
            sink = _GzipSink(fh)
            write_tar(entries, sink)  # type: ignore[arg-type]
            sink.finish()
            fh.flush()
            os.fsync(fh.fileno())  # durable before the rename makes it visible
        digest = Digest("sha256", sink.gz_hash.hexdigest())
        diff_id = Digest("sha256", sink.tar_hash.hexdigest())
        if not blobs.has(digest):
            target = blobs.path(digest)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, target)
        return BuiltLayer(diff_id, digest, sink.size)
    finally:
        Path(tmp).unlink(missing_ok=True)


def iter_archive(path: Path) -> Iterator[tuple[tarfile.TarInfo, bytes | None]]:
    """The members of a local tar archive (plain, gzip, bzip2 or xz, as ADD accepts),
    with file contents."""
    with tarfile.open(path, mode="r:*") as tar:
        for info in tar:
            data = None
            if info.isreg():
                f = tar.extractfile(info)
                data = f.read() if f is not None else b""
            yield info, data


def is_archive(path: Path) -> bool:
    """Whether ADD would unpack this local file: a tar, plain or compressed."""
    try:
        return tarfile.is_tarfile(path)
    except OSError:
        return False
