"""Repository data of the registry server, in the store's SQLite index: which manifests
and blobs each repository holds, and its tags.

Content stays in the store's blob directory (one copy per digest, whatever the number of
repositories); these tables say what each repository may serve. Images the store holds by
name (``hoist pull``, ``store:`` copies) are served too, each under its repository path
without the registry host (``docker.io/library/nginx:1.25`` as ``library/nginx:1.25``).
A manifest row is written
only after its bytes are committed and every blob it names is linked, so no row points at
missing content except after a gc removed a blob no manifest references. Not thread-safe:
one thread uses an instance (the server runs every call on a single worker thread)."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from hoist.core.digest import Digest
from hoist.core.manifest import ManifestError, parse_manifest
from hoist.core.reference import ReferenceError, parse_normalized_named
from hoist.errors import OperationError
from hoist.store.store import ContentStore, StoreError


@dataclass(frozen=True, slots=True)
class ManifestRow:
    repo: str
    digest: Digest
    media_type: str
    size: int
    subject: Digest | None = None
    artifact_type: str = ""
    annotations: Mapping[str, str] = field(default_factory=dict)


class RepositoryIndex:
    def __init__(self, store: ContentStore) -> None:
        self.store = store

    @property
    def db(self) -> sqlite3.Connection:
        return self.store.db

    # ---------------------------------------------------------------- blob links

    def link_blob(self, repo: str, digest: Digest) -> None:
        self.db.execute(
            "INSERT INTO repo_blobs(repo, digest, linked) VALUES (?, ?, ?) "
            "ON CONFLICT(repo, digest) DO UPDATE SET linked=excluded.linked",
            (repo, str(digest), time.time()))

    def blob_linked(self, repo: str, digest: Digest) -> bool:
        row = self.db.execute("SELECT 1 FROM repo_blobs WHERE repo = ? AND digest = ?",
                              (repo, str(digest))).fetchone()
        return row is not None or digest in self.store_content(repo)

    def refresh_link(self, repo: str, digest: Digest, older_than: float) -> None:
        """Renew the link's time when it is older than ``older_than`` seconds (a client
        that found the blob by HEAD will reference it soon; gc must not take it)."""
        now = time.time()
        self.db.execute("UPDATE repo_blobs SET linked = ? WHERE repo = ? AND digest = ? "
                        "AND linked < ?", (now, repo, str(digest), now - older_than))

    def unlink_blob(self, repo: str, digest: Digest) -> bool:
        cur = self.db.execute("DELETE FROM repo_blobs WHERE repo = ? AND digest = ?",
                              (repo, str(digest)))
        return cur.rowcount > 0

    def unlinked(self, repo: str, digests: Iterable[Digest]) -> list[Digest]:
        """Those of ``digests`` the repository holds neither as blob nor as manifest."""
        out = []
        for d in digests:
            row = self.db.execute(
                "SELECT 1 FROM repo_blobs WHERE repo = ?1 AND digest = ?2 UNION ALL "
                "SELECT 1 FROM repo_manifests WHERE repo = ?1 AND digest = ?2 LIMIT 1",
                (repo, str(d))).fetchone()
            if row is None:
                out.append(d)
        if out:  # content of a store image served under this name counts as well
            content = self.store_content(repo)
            out = [d for d in out if d not in content]
        return out

    # ---------------------------------------------------------------- manifests

    def put_manifest(self, row: ManifestRow, tag: str | None) -> None:
        now = time.time()
        with self.db:  # one transaction: the manifest and its tag appear together
            self.db.execute("BEGIN")
            self.db.execute(
                "INSERT INTO repo_manifests(repo, digest, media_type, size, subject, "
                "artifact_type, annotations, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(repo, digest) DO UPDATE SET media_type=excluded.media_type",
                (row.repo, str(row.digest), row.media_type, row.size,
                 str(row.subject) if row.subject else None, row.artifact_type,
                 json.dumps(dict(row.annotations), sort_keys=True), now))
            if tag is not None:
                self.db.execute(
                    "INSERT INTO repo_tags(repo, tag, digest, updated) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT(repo, tag) DO UPDATE SET digest=excluded.digest, "
                    "updated=excluded.updated", (row.repo, tag, str(row.digest), now))

    def manifest(self, repo: str, digest: Digest) -> ManifestRow | None:
        r = self.db.execute(
            "SELECT repo, digest, media_type, size, subject, artifact_type, annotations "
            "FROM repo_manifests WHERE repo = ? AND digest = ?", (repo, str(digest))).fetchone()
        if r:
            return _manifest_row(r)
        if digest not in self.store_content(repo):
            return None
        try:
            m = self.store.manifest(digest)
        except StoreError:
            return None
        return ManifestRow(repo, digest, m.media_type, m.size)

    def resolve_tag(self, repo: str, tag: str) -> Digest | None:
        r = self.db.execute("SELECT digest FROM repo_tags WHERE repo = ? AND tag = ?",
                            (repo, tag)).fetchone()
        if r:
            return Digest.parse(r[0])
        for image_repo, image_tag, digest in self.store_images():
            if image_repo == repo and image_tag == tag:
                return digest
        return None

    def delete_manifest(self, repo: str, digest: Digest) -> bool:
        with self.db:
            self.db.execute("BEGIN")
            cur = self.db.execute("DELETE FROM repo_manifests WHERE repo = ? AND digest = ?",
                                  (repo, str(digest)))
            self.db.execute("DELETE FROM repo_tags WHERE repo = ? AND digest = ?",
                            (repo, str(digest)))
        return cur.rowcount > 0

    def delete_tag(self, repo: str, tag: str) -> bool:
        cur = self.db.execute("DELETE FROM repo_tags WHERE repo = ? AND tag = ?", (repo, tag))
        return cur.rowcount > 0

    def referrers(self, repo: str, subject: Digest) -> list[ManifestRow]:
        rows = self.db.execute(
            "SELECT repo, digest, media_type, size, subject, artifact_type, annotations "
            "FROM repo_manifests WHERE repo = ? AND subject = ? ORDER BY created, digest",
            (repo, str(subject))).fetchall()
        return [_manifest_row(r) for r in rows]

    # ---------------------------------------------------------------- listings

    def exists(self, repo: str) -> bool:
        for table in ("repo_tags", "repo_manifests", "repo_blobs"):
            if self.db.execute(f"SELECT 1 FROM {table} WHERE repo = ? LIMIT 1",
                               (repo,)).fetchone():
                return True
        return any(image_repo == repo for image_repo, _, _ in self.store_images())

    def tags(self, repo: str, last: str = "", limit: int | None = None) -> list[str]:
        """Tags in lexical (byte) order after ``last``; at most ``limit``."""
        rows = self.db.execute(
            "SELECT tag FROM repo_tags WHERE repo = ? AND tag > ?", (repo, last)).fetchall()
        tags = {r[0] for r in rows} | {
            tag for image_repo, tag, _ in self.store_images()
            if image_repo == repo and tag and tag > last}
        return sorted(tags)[:limit]

    def repositories(self, last: str = "", limit: int | None = None) -> list[str]:
        rows = self.db.execute(
            "SELECT repo FROM repo_manifests UNION SELECT repo FROM repo_tags").fetchall()
        repos = {r[0] for r in rows} | {image_repo for image_repo, _, _ in self.store_images()}
        return sorted(r for r in repos if r > last)[:limit]

    # ---------------------------------------------------------------- store images

    def store_images(self) -> list[tuple[str, str, Digest]]:
        """(repository path, tag or '', manifest digest) of the store's named images."""
        out = []
        for rec in self.store.images():
            try:
                ref = parse_normalized_named(rec.name)
            except ReferenceError:
                continue
            out.append((ref.path, ref.tag, rec.digest))
        return out

    def store_content(self, repo: str) -> set[Digest]:
        """Every manifest and blob of the store's images served as ``repo``."""
        content: set[Digest] = set()
        stack = [digest for image_repo, _, digest in self.store_images() if image_repo == repo]
        while stack:
            digest = stack.pop()
            if digest in content:
                continue
            content.add(digest)
            try:
                m = parse_manifest(self.store.blobs.read(digest))
            except (OSError, ManifestError, OperationError):
                continue
            if m.is_index:
                stack += [c.digest for c in m.manifests if self.store.blobs.has(c.digest)]
            else:
                content.update(b.digest for b in m.blobs())
        return content


def _manifest_row(r: tuple[str, str, str, int, str | None, str, str]) -> ManifestRow:
    annotations = json.loads(r[6]) if r[6] else {}
    return ManifestRow(r[0], Digest.parse(r[1]), r[2], r[3],
                       Digest.parse(r[4]) if r[4] else None, r[5], annotations)
