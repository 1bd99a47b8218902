"""The registry verbs of the CLI, in process, against a real Distribution and skopeo:
``images``, ``inspect`` (--raw, --config, json), ``resolve``, ``tags`` and ``store verify``
/ ``store gc`` on a store filled by real pulls."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from hoist.cli.main import main
from hoist.core.digest import Digest
from hoist.store import ContentStore
from tests.registry._support import hoist, unique
from tests.support.distribution import Distribution
from tests.support.images import ImageFactory, ImageInfo, IndexInfo, Platform
from tests.support.skopeo import Skopeo


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "home" / ".docker"))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)


def _auth(tmp_path: Path) -> list[str]:
    return ["--authfile", str(tmp_path / "none.json")]


def _store(tmp_path: Path) -> list[str]:
    return ["--store", str(tmp_path / "store")]


def _push(skopeo: Skopeo, info: ImageInfo | IndexInfo, registry: Distribution, name: str,
          tags: tuple[str, ...] = ("v1",)) -> str:
    """skopeo pushes ``info`` under each tag; returns ``host/repo``."""
    repo = f"{registry.host}/{unique(name)}"
    for tag in tags:
        skopeo.copy(info.ref, f"docker://{repo}:{tag}", multi_arch="all")
    return repo


def _pull(capsys: pytest.CaptureFixture[str], tmp_path: Path, ref: str, *extra: str) -> None:
    run = hoist(capsys, "pull", ref, *_store(tmp_path), *_auth(tmp_path), "-q", *extra)
    assert run.code == 0, run.err


def _image_size(info: ImageInfo) -> int:
    return info.size + sum(b.size for b in info.blobs)


# ---------------------------------------------------------------------- images


def test_images_lists_the_store_as_json_and_table(
    distribution_open: Distribution,
    skopeo: Skopeo,
    image_factory: ImageFactory,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    one = image_factory.make_image("images-one", layers=[1000])
    two = image_factory.make_image("images-two", layers=[2000, 3000], media="docker")
    repo_one = _push(skopeo, one, distribution_open, "images-one")
    repo_two = _push(skopeo, two, distribution_open, "images-two")
    _pull(capsys, tmp_path, f"{repo_one}:v1")
    _pull(capsys, tmp_path, f"{repo_two}:v1")

    run = hoist(capsys, "images", *_store(tmp_path), "-o", "json")
    assert run.code == 0, run.err
    doc = json.loads(run.out)
    assert [(d["name"], d["digest"], d["mediaType"], d["size"]) for d in doc] == sorted([
        (f"{repo_one}:v1", one.digest, one.media_type, _image_size(one)),
        (f"{repo_two}:v1", two.digest, two.media_type, _image_size(two)),
    ])
    assert all(d["lastUsed"] >= d["created"] > 0 for d in doc)

    table = hoist(capsys, "images", *_store(tmp_path))
    lines = table.out.splitlines()
    assert lines[0].split() == ["NAME", "DIGEST", "SIZE", "LAST_USED"]
    assert sorted(line.split()[0] for line in lines[1:]) == sorted(
        [f"{repo_one}:v1", f"{repo_two}:v1"])

    empty = hoist(capsys, "images", "--store", str(tmp_path / "empty"), "-o", "json")
    assert empty.code == 0 and json.loads(empty.out) == []


# ---------------------------------------------------------------------- inspect


@pytest.mark.parametrize("kind", ["image", "docker-image", "index", "docker-index"])
def test_inspect_raw_is_byte_for_byte_what_skopeo_sees(
    distribution_open: Distribution,
    skopeo: Skopeo,
    image_factory: ImageFactory,
    capsysbinary: pytest.CaptureFixture[bytes],
    tmp_path: Path,
    kind: str,
) -> None:
    media = "docker" if kind.startswith("docker") else "oci"
    info: ImageInfo | IndexInfo = (image_factory.make_index(f"raw-{kind}", media=media)
                                   if kind.endswith("index")
                                   else image_factory.make_image(f"raw-{kind}", media=media))
    repo = _push(skopeo, info, distribution_open, f"raw-{kind}")
    expected = skopeo.inspect_raw(f"docker://{repo}:v1")
    assert Digest.from_bytes(expected) == Digest.parse(info.digest)

    def raw(*args: str) -> bytes:
        capsysbinary.readouterr()
        code = main(["inspect", "--raw", *args])
        out = capsysbinary.readouterr()
        assert code == 0, out.err.decode()
        return out.out

    assert raw(f"docker://{repo}:v1", *_auth(tmp_path)) == expected
    assert raw(f"docker://{repo}@{info.digest}", *_auth(tmp_path)) == expected
    # The same bytes from the store after a pull, and from an OCI layout export.
    pulled = main(["pull", f"{repo}:v1", *_store(tmp_path), *_auth(tmp_path), "-q"])
    assert pulled == 0
    assert raw(f"store:{repo}:v1", *_store(tmp_path)) == expected
    layout = tmp_path / "layout"
    assert main(["copy", f"docker://{repo}:v1", f"oci:{layout}:x", *_auth(tmp_path), "-q"]) == 0
    assert raw(f"oci:{layout}:x") == expected


@pytest.fixture
def pushed_index(
    distribution_open: Distribution, skopeo: Skopeo, image_factory: ImageFactory
) -> tuple[str, IndexInfo]:
    info = image_factory.make_index("inspect-cfg", layers=[700, 900])
    return _push(skopeo, info, distribution_open, "inspect-cfg"), info


def test_inspect_config_is_the_platform_config_blob(
    pushed_index: tuple[str, IndexInfo],
    capsysbinary: pytest.CaptureFixture[bytes],
    tmp_path: Path,
) -> None:
    repo, info = pushed_index
    cases: list[tuple[str, Platform]] = [("linux/arm64", ("linux", "arm64", "v8")),
                                         ("linux/arm/v7", ("linux", "arm", "v7"))]
    for platform, key in cases:
        capsysbinary.readouterr()
        code = main(["inspect", "--config", f"docker://{repo}:v1", "--platform", platform,
                     *_auth(tmp_path)])
        out = capsysbinary.readouterr()
        assert code == 0, out.err.decode()
        assert out.out == info.for_platform(key).config.path.read_bytes()


def test_inspect_json_and_table(
    pushed_index: tuple[str, IndexInfo],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    repo, info = pushed_index
    arm64 = info.for_platform(("linux", "arm64", "v8"))
    run = hoist(capsys, "inspect", f"docker://{repo}:v1", "--platform", "linux/arm64", "-o",
                "json", *_auth(tmp_path))
    assert run.code == 0, run.err
    doc = json.loads(run.out)
    assert doc["Digest"] == info.digest and doc["MediaType"] == info.media_type
    assert doc["ManifestDigest"] == arm64.digest
    assert (doc["Os"], doc["Architecture"], doc["Variant"]) == ("linux", "arm64", "v8")
    assert doc["Layers"] == [b.digest for b in arm64.layers]
    assert [d["Size"] for d in doc["LayersData"]] == [b.size for b in arm64.layers]
    assert doc["Platforms"] == ["linux/amd64", "linux/arm64/v8", "linux/arm/v7"]
    assert doc["Labels"] == {"dev.hoist.test.seed": "inspect-cfg/linux/arm64/v8"}
    assert doc["Size"] == _image_size(arm64)

    table = hoist(capsys, "inspect", f"docker://{repo}:v1", "--platform", "linux/amd64",
                  *_auth(tmp_path))
    assert table.code == 0, table.err
    rows = dict(line.split(None, 1) for line in table.out.splitlines()[1:])
    assert rows["ManifestDigest"].strip() == info.for_platform(("linux", "amd64")).digest

    missing = hoist(capsys, "inspect", f"docker://{repo}:v1", "--platform", "windows/amd64",
                    *_auth(tmp_path))
    assert missing.code == 1
    assert len(missing.err.strip().splitlines()) == 1
    assert "windows/amd64" in missing.err and repo in missing.err


# ---------------------------------------------------------------------- resolve and tags


def test_resolve_prints_the_digest(
    distribution_open: Distribution,
    skopeo: Skopeo,
    image_factory: ImageFactory,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    info = image_factory.make_index("resolve-cli")
    repo = _push(skopeo, info, distribution_open, "resolve-cli")
    run = hoist(capsys, "resolve", f"{repo}:v1", *_auth(tmp_path))
    assert run.code == 0, run.err
    assert run.out == f"{info.digest}\n"

    doc = json.loads(hoist(capsys, "resolve", f"docker://{repo}:v1", "-o", "json",
                           *_auth(tmp_path)).out)
    assert doc == {"reference": f"docker://{repo}:v1", "digest": info.digest,
                   "mediaType": info.media_type, "size": info.size}

    missing = hoist(capsys, "resolve", f"{repo}:nope", *_auth(tmp_path))
    assert missing.code == 1 and missing.out == ""
    assert f"{repo}:nope" in missing.err and len(missing.err.strip().splitlines()) == 1


def test_tags_prints_each_tag(
    distribution_open: Distribution,
    skopeo: Skopeo,
    image_factory: ImageFactory,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    image = image_factory.make_image("tags-cli")
    repo = _push(skopeo, image, distribution_open, "tags-cli", tags=("v2", "v1", "latest"))
    run = hoist(capsys, "tags", repo, *_auth(tmp_path))
    assert run.code == 0, run.err
    assert sorted(run.out.split()) == ["latest", "v1", "v2"]
    doc = json.loads(hoist(capsys, "tags", f"docker://{repo}", "-o", "json", *_auth(tmp_path)).out)
    assert sorted(doc["tags"]) == ["latest", "v1", "v2"]

    with_tag = hoist(capsys, "tags", f"{repo}:v1", *_auth(tmp_path))
    assert with_tag.code == 2  # a repository, not an image, is wanted

    unknown = hoist(capsys, "tags", f"{distribution_open.host}/{unique('nothing')}",
                    *_auth(tmp_path))
    assert unknown.code == 1 and len(unknown.err.strip().splitlines()) == 1


# ---------------------------------------------------------------------- store maintenance


def _blob_file(store: Path, digest: str) -> Path:
    return store / "blobs" / "sha256" / digest.partition(":")[2]


def test_store_verify_finds_a_flipped_byte(
    distribution_open: Distribution,
    skopeo: Skopeo,
    image_factory: ImageFactory,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    image = image_factory.make_image("verify", layers=[4000, 5000])
    repo = _push(skopeo, image, distribution_open, "verify")
    _pull(capsys, tmp_path, f"{repo}:v1")

    clean = hoist(capsys, "store", "verify", *_store(tmp_path), "-o", "json")
    assert clean.code == 0, clean.out + clean.err
    doc = json.loads(clean.out)
    assert doc["ok"] and doc["blobsChecked"] == 4 and doc["badBlobs"] == []

    victim = _blob_file(tmp_path / "store", image.layers[1].digest)
    mode = victim.stat().st_mode
    os.chmod(victim, 0o644)
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x01
    victim.write_bytes(bytes(data))
    os.chmod(victim, mode)

    bad = hoist(capsys, "store", "verify", *_store(tmp_path))
    assert bad.code == 1
    assert f"bad blob {image.layers[1].digest}" in bad.out
    as_json = json.loads(hoist(capsys, "store", "verify", *_store(tmp_path), "-o", "json").out)
    assert not as_json["ok"]
    assert [b["digest"] for b in as_json["badBlobs"]] == [image.layers[1].digest]
    assert as_json["badBlobs"][0]["actual"] != image.layers[1].digest


def test_store_gc_removes_only_unreferenced_blobs(
    distribution_open: Distribution,
    skopeo: Skopeo,
    image_factory: ImageFactory,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    kept = image_factory.make_index("gc-kept", layers=[1200])
    dropped = image_factory.make_image("gc-dropped", layers=[3000, 4000])
    repo_kept = _push(skopeo, kept, distribution_open, "gc-kept")
    repo_dropped = _push(skopeo, dropped, distribution_open, "gc-dropped")
    _pull(capsys, tmp_path, f"{repo_kept}:v1")
    _pull(capsys, tmp_path, f"{repo_dropped}:v1")
    store_dir = tmp_path / "store"
    with ContentStore(store_dir) as store:
        stray = store.blobs.put(b"nobody references me\n")
        assert store.remove_image(f"{repo_dropped}:v1")
        before = {str(d) for d in store.blobs.digests()}
    live = {kept.digest, *(m.digest for m in kept.manifests), *(b.digest for b in kept.blobs)}
    garbage = {str(stray), dropped.digest, *dropped.blob_digests}
    assert before == live | garbage

    dry = hoist(capsys, "store", "gc", *_store(tmp_path), "--dry-run", "-o", "json")
    assert dry.code == 0, dry.err
    dry_doc = json.loads(dry.out)
    assert dry_doc["dryRun"] and set(dry_doc["removedBlobs"]) == garbage
    with ContentStore(store_dir) as store:
        assert {str(d) for d in store.blobs.digests()} == before

    run = hoist(capsys, "store", "gc", *_store(tmp_path), "-o", "json")
    assert run.code == 0, run.err
    doc = json.loads(run.out)
    assert set(doc["removedBlobs"]) == garbage and doc["keptBlobs"] == len(live)
    assert doc["removedBytes"] == len(b"nobody references me\n") + _image_size(dropped)
    with ContentStore(store_dir) as store:
        assert {str(d) for d in store.blobs.digests()} == live
    assert hoist(capsys, "store", "verify", *_store(tmp_path)).code == 0

    # The kept image is complete: pulling it again is a no-op; nothing is left to collect.
    again = hoist(capsys, "pull", f"{repo_kept}:v1", *_store(tmp_path), *_auth(tmp_path), "-q",
                  "-o", "json")
    assert again.code == 0 and json.loads(again.out)["upToDate"]
    second = json.loads(hoist(capsys, "store", "gc", *_store(tmp_path), "-o", "json").out)
    assert second["removedBlobs"] == [] and second["keptBlobs"] == len(live)
