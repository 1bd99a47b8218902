"""The local content store: verified blobs on disk and an index of image names.

Layout under the root (default ``~/.local/share/hoist/store``)::

    blobs/sha256/<hex>   committed, verified content (manifests, configs, layers)
    ingest/              partial writes, resumable by digest
    index.db             SQLite (WAL): image name → manifest digest, size, last use
    gc.lock              writers hold it shared; gc holds it exclusively

An image name is recorded only after its manifest and every blob it needs are committed,
so the index never points at missing content (no dangling entry after a crash)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from hoist.core.digest import Digest
from hoist.core.manifest import Manifest, ManifestError, parse_manifest
from hoist.errors import OperationError
from hoist.store.blobs import BlobDir

# Repository data of the registry server (hoist.registry.server): manifests, tags and blob
# links per repository. gc treats every repository manifest as a root, and every blob linked
# to a repository less than ``link_grace_seconds`` ago as live (a push uploads its blobs
# before the manifest that references them).
REPOSITORY_SCHEMA = """
CREATE TABLE IF NOT EXISTS repo_manifests (
    repo TEXT NOT NULL,
    digest TEXT NOT NULL,
    media_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    subject TEXT,
    artifact_type TEXT NOT NULL DEFAULT '',
    annotations TEXT NOT NULL DEFAULT '{}',
    created REAL NOT NULL,
    PRIMARY KEY (repo, digest)
);
CREATE INDEX IF NOT EXISTS repo_manifests_subject ON repo_manifests(repo, subject);
CREATE INDEX IF NOT EXISTS repo_manifests_digest ON repo_manifests(digest);
CREATE TABLE IF NOT EXISTS repo_tags (
    repo TEXT NOT NULL,
    tag TEXT NOT NULL,
    digest TEXT NOT NULL,
    updated REAL NOT NULL,
    PRIMARY KEY (repo, tag)
);
CREATE TABLE IF NOT EXISTS repo_blobs (
    repo TEXT NOT NULL,
    digest TEXT NOT NULL,
    linked REAL NOT NULL,
    PRIMARY KEY (repo, digest)
);
CREATE INDEX IF NOT EXISTS repo_blobs_linked ON repo_blobs(linked);
"""
LINK_GRACE_SECONDS = 24 * 3600

# Ingest files untouched this long belong to nobody (a writer holds its file locked and
# writes continuously); gc removes them.
STALE_INGEST_SECONDS = 24 * 3600

_SCHEMA = """
CREATE TABLE IF NOT EXISTS images (
    name TEXT PRIMARY KEY,
    digest TEXT NOT NULL,
    media_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    created REAL NOT NULL,
    last_used REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS images_digest ON images(digest);
""" + REPOSITORY_SCHEMA


def default_store_root(env: dict[str, str] | None = None) -> Path:
    env = dict(os.environ) if env is None else env
    base = env.get("XDG_DATA_HOME") or os.path.join(env.get("HOME", "~"), ".local", "share")
    return Path(os.path.expanduser(base)) / "hoist" / "store"


class StoreError(OperationError):
    pass


@dataclass(frozen=True, slots=True)
class ImageRecord:
    name: str
    digest: Digest
    media_type: str
    size: int
    created: float
    last_used: float


@dataclass(slots=True)
class VerifyReport:
    blobs_checked: int = 0
    bytes_checked: int = 0
    bad_blobs: list[tuple[Digest, Digest]] = field(default_factory=list)
    missing: list[tuple[str, Digest]] = field(default_factory=list)
    # blobs that could not be read, and manifests that do not parse: (digest, why)
    unreadable: list[tuple[Digest, str]] = field(default_factory=list)
    partial_ingests: int = 0

    @property
    def ok(self) -> bool:
        return not (self.bad_blobs or self.missing or self.unreadable)


@dataclass(slots=True)
class GcReport:
    removed_blobs: list[Digest] = field(default_factory=list)
    removed_bytes: int = 0
    removed_ingests: int = 0
    kept_blobs: int = 0


class ContentStore:
    """Blobs plus the image index. Cheap to construct; the database opens on first use."""

    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root) if root is not None else default_store_root()
        self.blobs = BlobDir(self.root)
        self._db: sqlite3.Connection | None = None

    # ------------------------------------------------------------------ index

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            self.root.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.root / "index.db", timeout=30, isolation_level=None,
                                   check_same_thread=False)
            # Switching to WAL and creating the schema fail at once ("database is
            # locked") when another process does the same: openers take turns.
            fd = os.open(self.root / "index.lock", os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=FULL")
                conn.executescript(_SCHEMA)
            finally:
                os.close(fd)
            self._db = conn
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> ContentStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Hold off gc while content is added (blobs are committed before the image that
        references them is recorded, and gc must not sweep them in between)."""
        with self._lock(fcntl.LOCK_SH):
            yield

    @contextlib.contextmanager
    def _lock(self, mode: int) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / "gc.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, mode)
            yield
        finally:
            os.close(fd)

    def record(self, name: str, manifest: Manifest, size: int | None = None) -> None:
        """Name an image whose manifest and blobs are committed."""
        missing = self.missing_content(manifest)
        if not self.blobs.has(manifest.digest):  # the manifest itself is content too
            missing.insert(0, manifest.digest)
        if missing:
            raise StoreError(f"cannot record {name}: {len(missing)} blob(s) are not in the "
                             f"store (first: {missing[0]})")
        now = time.time()
        total = size if size is not None else self.image_size(manifest)
        self.db.execute(
            "INSERT INTO images(name, digest, media_type, size, created, last_used) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET digest=excluded.digest,"
            " media_type=excluded.media_type, size=excluded.size, last_used=excluded.last_used,"
            " created=CASE WHEN images.digest = excluded.digest THEN images.created"
            " ELSE excluded.created END",
            (name, str(manifest.digest), manifest.media_type, total, now, now))

    def lookup(self, name: str) -> ImageRecord | None:
        row = self.db.execute(
            "SELECT name, digest, media_type, size, created, last_used FROM images "
            "WHERE name = ?", (name,)).fetchone()
        return _record(row) if row else None

    def touch(self, name: str) -> None:
        self.db.execute("UPDATE images SET last_used = ? WHERE name = ?", (time.time(), name))

    def images(self) -> list[ImageRecord]:
        rows = self.db.execute(
            "SELECT name, digest, media_type, size, created, last_used FROM images "
            "ORDER BY name").fetchall()
        return [_record(r) for r in rows]

    def remove_image(self, name: str) -> bool:
        cur = self.db.execute("DELETE FROM images WHERE name = ?", (name,))
        return cur.rowcount > 0

    # ------------------------------------------------------------------ content

    def manifest(self, digest: Digest) -> Manifest:
        try:
            raw = self.blobs.read(digest)
        except OperationError:
            raise StoreError(f"manifest {digest} is not in the store at {self.root}") from None
        try:
            m = parse_manifest(raw)
        except ManifestError as e:
            raise StoreError(f"manifest {digest} in the store: {e}") from None
        return m

    def children(self, manifest: Manifest) -> list[Manifest]:
        """Platform manifests of an index that the store holds (a pull for one platform
        stores the index and that platform's image only)."""
        return [self.manifest(d.digest) for d in manifest.manifests if self.blobs.has(d.digest)]

    def missing_content(self, manifest: Manifest) -> list[Digest]:
        if manifest.is_index:
            present = [d for d in manifest.manifests if self.blobs.has(d.digest)]
            if manifest.manifests and not present:
                return [manifest.manifests[0].digest]
            out: list[Digest] = []
            for d in present:
                out += self.missing_content(self.manifest(d.digest))
            return out
        return [d.digest for d in manifest.blobs() if not self.blobs.has(d.digest)]

    def image_size(self, manifest: Manifest) -> int:
        if manifest.is_index:
            return manifest.size + sum(self.image_size(c) for c in self.children(manifest))
        return manifest.size + sum(d.size for d in manifest.blobs())

    def referenced(self, link_grace_seconds: float = LINK_GRACE_SECONDS) -> set[Digest]:
        """Every blob some recorded image or repository manifest needs, and every blob
        linked to a repository within ``link_grace_seconds`` (mark phase of gc)."""
        live: set[Digest] = set()
        stack: list[Digest] = []
        for rec in self.images():
            stack.append(rec.digest)
        for (text,) in self.db.execute("SELECT DISTINCT digest FROM repo_manifests"):
            stack.append(Digest.parse(text))
        cutoff = time.time() - link_grace_seconds
        for (text,) in self.db.execute(
                "SELECT DISTINCT digest FROM repo_blobs WHERE linked >= ?", (cutoff,)):
            live.add(Digest.parse(text))
        while stack:
            d = stack.pop()
            if d in live:
                continue
            live.add(d)
            if not self.blobs.has(d):
                continue
            try:
                m = parse_manifest(self.blobs.read(d))
            except ManifestError:
                continue
            if m.is_index:
                stack += [c.digest for c in m.manifests if self.blobs.has(c.digest)]
                if m.subject:
                    stack.append(m.subject.digest)
            else:
                live.update(b.digest for b in m.blobs())
        return live

    # ------------------------------------------------------------------ maintenance

    def verify(self, progress: object = None) -> VerifyReport:
        """Re-hash every blob and check every image's content is present."""
        report = VerifyReport()
        for digest in self.blobs.digests():
            try:
                size = self.blobs.size(digest) or 0
                bad = self.blobs.verify_one(digest)
            except OSError as e:
                report.unreadable.append((digest, str(e)))
                continue
            report.blobs_checked += 1
            report.bytes_checked += size
            if bad is not None:
                report.bad_blobs.append((digest, bad))
        for rec in self.images():
            if not self.blobs.has(rec.digest):
                report.missing.append((rec.name, rec.digest))
                continue
            try:
                m = self.manifest(rec.digest)
                for d in self.missing_content(m):
                    report.missing.append((rec.name, d))
            except StoreError as e:
                report.unreadable.append((rec.digest, str(e)))
        report.partial_ingests = sum(1 for _ in self.blobs.ingests())
        return report

    def gc(self, *, dry_run: bool = False,
           stale_ingest_seconds: float = STALE_INGEST_SECONDS,
           link_grace_seconds: float = LINK_GRACE_SECONDS) -> GcReport:
        """Remove blobs no recorded image or repository manifest references (nor a
        repository linked recently), and abandoned ingests. Waits for running writers
        (they hold the gc lock shared)."""
        report = GcReport()
        with self._lock(fcntl.LOCK_EX):
            live = self.referenced(link_grace_seconds)
            for digest in list(self.blobs.digests()):
                if digest in live:
                    report.kept_blobs += 1
                    continue
                report.removed_blobs.append(digest)
                if dry_run:
                    report.removed_bytes += self.blobs.size(digest) or 0
                else:
                    report.removed_bytes += self.blobs.remove(digest)
            cutoff = time.time() - stale_ingest_seconds
            for path, mtime in list(self.blobs.ingests()):
                if mtime < cutoff:
                    report.removed_ingests += 1
                    if not dry_run:
                        with contextlib.suppress(FileNotFoundError):
                            path.unlink()
        return report


def _record(row: tuple[str, str, str, int, float, float]) -> ImageRecord:
    return ImageRecord(row[0], Digest.parse(row[1]), row[2], row[3], row[4], row[5])

