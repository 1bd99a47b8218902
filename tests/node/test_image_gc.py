"""Image garbage collection: the kubelet's decisions as pure functions (thresholds, order,
ages), and the manager over hoist's builtin runtime holding images pulled from a real
registry (pkg/kubelet/images/image_gc_manager_test.go's cases, on real images)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hoist.core.policy import CredentialVerificationPolicy
from hoist.node.gofmt import aggregate_message, go_duration
from hoist.node.image_gc import (
    FREE_DISK_SPACE_FAILED,
    IMAGE_GC_FAILED,
    GcEvent,
    ImageGCManager,
    ImageGCPolicy,
    InvalidGCPolicy,
    TrackedImage,
    bytes_to_free,
    eligible_for_space,
    eviction_order,
    free_disk_space_failed_message,
    images_to_evict,
    select_for_space,
    too_old,
    usage_percent,
)
from hoist.node.pullmanager import ImagePullCredentials, PullManager, records_dir_for
from hoist.node.pullrecords import cache_filename
from hoist.node.runtime import FsUsage


def fs(capacity: int, available: int, used: int = 0) -> FsUsage:
    return FsUsage("/images", used, 0, capacity, available)


def img(id: str, size: int = 1024, first: float = 0.0, last: float = 0.0,
        pinned: bool = False) -> TrackedImage:
    return TrackedImage(id, size, first, last, pinned)


# -- policy ------------------------------------------------------------------------------

def test_defaults_are_the_kubelets() -> None:
    p = ImageGCPolicy()
    assert (p.high_threshold_percent, p.low_threshold_percent, p.min_age, p.max_age,
            p.period) == (85, 80, 120.0, 0.0, 300.0)
    assert not p.disabled
    assert ImageGCPolicy(high_threshold_percent=100).disabled
    assert not ImageGCPolicy(high_threshold_percent=100, max_age=60).disabled


@pytest.mark.parametrize(("high", "low", "message"), [
    (2, 1, None),
    (-1, 0, "invalid HighThresholdPercent -1, must be in range [0-100]"),
    (101, 0, "invalid HighThresholdPercent 101, must be in range [0-100]"),
    (0, -1, "invalid LowThresholdPercent -1, must be in range [0-100]"),
    (100, 101, "invalid LowThresholdPercent 101, must be in range [0-100]"),
    (1, 2, "LowThresholdPercent 2 can not be higher than HighThresholdPercent 1"),
])
def test_policy_validation(high: int, low: int, message: str | None) -> None:
    policy = ImageGCPolicy(high_threshold_percent=high, low_threshold_percent=low)
    if message is None:
        policy.validate()
        return
    with pytest.raises(InvalidGCPolicy) as exc:
        policy.validate()
    assert str(exc.value) == message


# -- thresholds --------------------------------------------------------------------------

@pytest.mark.parametrize(("capacity", "available", "high", "low", "percent", "amount"), [
    (1000, 600, 90, 80, 40, 0),  # below the high threshold: nothing
    (1000, 50, 90, 80, 95, 150),  # free up to 20 % available
    (1000, 150, 85, 80, 85, 50),  # exactly at the high threshold collects
    (1000, 151, 85, 80, 85, 49),  # integer percent: 84.9 % reads as 85 %
    (1000, 160, 85, 80, 84, 0),
    (1000, 2000, 90, 80, 0, 0),  # available over capacity counts as capacity
    (999, 0, 85, 80, 100, 199),  # capacity*(100-low)/100 truncates
])
def test_usage_and_amount(capacity: int, available: int, high: int, low: int, percent: int,
                          amount: int) -> None:
    policy = ImageGCPolicy(high_threshold_percent=high, low_threshold_percent=low)
    usage = fs(capacity, available)
    assert usage_percent(usage) == percent
    assert bytes_to_free(usage, policy) == amount


def test_zero_capacity_frees_nothing() -> None:
    assert bytes_to_free(fs(0, 0), ImageGCPolicy()) == 0


# -- order and eligibility ---------------------------------------------------------------

def test_eviction_order_least_recently_used_first() -> None:
    images = [img("b", last=20.0), img("never", last=0.0, first=5.0), img("a", last=10.0),
              img("tie-late", last=30.0, first=9.0), img("tie-early", last=30.0, first=1.0)]
    assert [i.id for i in eviction_order(images, set())] == [
        "never", "a", "b", "tie-early", "tie-late"]


def test_in_use_and_pinned_images_are_never_candidates() -> None:
    images = [img("used"), img("pinned", pinned=True), img("free")]
    assert [i.id for i in eviction_order(images, {"used"})] == ["free"]


@pytest.mark.parametrize(("first", "last", "eligible"), [
    (0.0, 0.0, True),
    (1000.0 - 60, 0.0, True),  # exactly the minimum age
    (1000.0 - 59, 0.0, False),  # just pulled: a container may be about to use it
    (0.0, 1000.0, False),  # used at the collection time
    (0.0, 999.0, True),
])
def test_eligible_for_space(first: float, last: float, eligible: bool) -> None:
    policy = ImageGCPolicy(min_age=60.0)
    assert eligible_for_space(img("x", first=first, last=last), policy, 1000.0) is eligible


def test_select_stops_once_enough_is_freed() -> None:
    policy = ImageGCPolicy(min_age=0.0)
    ordered = [img("a", 1024), img("b", 2048), img("c", 4096)]
    assert [i.id for i in select_for_space(ordered, 1024, policy, 10.0)] == ["a"]
    assert [i.id for i in select_for_space(ordered, 1025, policy, 10.0)] == ["a", "b"]
    assert [i.id for i in select_for_space(ordered, 10**9, policy, 10.0)] == ["a", "b", "c"]


def test_select_skips_young_images_and_goes_on() -> None:
    policy = ImageGCPolicy(min_age=60.0)
    ordered = [img("young", 4096, first=990.0), img("old", 1024, first=0.0)]
    assert [i.id for i in select_for_space(ordered, 1024, policy, 1000.0)] == ["old"]


@pytest.mark.parametrize(("sizes", "available", "removed"), [
    # TestGarbageCollectBelowSuccess / NotEnoughFreed: 95 % used, 150 bytes to free.
    ([450], 50, ["image-0"]),
    ([50], 50, ["image-0"]),  # all there is, still short of 150 (the manager reports it)
    ([100, 100, 100], 50, ["image-0", "image-1"]),
    ([450], 600, []),  # 40 % used
])
def test_images_to_evict(sizes: list[int], available: int, removed: list[str]) -> None:
    policy = ImageGCPolicy(high_threshold_percent=90, low_threshold_percent=80, min_age=0.0)
    images = [img(f"image-{n}", size, last=float(n)) for n, size in enumerate(sizes)]
    plan = images_to_evict(images, fs(1000, available), policy, 100.0, set())
    assert [i.id for i in plan] == removed


def test_images_to_evict_respects_in_use_pinned_and_min_age() -> None:
    policy = ImageGCPolicy(min_age=120.0)
    images = [img("in-use", 500), img("pinned", 500, pinned=True),
              img("young", 500, first=950.0), img("old", 100)]
    plan = images_to_evict(images, fs(1000, 0), policy, 1000.0, {"in-use"})
    assert [i.id for i in plan] == ["old"]


def test_max_age() -> None:
    policy = ImageGCPolicy(high_threshold_percent=100, max_age=600.0, min_age=0.0)
    images = [img("stale", last=100.0), img("fresh", last=900.0), img("never")]
    ordered = eviction_order(images, set())
    # The node must have run for the maximum age before anything goes for age.
    assert too_old(ordered, policy, now=1000.0, began_gc=500.0) == []
    assert [i.id for i in too_old(ordered, policy, now=1000.0, began_gc=0.0)] == [
        "never", "stale"]
    assert [i.id for i in images_to_evict(images, fs(1000, 900), policy, 1000.0, set(),
                                          began_gc=0.0)] == ["never", "stale"]
    assert too_old(ordered, ImageGCPolicy(), now=10**9, began_gc=0.0) == []


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0s"), (120, "2m0s"), (90, "1m30s"), (3600, "1h0m0s"), (1.5, "1.5s"),
    (0.0015, "1.5ms"), (86400 * 2 + 1, "48h0m1s"),
])
def test_go_duration(seconds: float, text: str) -> None:
    assert go_duration(seconds) == text


def test_aggregate_message() -> None:
    assert aggregate_message(["boom"]) == "boom"
    assert aggregate_message(["a", "b", "a"]) == "[a, b]"


def test_free_disk_space_failed_text() -> None:
    assert free_disk_space_failed_message(150, 50) == (
        "Failed to garbage collect required amount of images. Attempted to free 150 bytes, "
        "but only found 50 bytes eligible to free.")


# -- the manager over a real runtime -----------------------------------------------------

class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def node_runtime(tmp_path: Path) -> Iterator[Any]:
    from hoist.node.builtin import BuiltinRuntime

    rt = BuiltinRuntime(tmp_path / "node-store", insecure=True)
    yield rt
    rt.close()


@pytest.fixture
def pulled(distribution_open: Any, image_factory: Any, node_runtime: Any,
           ) -> dict[str, tuple[str, int]]:
    """Three images pulled into the node: name → (image ID, size)."""
    from tests.support.registry_http import push_blob, request

    out: dict[str, tuple[str, int]] = {}
    for n, layer in enumerate((1000, 3000, 5000)):
        built = image_factory.make_image(f"gc{n}", layers=(layer,))
        repo = f"imagegc/{os.getpid()}-{time.time_ns()}-{n}"
        for blob in built.blobs:
            push_blob(distribution_open.url, repo, blob.path.read_bytes())
        put = request(f"{distribution_open.url}/v2/{repo}/manifests/v1", "PUT",
                      headers={"Content-Type": built.media_type}, body=built.manifest)
        assert put.status == 201
        name = f"{distribution_open.host}/{repo}:v1"
        image_id = node_runtime.pull_image(name)
        info = node_runtime.image_status(image_id)
        assert info is not None
        out[f"gc{n}"] = (image_id, info.size)
    return out


def ids(runtime: Any) -> set[str]:
    return {i.id for i in runtime.list_images()}


def test_detect_images_tracks_first_detected_and_last_used(
        node_runtime: Any, pulled: dict[str, tuple[str, int]]) -> None:
    a, b, c = (pulled[k][0] for k in ("gc0", "gc1", "gc2"))
    clock = Clock(1000.0)
    gc = ImageGCManager(node_runtime, ImageGCPolicy(), clock)
    assert gc.detect_images({b}) == {b}
    records = gc.records()
    assert set(records) == {a, b, c}
    assert all(r.first_detected == 1000.0 for r in records.values())
    assert (records[a].last_used, records[b].last_used) == (0.0, 1000.0)
    assert records[c].size == pulled["gc2"][1]

    clock.now = 2000.0
    gc.detect_images(set())  # b's container stopped: it keeps its last use
    assert gc.records()[b].last_used == 1000.0 and gc.records()[b].first_detected == 1000.0

    node_runtime.remove_image(c)
    gc.detect_images({a})
    records = gc.records()
    assert set(records) == {a, b} and records[a].last_used == 2000.0


def test_delete_unused_images(node_runtime: Any, pulled: dict[str, tuple[str, int]]) -> None:
    a, b, c = (pulled[k][0] for k in ("gc0", "gc1", "gc2"))
    clock = Clock(1000.0)
    gc = ImageGCManager(node_runtime, ImageGCPolicy(min_age=120.0), clock)
    gc.detect_images(set())
    clock.now = 1119.0  # younger than the minimum age: nothing goes
    result = gc.delete_unused_images({b})
    assert (result.removed, result.freed_bytes, result.failed) == ([], 0, False)
    clock.now = 1120.0
    result = gc.delete_unused_images({b})
    assert sorted(result.removed) == sorted([a, c])
    assert result.freed_bytes == pulled["gc0"][1] + pulled["gc2"][1]
    assert ids(node_runtime) == {b}


def test_collect_below_the_high_threshold_removes_nothing(
        node_runtime: Any, pulled: dict[str, tuple[str, int]]) -> None:
    policy = ImageGCPolicy(high_threshold_percent=100, low_threshold_percent=100, min_age=0)
    gc = ImageGCManager(node_runtime, policy, Clock(1000.0))
    result = gc.garbage_collect(set())
    assert (result.removed, result.failed, result.events) == ([], False, [])
    assert len(ids(node_runtime)) == 3


def test_collect_frees_least_recently_used_and_reports_shortfall(
        node_runtime: Any, pulled: dict[str, tuple[str, int]]) -> None:
    """Thresholds at 0 %: the GC wants every used byte of the filesystem back, which no
    image removal can give, so it removes every eligible image, oldest use first, and
    reports FreeDiskSpaceFailed; the second failure in a row adds ImageGCFailed."""
    a, b, c = (pulled[k][0] for k in ("gc0", "gc1", "gc2"))
    clock = Clock(1000.0)
    policy = ImageGCPolicy(high_threshold_percent=0, low_threshold_percent=0, min_age=0)
    gc = ImageGCManager(node_runtime, policy, clock)
    gc.detect_images({c})  # c used at 1000
    clock.now = 1010.0
    gc.detect_images({a})  # a used at 1010; b never used
    clock.now = 1020.0
    result = gc.garbage_collect(set())
    assert result.removed == [b, c, a]
    assert result.freed_bytes == sum(size for _, size in pulled.values())
    assert result.reason == FREE_DISK_SPACE_FAILED
    assert result.amount_to_free > result.freed_bytes
    assert result.message == free_disk_space_failed_message(result.amount_to_free,
                                                            result.freed_bytes)
    assert result.events == [GcEvent("Warning", FREE_DISK_SPACE_FAILED, result.message)]
    assert ids(node_runtime) == set()

    again = gc.garbage_collect(set())
    assert again.freed_bytes == 0 and again.reason == FREE_DISK_SPACE_FAILED
    assert [e.reason for e in again.events] == [FREE_DISK_SPACE_FAILED, IMAGE_GC_FAILED]
    assert again.events[1].message == again.message


def test_collect_spares_in_use_and_young_images(
        node_runtime: Any, pulled: dict[str, tuple[str, int]]) -> None:
    a, b, c = (pulled[k][0] for k in ("gc0", "gc1", "gc2"))
    clock = Clock(1000.0)
    policy = ImageGCPolicy(high_threshold_percent=0, low_threshold_percent=0, min_age=60.0)
    gc = ImageGCManager(node_runtime, policy, clock)
    gc.detect_images(set())
    clock.now = 1030.0
    result = gc.garbage_collect({a})
    assert result.removed == [] and result.reason == FREE_DISK_SPACE_FAILED
    clock.now = 1060.0
    result = gc.garbage_collect({a})
    assert sorted(result.removed) == sorted([b, c]) and ids(node_runtime) == {a}


def test_max_age_through_the_manager(node_runtime: Any,
                                     pulled: dict[str, tuple[str, int]]) -> None:
    a, b, c = (pulled[k][0] for k in ("gc0", "gc1", "gc2"))
    clock = Clock(1000.0)
    policy = ImageGCPolicy(high_threshold_percent=100, low_threshold_percent=100,
                           max_age=300.0, min_age=0.0)
    gc = ImageGCManager(node_runtime, policy, clock)  # began at 1000
    gc.detect_images({a, b})
    clock.now = 1200.0
    gc.detect_images({b})
    clock.now = 1301.0  # up for longer than max age: c (never used) and a (unused 301 s)
    result = gc.garbage_collect(set())
    assert (sorted(result.removed), result.failed) == (sorted([a, c]), False)
    assert ids(node_runtime) == {b}


def test_post_gc_hook_prunes_pull_records(tmp_path: Path, node_runtime: Any,
                                          pulled: dict[str, tuple[str, int]]) -> None:
    a, b, _ = (pulled[k][0] for k in ("gc0", "gc1", "gc2"))
    records_dir = records_dir_for(tmp_path / "node")
    pm = PullManager(records_dir, CredentialVerificationPolicy.NEVER_VERIFY_PRELOADED, [],
                     node_runtime)
    for image_id in (a, b, "sha256:" + "9" * 64):
        pm.record_pull_intent(f"example.test/app@{image_id}")
        pm.record_image_pulled(f"example.test/app@{image_id}", image_id,
                               ImagePullCredentials(node_pod_accessible=True))
    clock = Clock(time.time() + 10)
    policy = ImageGCPolicy(high_threshold_percent=100, low_threshold_percent=100, min_age=0)
    gc = ImageGCManager(node_runtime, policy, clock, post_gc_hooks=[pm.prune_unknown_records])
    node_runtime.remove_image(a)
    result = gc.garbage_collect(set())
    assert not result.failed
    assert sorted(os.listdir(records_dir / "pulled")) == [cache_filename(b)]
