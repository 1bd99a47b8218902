"""hoist.store.blobs: the verified, resumable ingest and the blob directory, on tmp_path."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from hoist.core.digest import Digest
from hoist.store import blobs as blobs_mod
from hoist.store.blobs import (
    BlobDigestMismatch,
    BlobDir,
    BlobError,
    BlobSizeMismatch,
    Ingest,
)

DATA = bytes(range(256)) * 40 + b"tail"  # 10244 bytes
DIGEST = Digest("sha256", hashlib.sha256(DATA).hexdigest())


@pytest.fixture
def bd(tmp_path: Path) -> BlobDir:
    return BlobDir(tmp_path / "root")


def visible(bd: BlobDir) -> list[Path]:
    """Every file under blobs/ (what a reader could see)."""
    return sorted(p for p in bd.blob_root.rglob("*") if p.is_file()) if bd.blob_root.exists() \
        else []


def ingest_files(bd: BlobDir) -> list[Path]:
    return sorted(bd.ingest_root.iterdir()) if bd.ingest_root.exists() else []


# --------------------------------------------------------------------------------------
# ingest and commit
# --------------------------------------------------------------------------------------
def test_ingest_writes_hashes_and_commits(bd: BlobDir) -> None:
    ing = bd.ingest(DIGEST, len(DATA))
    assert (ing.offset, ing.resumed_from) == (0, 0)
    for i in range(0, len(DATA), 1000):
        ing.write(DATA[i:i + 1000])
    assert ing.offset == len(DATA)
    # nothing is visible before commit
    assert not bd.has(DIGEST) and visible(bd) == []
    final = ing.commit()
    assert final == bd.root / "blobs" / "sha256" / DIGEST.encoded == bd.path(DIGEST)
    assert final.read_bytes() == DATA
    assert stat.S_IMODE(final.stat().st_mode) == 0o644
    assert bd.has(DIGEST) and bd.size(DIGEST) == len(DATA) and bd.read(DIGEST) == DATA
    assert ingest_files(bd) == []  # renamed, not copied


def test_ingest_accepts_memoryview_and_unknown_size(bd: BlobDir) -> None:
    with bd.ingest(DIGEST) as ing:
        ing.write(memoryview(DATA)[:5000])
        ing.write(memoryview(DATA)[5000:])
        ing.commit()
    assert bd.read(DIGEST) == DATA


def test_short_size_is_refused_at_commit_and_discarded(bd: BlobDir) -> None:
    ing = bd.ingest(DIGEST, len(DATA))
    ing.write(DATA[:-1])
    with pytest.raises(BlobSizeMismatch) as e:
        ing.commit()
    assert (e.value.expected, e.value.actual) == (len(DATA), len(DATA) - 1)
    assert str(e.value) == f"blob {DIGEST}: expected {len(DATA)} bytes, got {len(DATA) - 1}"
    assert visible(bd) == [] and ingest_files(bd) == []
    assert not bd.has(DIGEST)


def test_writing_past_the_expected_size_is_refused(bd: BlobDir) -> None:
    with bd.ingest(DIGEST, 10) as ing:
        ing.write(DATA[:8])
        with pytest.raises(BlobSizeMismatch, match="expected 10 bytes, got 12"):
            ing.write(DATA[8:12])
        assert ing.offset == 8  # the refused chunk was not written
    assert visible(bd) == []


def test_digest_mismatch_is_refused_and_discarded(bd: BlobDir) -> None:
    bad = bytearray(DATA)
    bad[4000] ^= 0x01
    ing = bd.ingest(DIGEST, len(DATA))
    ing.write(bytes(bad))
    with pytest.raises(BlobDigestMismatch) as e:
        ing.commit()
    assert e.value.expected == DIGEST
    assert e.value.actual == Digest.from_bytes(bytes(bad))
    assert e.value.size == len(DATA)
    assert str(DIGEST) in str(e.value) and str(e.value.actual) in str(e.value)
    assert visible(bd) == [] and ingest_files(bd) == []
    # the next attempt starts from zero, not from the bad bytes
    with bd.ingest(DIGEST, len(DATA)) as again:
        assert again.offset == 0
        again.write(DATA)
        again.commit()
    assert bd.read(DIGEST) == DATA


def test_digest_mismatch_without_size(bd: BlobDir) -> None:
    with bd.ingest(DIGEST) as ing:
        ing.write(b"something else")
        with pytest.raises(BlobDigestMismatch):
            ing.commit()
    assert visible(bd) == [] and ingest_files(bd) == []


def test_sha512_ingest(bd: BlobDir) -> None:
    d = Digest.from_bytes(DATA, "sha512")
    with bd.ingest(d, len(DATA)) as ing:
        ing.write(DATA)
        ing.commit()
    assert bd.path(d) == bd.root / "blobs" / "sha512" / d.encoded
    assert bd.verify_one(d) is None


# --------------------------------------------------------------------------------------
# interrupted ingests
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("cut", [1, 4096, len(DATA) - 1, len(DATA)])
def test_interrupted_ingest_is_resumed(bd: BlobDir, cut: int) -> None:
    first = bd.ingest(DIGEST, len(DATA))
    first.write(DATA[:cut])
    first.close()  # the connection broke: keep the bytes
    assert visible(bd) == []
    assert [p.stat().st_size for p in ingest_files(bd)] == [cut]

    second = bd.ingest(DIGEST, len(DATA))
    assert second.offset == cut
    assert second.resumed_from == cut
    second.write(DATA[cut:])
    assert second.commit().read_bytes() == DATA
    assert ingest_files(bd) == []


def test_resume_with_unknown_size(bd: BlobDir) -> None:
    with bd.ingest(DIGEST) as first:
        first.write(DATA[:3000])
    with bd.ingest(DIGEST) as second:
        assert (second.offset, second.resumed_from) == (3000, 3000)
        second.write(DATA[3000:])
        second.commit()
    assert bd.verify_one(DIGEST) is None


def test_leftover_longer_than_expected_starts_over(bd: BlobDir) -> None:
    with bd.ingest(DIGEST) as first:
        first.write(DATA + b"junk")
    with bd.ingest(DIGEST, len(DATA)) as second:
        assert (second.offset, second.resumed_from) == (0, 0)
        second.write(DATA)
        second.commit()
    assert bd.read(DIGEST) == DATA


def test_truncate_starts_over(bd: BlobDir) -> None:
    with bd.ingest(DIGEST, len(DATA)) as ing:
        ing.write(b"wrong bytes")
        ing.truncate()
        assert ing.offset == 0
        ing.write(DATA)
        ing.commit()
    assert bd.read(DIGEST) == DATA


def test_close_twice_and_after_commit_is_harmless(bd: BlobDir) -> None:
    ing = bd.ingest(DIGEST, len(DATA))
    ing.write(DATA)
    ing.commit()
    ing.close()
    ing.close()
    assert bd.read(DIGEST) == DATA


# --------------------------------------------------------------------------------------
# one writer per digest
# --------------------------------------------------------------------------------------
def test_second_concurrent_ingest_of_the_same_digest_is_refused(bd: BlobDir) -> None:
    first = bd.ingest(DIGEST, len(DATA))
    first.write(DATA[:100])
    with pytest.raises(BlobError, match=f"blob {DIGEST} is being written by another process"):
        bd.ingest(DIGEST, len(DATA))
    # another digest is not blocked
    other = Digest.from_bytes(b"other")
    with bd.ingest(other, 5) as ing:
        ing.write(b"other")
        ing.commit()
    # the refused attempt did not disturb the writer
    first.write(DATA[100:])
    first.commit()
    assert bd.read(DIGEST) == DATA


def test_lock_is_released_on_close(bd: BlobDir) -> None:
    first = bd.ingest(DIGEST, len(DATA))
    first.write(DATA[:10])
    first.close()
    with bd.ingest(DIGEST, len(DATA)) as second:
        assert second.offset == 10


def test_lock_is_released_after_a_failed_commit(bd: BlobDir) -> None:
    ing = bd.ingest(DIGEST, len(DATA))
    ing.write(DATA[:10])
    with pytest.raises(BlobSizeMismatch):
        ing.commit()
    with bd.ingest(DIGEST, len(DATA)) as again:
        assert again.offset == 0


# --------------------------------------------------------------------------------------
# write details
# --------------------------------------------------------------------------------------
class ShortWrites:
    """A raw file that takes at most three bytes per write (or None, as non-blocking
    files may), as os-level writes are allowed to."""

    def __init__(self, path: Path) -> None:
        self.fh = open(path, "w+b", buffering=0)  # noqa: SIM115
        self.calls = 0

    def write(self, data: memoryview) -> int | None:
        self.calls += 1
        if self.calls % 5 == 0:
            return None
        return self.fh.write(bytes(data[:3]))

    def __getattr__(self, name: str) -> object:
        return getattr(self.fh, name)


def test_short_writes_are_completed(bd: BlobDir) -> None:
    bd.ingest_root.mkdir(parents=True)
    path = bd.ingest_root / "manual"
    fh = ShortWrites(path)
    ing = Ingest(bd, DIGEST, len(DATA), path, fh)  # type: ignore[arg-type]
    ing.write(DATA[:100])
    ing.write(DATA[100:])
    assert path.read_bytes() == DATA
    assert ing.commit().read_bytes() == DATA


def test_writeback_is_started_per_window(bd: BlobDir, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[int, int]] = []
    monkeypatch.setattr(blobs_mod, "WRITEBACK_EVERY", 1000)
    monkeypatch.setattr(blobs_mod, "_start_writeback",
                        lambda fd, off, n: calls.append((off, n)))
    with bd.ingest(DIGEST, len(DATA)) as ing:
        ing.write(DATA[:999])   # stays in window 0
        ing.write(DATA[999:1001])  # crosses 1000
        ing.write(DATA[1001:3500])  # crosses 2000 and 3000: one call for the last window
        ing.write(DATA[3500:])
        ing.commit()
    # one call per write that enters a new window, for the window just filled
    assert calls == [(0, 1000), (2000, 1000), (9000, 1000)]


def test_real_writeback_call_does_not_break_a_large_write(bd: BlobDir) -> None:
    big = os.urandom(blobs_mod.WRITEBACK_EVERY + 4096)
    d = Digest.from_bytes(big)
    with bd.ingest(d, len(big)) as ing:
        ing.write(big)
        ing.commit()
    assert bd.verify_one(d) is None


# --------------------------------------------------------------------------------------
# put
# --------------------------------------------------------------------------------------
def test_put(bd: BlobDir) -> None:
    assert bd.put(b"{}") == Digest.from_bytes(b"{}")
    assert bd.read(Digest.from_bytes(b"{}")) == b"{}"
    assert bd.put(DATA, DIGEST) == DIGEST
    mtime = bd.path(DIGEST).stat().st_mtime_ns
    assert bd.put(DATA, DIGEST) == DIGEST  # already there: not rewritten
    assert bd.path(DIGEST).stat().st_mtime_ns == mtime
    assert ingest_files(bd) == []


def test_put_with_sha512(bd: BlobDir) -> None:
    d = Digest.from_bytes(b"abc", "sha512")
    assert bd.put(b"abc", d) == d and bd.has(d)


def test_put_wrong_digest_writes_nothing(bd: BlobDir) -> None:
    with pytest.raises(BlobDigestMismatch):
        bd.put(b"not the data", DIGEST)
    assert visible(bd) == [] and ingest_files(bd) == []


def test_put_ignores_a_leftover_ingest(bd: BlobDir) -> None:
    with bd.ingest(DIGEST) as stale:
        stale.write(b"garbage from a crash")
    assert bd.put(DATA) == DIGEST
    assert bd.read(DIGEST) == DATA


# --------------------------------------------------------------------------------------
# reading, listing, verifying, removing
# --------------------------------------------------------------------------------------
def test_missing_blob(bd: BlobDir) -> None:
    assert not bd.has(DIGEST)
    assert bd.size(DIGEST) is None
    with pytest.raises(BlobError, match=f"blob {DIGEST} is not in {bd.root}"):
        bd.open(DIGEST)
    with pytest.raises(BlobError):
        bd.read(DIGEST)
    assert bd.remove(DIGEST) == 0


def test_digests_lists_committed_blobs_sorted(bd: BlobDir) -> None:
    assert list(bd.digests()) == []
    ds = [bd.put(bytes([i])) for i in range(5)]
    d512 = bd.put(b"x", Digest.from_bytes(b"x", "sha512"))
    (bd.blob_root / "stray-file").write_bytes(b"")  # not an algorithm directory
    with bd.ingest(Digest.from_bytes(b"partial")) as ing:
        ing.write(b"part")
    assert list(bd.digests()) == [*sorted(ds), d512]


def test_ingests_lists_partial_files_with_mtime(bd: BlobDir) -> None:
    assert list(bd.ingests()) == []
    with bd.ingest(DIGEST) as ing:
        ing.write(b"abc")
    os.utime(bd.ingest_root / f"sha256-{DIGEST.encoded}", (1000, 1000))
    assert list(bd.ingests()) == [(bd.ingest_root / f"sha256-{DIGEST.encoded}", 1000.0)]


def test_verify_one_finds_a_flipped_byte(bd: BlobDir) -> None:
    bd.put(DATA)
    assert bd.verify_one(DIGEST) is None
    path = bd.path(DIGEST)
    raw = bytearray(path.read_bytes())
    raw[1234] ^= 0x80
    path.write_bytes(bytes(raw))
    assert bd.verify_one(DIGEST) == Digest.from_bytes(bytes(raw))


def test_remove_returns_the_size(bd: BlobDir) -> None:
    bd.put(DATA)
    assert bd.remove(DIGEST) == len(DATA)
    assert not bd.has(DIGEST)
    assert bd.remove(DIGEST) == 0


def test_ingest_dir_name_is_configurable(tmp_path: Path) -> None:
    bd = BlobDir(tmp_path, ingest_dir=".hidden")
    with bd.ingest(DIGEST) as ing:
        ing.write(b"x")
    assert (tmp_path / ".hidden" / f"sha256-{DIGEST.encoded}").read_bytes() == b"x"


# ---------------------------------------------------------------------- staged writes


def _receive(ingest: Ingest, data: bytes, pieces: list[int]) -> None:
    """Feed ``data`` through reserve/advance in pieces of the given sizes, as the blob
    reader does."""
    pos = 0
    sizes = iter(pieces)
    while pos < len(data):
        view = ingest.reserve()
        n = min(len(view), next(sizes, 1 << 20), len(data) - pos)
        view[:n] = data[pos : pos + n]
        ingest.advance(n)
        pos += n


@pytest.mark.parametrize("cut", [1, 4095, 4096, 5000, (1 << 20) + 17, (2 << 20)])
def test_staged_writes_resume_after_close_at_any_offset(tmp_path: Path, cut: int) -> None:
    import random

    rng = random.Random(cut)
    data = rng.randbytes(3 * (1 << 20) + 12345)
    digest = Digest.from_bytes(data)
    blobs = BlobDir(tmp_path)
    first = blobs.ingest(digest, len(data))
    _receive(first, data[:cut], [rng.randint(1, 300_000) for _ in range(100)])
    first.close()  # what a broken pull leaves behind, flushed
    again = blobs.ingest(digest, len(data))
    assert again.offset == again.resumed_from == cut
    _receive(again, data[cut:], [rng.randint(1, 300_000) for _ in range(100)])
    again.commit()
    assert blobs.read(digest) == data
    assert list(blobs.ingests()) == []


def test_staged_and_plain_writes_mix_in_order(tmp_path: Path) -> None:
    data = bytes(range(256)) * 20_000
    digest = Digest.from_bytes(data)
    blobs = BlobDir(tmp_path)
    with blobs.ingest(digest, len(data)) as ing:
        _receive(ing, data[:700_000], [123_456])
        ing.write(data[700_000:1_900_000])
        _receive(ing, data[1_900_000:], [999_999])
        ing.commit()
    assert blobs.read(digest) == data


def test_staged_truncate_starts_over(tmp_path: Path) -> None:
    data = b"z" * 3_000_000
    digest = Digest.from_bytes(data)
    blobs = BlobDir(tmp_path)
    with blobs.ingest(digest, len(data)) as ing:
        _receive(ing, b"q" * 2_500_000, [400_000])
        ing.truncate()
        assert ing.offset == 0
        _receive(ing, data, [700_000])
        ing.commit()
    assert blobs.read(digest) == data


def test_staged_refuses_more_than_the_size(tmp_path: Path) -> None:
    blobs = BlobDir(tmp_path)
    ing = blobs.ingest(Digest.from_bytes(b"abc"), 3)
    view = ing.reserve()
    view[:4] = b"abcd"
    with pytest.raises(BlobSizeMismatch):
        ing.advance(4)
    ing.discard()


def test_without_o_direct_staged_writes_go_through_the_cache(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_open = os.open

    def no_direct(path: object, flags: int, *args: object) -> int:
        if flags & getattr(os, "O_DIRECT", 0):
            raise OSError(22, "Invalid argument")
        return real_open(path, flags, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", no_direct)
    data = bytes(range(251)) * 9_000
    digest = Digest.from_bytes(data)
    blobs = BlobDir(tmp_path)
    with blobs.ingest(digest, len(data)) as ing:
        _receive(ing, data, [77_777])
        ing.commit()
    assert blobs.read(digest) == data
