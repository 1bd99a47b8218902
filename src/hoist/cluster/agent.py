"""``hoist cluster up | down | logs``: start the node agent (the embedded kubelet) in the
foreground or detached with a PID file and a log, stop it, and read container logs.

The runtime is chosen here: ``auto`` takes ``cri`` when a containerd socket answers and
``builtin`` otherwise; ``hoist cluster up`` says which it took."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hoist.errors import InputError, OperationError

RUNTIMES = ("auto", "cri", "builtin")
PID_FILE = "node.pid"
LOG_FILE = "node.log"
NODE_DIR = "node"


@dataclass
class NodeOptions:
    runtime: str = "auto"
    cri_socket: str | None = None
    detach: bool = False
    time_scale: float = 1.0
    always_pull_images: bool = False
    verification_policy: str = "NeverVerifyPreloadedImages"
    allowlist: Sequence[str] = field(default_factory=tuple)
    max_parallel_image_pulls: int = 0
    registry_pull_qps: float = 5.0
    registry_burst: int = 10


@dataclass
class Node:
    """A node agent assembled and ready to run (also usable in-process, e.g. tests)."""

    kubelet: Any
    runtime_name: str
    description: str
    close: Any


def _default_socket() -> str:
    from hoist.node.cri.runtime import DEFAULT_CRI_SOCKET

    return DEFAULT_CRI_SOCKET


def choose_runtime(options: NodeOptions) -> tuple[str, str | None]:
    """(runtime name, socket) per ``--runtime``: auto takes cri when the socket answers."""
    if options.runtime not in RUNTIMES:
        raise InputError(f"--runtime {options.runtime!r}: expected one of {', '.join(RUNTIMES)}")
    if options.runtime == "builtin":
        return "builtin", None
    from hoist.node.cri.runtime import probe_cri_socket

    socket = options.cri_socket or _default_socket()
    if probe_cri_socket(socket):
        return "cri", socket
    if options.runtime == "cri":
        raise OperationError(f"--runtime cri: no CRI runtime answers on {socket}")
    return "builtin", None


def build_node(cluster_dir: Path, options: NodeOptions, cluster: Any = None) -> Node:
    """Assemble runtime, pull manager and kubelet for ``cluster_dir``."""
    from hoist.cluster.kubelet import Kubelet, KubeletConfig
    from hoist.cluster.store import Cluster
    from hoist.core.policy import CredentialVerificationPolicy

    if options.time_scale <= 0:
        raise InputError(f"--time-scale must be positive, not {options.time_scale}")
    try:
        policy = CredentialVerificationPolicy(options.verification_policy)
    except ValueError:
        allowed = ", ".join(p.value for p in CredentialVerificationPolicy)
        raise InputError(f"--verification-policy {options.verification_policy!r}: expected "
                         f"one of {allowed}") from None
    name, socket = choose_runtime(options)
    node_dir = cluster_dir / NODE_DIR
    node_dir.mkdir(parents=True, exist_ok=True)
    images: Any
    containers: Any
    if name == "cri":
        from hoist.node.cri.runtime import CriRuntime

        assert socket is not None
        images = containers = CriRuntime.connect(socket)
        description = f"cri (containerd at {socket})"
    else:
        from hoist.node.builtin import BuiltinRuntime

        images = BuiltinRuntime(node_dir / "images")
        containers = None
        description = (f"builtin (images in {node_dir / 'images'}; containers are not run)")
    config = KubeletConfig(time_scale=options.time_scale,
                           max_parallel_image_pulls=options.max_parallel_image_pulls,
                           registry_pull_qps=options.registry_pull_qps,
                           registry_burst=options.registry_burst, node_dir=node_dir)
    _attach_pull_manager(config, node_dir, policy, options.allowlist, images)
    own_cluster = cluster is None
    if cluster is None:
        cluster = Cluster.open(cluster_dir)
    if options.always_pull_images:
        from hoist.cluster.admission import AdmissionConfig

        cluster.set_admission(AdmissionConfig(always_pull_images=True))
    kubelet = Kubelet(cluster, images, containers, config)

    def close() -> None:
        images.close()
        if own_cluster:
            cluster.close()

    return Node(kubelet, name, description, close)


def _attach_pull_manager(config: Any, node_dir: Path, policy: Any,
                         allowlist: Sequence[str], images: Any) -> None:
    """KEP-2535 on (its beta default): records under ``<node dir>/image_manager``."""
    from hoist.node.pullmanager import PullManager, records_dir_for

    config.pull_manager = PullManager(records_dir_for(node_dir), policy, list(allowlist),
                                      images)


def _pid_path(cluster_dir: Path) -> Path:
    return cluster_dir / PID_FILE


def running_pid(cluster_dir: Path) -> int | None:
    """The node agent's PID when it runs, else None (a stale PID file is ignored)."""
    try:
        pid = int(_pid_path(cluster_dir).read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid


def up(cluster_dir: Path, options: NodeOptions) -> int:
    cluster_dir.mkdir(parents=True, exist_ok=True)
    pid = running_pid(cluster_dir)
    if pid is not None:
        raise OperationError(f"a node agent already runs for {cluster_dir} (pid {pid}); "
                             "`hoist cluster down` stops it")
    if options.detach:
        return _up_detached(cluster_dir, options)
    node = build_node(cluster_dir, options)
    _pid_path(cluster_dir).write_text(f"{os.getpid()}\n")
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    print(f"node {node.kubelet.config.node_name} up: runtime {node.description}, "
          f"cluster {cluster_dir}, time scale {options.time_scale:g}", flush=True)
    try:
        node.kubelet.run(stop)
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        node.kubelet.shutdown()
        node.close()
        with contextlib.suppress(OSError):
            _pid_path(cluster_dir).unlink()
    print("node stopped", flush=True)
    return 0


def _up_detached(cluster_dir: Path, options: NodeOptions) -> int:
    args = [sys.executable, "-m", "hoist", "cluster", "--cluster-dir", str(cluster_dir), "up",
            "--runtime", options.runtime, "--time-scale", repr(options.time_scale),
            "--verification-policy", options.verification_policy,
            "--max-parallel-image-pulls", str(options.max_parallel_image_pulls),
            "--registry-pull-qps", repr(options.registry_pull_qps),
            "--registry-burst", str(options.registry_burst)]
    if options.cri_socket:
        args += ["--cri-socket", options.cri_socket]
    if options.always_pull_images:
        args.append("--always-pull-images")
    for pattern in options.allowlist:
        args += ["--allowlist", pattern]
    log_path = cluster_dir / LOG_FILE
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace").strip().splitlines()[-5:]
            raise OperationError(f"the node agent exited ({proc.returncode}); "
                                 f"{log_path}: " + " | ".join(tail))
        text = log_path.read_text(errors="replace")
        line = next((ln for ln in reversed(text.splitlines()) if ln.startswith("node ")), "")
        if " up: " in line and running_pid(cluster_dir) == proc.pid:
            print(f"{line} (pid {proc.pid}, log {log_path})")
            return 0
        time.sleep(0.05)
    proc.terminate()
    raise OperationError(f"the node agent did not come up within 30 s; see {log_path}")


def down(cluster_dir: Path, timeout: float = 20.0) -> int:
    pid = running_pid(cluster_dir)
    if pid is None:
        print(f"no node agent runs for {cluster_dir}")
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if running_pid(cluster_dir) is None:
            break
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.05)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            _pid_path(cluster_dir).unlink()
    print(f"node agent stopped (pid {pid})")
    return 0


def logs(cluster_dir: Path, namespace: str, pod: str, container: str | None) -> str:
    """The container's log as ``kubectl logs`` prints it (CRI log lines, stream and
    timestamp stripped, partial lines joined)."""
    from hoist.cluster.store import Cluster

    cluster = Cluster.open(cluster_dir)
    try:
        obj = cluster.get("Pod", namespace, pod)
    finally:
        cluster.close()
    if obj is None:
        raise InputError(f'pods "{pod}" not found')
    names = [c["name"] for c in obj.get("spec", {}).get("containers") or []]
    if container is None:
        if len(names) != 1:
            raise InputError(f"a container name must be specified for pod {pod}, choose one "
                             f"of: [{' '.join(names)}]")
        container = names[0]
    meta = obj["metadata"]
    pod_dir = cluster_dir / NODE_DIR / "pods" / f"{namespace}_{pod}_{meta['uid']}"
    status = next((s for s in (obj.get("status") or {}).get("containerStatuses") or []
                   if s.get("name") == container), None)
    if status is None and container not in names:
        raise InputError(f"container {container} is not valid for pod {pod}")
    restarts = int((status or {}).get("restartCount", 0))
    log_file = pod_dir / container / f"{restarts}.log"
    if not log_file.is_file():
        note = (obj.get("metadata", {}).get("annotations") or {}).get(
            "hoist.dev/runtime-note") or (obj.get("status") or {}).get("message", "")
        if note:
            raise OperationError(f"no logs for {pod}/{container}: {note}")
        waiting = ((status or {}).get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason", "ContainerCreating")
        raise OperationError(f'container "{container}" in pod "{pod}" is waiting to start: '
                             f"{reason}")
    return parse_cri_log(log_file.read_text(errors="replace"))


def parse_cri_log(text: str) -> str:
    """CRI log format: ``<RFC3339Nano> <stdout|stderr> <P|F> <content>`` per line, where
    P marks a partial line continued by the next."""
    out: list[str] = []
    partial = ""
    for line in text.splitlines():
        parts = line.split(" ", 3)
        if len(parts) < 3:
            continue
        tag = parts[2]
        content = parts[3] if len(parts) == 4 else ""
        if tag == "P":
            partial += content
            continue
        out.append(partial + content)
        partial = ""
    if partial:
        out.append(partial)
    return "".join(s + "\n" for s in out)
