"""Reproducible layers: sorted entries, fixed times and owners, normalized modes, a gzip
stream whose bytes depend only on the entries."""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from hoist.build.layers import LayerEntry, build_layer, layer_key, normalized_mode, with_parents
from hoist.store.blobs import BlobDir


def _entries(files: dict[str, bytes]) -> list[LayerEntry]:
    return with_parents(LayerEntry("/" + name, "file", 0o644, data=data, size=len(data))
                        for name, data in files.items())


def test_layer_bytes_depend_only_on_entries(tmp_path: Path) -> None:
    files = {"app/b.txt": b"bee\n", "app/a.txt": b"ay\n", "etc/conf": b"x=1\n"}
    one = build_layer(_entries(files), BlobDir(tmp_path / "one"))
    two = build_layer(_entries(dict(reversed(list(files.items())))), BlobDir(tmp_path / "two"))
    assert one == two
    blob = (tmp_path / "one" / "blobs" / "sha256" / one.digest.encoded).read_bytes()
    assert hashlib.sha256(blob).hexdigest() == one.digest.encoded
    assert len(blob) == one.size
    tar_bytes = gzip.decompress(blob)
    assert hashlib.sha256(tar_bytes).hexdigest() == one.diff_id.encoded
    # gzip header: no file name, mtime 0, OS "unknown"
    assert blob[:10] == b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == ["app", "app/a.txt", "app/b.txt", "etc", "etc/conf"]
    assert {(m.uid, m.gid, m.mtime, m.uname, m.gname) for m in members} == {(0, 0, 0, "", "")}
    assert {m.name: m.mode for m in members}["app"] == 0o755


def test_source_date_epoch_sets_every_mtime(tmp_path: Path, monkeypatch: object) -> None:
    import pytest

    mp = pytest.MonkeyPatch()
    try:
        mp.setenv("SOURCE_DATE_EPOCH", "1700000000")
        layer = build_layer(_entries({"a": b"1"}), BlobDir(tmp_path))
        key_with = layer_key(_entries({"a": b"1"}))
    finally:
        mp.undo()
    key_without = layer_key(_entries({"a": b"1"}))
    assert key_with != key_without  # the cache must not hand back a layer of other times
    blob = (tmp_path / "blobs" / "sha256" / layer.digest.encoded).read_bytes()
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob))) as tar:
        assert {m.mtime for m in tar.getmembers()} == {1700000000}


def test_modes_reduce_to_the_executable_bit() -> None:
    assert normalized_mode(0o664, "file") == 0o644
    assert normalized_mode(0o600, "file") == 0o644
    assert normalized_mode(0o775, "file") == 0o755
    assert normalized_mode(0o700, "file") == 0o755
    assert normalized_mode(0o700, "dir") == 0o755


def test_file_from_disk_and_symlink(tmp_path: Path) -> None:
    src = tmp_path / "src.bin"
    src.write_bytes(b"\x00\x01" * 5000)
    entries = with_parents([
        LayerEntry("/opt/tool/bin", "file", 0o755, digest="d", size=10000, source=src),
        LayerEntry("/usr/bin/tool", "symlink", 0o777, link="/opt/tool/bin"),
    ])
    layer = build_layer(entries, BlobDir(tmp_path / "blobs"))
    blob = (tmp_path / "blobs" / "blobs" / "sha256" / layer.digest.encoded).read_bytes()
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob))) as tar:
        by_name = {m.name: m for m in tar.getmembers()}
        f = tar.extractfile(by_name["opt/tool/bin"])
        assert f is not None and f.read() == b"\x00\x01" * 5000
    assert by_name["usr/bin/tool"].issym() and by_name["usr/bin/tool"].linkname == "/opt/tool/bin"


def test_a_file_that_changes_size_while_written_is_an_error(tmp_path: Path) -> None:
    import pytest

    src = tmp_path / "grows"
    src.write_bytes(b"12345")
    entry = LayerEntry("/grows", "file", 0o644, digest="d", size=3, source=src)
    with pytest.raises(OSError, match="changed while the layer was written"):
        build_layer([entry], BlobDir(tmp_path / "b"))
    assert not list((tmp_path / "b" / "ingest").iterdir())  # no temporary left behind


_name = st.text(alphabet="abcxyz_.-", min_size=1, max_size=6).filter(
    lambda s: s not in (".", ".."))
_path = st.lists(_name, min_size=1, max_size=4).map("/".join)


@settings(deadline=None, max_examples=60)
@given(st.dictionaries(_path, st.binary(max_size=64), min_size=1, max_size=12))
def test_parents_precede_children_and_output_is_order_free(files: dict[str, bytes]) -> None:
    # a path used as a file and as a directory cannot both exist: keep the first
    kept: dict[str, bytes] = {}
    for name, data in files.items():
        if any(k.startswith(name + "/") or name.startswith(k + "/") for k in kept):
            continue
        kept[name] = data
    entries = _entries(kept)
    names = [e.name for e in entries]
    for i, name in enumerate(names):
        parts = name.split("/")
        for j in range(1, len(parts)):
            assert "/".join(parts[:j]) in names[:i]
    assert layer_key(entries) == layer_key(_entries(dict(reversed(list(kept.items())))))
