"""hoist.store.store.ContentStore: the image index over verified blobs, verify and gc."""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest

from hoist.core import mediatypes as mt
from hoist.core.digest import Digest
from hoist.core.manifest import Descriptor, Manifest, build_index, build_manifest, parse_manifest
from hoist.core.platform import Platform
from hoist.store import store as store_mod
from hoist.store.store import (
    STALE_INGEST_SECONDS,
    ContentStore,
    StoreError,
    default_store_root,
)


@dataclass
class Image:
    manifest: Manifest
    config: Digest
    layers: list[Digest]

    @property
    def blobs(self) -> list[Digest]:
        return [self.config, *self.layers]


def put_image(cs: ContentStore, tag: str, *, layers: list[bytes] | None = None,
              store_manifest: bool = True, skip: int | None = None) -> Image:
    """Write an image's config and layers (except layer ``skip``) and, unless told not to,
    its manifest; return what was built."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "tag": tag}).encode()
    layer_bytes = layers if layers is not None else [f"{tag}-layer-{i}".encode() * 100
                                                     for i in range(2)]
    cfg = Descriptor(mt.OCI_CONFIG, cs.blobs.put(config), len(config))
    descs = []
    for i, data in enumerate(layer_bytes):
        d = Digest.from_bytes(data)
        if i != skip:
            cs.blobs.put(data)
        descs.append(Descriptor(mt.OCI_LAYER_GZIP, d, len(data)))
    raw = build_manifest(cfg, descs)
    if store_manifest:
        cs.blobs.put(raw)
    return Image(parse_manifest(raw), cfg.digest, [d.digest for d in descs])


def put_index(cs: ContentStore, children: list[tuple[Platform, Manifest]],
              store_index: bool = True) -> Manifest:
    raw = build_index([Descriptor(m.media_type, m.digest, m.size, p) for p, m in children])
    if store_index:
        cs.blobs.put(raw)
    return parse_manifest(raw)


@pytest.fixture
def cs(tmp_path: Path) -> Iterator[ContentStore]:
    store = ContentStore(tmp_path / "store")
    yield store
    store.close()


def fake_clock(monkeypatch: pytest.MonkeyPatch, start: float) -> list[float]:
    """The store's wall clock, settable through the returned one-element list."""
    clock = [start]
    monkeypatch.setattr(store_mod, "time", SimpleNamespace(time=lambda: clock[0]))
    return clock


def flip_a_byte(path: Path, at: int = 10) -> None:
    raw = bytearray(path.read_bytes())
    raw[at] ^= 0x01
    path.write_bytes(bytes(raw))


# --------------------------------------------------------------------------------------
# construction
# --------------------------------------------------------------------------------------
def test_default_store_root() -> None:
    assert default_store_root({"XDG_DATA_HOME": "/xdg", "HOME": "/home/u"}) == \
        Path("/xdg/hoist/store")
    assert default_store_root({"HOME": "/home/u"}) == Path("/home/u/.local/share/hoist/store")
    assert default_store_root({"XDG_DATA_HOME": "", "HOME": "/h"}) == \
        Path("/h/.local/share/hoist/store")


def test_default_root_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert ContentStore().root == tmp_path / "hoist" / "store"


def test_construction_touches_nothing(tmp_path: Path) -> None:
    ContentStore(tmp_path / "lazy")
    assert not (tmp_path / "lazy").exists()


def test_index_is_sqlite_in_wal_mode(cs: ContentStore) -> None:
    assert cs.db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    other = sqlite3.connect(cs.root / "index.db")
    try:
        assert other.execute("PRAGMA journal_mode").fetchone() == ("wal",)  # persistent
    finally:
        other.close()


def test_context_manager_closes(tmp_path: Path) -> None:
    with ContentStore(tmp_path / "s") as store:
        db = store.db
    with pytest.raises(sqlite3.ProgrammingError):
        db.execute("SELECT 1")
    store.close()  # twice is fine


# --------------------------------------------------------------------------------------
# record / lookup / touch / images / remove_image
# --------------------------------------------------------------------------------------
def test_record_and_lookup(cs: ContentStore, monkeypatch: pytest.MonkeyPatch) -> None:
    img = put_image(cs, "v1")
    fake_clock(monkeypatch, 1000.0)
    cs.record("docker.io/library/app:v1", img.manifest)
    rec = cs.lookup("docker.io/library/app:v1")
    assert rec is not None
    assert rec.name == "docker.io/library/app:v1"
    assert rec.digest == img.manifest.digest
    assert rec.media_type == mt.OCI_MANIFEST
    expected = img.manifest.size + sum(d.size for d in img.manifest.blobs())
    assert rec.size == expected == cs.image_size(img.manifest)
    assert (rec.created, rec.last_used) == (1000.0, 1000.0)
    assert cs.lookup("docker.io/library/app:v2") is None


def test_record_with_explicit_size(cs: ContentStore) -> None:
    img = put_image(cs, "v1")
    cs.record("a", img.manifest, size=42)
    rec = cs.lookup("a")
    assert rec is not None and rec.size == 42


def test_record_again_keeps_created_for_the_same_digest(cs: ContentStore,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    v1, v2 = put_image(cs, "v1"), put_image(cs, "v2")
    clock = fake_clock(monkeypatch, 1000.0)
    cs.record("app:latest", v1.manifest)
    clock[0] = 2000.0
    cs.record("app:latest", v1.manifest)
    rec = cs.lookup("app:latest")
    assert rec is not None and (rec.created, rec.last_used) == (1000.0, 2000.0)
    clock[0] = 3000.0
    cs.record("app:latest", v2.manifest)  # the tag moved: a new image
    rec = cs.lookup("app:latest")
    assert rec is not None
    assert rec.digest == v2.manifest.digest
    assert (rec.created, rec.last_used) == (3000.0, 3000.0)
    assert len(cs.images()) == 1


def test_touch_updates_last_used_only(cs: ContentStore, monkeypatch: pytest.MonkeyPatch) -> None:
    img = put_image(cs, "v1")
    clock = fake_clock(monkeypatch, 1000.0)
    cs.record("a", img.manifest)
    clock[0] = 1500.0
    cs.touch("a")
    cs.touch("unknown")  # no error, no row
    rec = cs.lookup("a")
    assert rec is not None and (rec.created, rec.last_used) == (1000.0, 1500.0)
    assert cs.lookup("unknown") is None


def test_images_sorted_and_remove_image(cs: ContentStore) -> None:
    img = put_image(cs, "v1")
    for name in ("zeta:1", "alpha:1", "mid:1"):
        cs.record(name, img.manifest)
    assert [r.name for r in cs.images()] == ["alpha:1", "mid:1", "zeta:1"]
    assert cs.remove_image("mid:1") is True
    assert cs.remove_image("mid:1") is False
    assert [r.name for r in cs.images()] == ["alpha:1", "zeta:1"]


def test_index_survives_reopening(tmp_path: Path) -> None:
    with ContentStore(tmp_path / "s") as a:
        img = put_image(a, "v1")
        a.record("x:1", img.manifest)
    with ContentStore(tmp_path / "s") as b:
        rec = b.lookup("x:1")
        assert rec is not None and rec.digest == img.manifest.digest


# --------------------------------------------------------------------------------------
# record refuses incomplete images
# --------------------------------------------------------------------------------------
def test_record_refuses_a_missing_layer(cs: ContentStore) -> None:
    img = put_image(cs, "v1", skip=1)
    with pytest.raises(StoreError) as e:
        cs.record("app:v1", img.manifest)
    assert str(e.value) == (f"cannot record app:v1: 1 blob(s) are not in the store "
                            f"(first: {img.layers[1]})")
    assert cs.lookup("app:v1") is None and cs.images() == []


def test_record_refuses_a_missing_manifest(cs: ContentStore) -> None:
    img = put_image(cs, "v1", store_manifest=False)
    with pytest.raises(StoreError, match=str(img.manifest.digest)):
        cs.record("app:v1", img.manifest)
    assert cs.images() == []


def test_record_an_index_with_one_platform_pulled(cs: ContentStore) -> None:
    amd = put_image(cs, "amd64")
    arm = put_image(cs, "arm64", store_manifest=False)  # not pulled: only its bytes known
    cs.blobs.remove(arm.config)
    for d in arm.layers:
        cs.blobs.remove(d)
    index = put_index(cs, [(Platform("linux", "amd64"), amd.manifest),
                           (Platform("linux", "arm64"), arm.manifest)])
    assert cs.missing_content(index) == []
    cs.record("multi:1", index)
    rec = cs.lookup("multi:1")
    assert rec is not None and rec.media_type == mt.OCI_INDEX
    assert rec.size == index.size + cs.image_size(amd.manifest)
    assert [c.digest for c in cs.children(index)] == [amd.manifest.digest]


def test_record_refuses_an_index_without_any_platform(cs: ContentStore) -> None:
    amd = put_image(cs, "amd64", store_manifest=False)
    index = put_index(cs, [(Platform("linux", "amd64"), amd.manifest)])
    with pytest.raises(StoreError, match=f"first: {amd.manifest.digest}"):
        cs.record("multi:1", index)
    assert cs.images() == []


def test_record_refuses_an_index_whose_platform_image_is_incomplete(cs: ContentStore) -> None:
    amd = put_image(cs, "amd64", skip=0)
    index = put_index(cs, [(Platform("linux", "amd64"), amd.manifest)])
    with pytest.raises(StoreError, match=f"first: {amd.layers[0]}"):
        cs.record("multi:1", index)


def test_empty_index_can_be_recorded(cs: ContentStore) -> None:
    index = put_index(cs, [])
    cs.record("empty:1", index)
    rec = cs.lookup("empty:1")
    assert rec is not None and rec.size == index.size


def test_manifest_errors(cs: ContentStore) -> None:
    d = Digest.from_bytes(b"nothing")
    with pytest.raises(StoreError, match=f"manifest {d} is not in the store at {cs.root}"):
        cs.manifest(d)
    bad = cs.blobs.put(b"[not a manifest]")
    with pytest.raises(StoreError, match=f"manifest {bad} in the store: manifest is not"):
        cs.manifest(bad)


# --------------------------------------------------------------------------------------
# verify
# --------------------------------------------------------------------------------------
def test_verify_clean_store(cs: ContentStore) -> None:
    img = put_image(cs, "v1")
    cs.record("a", img.manifest)
    report = cs.verify()
    assert report.ok
    assert report.blobs_checked == 4
    assert report.bytes_checked == cs.image_size(img.manifest)
    assert (report.bad_blobs, report.missing, report.unreadable) == ([], [], [])
    assert report.partial_ingests == 0


def test_verify_reports_a_flipped_byte(cs: ContentStore) -> None:
    img = put_image(cs, "v1")
    cs.record("a", img.manifest)
    layer = img.layers[0]
    flip_a_byte(cs.blobs.path(layer))
    report = cs.verify()
    assert not report.ok
    assert report.bad_blobs == [(layer, Digest.from_bytes(cs.blobs.path(layer).read_bytes()))]
    assert report.missing == []


def test_verify_reports_a_missing_blob_of_a_recorded_image(cs: ContentStore) -> None:
    img = put_image(cs, "v1")
    cs.record("a", img.manifest)
    cs.blobs.path(img.layers[1]).unlink()
    report = cs.verify()
    assert not report.ok
    assert report.missing == [("a", img.layers[1])]
    assert report.bad_blobs == []


def test_verify_reports_a_missing_manifest(cs: ContentStore) -> None:
    img = put_image(cs, "v1")
    cs.record("a", img.manifest)
    cs.blobs.path(img.manifest.digest).unlink()
    report = cs.verify()
    assert report.missing == [("a", img.manifest.digest)]


def test_verify_reports_an_unreadable_manifest(cs: ContentStore) -> None:
    img = put_image(cs, "v1")
    cs.record("a", img.manifest)
    cs.blobs.path(img.manifest.digest).write_bytes(b"\x00garbage")
    report = cs.verify()
    assert not report.ok
    assert [d for d, _ in report.bad_blobs] == [img.manifest.digest]
    assert [d for d, _ in report.unreadable] == [img.manifest.digest]


def test_verify_counts_partial_ingests(cs: ContentStore) -> None:
    with cs.blobs.ingest(Digest.from_bytes(b"x")) as ing:
        ing.write(b"partial")
    report = cs.verify()
    assert report.partial_ingests == 1
    assert report.ok  # a partial write is not damage


def test_verify_reports_an_unreadable_blob_file(cs: ContentStore,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    good = cs.blobs.put(b"good")
    bad = cs.blobs.put(b"unreadable")
    real = cs.blobs.verify_one

    def verify_one(d: Digest) -> Digest | None:
        if d == bad:
            raise PermissionError(13, "Permission denied", str(cs.blobs.path(d)))
        return real(d)

    monkeypatch.setattr(cs.blobs, "verify_one", verify_one)
    report = cs.verify()
    assert not report.ok
    assert report.blobs_checked == 1 and report.bytes_checked == 4
    assert [(d, "Permission denied" in why) for d, why in report.unreadable] == \
        [(bad, True)]
    assert good not in [d for d, _ in report.unreadable]


def test_blob_listing_skips_what_is_not_a_file(cs: ContentStore) -> None:
    d = cs.blobs.put(b"blob")
    path = cs.blobs.path(d)
    path.unlink()
    path.mkdir()
    os.symlink("/nonexistent/target", cs.blobs.blob_root / "sha256" / ("0" * 64))
    report = cs.verify()
    assert report.blobs_checked == 0 and report.ok


# --------------------------------------------------------------------------------------
# gc
# --------------------------------------------------------------------------------------
def all_blobs(cs: ContentStore) -> set[Digest]:
    return set(cs.blobs.digests())


def test_gc_removes_unreferenced_and_keeps_referenced(cs: ContentStore) -> None:
    keep = put_image(cs, "keep")
    drop = put_image(cs, "drop")
    stray = cs.blobs.put(b"stray blob")
    cs.record("keep:1", keep.manifest)
    report = cs.gc()
    gone = {drop.manifest.digest, *drop.blobs, stray}
    assert set(report.removed_blobs) == gone
    assert report.removed_bytes == len(b"stray blob") + cs.image_size(drop.manifest)
    assert report.kept_blobs == 4
    assert all_blobs(cs) == {keep.manifest.digest, *keep.blobs}
    assert cs.verify().ok


def test_gc_keeps_shared_layers_after_remove_image(cs: ContentStore) -> None:
    shared = b"shared base layer" * 50
    a = put_image(cs, "a", layers=[shared, b"a only"])
    b = put_image(cs, "b", layers=[shared, b"b only"])
    cs.record("a:1", a.manifest)
    cs.record("b:1", b.manifest)
    assert cs.remove_image("a:1")
    report = cs.gc()
    assert set(report.removed_blobs) == {a.manifest.digest, a.config, a.layers[1]}
    assert all_blobs(cs) == {b.manifest.digest, *b.blobs}
    assert cs.blobs.has(Digest.from_bytes(shared))


def test_gc_keeps_index_children_and_their_blobs(cs: ContentStore) -> None:
    amd = put_image(cs, "amd64")
    arm = put_image(cs, "arm64")
    index = put_index(cs, [(Platform("linux", "amd64"), amd.manifest),
                           (Platform("linux", "arm64", "v8"), arm.manifest)])
    unrelated = put_image(cs, "other")
    cs.record("multi:1", index)
    report = cs.gc()
    assert set(report.removed_blobs) == {unrelated.manifest.digest, *unrelated.blobs}
    assert all_blobs(cs) == {index.digest, amd.manifest.digest, *amd.blobs,
                             arm.manifest.digest, *arm.blobs}
    assert report.kept_blobs == 1 + 4 + 4


def test_gc_keeps_the_subject_of_a_recorded_index(cs: ContentStore) -> None:
    amd = put_image(cs, "amd64")
    subject = put_image(cs, "subject")
    doc = json.loads(build_index([amd.manifest.descriptor]))
    doc["subject"] = subject.manifest.descriptor.to_json()
    raw = json.dumps(doc).encode()
    cs.blobs.put(raw)
    cs.record("referrers:1", parse_manifest(raw))
    cs.gc()
    assert cs.blobs.has(subject.manifest.digest)
    assert all(cs.blobs.has(d) for d in subject.blobs)


def test_gc_dry_run_removes_nothing(cs: ContentStore) -> None:
    keep = put_image(cs, "keep")
    drop = put_image(cs, "drop")
    cs.record("keep:1", keep.manifest)
    with cs.blobs.ingest(Digest.from_bytes(b"x")) as ing:
        ing.write(b"partial")
    stale = next(iter(cs.blobs.ingests()))[0]
    os.utime(stale, (1, 1))
    before = all_blobs(cs)
    report = cs.gc(dry_run=True)
    assert set(report.removed_blobs) == {drop.manifest.digest, *drop.blobs}
    assert report.removed_bytes == cs.image_size(drop.manifest)
    assert report.removed_ingests == 1
    assert all_blobs(cs) == before
    assert stale.exists()


def test_gc_removes_stale_ingests_only(cs: ContentStore) -> None:
    paths = []
    for data in (b"old", b"new"):
        with cs.blobs.ingest(Digest.from_bytes(data)) as ing:
            ing.write(data[:2])
        paths.append(cs.blobs.ingest_root / f"sha256-{Digest.from_bytes(data).encoded}")
    old, new = paths
    long_ago = time.time() - STALE_INGEST_SECONDS - 60
    os.utime(old, (long_ago, long_ago))
    report = cs.gc()
    assert report.removed_ingests == 1
    assert not old.exists() and new.exists()
    # a custom cutoff
    recent = time.time() - 120
    os.utime(new, (recent, recent))
    assert cs.gc(stale_ingest_seconds=60).removed_ingests == 1
    assert not new.exists()


def test_gc_on_an_empty_store(cs: ContentStore) -> None:
    report = cs.gc()
    assert (report.removed_blobs, report.removed_bytes, report.removed_ingests,
            report.kept_blobs) == ([], 0, 0, 0)


def test_gc_tolerates_a_record_whose_manifest_is_gone_or_unparsable(cs: ContentStore) -> None:
    a = put_image(cs, "a")
    b = put_image(cs, "b")
    cs.record("a:1", a.manifest)
    cs.record("b:1", b.manifest)
    cs.blobs.path(a.manifest.digest).unlink()
    cs.blobs.path(b.manifest.digest).write_bytes(b"not json")
    report = cs.gc()  # does not raise
    assert b.manifest.digest not in report.removed_blobs  # a recorded digest stays
    assert cs.blobs.has(b.manifest.digest)


def test_writing_holds_gc_off(cs: ContentStore) -> None:
    with cs.writing():
        fd = os.open(cs.root / "gc.lock", os.O_RDWR)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # other writers are fine
        finally:
            os.close(fd)
    fd = os.open(cs.root / "gc.lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released
    finally:
        os.close(fd)


def test_stale_ingest_default_is_a_day() -> None:
    assert store_mod.STALE_INGEST_SECONDS == 24 * 3600

