"""hoist ↔ skopeo ↔ Distribution: every hop keeps the manifest bytes and so the digests.

skopeo (the reference client) puts an image into a real Distribution, hoist pulls it into
its store, pushes it elsewhere, exports and imports OCI layouts, and skopeo checks each
result with ``inspect --raw``. Single images and indexes, OCI and Docker media types."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from hoist.core.digest import Digest
from hoist.core.platform import Platform
from hoist.store import ContentStore
from hoist.transfer import Options, copy
from tests.registry._support import AccessLog, hoist, unique
from tests.support.distribution import Distribution
from tests.support.images import ImageFactory, ImageInfo, IndexInfo, Media
from tests.support.skopeo import Skopeo


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # No test may read the machine's docker config or write the user's store.
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "home" / ".docker"))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    return tmp_path / "store"


def _flags(store: Path, tmp_path: Path) -> list[str]:
    return ["--store", str(store), "--authfile", str(tmp_path / "none.json"), "-q"]


def _layout_entries(layout: Path) -> dict[str, str]:
    index = json.loads((layout / "index.json").read_text())
    return {
        m.get("annotations", {}).get("org.opencontainers.image.ref.name", ""): m["digest"]
        for m in index["manifests"]
    }


def _store_has(store: Path, info: ImageInfo | IndexInfo) -> bool:
    blobs = store / "blobs" / "sha256"
    wanted = [info.digest, *(b.digest for b in info.blobs)]
    if isinstance(info, IndexInfo):
        wanted += [m.digest for m in info.manifests]
    return all((blobs / d.partition(":")[2]).is_file() for d in wanted)


# ---------------------------------------------------------------------- registry → store → registry


@pytest.mark.parametrize("media", ["oci", "docker"])
def test_single_image_round_trip_keeps_the_digest(
    distribution_open: Distribution,
    skopeo: Skopeo,
    image_factory: ImageFactory,
    capsys: pytest.CaptureFixture[str],
    store_dir: Path,
    tmp_path: Path,
    media: Media,
) -> None:
    image = image_factory.make_image(f"single-{media}", layers=[3000, 70_000], media=media)
    src = f"{distribution_open.host}/{unique('single-src')}:v1"
    dst = f"{distribution_open.host}/{unique('single-dst')}:v2"
    skopeo.copy(image.ref, f"docker://{src}")

    pulled = hoist(capsys, "pull", src, *_flags(store_dir, tmp_path), "-o", "json")
    assert pulled.code == 0, pulled.err
    doc = json.loads(pulled.out)
    assert doc["digest"] == image.digest and doc["mediaType"] == image.media_type
    assert doc["blobs"] == {"copied": 3} and not doc["upToDate"]
    assert _store_has(store_dir, image)
    with ContentStore(store_dir) as store:
        record = store.lookup(src)
    assert record is not None and str(record.digest) == image.digest

    pushed = hoist(capsys, "push", src, dst, *_flags(store_dir, tmp_path), "-o", "json")
    assert pushed.code == 0, pushed.err
    assert json.loads(pushed.out)["digest"] == image.digest

    raw = skopeo.inspect_raw(f"docker://{dst}")
    assert raw == image.manifest and sha256(raw) == image.digest
    # skopeo can pull every blob hoist pushed and finds them intact.
    skopeo.copy(f"docker://{dst}", f"oci:{tmp_path / 'check'}:v2")
    assert _layout_entries(tmp_path / "check") == {"v2": image.digest}
    for blob in image.blobs:
        stored = tmp_path / "check" / "blobs" / "sha256" / blob.digest.partition(":")[2]
        assert stored.read_bytes() == blob.path.read_bytes()


@pytest.mark.parametrize("media", ["oci", "docker"])
def test_index_round_trip_keeps_every_digest(
    distribution_open: Distribution,
    skopeo: Skopeo,
    image_factory: ImageFactory,
    capsys: pytest.CaptureFixture[str],
    store_dir: Path,
    tmp_path: Path,
    media: Media,
) -> None:
    info = image_factory.make_index(f"multi-{media}", layers=[2000], media=media)
    src = f"{distribution_open.host}/{unique('multi-src')}:v1"
    dst = f"{distribution_open.host}/{unique('multi-dst')}:v1"
    skopeo.copy(info.ref, f"docker://{src}", multi_arch="all")

    pulled = hoist(capsys, "pull", src, *_flags(store_dir, tmp_path), "-o", "json")
    assert pulled.code == 0, pulled.err
    doc = json.loads(pulled.out)
    assert doc["digest"] == info.digest and doc["mediaType"] == info.media_type
    # Three children, each a config and one layer.
    assert doc["blobs"] == {"copied": 6}
    assert _store_has(store_dir, info)

    pushed = hoist(capsys, "push", f"store:{src}", dst, *_flags(store_dir, tmp_path))
    assert pushed.code == 0, pushed.err
    assert info.digest in pushed.out

    raw = skopeo.inspect_raw(f"docker://{dst}")
    assert raw == info.index and sha256(raw) == info.digest
    repo = dst.rpartition(":")[0]
    for child in info.manifests:
        assert skopeo.inspect_raw(f"docker://{repo}@{child.digest}") == child.manifest


def test_platform_selects_the_child_of_an_index(
    distribution_open: Distribution,
    skopeo: Skopeo,
    image_factory: ImageFactory,
    capsys: pytest.CaptureFixture[str],
    store_dir: Path,
    tmp_path: Path,
) -> None:
    info = image_factory.make_index("platforms", layers=[1500])
    arm64 = info.for_platform(("linux", "arm64", "v8"))
    src = f"{distribution_open.host}/{unique('plat-src')}:v1"
    dst = f"{distribution_open.host}/{unique('plat-dst')}:arm64"
    skopeo.copy(info.ref, f"docker://{src}", multi_arch="all")

    pulled = hoist(
        capsys, "pull", src, "--platform", "linux/arm64", *_flags(store_dir, tmp_path), "-o", "json"
    )
    assert pulled.code == 0, pulled.err
    doc = json.loads(pulled.out)
    assert doc["digest"] == info.digest and doc["blobs"] == {"copied": 2}
    with ContentStore(store_dir) as store:
        # As containerd keeps it: the index under the name, one platform's content.
        record = store.lookup(src)
        assert record is not None and str(record.digest) == info.digest
        present = {str(d) for d in store.blobs.digests()}
    # Only the arm64 image came: no blob of the other platforms.
    assert present == {info.digest, arm64.digest, *arm64.blob_digests}

    # Pulling that platform again is one HEAD; the store has it.
    log = AccessLog(distribution_open)
    again = hoist(
        capsys, "pull", src, "--platform", "linux/arm64", *_flags(store_dir, tmp_path), "-o", "json"
    )
    assert again.code == 0 and json.loads(again.out)["upToDate"] is True
    assert [(a.method, a.path) for a in log.settled()] == [
        ("HEAD", f"/v2/{src.partition('/')[2].rpartition(':')[0]}/manifests/v1")]

    # The store holds one platform of the index: pushing all of it is refused, clearly;
    # pushing that platform works.
    partial = hoist(capsys, "push", f"store:{src}", dst, *_flags(store_dir, tmp_path))
    assert partial.code == 1 and "--platform" in partial.err
    assert len(partial.err.strip().splitlines()) == 1
    one = hoist(capsys, "push", f"store:{src}", dst, "--platform", "linux/arm64",
                *_flags(store_dir, tmp_path))
    assert one.code == 0, one.err
    assert skopeo.inspect_raw(f"docker://{dst}") == arm64.manifest

    # Registry to registry with a platform: the destination gets the child manifest.
    result = copy(
        f"docker://{src}",
        f"docker://{dst}",
        Options(platform=Platform.parse("linux/arm64"), authfile=str(tmp_path / "none.json")),
    )
    assert str(result.digest) == arm64.digest
    assert skopeo.inspect_raw(f"docker://{dst}") == arm64.manifest

    arm = hoist(
        capsys, "inspect", f"docker://{src}", "--platform", "linux/arm/v7", "-o", "json",
        "--authfile", str(tmp_path / "none.json"),
    )
    assert arm.code == 0, arm.err
    inspected = json.loads(arm.out)
    assert inspected["Digest"] == info.digest
    assert inspected["ManifestDigest"] == info.for_platform(("linux", "arm", "v7")).digest
    assert (inspected["Os"], inspected["Architecture"], inspected["Variant"]) == (
        "linux", "arm", "v7")

    missing = hoist(capsys, "pull", src, "--platform", "linux/s390x", *_flags(store_dir, tmp_path))
    assert missing.code == 1
    assert "s390x" in missing.err and len(missing.err.strip().splitlines()) == 1


# ---------------------------------------------------------------------- OCI layouts


@pytest.mark.parametrize("kind", ["image", "index"])
def test_hoist_layout_export_is_read_by_skopeo(
    distribution_open: Distribution,
    skopeo: Skopeo,
    image_factory: ImageFactory,
    capsys: pytest.CaptureFixture[str],
    store_dir: Path,
    tmp_path: Path,
    kind: str,
) -> None:
    info: ImageInfo | IndexInfo
    if kind == "image":
        info = image_factory.make_image("export-image", layers=[5000, 100])
    else:
        info = image_factory.make_index("export-index", layers=[800])
    src = f"{distribution_open.host}/{unique('export-src')}:v1"
    dst = f"docker://{distribution_open.host}/{unique('export-dst')}:v1"
    skopeo.copy(info.ref, f"docker://{src}", multi_arch="all")
    layout = tmp_path / "exported"

    exported = hoist(capsys, "copy", f"docker://{src}", f"oci:{layout}:mytag",
                     *_flags(store_dir, tmp_path))
    assert exported.code == 0, exported.err
    assert json.loads((layout / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    assert _layout_entries(layout) == {"mytag": info.digest}
    assert not (layout / ".hoist-ingest").exists()  # nothing but OCI content left behind

    skopeo.copy(f"oci:{layout}:mytag", dst, multi_arch="all")
    raw = skopeo.inspect_raw(dst)
    assert sha256(raw) == info.digest

    # The layout can also come straight from the store.
    pulled = hoist(capsys, "pull", src, *_flags(store_dir, tmp_path))
    assert pulled.code == 0, pulled.err
    again = tmp_path / "from-store"
    exported = hoist(capsys, "copy", f"store:{src}", f"oci:{again}:t2",
                     *_flags(store_dir, tmp_path))
    assert exported.code == 0, exported.err
    assert _layout_entries(again) == {"t2": info.digest}
    skopeo.copy(f"oci:{again}:t2", f"oci:{tmp_path / 'skopeo-copy'}:t3", multi_arch="all")
    assert _layout_entries(tmp_path / "skopeo-copy") == {"t3": info.digest}


@pytest.mark.parametrize("kind", ["image", "index"])
def test_skopeo_layout_is_imported_by_hoist(
    distribution_open: Distribution,
    skopeo: Skopeo,
    image_factory: ImageFactory,
    capsys: pytest.CaptureFixture[str],
    store_dir: Path,
    tmp_path: Path,
    kind: str,
) -> None:
    info: ImageInfo | IndexInfo
    if kind == "image":
        info = image_factory.make_image("import-image", layers=[4000])
    else:
        info = image_factory.make_index("import-index", layers=[600])
    src = f"docker://{distribution_open.host}/{unique('import-src')}:v1"
    dst = f"{distribution_open.host}/{unique('import-dst')}:v1"
    skopeo.copy(info.ref, src, multi_arch="all")
    layout = tmp_path / "by-skopeo"
    skopeo.copy(src, f"oci:{layout}:fromskopeo", multi_arch="all")

    imported = hoist(capsys, "copy", f"oci:{layout}:fromskopeo", "store:imported/app:v1",
                     *_flags(store_dir, tmp_path), "-o", "json")
    assert imported.code == 0, imported.err
    assert json.loads(imported.out)["digest"] == info.digest
    assert _store_has(store_dir, info)

    pushed = hoist(capsys, "push", f"oci:{layout}:fromskopeo", dst, *_flags(store_dir, tmp_path))
    assert pushed.code == 0, pushed.err
    assert sha256(skopeo.inspect_raw(f"docker://{dst}")) == info.digest

    # hoist resolves the layout's tag to the same digest skopeo wrote.
    resolved = hoist(capsys, "resolve", f"oci:{layout}:fromskopeo", "--store", str(store_dir))
    assert resolved.code == 0, resolved.err
    assert resolved.out.strip() == info.digest
    assert Digest.parse(resolved.out.strip()) == Digest.parse(info.digest)
