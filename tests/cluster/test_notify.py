"""Waking on writes to the cluster's database: the inotify watch, the two counters'
waits across threads and processes, and the status source that uses them."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from hoist.cluster import Cluster
from hoist.cluster.notify import MAX_QUIET_WAIT, open_watch
from hoist.deploy.status import ClusterStatusSource, WorkloadRef
from tests.cluster.conftest import Clock, pod

needs_inotify = pytest.mark.skipif(open_watch(Path("/")) is None,
                                   reason="inotify is not available on this system")


@needs_inotify
def test_a_watch_wakes_on_a_written_file_and_not_otherwise(tmp_path: Path) -> None:
    watch = open_watch(tmp_path)
    assert watch is not None
    with watch:
        assert watch.wait(0.02) is False
        (tmp_path / "cluster.db-wal").write_bytes(b"frame")
        assert watch.wait(5.0) is True
        # The queued events were consumed: nothing is left to wake on.
        assert watch.wait(0.02) is False


def test_a_watch_on_a_missing_directory_is_none(tmp_path: Path) -> None:
    assert open_watch(tmp_path / "absent") is None


@needs_inotify
def test_the_quiet_wait_is_bounded(tmp_path: Path) -> None:
    watch = open_watch(tmp_path)
    assert watch is not None
    with watch:
        started = time.monotonic()
        assert watch.wait(30.0) is False
        assert time.monotonic() - started < MAX_QUIET_WAIT + 1.0


def test_wait_for_write_sees_status_writes_that_wait_for_change_ignores(
        cluster: Cluster) -> None:
    cluster.apply(pod())
    uid = cluster.get("Pod", "default", "web")["metadata"]["uid"]
    rev, version = cluster.revision(), cluster.resource_version()
    assert cluster.wait_for_write(version, 0.02) == version
    timer = threading.Timer(0.05, lambda: cluster.update_pod_status(
        "default", "web", uid, {"phase": "Running"}))
    timer.start()
    try:
        assert cluster.wait_for_write(version, 10.0) > version
    finally:
        timer.join()
    # A status is not a spec-level change: the node's wait runs to its timeout.
    assert cluster.wait_for_change(rev, 0.05) == rev


def test_a_write_from_another_process_ends_the_wait_early(cluster: Cluster) -> None:
    version = cluster.resource_version()
    code = ("import sys, time\n"
            "from hoist.cluster import Cluster\n"
            "time.sleep(0.2)\n"
            "c = Cluster.open(sys.argv[1])\n"
            "c.record_event({'kind': 'Pod', 'metadata': {'namespace': 'default', "
            "'name': 'x', 'uid': 'u'}}, 'Normal', 'Tested', 'from elsewhere')\n")
    child = subprocess.Popen([sys.executable, "-c", code, str(cluster.cluster_dir)])
    try:
        started = time.monotonic()
        assert cluster.wait_for_write(version, 30.0) > version
        assert time.monotonic() - started < 20.0
    finally:
        assert child.wait(timeout=30) == 0


def test_two_threads_waiting_are_both_woken(cluster: Cluster) -> None:
    version = cluster.resource_version()
    seen: list[int] = []

    def waiter() -> None:
        seen.append(cluster.wait_for_write(version, 10.0))

    threads = [threading.Thread(target=waiter) for _ in range(2)]
    for t in threads:
        t.start()
    time.sleep(0.05)
    cluster.apply(pod())
    for t in threads:
        t.join(timeout=20)
    assert len(seen) == 2 and all(v > version for v in seen)


def test_the_status_source_wakes_on_writes_and_reads_only_its_pods_events(
        cluster: Cluster) -> None:
    cluster.apply(pod())
    web = cluster.get("Pod", "default", "web")
    cluster.record_event(web, "Normal", "Pulling", 'Pulling image "nginx"')
    cluster.record_event({"kind": "Pod", "metadata": {"namespace": "default", "name": "old",
                                                       "uid": "gone-long-ago"}},
                         "Normal", "Pulled", "an hour of events about pods long gone")
    source = ClusterStatusSource(cluster)
    snapshot = source.snapshot([WorkloadRef("Pod", "default", "web")])
    assert [e["reason"] for e in snapshot.events] == ["Pulling"]
    started = time.monotonic()
    source.wait_for_update(0.05)  # nothing written since the snapshot: the whole wait
    assert time.monotonic() - started >= 0.04
    version = cluster.resource_version()
    timer = threading.Timer(0.05, lambda: cluster.update_pod_status(
        "default", "web", web["metadata"]["uid"], {"phase": "Running"}))
    timer.start()
    try:
        source.wait_for_update(10.0)
        assert cluster.resource_version() > version
    finally:
        timer.join()


def test_the_kubelet_recorder_writes_in_the_background_with_each_event_s_own_time(
        cluster: Cluster, clock: Clock) -> None:
    from hoist.cluster.kubelet import ClusterRecorder
    from hoist.node.events import ObjectRef

    cluster.apply(pod())
    meta = cluster.get("Pod", "default", "web")["metadata"]
    ref = ObjectRef(kind="Pod", namespace="default", name="web", uid=meta["uid"])
    recorder = ClusterRecorder(cluster, "node-1")
    for reason in ("Pulling", "Pulled", "Created", "Started"):
        recorder.event(ref, "Normal", reason, f"{reason} it")
        clock.advance(1.0)
    clock.advance(60.0)  # written later: the stamps are still the moments recorded
    assert recorder.flush(10.0)
    events = cluster.events("default", meta["uid"])
    assert [e["reason"] for e in events] == ["Pulling", "Pulled", "Created", "Started"]
    assert [e["lastTimestamp"] for e in events] == [
        "2027-01-15T08:00:00Z", "2027-01-15T08:00:01Z", "2027-01-15T08:00:02Z",
        "2027-01-15T08:00:03Z"]
    assert all(e["source"] == {"component": "kubelet", "host": "node-1"} for e in events)
    assert recorder.flush(0.0)  # nothing queued: at once
