"""The node agent with a real containerd over CRI: pods run in host-network sandboxes,
their containers' states and restarts read as the kubelet's, and the seed's stale-image
trap (a moved tag under IfNotPresent) shows in the pod's image ID."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hoist.cluster import agent
from hoist.cluster.agent import NodeOptions
from tests.kubelet._node import RunningNode, pod
from tests.support.cri_fixtures import ContainerdNode, push_busybox_image

SCALE = 0.05


@pytest.fixture
def cri_node(tmp_path: Path, containerd: ContainerdNode) -> Iterator[RunningNode]:
    n = RunningNode(tmp_path / "cluster", NodeOptions(
        runtime="cri", cri_socket=containerd.socket, time_scale=SCALE))
    try:
        yield n
    finally:
        n.close()


def test_pod_runs_logs_and_is_removed(cri_node: RunningNode, containerd: ContainerdNode) -> None:
    image = containerd.push_image("kubelet/hello", command="echo hello from hoist; sleep 600")
    cri_node.cluster.apply(pod("hello", image.reference))
    running = cri_node.wait(lambda: cri_node.state("hello").get("running"))
    assert running["startedAt"]
    status = cri_node.status("hello")
    assert status["ready"] is True and status["imageID"] == image.digest_reference
    assert status["containerID"].startswith("containerd://")
    assert cri_node.reasons("hello")[:5] == ["Scheduled", "Pulling", "Pulled", "Created",
                                             "Started"]
    logs = cri_node.wait(lambda: _logs(cri_node.dir, "hello"))
    assert logs == "hello from hoist\n"
    current = cri_node.cluster.get("Pod", "default", "hello")
    assert current is not None
    conditions = {c["type"]: c["status"] for c in current["status"]["conditions"]}
    assert conditions["Ready"] == "True" and current["status"]["phase"] == "Running"

    assert cri_node.cluster.delete("Pod", "default", "hello")
    cri_node.wait(lambda: cri_node.cluster.get("Pod", "default", "hello") is None)
    assert cri_node.runtime is not None
    uid = current["metadata"]["uid"]
    assert not [s for s, labels in cri_node.runtime.list_pod_sandboxes()
                if labels.get("io.kubernetes.pod.uid") == uid]


def _logs(cluster_dir: Path, name: str) -> str:
    try:
        return agent.logs(cluster_dir, "default", name, None)
    except Exception:
        return ""


def test_crashing_container_backs_off(cri_node: RunningNode, containerd: ContainerdNode) -> None:
    image = containerd.push_image("kubelet/crash", command="echo boom; exit 3")
    cri_node.cluster.apply(pod("crash", image.reference))
    waiting = cri_node.wait(lambda: (w := cri_node.state("crash").get("waiting")) and
                            w.get("reason") == "CrashLoopBackOff" and w)
    uid = cri_node.cluster.get("Pod", "default", "crash")["metadata"]["uid"]  # type: ignore[index]
    assert waiting["message"].startswith("back-off ")
    assert waiting["message"].endswith(f" restarting failed container=app "
                                       f"pod=crash_default({uid})")
    status = cri_node.wait(lambda: (s := cri_node.status("crash")) and
                           s.get("restartCount", 0) >= 2 and s)
    last = status["lastState"]["terminated"]
    assert last["exitCode"] == 3 and last["reason"] == "Error"
    assert "BackOff" in cri_node.reasons("crash")


def test_run_to_completion_with_restart_policy_never(cri_node: RunningNode,
                                                     containerd: ContainerdNode) -> None:
    image = containerd.push_image("kubelet/once", command="echo done")
    cri_node.cluster.apply(pod("once", image.reference, restartPolicy="Never"))
    done = cri_node.wait(lambda: cri_node.state("once").get("terminated"))
    assert done["exitCode"] == 0 and done["reason"] == "Completed"
    cri_node.wait(lambda: (cri_node.cluster.get("Pod", "default", "once") or {})
                  .get("status", {}).get("phase") == "Succeeded")


def test_unpullable_image_reports_containerds_error(cri_node: RunningNode,
                                                    containerd: ContainerdNode) -> None:
    image = f"{containerd.registry.host}/kubelet/never-pushed:1"
    cri_node.cluster.apply(pod("missing", image))
    waiting = cri_node.wait(lambda: cri_node.state("missing").get("waiting", {}).get(
        "reason") in ("ErrImagePull", "ImagePullBackOff") and cri_node.state("missing"))
    assert "not found" in str(waiting)
    assert cri_node.reasons("missing")[:3] == ["Scheduled", "Pulling", "Failed"]


def test_stale_image_trap(cri_node: RunningNode, containerd: ContainerdNode,
                          tmp_path: Path) -> None:
    """A tag moved to a new digest: an Always pod started afterwards runs the new digest,
    an IfNotPresent pod keeps the copy the node already has."""
    old = push_busybox_image(tmp_path / "v1", containerd.registry, "kubelet/trap", "1",
                             command="echo v1; sleep 600")
    cri_node.cluster.apply(pod("first", old.reference, "IfNotPresent"))
    cri_node.wait(lambda: cri_node.state("first").get("running"))
    assert cri_node.status("first")["imageID"] == old.digest_reference

    new = push_busybox_image(tmp_path / "v2", containerd.registry, "kubelet/trap", "1",
                             command="echo v2; sleep 600")
    assert new.manifest_digest != old.manifest_digest
    # Restart under IfNotPresent: the node has the tag, so the old image runs again.
    cri_node.cluster.delete("Pod", "default", "first")
    cri_node.wait(lambda: cri_node.cluster.get("Pod", "default", "first") is None)
    cri_node.cluster.apply(pod("stale", old.reference, "IfNotPresent"))
    cri_node.wait(lambda: cri_node.state("stale").get("running"))
    assert cri_node.status("stale")["imageID"] == old.digest_reference
    # Under Always the node asks the registry and gets what the tag names now.
    cri_node.cluster.apply(pod("fresh", old.reference, "Always"))
    cri_node.wait(lambda: cri_node.state("fresh").get("running"))
    assert cri_node.status("fresh")["imageID"] == new.digest_reference
    assert "already present on machine" in str(
        cri_node.cluster.events("default", involved_uid=cri_node.cluster.get(
            "Pod", "default", "stale")["metadata"]["uid"]))  # type: ignore[index]

    from hoist.cluster.printers import describe_pod

    described = describe_pod(cri_node.cluster.get("Pod", "default", "stale"),  # type: ignore[arg-type]
                             cri_node.cluster.events("default"), now=time.time())
    assert f"Image ID:       {old.digest_reference}" in described


def test_auto_takes_cri_when_containerd_answers(containerd: ContainerdNode) -> None:
    from hoist.cluster.agent import choose_runtime

    assert choose_runtime(NodeOptions(runtime="auto", cri_socket=containerd.socket)) == (
        "cri", containerd.socket)
