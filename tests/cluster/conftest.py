"""Fixtures for the embedded cluster's tests: a cluster in a temporary directory with a
clock the test moves (the store takes its time source as a parameter)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hoist.cluster import Cluster

START = 1_800_000_000.0  # 2027-01-15T08:00:00Z


class Clock:
    """A time source that moves only when told to."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cluster(tmp_path: Path, clock: Clock) -> Iterator[Cluster]:
    c = Cluster.open(tmp_path / "cluster", clock=clock)
    try:
        yield c
    finally:
        c.close()


def pod(name: str = "web", image: str = "nginx:1.27", **spec: Any) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "app", "image": image}
    container.update(spec.pop("container", {}))
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [container], **spec}}


def deployment(name: str = "app", image: str = "busybox:1.36", replicas: int = 2,
               **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "main", "image": image}]}},
                     **spec}}


def ready_status(ready: bool = True, at: str = "2027-01-15T08:00:00Z") -> dict[str, Any]:
    """A pod status as a node writes it for a running (ready or not) container."""
    return {"phase": "Running",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False",
                            "lastProbeTime": None, "lastTransitionTime": at}],
            "containerStatuses": [{"name": "main", "ready": ready, "restartCount": 0,
                                   "image": "busybox:1.36", "imageID": "",
                                   "state": {"running": {"startedAt": at}}}]}
