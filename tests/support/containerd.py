"""Run a real containerd (Debian's ``containerd`` 1.6 + ``runc``) for a test session.

Each instance gets its own root, state, socket, config and log under ``workdir`` and is
stopped by its PID. The config is version 2 with the CRI plugin set up the way this
machine kind can run pods (facts/environment.md): ``restrict_oom_score_adj = true`` (root
here lacks CAP_SYS_RESOURCE), host-network sandboxes only (no CNI), the overlayfs
snapshotter when an overlay mount works here, else native; plugins that cannot work here
are disabled so their load errors do not fill the log.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from hoist.node.cri import CriRuntime, probe_cri_socket

CONTAINERD_BINARY = "/usr/bin/containerd"
SHIM_BINARY = "containerd-shim-runc-v2"
MISSING_ROOT = "containerd tests need root (containerd and runc run containers as root)"
MISSING_CONTAINERD = f"{CONTAINERD_BINARY} not installed (Debian package containerd)"
MISSING_SHIM = f"{SHIM_BINARY} not installed (Debian package containerd)"
MISSING_RUNC = "runc not installed (Debian package runc)"
MISSING_MOUNT = "mount not installed (Debian package mount)"
START_TIMEOUT = 30.0
# containerd looks for the shim and runc on PATH; /usr/sbin holds Debian's runc.
SEARCH_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Plugins containerd 1.6 would try to load that cannot work (or are not needed) here:
# snapshotters needing their own filesystem or kernel module, remote tracing.
DISABLED_PLUGINS = (
    "io.containerd.snapshotter.v1.aufs",
    "io.containerd.snapshotter.v1.btrfs",
    "io.containerd.snapshotter.v1.devmapper",
    "io.containerd.snapshotter.v1.zfs",
    "io.containerd.tracing.processor.v1.otlp",
    "io.containerd.internal.v1.tracing",
)


class ContainerdError(RuntimeError):
    """containerd did not come up; the message carries the tail of its log."""


def missing_requirements() -> str | None:
    """Why containerd cannot run pods here, or None when it can."""
    if os.geteuid() != 0:
        return MISSING_ROOT
    if not os.access(CONTAINERD_BINARY, os.X_OK):
        return MISSING_CONTAINERD
    if shutil.which(SHIM_BINARY, path=SEARCH_PATH) is None:
        return MISSING_SHIM
    if shutil.which("runc", path=SEARCH_PATH) is None:
        return MISSING_RUNC
    if shutil.which("mount", path=SEARCH_PATH) is None:
        return MISSING_MOUNT
    return None


def overlay_works(workdir: Path) -> bool:
    """Whether an overlay mount can be made under ``workdir`` (it cannot inside some
    containers, or on a filesystem overlayfs refuses as upper layer)."""
    probe = workdir / "overlay-probe"
    dirs = {name: probe / name for name in ("lower", "upper", "work", "merged")}
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    options = f"lowerdir={dirs['lower']},upperdir={dirs['upper']},workdir={dirs['work']}"
    mounted = subprocess.run(
        ["mount", "-t", "overlay", "overlay", "-o", options, str(dirs["merged"])],
        capture_output=True,
        check=False,
        timeout=30,
    )
    if mounted.returncode == 0:
        subprocess.run(["umount", str(dirs["merged"])], capture_output=True, check=False)
    shutil.rmtree(probe, ignore_errors=True)
    return mounted.returncode == 0


def toml_string(value: str) -> str:
    """``value`` as a TOML basic string (backslash, quote and control characters escaped)."""
    escaped = []
    for char in value:
        if char in '"\\':
            escaped.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            escaped.append(f"\\u{ord(char):04X}")
        else:
            escaped.append(char)
    return '"' + "".join(escaped) + '"'


def config_text(
    *,
    root: Path,
    state: Path,
    socket: Path,
    sandbox_image: str,
    snapshotter: str,
    cni_dir: Path,
    opt_dir: Path,
) -> str:
    """containerd's config (version 2) for a CRI node on this machine kind."""
    cri = '[plugins."io.containerd.grpc.v1.cri"]'
    disabled = ", ".join(toml_string(p) for p in DISABLED_PLUGINS)
    return f"""\
version = 2
root = {toml_string(str(root))}
state = {toml_string(str(state))}
disabled_plugins = [{disabled}]

[grpc]
  address = {toml_string(str(socket))}

[ttrpc]
  address = {toml_string(str(socket) + ".ttrpc")}

[debug]
  address = ""
  level = "info"

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = {toml_string(str(opt_dir))}

{cri}
  sandbox_image = {toml_string(sandbox_image)}
  # root here lacks CAP_SYS_RESOURCE: an OOM score below containerd's own is refused
  restrict_oom_score_adj = true
  disable_apparmor = true
  enable_selinux = false
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  # image filesystem usage (ImageFsInfo) is refreshed this often, in seconds (default 10)
  stats_collect_period = 1

{cri[:-1]}.containerd]
  snapshotter = {toml_string(snapshotter)}
  default_runtime_name = "runc"

{cri[:-1]}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

{cri[:-1]}.containerd.runtimes.runc.options]
  # runc's own state next to containerd's, not in the shared /run/containerd/runc
  Root = {toml_string(str(state / "runc"))}

{cri[:-1]}.cni]
  # pods use the host network: no CNI plugin is configured or needed
  bin_dir = {toml_string(str(cni_dir / "bin"))}
  conf_dir = {toml_string(str(cni_dir / "conf"))}
"""


def _die_with_parent() -> Callable[[], None] | None:
    """A preexec hook so containerd cannot outlive a pytest that was SIGKILLed
    (PR_SET_PDEATHSIG follows the forking thread, so only from the main thread)."""
    if threading.current_thread() is not threading.main_thread() or sys.platform != "linux":
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    pr_set_pdeathsig = 1

    def preexec() -> None:
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)

    return preexec


def _mounts_under(path: Path) -> list[str]:
    """Mount points at or below ``path``, deepest first (from /proc/self/mountinfo)."""
    prefix = str(path)
    found: list[str] = []
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        fields = line.split()
        if len(fields) < 5:
            continue
        # mountinfo escapes spaces and the like as octal (\040)
        point = fields[4].encode().decode("unicode_escape")
        if point == prefix or point.startswith(prefix + "/"):
            found.append(point)
    return sorted(found, key=len, reverse=True)


@dataclass(repr=False)
class Containerd:
    """A running containerd process."""

    workdir: Path
    root: Path
    state: Path
    socket: Path
    config_path: Path
    log_path: Path
    snapshotter: str
    sandbox_image: str
    pid: int
    _process: subprocess.Popen[bytes] | None = field(default=None)

    def __repr__(self) -> str:
        return f"Containerd(socket={str(self.socket)!r}, pid={self.pid})"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def remove_all_pods(self) -> None:
        """Stop and remove every sandbox, ready or not, so no shim outlives containerd."""
        with CriRuntime(str(self.socket), timeout=30.0) as runtime:
            for sandbox_id, _labels in runtime.list_pod_sandboxes(include_not_ready=True):
                runtime.stop_pod_sandbox(sandbox_id)
                runtime.remove_pod_sandbox(sandbox_id)

    def stop(self, timeout: float = 15.0) -> None:
        """Remove the pods, SIGTERM containerd by PID (SIGKILL if it lingers), unmount
        what it left mounted, and delete its root and state. Idempotent."""
        proc = self._process
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(Exception):  # best effort: the process goes anyway
                self.remove_all_pods()
            proc.terminate()
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=timeout)
        self._process = None
        for point in _mounts_under(self.workdir):
            subprocess.run(["umount", "-l", point], capture_output=True, check=False)
        shutil.rmtree(self.root, ignore_errors=True)
        shutil.rmtree(self.state, ignore_errors=True)

    def __enter__(self) -> Containerd:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_containerd(workdir: Path, *, sandbox_image: str) -> Containerd:
    """Start containerd with its own root, state, socket and config under ``workdir``;
    return once the socket answers CRI Version."""
    reason = missing_requirements()
    if reason is not None:
        raise ContainerdError(reason)
    workdir = Path(workdir)
    # A unix socket path has to fit in 108 bytes: keep the socket in a short directory.
    root, state = workdir / "root", workdir / "state"
    for path in (root, state, workdir / "cni" / "bin", workdir / "cni" / "conf", workdir / "opt"):
        path.mkdir(parents=True, exist_ok=True)
    socket = state / "containerd.sock"
    if len(str(socket)) > 100:
        raise ContainerdError(f"socket path too long for a unix socket: {socket}")
    snapshotter = "overlayfs" if overlay_works(workdir) else "native"
    config_path = workdir / "config.toml"
    config_path.write_text(
        config_text(
            root=root,
            state=state,
            socket=socket,
            sandbox_image=sandbox_image,
            snapshotter=snapshotter,
            cni_dir=workdir / "cni",
            opt_dir=workdir / "opt",
        )
    )
    log_path = workdir / "containerd.log"
    env = {"PATH": SEARCH_PATH, "HOME": str(workdir), "LANG": "C.UTF-8"}
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [CONTAINERD_BINARY, "--config", str(config_path)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            env=env,
            preexec_fn=_die_with_parent(),
        )
    node = Containerd(
        workdir=workdir,
        root=root,
        state=state,
        socket=socket,
        config_path=config_path,
        log_path=log_path,
        snapshotter=snapshotter,
        sandbox_image=sandbox_image,
        pid=proc.pid,
        _process=proc,
    )
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            node.stop()
            raise ContainerdError(
                f"containerd exited with {proc.returncode} at start:\n{node.log_tail()}"
            )
        if probe_cri_socket(str(socket), timeout=1.0):
            return node
        time.sleep(0.1)
    tail = node.log_tail()
    node.stop()
    raise ContainerdError(f"containerd's CRI did not answer within {START_TIMEOUT} s:\n{tail}")


@contextlib.contextmanager
def running_containerd(workdir: Path, *, sandbox_image: str) -> Iterator[Containerd]:
    node = start_containerd(workdir, sandbox_image=sandbox_image)
    try:
        yield node
    finally:
        node.stop()
