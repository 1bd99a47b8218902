"""The node agent with a real containerd over CRI: pods run in host-network sandboxes,
their containers' states and restarts read as the kubelet's, and the seed's stale-image
trap (a moved tag under IfNotPresent) shows in the pod's image ID."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hoist.cluster import agent
from hoist.cluster.agent import NodeOptions, build_node
from hoist.cluster.store import Cluster
from tests.support.cri_fixtures import ContainerdNode, push_busybox_image

SCALE = 0.05


class CriNode:
    def __init__(self, cluster_dir: Path, containerd: ContainerdNode) -> None:
        self.dir = cluster_dir
        self.cluster = Cluster.open(cluster_dir)
        self.node = build_node(cluster_dir, NodeOptions(
            runtime="cri", cri_socket=containerd.socket, time_scale=SCALE))
        self.runtime = self.node.kubelet.containers
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.node.kubelet.run, args=(self.stop, 0.02),
                                       daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=20)
        self.node.kubelet.shutdown()
        self.node.close()
        self.cluster.close()

    def wait(self, what: Callable[[], Any], timeout: float = 60.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = what()
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}")

    def status(self, name: str) -> dict[str, Any]:
        pod = self.cluster.get("Pod", "default", name)
        statuses = ((pod or {}).get("status") or {}).get("containerStatuses") or [{}]
        return dict(statuses[0])

    def state(self, name: str) -> dict[str, Any]:
        return dict(self.status(name).get("state") or {})

    def reasons(self, name: str) -> list[str]:
        pod = self.cluster.get("Pod", "default", name)
        assert pod is not None
        evs = self.cluster.events("default", involved_uid=pod["metadata"]["uid"])
        evs.sort(key=lambda e: (e["firstTimestamp"], e["metadata"]["name"]))
        return [e["reason"] for e in evs]


@pytest.fixture
def cri_node(tmp_path: Path, containerd: ContainerdNode) -> Iterator[CriNode]:
    n = CriNode(tmp_path / "cluster", containerd)
    try:
        yield n
    finally:
        n.close()


def pod(name: str, image: str, policy: str | None = None, **spec: Any) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "app", "image": image}
    if policy:
        container["imagePullPolicy"] = policy
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": {"containers": [container], **spec}}


def test_pod_runs_logs_and_is_removed(cri_node: CriNode, containerd: ContainerdNode) -> None:
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


def test_crashing_container_backs_off(cri_node: CriNode, containerd: ContainerdNode) -> None:
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


def test_run_to_completion_with_restart_policy_never(cri_node: CriNode,
                                                     containerd: ContainerdNode) -> None:
    image = containerd.push_image("kubelet/once", command="echo done")
    cri_node.cluster.apply(pod("once", image.reference, restartPolicy="Never"))
    done = cri_node.wait(lambda: cri_node.state("once").get("terminated"))
    assert done["exitCode"] == 0 and done["reason"] == "Completed"
    cri_node.wait(lambda: (cri_node.cluster.get("Pod", "default", "once") or {})
                  .get("status", {}).get("phase") == "Succeeded")


def test_unpullable_image_reports_containerds_error(cri_node: CriNode,
                                                    containerd: ContainerdNode) -> None:
    image = f"{containerd.registry.host}/kubelet/never-pushed:1"
    cri_node.cluster.apply(pod("missing", image))
    waiting = cri_node.wait(lambda: cri_node.state("missing").get("waiting", {}).get(
        "reason") in ("ErrImagePull", "ImagePullBackOff") and cri_node.state("missing"))
    assert "not found" in str(waiting)
    assert cri_node.reasons("missing")[:3] == ["Scheduled", "Pulling", "Failed"]


def test_stale_image_trap(cri_node: CriNode, containerd: ContainerdNode,
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
