"""The embedded defaults of a deploy, with real components: a detached registry over the
store, a containerd hoist manages (when it can run here) and the node agent; reused when
running, stopped by PID, and images preloaded into the node for ``imagePullPolicy: Never``."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hoist.cluster.kubelet import IMAGE_PRESENT
from hoist.cluster.store import Cluster
from hoist.deploy.embedded import (
    RUNTIMES,
    EmbeddedEnvironment,
    RuntimePlan,
    ctr_import_command,
    embedded_status,
    ensure_embedded,
    node_runtime_from_log,
    pause_reference,
    plan_runtime,
    preload_image,
    read_registry_record,
    registry_addresses,
    registry_answers,
    running_registry,
    start_registry,
    stop_embedded,
    stop_registry,
)
from hoist.errors import InputError, OperationError
from hoist.node.cri import managed
from hoist.node.cri.managed import ImageBlobs, busybox_image, mounts_under, process_alive
from hoist.store import ContentStore

SCALE = 0.05


# ------------------------------------------------------------------ decisions


def test_runtime_plan() -> None:
    def plan(asked: str, **kw: Any) -> RuntimePlan:
        args: dict[str, Any] = {"managed_running": False, "system_socket_answers": False,
                                "containerd_missing": None, "busybox_missing": None}
        return plan_runtime(asked, **{**args, **kw})

    assert plan("builtin", managed_running=True) == RuntimePlan("builtin", "none")
    assert plan("auto", managed_running=True, system_socket_answers=True) == \
        RuntimePlan("cri", "managed")
    assert plan("auto", system_socket_answers=True, containerd_missing="x") == \
        RuntimePlan("cri", "system")
    assert plan("cri") == RuntimePlan("cri", "managed")
    root = "containerd needs root (running as uid 1000)"
    assert plan("auto", containerd_missing=root) == \
        RuntimePlan("builtin", "none", f"runtime builtin: {root}")
    assert plan("auto", busybox_missing=managed.MISSING_BUSYBOX).note == \
        f"runtime builtin: {managed.MISSING_BUSYBOX}"
    with pytest.raises(OperationError, match=r"runtime cri: .*needs root"):
        plan("cri", containerd_missing=root)
    with pytest.raises(InputError, match="runtime 'docker'"):
        plan("docker")
    assert RUNTIMES == ("auto", "cri", "builtin")


def test_missing_requirements_names_the_uid() -> None:
    assert managed.missing_requirements(euid=1000) == \
        "containerd needs root (running as uid 1000)"


@settings(deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1))
def test_node_runtime_read_back_from_the_agent_line(path: str) -> None:
    # the line cluster/agent.py prints when a node comes up
    cri = (f"node hoist-node up: runtime cri (containerd at {path}), cluster /c, "
           "time scale 1")
    builtin = ("node hoist-node up: runtime builtin (images in /c/node/images; containers "
               "are not run), cluster /c, time scale 0.05")
    assert node_runtime_from_log(f"noise\n{cri}\nnode stopped\n") == ("cri", path)
    assert node_runtime_from_log(f"{cri}\n{builtin}\n") == ("builtin", None)
    assert node_runtime_from_log(f"{builtin}\n{cri}") == ("cri", path)
    assert node_runtime_from_log("node stopped\n") is None


def test_registry_address_order() -> None:
    assert registry_addresses("127.0.0.1:7000", None) == ["127.0.0.1:7000"]
    assert registry_addresses(None, None) == ["127.0.0.1:0"]
    from hoist.deploy.embedded import RegistryRecord

    previous = RegistryRecord("127.0.0.1:41234", 1, Path("/s"))
    assert registry_addresses(None, previous) == ["127.0.0.1:41234", "127.0.0.1:0"]


def test_ctr_import_names_tag_and_digest() -> None:
    from hoist.core.reference import parse_normalized_named

    ref = parse_normalized_named("app:v1")
    command = ctr_import_command("/s.sock", ref, "native")
    assert command == ["ctr", "--address", "/s.sock", "-n", "k8s.io", "images", "import",
                       "--base-name", "docker.io/library/app", "--digests",
                       "--snapshotter", "native", "-"]


# ------------------------------------------------------------------ real components


@dataclass
class Embedded:
    data_dir: Path
    cluster_dir: Path
    lines: list[str] = field(default_factory=list)
    pids: set[int] = field(default_factory=set)

    def ensure(self, runtime: str = "auto") -> EmbeddedEnvironment:
        env = ensure_embedded(data_dir=self.data_dir, cluster_dir=self.cluster_dir,
                              runtime=runtime, time_scale=SCALE, log=self.lines.append)
        self.pids |= {env.registry_pid, env.node_pid}
        if env.containerd_pid:
            self.pids.add(env.containerd_pid)
        return env

    def stop(self) -> list[str]:
        return stop_embedded(data_dir=self.data_dir, cluster_dir=self.cluster_dir,
                             log=self.lines.append)


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[Embedded]:
    # short paths: containerd's socket has to fit a unix socket address
    e = Embedded(tmp_path / "d", tmp_path / "c")
    try:
        yield e
    finally:
        e.stop()
        for pid in e.pids:  # whatever survived the stop, by its PID
            if process_alive(pid):
                managed.terminate_pid(pid, timeout=5)


def store_busybox(store_root: Path, name: str, command: str) -> ImageBlobs:
    from hoist.core.manifest import parse_manifest

    image = busybox_image(command)
    with ContentStore(store_root) as store:
        for digest, data in image.blobs():
            store.blobs.put(data, digest)
        store.record(name, parse_manifest(image.manifest))
    return image


def pod(name: str, image: str, policy: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"hostNetwork": True,
                     "containers": [{"name": "app", "image": image,
                                     "imagePullPolicy": policy}]}}


def container_status(cluster: Cluster, name: str) -> dict[str, Any]:
    obj = cluster.get("Pod", "default", name) or {}
    statuses = (obj.get("status") or {}).get("containerStatuses") or [{}]
    return dict(statuses[0])


def wait_for(what: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = what()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_builtin_is_reused_then_stopped_by_pid(embedded: Embedded) -> None:
    first = embedded.ensure("builtin")
    assert first.started == ("registry", "node")
    assert first.runtime == "builtin" and first.cri_socket is None
    assert first.containerd_pid is None
    assert first.store_root == embedded.data_dir / "registry-store"
    assert first.registry.startswith("127.0.0.1:") and registry_answers(first.registry)
    assert any(line.startswith("registry: started at ") and line.endswith(" s")
               for line in embedded.lines)
    assert any(line.startswith("node: started with runtime builtin") for line in embedded.lines)

    second = embedded.ensure("auto")
    assert second.started == ()
    assert (second.registry, second.registry_pid, second.node_pid) == \
        (first.registry, first.registry_pid, first.node_pid)
    assert second.runtime == "builtin"
    forced = embedded.ensure("cri")
    assert forced.started == () and forced.runtime == "builtin"
    assert any("already runs with runtime builtin" in n for n in forced.notes)
    status = embedded_status(data_dir=embedded.data_dir, cluster_dir=embedded.cluster_dir)
    assert status is not None and status.started == ()
    assert (status.registry, status.node_pid, status.runtime) == \
        (first.registry, first.node_pid, "builtin")

    assert embedded.stop() == ["node", "registry"]
    assert not process_alive(first.registry_pid) and not process_alive(first.node_pid)
    assert embedded_status(data_dir=embedded.data_dir, cluster_dir=embedded.cluster_dir) is None
    assert embedded.stop() == []
    # the address is remembered: the next start listens where images were referenced
    record = read_registry_record(embedded.data_dir)
    assert record is not None and record.addr == first.registry


def test_builtin_preload_feeds_a_never_pod(embedded: Embedded) -> None:
    env = embedded.ensure("builtin")
    name = "example.invalid/team/preloaded:v1"
    image = store_busybox(env.store_root, name, "sleep 600")
    with ContentStore(env.store_root) as store:
        with pytest.raises(OperationError, match="not in the store"):
            preload_image(env, "example.invalid/team/absent:v1", store)
        image_id = preload_image(env, name, store)
    assert image_id == str(image.config_digest)
    with Cluster.open(env.cluster_dir) as cluster:
        cluster.apply(pod("never", name, "Never"))
        status = wait_for(lambda: (s := container_status(cluster, "never")).get("imageID") and s)
    assert status["imageID"] == f"example.invalid/team/preloaded@{image.manifest_digest}"
    assert status["state"]["waiting"]["reason"] == IMAGE_PRESENT
    # by digest alone: found under its tag in the store, held by the node by that digest
    other = store_busybox(env.store_root, "example.invalid/team/other:v2", "sleep 1")
    by_digest = f"example.invalid/team/other@{other.manifest_digest}"
    with ContentStore(env.store_root) as store:
        assert preload_image(env, by_digest, store) == str(other.config_digest)
    with Cluster.open(env.cluster_dir) as cluster:
        cluster.apply(pod("pinned", by_digest, "Never"))
        status = wait_for(lambda: (s := container_status(cluster, "pinned")).get("imageID") and s)
    assert status["imageID"] == by_digest


def test_registry_port_is_reused_else_a_free_one(tmp_path: Path) -> None:
    data, store = tmp_path / "d", tmp_path / "d" / "store"
    first = start_registry(data, store)
    try:
        with pytest.raises(OperationError, match="already runs"):
            start_registry(data, store)
    finally:
        assert stop_registry(data) == first.pid
    assert running_registry(data) is None and stop_registry(data) is None
    again = start_registry(data, store)
    stop_registry(data)
    assert again.addr == first.addr and again.pid != first.pid
    host, port = again.addr.rsplit(":", 1)
    with socket.socket() as squatter:
        # The registry's closed connections may hold the port in TIME_WAIT; a listener
        # takes it anyway with SO_REUSEADDR, and then nobody else can.
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind((host, int(port)))
        squatter.listen()
        moved = start_registry(data, store)
        try:
            assert moved.addr != first.addr and registry_answers(moved.addr)
        finally:
            stop_registry(data)
    assert not process_alive(moved.pid)


def test_registry_cli_detach_and_stop(tmp_path: Path) -> None:
    def hoist(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "hoist", "registry", *args,
                               "--data-dir", str(tmp_path)], capture_output=True, text=True,
                              timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout

    out = hoist("serve", "--detach")
    record = read_registry_record(tmp_path)
    assert record is not None
    try:
        assert out.startswith(f"listening on http://{record.addr} ")
        assert f"pid {record.pid}" in out and registry_answers(record.addr)
        assert "already running" in hoist("serve", "--detach")
    finally:
        stopped = hoist("stop")
    assert stopped == f"registry stopped (pid {record.pid})\n"
    assert not process_alive(record.pid)
    assert hoist("stop") == f"no registry runs for {tmp_path}\n"
    assert '"GET /v2/ HTTP/1.1" 200' in (tmp_path / "registry" / "registry.log").read_text()


# ------------------------------------------------------------------ with containerd


def _require_cri() -> None:
    from hoist.node.cri.runtime import DEFAULT_CRI_SOCKET, probe_cri_socket

    reason = managed.missing_requirements() or managed.busybox_missing()
    if reason is None and shutil.which("ctr", path=managed.SEARCH_PATH) is None:
        reason = "ctr not installed (Debian package containerd)"
    if reason is None and probe_cri_socket(DEFAULT_CRI_SOCKET):
        reason = (f"a containerd answers on {DEFAULT_CRI_SOCKET}: the embedded defaults use "
                  "it instead of one of their own")
    if reason is not None:
        pytest.skip(reason=reason)


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            cmdline = managed.process_cmdline(int(entry.name))
            if any(text in part for part in cmdline) and process_alive(int(entry.name)):
                found.append(int(entry.name))
    return found


def test_cri_runs_pods_and_preloaded_images(embedded: Embedded) -> None:
    _require_cri()
    from hoist.auth.credential import ANONYMOUS
    from hoist.transfer.copy import Options, copy

    env = embedded.ensure("cri")
    assert env.started == ("registry", "containerd", "node")
    assert env.runtime == "cri" and env.containerd_pid is not None
    assert env.cri_socket == str(embedded.data_dir / "containerd" / "state" / "containerd.sock")
    assert "sandbox_image = " + repr(pause_reference(env.registry)).replace("'", '"') in \
        (embedded.data_dir / "containerd" / "config.toml").read_text()
    assert [line.split(":")[0] for line in embedded.lines] == \
        ["registry", "sandbox image", "containerd", "node"]
    again = embedded.ensure("auto")
    assert again.started == () and again.containerd_pid == env.containerd_pid

    # an image pushed to the embedded registry runs (the sandbox image comes from there too)
    pushed = f"{env.registry}/test/hello:1"
    store_busybox(env.store_root, pushed, "echo hello; sleep 600")
    with ContentStore(env.store_root) as store:
        copy(f"store:{pushed}", f"docker://{pushed}", Options(store=store, credentials=ANONYMOUS))
    cluster = Cluster.open(env.cluster_dir)
    try:
        cluster.apply(pod("hello", pushed, "IfNotPresent"))
        running = wait_for(lambda: container_status(cluster, "hello").get("state", {})
                           .get("running"), timeout=40)
        assert running["startedAt"]

        # Never: the image is only in the store, never in the registry
        name = "example.invalid/team/local:v1"
        image = store_busybox(env.store_root, name, "echo local; sleep 600")
        with ContentStore(env.store_root) as store:
            # a damaged store image fails whole: nothing reaches containerd or stays behind
            broken = "example.invalid/team/broken:v1"
            store_busybox(env.store_root, broken, "echo broken")
            damaged = busybox_image("echo broken")
            config_path = store.blobs.path(damaged.config_digest)
            config_path.unlink()
            with pytest.raises(OperationError, match="not in the store"):
                preload_image(env, broken, store)
            image_id = preload_image(env, name, store)
            assert image_id == str(image.config_digest)
            by_digest = f"example.invalid/team/local@{image.manifest_digest}"
            assert preload_image(env, by_digest, store) == image_id
        from hoist.node.cri.runtime import CriRuntime

        with CriRuntime(env.cri_socket or "") as runtime:
            assert runtime.image_status(broken) is None
        cluster.apply(pod("local", name, "Never"))
        status = wait_for(lambda: (s := container_status(cluster, "local")).get("state", {})
                          .get("running") and s, timeout=40)
        assert status["imageID"] == by_digest
    finally:
        cluster.close()

    assert embedded.stop() == ["node", "containerd", "registry"]
    for pid in (env.node_pid, env.containerd_pid, env.registry_pid):
        assert not process_alive(pid)
    # no shim (its command line names the socket) and no mount is left behind
    assert _processes_mentioning(str(embedded.data_dir)) == []
    assert mounts_under(embedded.data_dir) == []


def test_cri_after_the_registry_moved(embedded: Embedded) -> None:
    """A containerd kept running while the registry came back on another port loads its
    sandbox image from the store (it cannot pull it from the old address any more)."""
    _require_cri()
    env = embedded.ensure("cri")
    assert stop_registry(embedded.data_dir) == env.registry_pid
    host, port = env.registry.rsplit(":", 1)
    with socket.socket() as squatter:
        # The registry's closed connections may hold the port in TIME_WAIT; a listener
        # takes it anyway with SO_REUSEADDR, and then nobody else can.
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind((host, int(port)))
        squatter.listen()
        moved = embedded.ensure("cri")
    assert moved.started == ("registry",) and moved.registry != env.registry
    assert moved.containerd_pid == env.containerd_pid and moved.node_pid == env.node_pid
    assert any(note.startswith(f"loaded the sandbox image {pause_reference(env.registry)}")
               for note in moved.notes)
    name = "example.invalid/team/after-move:v1"
    store_busybox(moved.store_root, name, "sleep 600")
    with ContentStore(moved.store_root) as store:
        preload_image(moved, name, store)
    with Cluster.open(moved.cluster_dir) as cluster:
        cluster.apply(pod("moved", name, "Never"))
        wait_for(lambda: container_status(cluster, "moved").get("state", {}).get("running"),
                 timeout=40)
