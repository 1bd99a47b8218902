"""A node agent running in a thread of the test process, over its own cluster directory,
with the reads the kubelet tests make of pods and events."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hoist.cluster.agent import NodeOptions, build_node
from hoist.cluster.store import Cluster


class RunningNode:
    def __init__(self, cluster_dir: Path, options: NodeOptions) -> None:
        self.dir = cluster_dir
        self.cluster = Cluster.open(cluster_dir)
        self.node = build_node(cluster_dir, options)
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

    def wait(self, what: Callable[[], Any], timeout: float = 30.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = what()
            if value:
                return value
            time.sleep(0.02)
        raise AssertionError(f"timed out waiting for {what}")

    def status(self, name: str) -> dict[str, Any]:
        pod = self.cluster.get("Pod", "default", name)
        statuses = ((pod or {}).get("status") or {}).get("containerStatuses") or [{}]
        return dict(statuses[0])

    def state(self, name: str) -> dict[str, Any]:
        return dict(self.status(name).get("state") or {})

    def waiting(self, name: str) -> dict[str, Any] | None:
        waiting = self.state(name).get("waiting")
        return dict(waiting) if waiting else None

    def events(self, name: str) -> list[tuple[str, str, str, int]]:
        pod = self.cluster.get("Pod", "default", name)
        assert pod is not None
        evs = self.cluster.events("default", involved_uid=pod["metadata"]["uid"])
        evs.sort(key=lambda e: (e["firstTimestamp"], e["metadata"]["name"]))
        return [(e["type"], e["reason"], e["message"], e["count"]) for e in evs]

    def reasons(self, name: str) -> list[str]:
        return [e[1] for e in self.events(name)]


def pod(name: str, image: str, policy: str | None = None, **spec: Any) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "app", "image": image}
    if policy:
        container["imagePullPolicy"] = policy
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": {"containers": [container], **spec}}
