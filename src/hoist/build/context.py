"""The build context: which files a build sees, their content digests, and one digest
over all of a build's inputs.

The walk keeps what BuildKit's context transfer keeps (tonistiigi/fsutil with the
``.dockerignore`` patterns): excluded entries are left out, an excluded directory is
skipped unread when no exception could re-include anything below it, and an excluded
directory that holds re-included entries is kept as their parent. Symlinks are recorded,
never followed. Content digests come from a ``DigestCache`` so an unchanged file is not
read again on the next build.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from hoist.build.ignore import IgnoreMatcher
from hoist.errors import InputError
from hoist.fileio import write_atomically

EntryKind = Literal["file", "dir", "symlink"]

# A file whose mtime or ctime is this close to the moment its digest was taken (or to the
# moment the cache was saved) may change again without its stat changing on a
# filesystem with coarse timestamps: its digest is not trusted later ("racy git").
RACY_WINDOW_NS = 2_000_000_000
_CACHE_VERSION = 1
_Record = tuple[int, int, int, int, int, str]  # dev, ino, size, mtime_ns, ctime_ns, sha256


@dataclass(frozen=True, slots=True)
class ContextEntry:
    """One file, directory or symlink of the build context."""

    rel: str  # posix path relative to the context; never ""
    kind: EntryKind
    mode: int  # permission bits of st_mode
    size: int  # bytes for files, the target's length for symlinks, 0 for directories
    digest: str  # sha256 hex of the content (files) or of the target (symlinks); "" for dirs
    link: str  # the symlink's target, "" otherwise
    path: Path  # absolute


class DigestCache:
    """Content digests keyed by context path and stat signature (device, inode, size,
    mtime, ctime), kept in a small JSON file between builds. ``None`` keeps it in memory.

    A file changed within ``RACY_WINDOW_NS`` of being hashed, or of the last save, is
    hashed again; an unreadable or corrupt cache file counts as empty."""

    def __init__(self, path: Path | None, *, racy_window_ns: int = RACY_WINDOW_NS) -> None:
        self.path = path
        self.racy_window_ns = racy_window_ns
        self.files_hashed = 0  # files read to compute a digest since this cache was made
        self._records: dict[str, _Record] = {}
        self._used: set[str] = set()
        self._changed = False
        if path is not None:
            self._records = _load(path, racy_window_ns)

    def digest(self, path: Path, st: os.stat_result, key: str | None = None) -> str:
        """The sha256 hex of the regular file at ``path`` whose ``lstat`` is ``st``.
        ``key`` names it in the cache (the context-relative path); default ``path``.
        OSError when the file cannot be read."""
        name = key if key is not None else str(path)
        self._used.add(name)
        signature = _signature(st)
        record = self._records.get(name)
        if record is not None and record[:5] == signature:
            return record[5]
        hexdigest, after = _hash_file(path)
        self.files_hashed += 1
        if after == signature and not _racy(signature, time.time_ns(), self.racy_window_ns):
            self._records[name] = (*signature, hexdigest)
        else:
            self._records.pop(name, None)  # changing under us, or too recent to trust
        self._changed = True
        return hexdigest

    def save(self) -> None:
        """Write the entries used since loading (atomically: a temporary file renamed
        over the cache). A cache that cannot be written is left as it was: it only saves
        time."""
        if self.path is None:
            return
        kept = {name: self._records[name] for name in self._used if name in self._records}
        if not self._changed and kept.keys() == self._records.keys():
            return
        doc = {"version": _CACHE_VERSION, "saved_ns": time.time_ns(),
               "entries": {name: list(record) for name, record in sorted(kept.items())}}
        data = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode(
            "utf-8", "surrogateescape")
        with contextlib.suppress(OSError):
            write_atomically(self.path, data, durable=False)
            self._records = kept
            self._changed = False


def _signature(st: os.stat_result) -> tuple[int, int, int, int, int]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _racy(signature: Sequence[int], reference_ns: int, window_ns: int) -> bool:
    # mtime can be set back by anyone; ctime cannot, so a recent ctime counts as well
    return max(signature[3], signature[4]) >= reference_ns - window_ns


def _load(path: Path, window_ns: int) -> dict[str, _Record]:
    try:
        doc = json.loads(path.read_bytes().decode("utf-8", "surrogateescape"))
    except (OSError, ValueError):
        return {}
    if not isinstance(doc, dict) or doc.get("version") != _CACHE_VERSION:
        return {}
    saved = doc.get("saved_ns")
    entries = doc.get("entries")
    if not isinstance(saved, int) or not isinstance(entries, dict):
        return {}
    records: dict[str, _Record] = {}
    for name, value in entries.items():
        if not (isinstance(value, list) and len(value) == 6
                and all(type(v) is int for v in value[:5]) and isinstance(value[5], str)
                and len(value[5]) == 64):
            continue
        record: _Record = (value[0], value[1], value[2], value[3], value[4], value[5])
        if _racy(record[:5], saved, window_ns):
            continue  # changed too close to the save to be sure of
        records[name] = record
    return records


def _hash_file(path: Path) -> tuple[str, tuple[int, int, int, int, int]]:
    """The file's sha256 and its stat signature after reading (to see whether it changed
    while it was read). O_NOFOLLOW: a path that became a symlink is not followed."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as f:
        hexdigest = hashlib.file_digest(f, "sha256").hexdigest()
        after = _signature(os.fstat(f.fileno()))
    return hexdigest, after


# --------------------------------------------------------------------------- the walk


def scan_context(context: Path, matcher: IgnoreMatcher,
                 cache: DigestCache | None = None) -> list[ContextEntry]:
    """Every file, directory and symlink of the context the ignore file lets through,
    sorted by ``rel``. Sockets, FIFOs and devices are left out. InputError names an
    entry that cannot be read."""
    root = Path(os.path.abspath(context))
    digests = cache if cache is not None else DigestCache(None)
    out: list[ContextEntry] = []
    # the directories on the way down that are excluded and not yet written out: one is
    # written as soon as something below it is (BuildKit sends the parents of what it
    # sends); None for a directory already written
    pending: list[ContextEntry | None] = []

    def emit(entry: ContextEntry) -> None:
        for i, parent in enumerate(pending):
            if parent is not None:
                out.append(parent)
                pending[i] = None
        out.append(entry)

    def walk(directory: str, prefix: str, excluded: bool) -> None:
        try:
            with os.scandir(directory) as it:
                items = list(it)
        except OSError as e:
            if excluded and isinstance(e, PermissionError):
                return  # BuildKit too skips an unreadable directory it would not send
            raise InputError(f"{directory}: cannot read the build context directory: "
                             f"{e.strerror or e}") from None
        for item in items:
            rel = prefix + item.name
            dir_excluded = False
            try:
                is_dir = item.is_dir(follow_symlinks=False)
                if is_dir:
                    dir_excluded = matcher.excluded(rel)
                    if dir_excluded and not matcher.may_include_under(rel):
                        continue
                elif matcher.excluded(rel):
                    continue
                st = item.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # removed while we looked
            if is_dir:
                entry = ContextEntry(rel, "dir", stat.S_IMODE(st.st_mode), 0, "", "",
                                     Path(item.path))
                if dir_excluded:
                    pending.append(entry)
                else:
                    emit(entry)
                    pending.append(None)
                walk(item.path, rel + "/", dir_excluded)
                pending.pop()
            elif stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode):
                emit(_leaf(item.path, rel, st, digests))

    walk(str(root), "", False)
    out.sort(key=lambda e: e.rel)
    return out


def _leaf(path: str, rel: str, st: os.stat_result, digests: DigestCache) -> ContextEntry:
    mode = stat.S_IMODE(st.st_mode)
    try:
        if stat.S_ISLNK(st.st_mode):
            target = os.readlink(path)
            digest = hashlib.sha256(os.fsencode(target)).hexdigest()
            return ContextEntry(rel, "symlink", mode, st.st_size, digest, target, Path(path))
        digest = digests.digest(Path(path), st, key=rel)
    except OSError as e:
        raise InputError(f"{path}: cannot read the build context file: "
                         f"{e.strerror or e}") from None
    return ContextEntry(rel, "file", mode, st.st_size, digest, "", Path(path))


# --------------------------------------------------------------------------- the input digest


def input_digest(entries: Sequence[ContextEntry], dockerfile: bytes,
                 extra: Mapping[str, str] | None = None) -> str:
    """sha256 hex over what a build reads: each entry's path, kind, executable bit and
    content digest, the Dockerfile's bytes, and the ``extra`` items (build args, target,
    …) in key order. The same on every machine: no times, owners or other mode bits."""
    h = hashlib.sha256(b"hoist-build-inputs/1\n")

    def put(data: bytes) -> None:
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)

    put(b"entries")
    put(str(len(entries)).encode())
    for e in sorted(entries, key=lambda e: (e.rel, e.kind)):
        put(os.fsencode(e.rel))
        put(e.kind.encode())
        put(b"x" if e.mode & 0o111 else b"-")
        put(e.digest.encode())
    put(b"dockerfile")
    put(dockerfile)
    items = sorted((extra or {}).items())
    put(b"extra")
    put(str(len(items)).encode())
    for key, value in items:
        put(key.encode("utf-8", "surrogateescape"))
        put(value.encode("utf-8", "surrogateescape"))
    return h.hexdigest()
