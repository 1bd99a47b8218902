"""`hoist cluster up --detach | down | logs` as a user runs them: a detached node agent
with a PID file and a log, kubectl-shaped reads of what it did, and a clean stop."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hoist.cluster.agent import NodeOptions, choose_runtime, parse_cri_log, running_pid
from hoist.errors import InputError, OperationError


def hoist(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "hoist", *args], capture_output=True,
                          text=True, timeout=120)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def test_detached_node_runs_pods_and_stops(tmp_path: Path) -> None:
    cluster = tmp_path / "cluster"
    up = hoist("cluster", "--cluster-dir", str(cluster), "up", "--detach", "--runtime",
               "builtin", "--time-scale", "0.01")
    assert "runtime builtin" in up.stdout and "pid" in up.stdout
    pid = running_pid(cluster)
    assert pid is not None
    try:
        again = hoist("cluster", "--cluster-dir", str(cluster), "up", "--detach", check=False)
        assert again.returncode == 1 and f"already runs for {cluster} (pid {pid})" in again.stderr

        manifest = tmp_path / "pod.yaml"
        manifest.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n"
                            "  containers:\n  - {name: app, image: '127.0.0.1:9/none:v1'}\n")
        assert "pod/web created" in hoist("cluster", "--cluster-dir", str(cluster), "apply",
                                          "-f", str(manifest)).stdout
        deadline = time.monotonic() + 20
        waiting: dict[str, str] = {}
        while time.monotonic() < deadline:
            doc = json.loads(hoist("cluster", "--cluster-dir", str(cluster), "get", "pods",
                                   "web", "-o", "json").stdout)
            statuses = doc.get("status", {}).get("containerStatuses") or []
            if statuses and "waiting" in statuses[0]["state"]:
                waiting = statuses[0]["state"]["waiting"]
                if waiting.get("reason") in ("ErrImagePull", "ImagePullBackOff"):
                    break
            time.sleep(0.1)
        assert waiting.get("reason") in ("ErrImagePull", "ImagePullBackOff"), waiting
        table = hoist("cluster", "--cluster-dir", str(cluster), "get", "pods").stdout
        assert table.splitlines()[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
        logs = hoist("cluster", "--cluster-dir", str(cluster), "logs", "web", check=False)
        assert logs.returncode == 1 and "does not run containers" in logs.stderr
    finally:
        down = hoist("cluster", "--cluster-dir", str(cluster), "down")
    assert f"node agent stopped (pid {pid})" in down.stdout
    assert running_pid(cluster) is None
    assert "node stopped" in (cluster / "node.log").read_text()
    assert "no node agent runs" in hoist("cluster", "--cluster-dir", str(cluster),
                                         "down").stdout


def test_runtime_choice(tmp_path: Path) -> None:
    assert choose_runtime(NodeOptions(runtime="builtin")) == ("builtin", None)
    missing = str(tmp_path / "no.sock")
    assert choose_runtime(NodeOptions(runtime="auto", cri_socket=missing)) == ("builtin", None)
    with pytest.raises(OperationError, match=f"no CRI runtime answers on {missing}"):
        choose_runtime(NodeOptions(runtime="cri", cri_socket=missing))
    with pytest.raises(InputError, match="--runtime 'docker'"):
        choose_runtime(NodeOptions(runtime="docker"))


def test_cri_log_lines_are_joined_as_kubectl_prints_them() -> None:
    text = ("2024-01-01T00:00:00.000000001Z stdout F hello\n"
            "2024-01-01T00:00:00.000000002Z stderr P par\n"
            "2024-01-01T00:00:00.000000003Z stderr F tial\n"
            "2024-01-01T00:00:00.000000004Z stdout F \n")
    assert parse_cri_log(text) == "hello\npartial\n\n"
