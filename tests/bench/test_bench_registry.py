"""The registry benchmarks' helpers (image generation, access-log parsing) and, when skopeo,
docker-registry and hoist are installed, both plans end to end with a tiny image."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import tarfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:  # `bench` lives at the repo root, outside src/
    sys.path.insert(0, str(REPO_ROOT))

import bench.registry_common as rc  # noqa: E402
import bench.registry_pull as registry_pull  # noqa: E402
import bench.registry_push as registry_push  # noqa: E402
from bench.context import DEFAULT_HOIST, Context  # noqa: E402
from bench.runner import run_plan  # noqa: E402


def test_make_image_writes_a_valid_reusable_layout(tmp_path: Path) -> None:
    layout = tmp_path / "img"
    image = rc.make_image(layout, layers=3, layer_size=8192)
    assert len(image.layers) == 3 and all(b.size == 8192 for b in image.layers)
    assert len({b.digest for b in image.layers}) == 3  # every layer different
    index = json.loads((layout / "index.json").read_text())
    assert index["manifests"][0]["annotations"] == {rc.REF_NAME: "v1"}
    assert index["manifests"][0]["digest"] == image.manifest.digest
    for blob in (image.manifest, *image.blobs):
        path = layout / "blobs" / "sha256" / blob.digest.removeprefix("sha256:")
        assert rc.sha256_file(path) == blob.digest and path.stat().st_size == blob.size
    layer = layout / "blobs" / "sha256" / image.layers[0].digest.removeprefix("sha256:")
    with tarfile.open(layer) as tar:
        (member,) = tar.getmembers()
        assert member.size == 8192 - 3 * 512
    config = json.loads((layout / "blobs" / "sha256" /
                         image.config.digest.removeprefix("sha256:")).read_text())
    assert config["rootfs"]["diff_ids"] == [b.digest for b in image.layers]
    assert rc.compare_blob_dir(layout, image, rehash=True)["ok"]

    # deterministic, and reused as it is
    again = rc.make_image(tmp_path / "img2", layers=3, layer_size=8192)
    assert again.manifest.digest == image.manifest.digest
    mtime = layer.stat().st_mtime_ns
    assert rc.make_image(layout, layers=3, layer_size=8192) == image
    assert layer.stat().st_mtime_ns == mtime

    # a corrupted blob is found; a missing one makes the layout unusable
    layer.write_bytes(b"x" * 8192)
    bad = rc.compare_blob_dir(layout, image, rehash=True)
    assert not bad["ok"] and bad["wrong"] == [image.layers[0].digest]
    assert rc.compare_blob_dir(layout, image, rehash=False)["ok"]  # same size
    layer.unlink()
    assert rc.load_image(layout) is None


def test_access_log_requests() -> None:
    lines = [
        'time="2024-01-01T00:00:00Z" level=info msg="response completed" '
        'http.request.method=HEAD http.request.uri="/v2/a/manifests/v1"',
        '127.0.0.1 - - [21/Nov/2026:17:24:06 +0000] "HEAD /v2/a/manifests/v1 HTTP/1.1" 200 '
        '1487 "" "hoist"',
        '127.0.0.1 - - [21/Nov/2026:17:24:06 +0000] "PUT /v2/a/blobs/uploads/x?digest='
        'sha256%3Aab HTTP/1.1" 201 0 "" "skopeo/1.9.3"',
        "garbage",
    ]
    got = rc.access_log_requests(lines)
    assert [str(r) for r in got] == [
        "HEAD /v2/a/manifests/v1 200", "PUT /v2/a/blobs/uploads/x?digest=sha256%3Aab 201"]
    assert [r.agent for r in got] == ["hoist", "skopeo/1.9.3"]


def _missing_tools() -> str | None:
    for tool in ("skopeo", "docker-registry"):
        if shutil.which(tool) is None:
            return f"{tool} not installed"
    if not DEFAULT_HOIST.exists():
        return f"hoist not installed at {DEFAULT_HOIST}"
    return None


@pytest.mark.system
@pytest.mark.parametrize("module", [registry_pull, registry_push], ids=["pull", "push"])
def test_registry_plans_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   module: object) -> None:
    if (why := _missing_tools()) is not None:
        pytest.skip(reason=why)
    monkeypatch.setattr(rc, "LAYERS", 2)
    monkeypatch.setattr(rc, "LAYER_SIZE", 64 * 1024)
    ctx = Context(corpus=tmp_path, hoist=DEFAULT_HOIST, checkov=tmp_path / "none",
                  kubectl="kubectl", workdir=tmp_path / "w")
    ctx.workdir.mkdir()
    plan = module.build(ctx)  # type: ignore[attr-defined]
    try:
        doc = run_plan(plan, repeat=2, warmup=0, outdir=tmp_path / "out")
    finally:
        assert plan.cleanup is not None
        plan.cleanup()
    assert doc["check"]["ok"], doc["check"]
    want = doc["info"]["image"]["manifest_digest"]
    assert want == "sha256:" + hashlib.sha256(
        (ctx.workdir / "image" / "blobs" / "sha256" / want.removeprefix("sha256:")).read_bytes()
    ).hexdigest()
    for variant in doc["variants"].values():
        assert variant["commands_per_run"] == 1 and len(variant["timings_s"]) == 2
        assert "rm" in variant["untimed_commands"][0][0]
    if module is registry_pull:
        assert doc["check"]["noop_pull"]["requests"] == ["HEAD /v2/bench/big/manifests/v1 200"]
    else:
        assert doc["check"]["uploads_per_blob"] == [4]  # 2 runs × 2 tools, nothing skipped


@pytest.mark.system
def test_datapath_measures_every_variant_and_stores_verified_blobs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if (why := _missing_tools()) is not None:
        pytest.skip(reason=why)
    from bench import datapath

    monkeypatch.setattr(rc, "LAYERS", 2)
    # Not a multiple of the 4 KiB direct-I/O alignment: the staged variant's tail goes
    # through the cache, and its commit verifies each digest (a wrong byte would raise).
    monkeypatch.setattr(rc, "LAYER_SIZE", 3 * 1024 * 1024 + 512)
    doc = datapath.measure(1, tmp_path)
    assert doc["bytes"] == 2 * (3 * 1024 * 1024 + 512)
    assert set(doc["variants"]) == {"receive-aiohttp", "receive-threads", "write-1MiB",
                                    "write-64KiB", "write-staged"}
    assert all(len(v["runs"]) == 1 and v["median_wall_s"] > 0
               for v in doc["variants"].values())
