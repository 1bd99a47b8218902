"""A containerd that hoist runs itself (Debian's ``containerd`` 1.6 + ``runc``), and the
busybox image it uses as its sandbox ("pause") image.

Everything of one instance lives under its work directory::

    config.toml        containerd's config (version 2, CRI plugin set up for this machine)
    containerd.pid     the PID of the running containerd (removed when it is stopped)
    containerd.log     its log
    root/              content, snapshots, metadata (kept across restarts: images stay)
    state/             sockets, runc state, shim bundles (removed when it is stopped)
    cni/ opt/          empty: pods use the host network, no CNI plugin is configured

The config is what this machine kind can run pods with: ``restrict_oom_score_adj = true``
(root here lacks CAP_SYS_RESOURCE), host-network sandboxes only, the overlayfs snapshotter
when an overlay mount works here and native otherwise, and the plugins that cannot load
here disabled so their errors do not fill the log.

An instance is started detached (its own session, a PID file) so it outlives the process
that started it, or tied to its parent (it gets SIGTERM when the parent dies), which is
what a test session wants. Either way it is stopped by PID: its pods are removed first so
no shim outlives it, then SIGTERM (SIGKILL if it lingers), then what it left mounted under
the work directory is unmounted."""

from __future__ import annotations

import contextlib
import ctypes
import gzip
import io
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from hoist.core import mediatypes
from hoist.core.digest import Digest
from hoist.errors import OperationError

CONTAINERD_BINARY = "/usr/bin/containerd"
SHIM_BINARY = "containerd-shim-runc-v2"
MISSING_CONTAINERD = f"{CONTAINERD_BINARY} not installed (Debian package containerd)"
MISSING_SHIM = f"{SHIM_BINARY} not installed (Debian package containerd)"
MISSING_RUNC = "runc not installed (Debian package runc)"
MISSING_MOUNT = "mount not installed (Debian package mount)"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
# containerd looks for the shim and runc on PATH; /usr/sbin holds Debian's runc.
SEARCH_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CONFIG_FILE = "config.toml"
PID_FILE = "containerd.pid"
LOG_FILE = "containerd.log"
# A unix socket path must fit sun_path (108 bytes with its NUL); containerd's ttrpc
# listener (the same path plus ".ttrpc") refuses more than 104.
MAX_SOCKET_PATH = 98
# Where the sockets go when the work directory's own path is too long for them.
SHORT_SOCKET_DIRS = ("/run/hoist-containerd", "/tmp/hoist-containerd")

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


class ContainerdError(OperationError):
    """containerd cannot run here or did not come up; the message says why (with the tail
    of its log when it started and failed)."""


def missing_requirements(euid: int | None = None) -> str | None:
    """Why containerd cannot run pods here, or None when it can."""
    uid = os.geteuid() if euid is None else euid
    if uid != 0:
        return f"containerd needs root (running as uid {uid})"
    if not os.access(CONTAINERD_BINARY, os.X_OK):
        return MISSING_CONTAINERD
    if shutil.which(SHIM_BINARY, path=SEARCH_PATH) is None:
        return MISSING_SHIM
    if shutil.which("runc", path=SEARCH_PATH) is None:
        return MISSING_RUNC
    if shutil.which("mount", path=SEARCH_PATH) is None:
        return MISSING_MOUNT
    return None


# ------------------------------------------------------------------ processes by PID


# Children this process started and may have to reap: a child that exited stays a zombie
# (and answers kill(pid, 0)) until its parent waits for it. Keeping the Popen also keeps
# Python from warning that a still-running child was garbage-collected.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def track_child(proc: subprocess.Popen[bytes]) -> None:
    _CHILDREN[proc.pid] = proc


def process_alive(pid: int) -> bool:
    """Whether ``pid`` names a live process (not a zombie)."""
    child = _CHILDREN.get(pid)
    if child is not None and child.poll() is not None:
        _CHILDREN.pop(pid, None)
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no procfs: kill(0) is all there is to go by
    # the state follows the command name, which is in parentheses and may hold spaces
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def process_cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def terminate_pid(pid: int, timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM ``pid`` and wait until it is gone; SIGKILL it if it outlasts ``timeout``."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, timeout)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and process_alive(pid):
            time.sleep(0.05)
        if not process_alive(pid):
            break
    child = _CHILDREN.pop(pid, None)
    if child is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=1)


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


# ------------------------------------------------------------------ config


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
        capture_output=True, check=False, timeout=30,
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
    """A preexec hook so containerd cannot outlive a parent that was SIGKILLed
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


def mounts_under(path: Path) -> list[str]:
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


# ------------------------------------------------------------------ the instance


@dataclass(frozen=True)
class Paths:
    """Where one instance keeps what, under its work directory."""

    workdir: Path

    @property
    def root(self) -> Path:
        return self.workdir / "root"

    @property
    def state(self) -> Path:
        return self.workdir / "state"

    @property
    def socket(self) -> Path:
        """``state/containerd.sock``, or, when that path is too long for a unix socket, a
        short directory named after the work directory's path."""
        own = self.state / "containerd.sock"
        if len(str(own)) <= MAX_SOCKET_PATH:
            return own
        import hashlib

        key = hashlib.sha256(str(self.workdir).encode()).hexdigest()[:16]
        for base in SHORT_SOCKET_DIRS:
            if os.access(os.path.dirname(base), os.W_OK):
                return Path(base) / key / "containerd.sock"
        return Path(SHORT_SOCKET_DIRS[-1]) / key / "containerd.sock"

    @property
    def config(self) -> Path:
        return self.workdir / CONFIG_FILE

    @property
    def pid_file(self) -> Path:
        return self.workdir / PID_FILE

    @property
    def log(self) -> Path:
        return self.workdir / LOG_FILE


@dataclass(repr=False)
class ManagedContainerd:
    """A containerd hoist started (or found running from its PID file)."""

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
        return f"{type(self).__name__}(socket={str(self.socket)!r}, pid={self.pid})"

    @property
    def running(self) -> bool:
        return self.pid > 0 and process_alive(self.pid)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def remove_all_pods(self) -> None:
        """Stop and remove every sandbox, ready or not, so no shim outlives containerd."""
        from hoist.node.cri.runtime import CriRuntime

        with CriRuntime(str(self.socket), timeout=30.0) as runtime:
            for sandbox_id, _labels in runtime.list_pod_sandboxes(include_not_ready=True):
                runtime.stop_pod_sandbox(sandbox_id)
                runtime.remove_pod_sandbox(sandbox_id)

    def stop(self, timeout: float = STOP_TIMEOUT, *, remove_root: bool = False) -> None:
        """Remove the pods, stop containerd by PID, unmount what it left mounted and
        delete its state (and with ``remove_root`` its images too). Idempotent."""
        if self.pid > 0 and self.running:
            with contextlib.suppress(Exception):  # best effort: the process goes anyway
                self.remove_all_pods()
            terminate_pid(self.pid, timeout)
        if self._process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=1)
            self._process = None
        if read_pid(Paths(self.workdir).pid_file) == self.pid:
            Paths(self.workdir).pid_file.unlink(missing_ok=True)
        self.pid = 0
        for point in mounts_under(self.workdir):
            subprocess.run(["umount", "-l", point], capture_output=True, check=False)
        shutil.rmtree(self.state, ignore_errors=True)
        if remove_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> ManagedContainerd:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _config_value(text: str, key: str) -> str:
    """A string value from the config this module writes (``key = "…"``)."""
    import tomllib

    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return ""
    cri = doc.get("plugins", {}).get("io.containerd.grpc.v1.cri", {})
    if key == "sandbox_image":
        return str(cri.get("sandbox_image", ""))
    if key == "snapshotter":
        return str(cri.get("containerd", {}).get("snapshotter", ""))
    return ""


def find_containerd(workdir: Path) -> ManagedContainerd | None:
    """The instance running for ``workdir`` per its PID file, or None (no PID file, a dead
    PID, or a PID reused by a process that is not this instance's containerd)."""
    paths = Paths(Path(workdir).absolute())
    pid = read_pid(paths.pid_file)
    if pid is None or not process_alive(pid):
        return None
    cmdline = process_cmdline(pid)
    if cmdline and str(paths.config) not in cmdline:
        return None
    try:
        text = paths.config.read_text()
    except OSError:
        return None
    return ManagedContainerd(
        workdir=paths.workdir, root=paths.root, state=paths.state, socket=paths.socket,
        config_path=paths.config, log_path=paths.log,
        snapshotter=_config_value(text, "snapshotter"),
        sandbox_image=_config_value(text, "sandbox_image"), pid=pid,
        _process=_CHILDREN.get(pid))


def stop_containerd(workdir: Path, timeout: float = STOP_TIMEOUT) -> int | None:
    """Stop the instance running for ``workdir``; its PID, or None when none ran."""
    found = find_containerd(workdir)
    if found is None:
        Paths(Path(workdir)).pid_file.unlink(missing_ok=True)
        return None
    pid = found.pid
    found.stop(timeout)
    return pid


def start_containerd(workdir: Path, *, sandbox_image: str,
                     detach: bool = True) -> ManagedContainerd:
    """Start containerd with its own root, state, socket and config under ``workdir``;
    return once its socket answers CRI Version. ``detach`` puts it in a session of its
    own so it outlives this process; otherwise it dies with its parent."""
    from hoist.node.cri.runtime import probe_cri_socket

    reason = missing_requirements()
    if reason is not None:
        raise ContainerdError(reason)
    paths = Paths(Path(workdir).absolute())
    running = find_containerd(paths.workdir)
    if running is not None:
        raise ContainerdError(f"containerd already runs for {paths.workdir} "
                              f"(pid {running.pid})")
    if len(str(paths.socket)) > MAX_SOCKET_PATH:
        raise ContainerdError(f"socket path too long for a unix socket: {paths.socket}")
    for path in (paths.root, paths.state, paths.workdir / "cni" / "bin",
                 paths.workdir / "cni" / "conf", paths.workdir / "opt", paths.socket.parent):
        path.mkdir(parents=True, exist_ok=True)
    snapshotter = "overlayfs" if overlay_works(paths.workdir) else "native"
    paths.config.write_text(config_text(
        root=paths.root, state=paths.state, socket=paths.socket,
        sandbox_image=sandbox_image, snapshotter=snapshotter,
        cni_dir=paths.workdir / "cni", opt_dir=paths.workdir / "opt"))
    env = {"PATH": SEARCH_PATH, "HOME": str(paths.workdir), "LANG": "C.UTF-8"}
    with paths.log.open("ab") as log:
        proc = subprocess.Popen(
            [CONTAINERD_BINARY, "--config", str(paths.config)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            cwd=paths.workdir, env=env, start_new_session=detach,
            preexec_fn=None if detach else _die_with_parent(),
        )
    track_child(proc)
    paths.pid_file.write_text(f"{proc.pid}\n")
    node = ManagedContainerd(
        workdir=paths.workdir, root=paths.root, state=paths.state, socket=paths.socket,
        config_path=paths.config, log_path=paths.log, snapshotter=snapshotter,
        sandbox_image=sandbox_image, pid=proc.pid, _process=proc)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = node.log_tail()
            node.stop()
            raise ContainerdError(f"containerd exited with {proc.returncode} at start:\n{tail}")
        if probe_cri_socket(str(paths.socket), timeout=1.0):
            return node
        time.sleep(0.1)
    tail = node.log_tail()
    node.stop()
    raise ContainerdError(f"containerd's CRI did not answer within {START_TIMEOUT:g} s:\n{tail}")


# ------------------------------------------------------------------ the busybox image

BUSYBOX = Path("/bin/busybox")
MISSING_BUSYBOX = "/bin/busybox not installed (Debian package busybox-static)"
DYNAMIC_BUSYBOX = (
    "/bin/busybox is dynamically linked and cannot run alone in an image "
    "(Debian package busybox-static instead of busybox)"
)
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# The sandbox ("pause") process: sleep until told to stop. PID 1 ignores signals it has no
# handler for, hence the trap.
PAUSE_COMMAND = "trap 'exit 0' TERM INT; while true; do sleep 3600 & wait $!; done"


def is_static_elf(path: Path) -> bool:
    """Whether the ELF executable at ``path`` has no program interpreter (PT_INTERP), so
    it runs in an image that holds nothing else."""
    with path.open("rb") as f:
        header = f.read(64)
        if header[:4] != b"\x7fELF":
            return False
        wide = header[4] == 2  # ELFCLASS64
        order = "<" if header[5] == 1 else ">"
        if wide:
            phoff, = struct.unpack_from(order + "Q", header, 0x20)
            phentsize, phnum = struct.unpack_from(order + "HH", header, 0x36)
        else:
            phoff, = struct.unpack_from(order + "I", header, 0x1C)
            phentsize, phnum = struct.unpack_from(order + "HH", header, 0x2A)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    pt_interp = 3
    return all(
        struct.unpack_from(order + "I", table, i * phentsize)[0] != pt_interp
        for i in range(phnum)
    )


def busybox_missing(busybox: Path = BUSYBOX) -> str | None:
    """Why no runnable busybox image can be made here, or None."""
    if not busybox.is_file():
        return MISSING_BUSYBOX
    if not is_static_elf(busybox):
        return DYNAMIC_BUSYBOX
    return None


@dataclass(frozen=True)
class ImageBlobs:
    """An image as its three blobs (manifest, config, one gzip layer)."""

    manifest: bytes
    config: bytes
    layer: bytes

    @property
    def manifest_digest(self) -> Digest:
        return Digest.from_bytes(self.manifest)

    @property
    def config_digest(self) -> Digest:
        """What containerd calls the image ID."""
        return Digest.from_bytes(self.config)

    @property
    def layer_digest(self) -> Digest:
        return Digest.from_bytes(self.layer)

    def blobs(self) -> list[tuple[Digest, bytes]]:
        """Every blob, the manifest last (written last, it names the others)."""
        return [(self.layer_digest, self.layer), (self.config_digest, self.config),
                (self.manifest_digest, self.manifest)]


@cache
def _busybox_layer(busybox: Path) -> tuple[bytes, str]:
    """(gzip blob, diff_id) of the busybox layer: /bin/busybox plus one symlink per applet
    where busybox itself would install it. Fixed metadata, so the digest is stable."""
    listing = subprocess.run(
        [str(busybox), "--list-full"], capture_output=True, check=True, timeout=30
    ).stdout.decode()
    links = sorted({line.strip() for line in listing.splitlines() if line.strip()})
    links = [link for link in links if link != "bin/busybox"]
    ancestors = {str(parent) for link in links for parent in Path(link).parents}
    directories = sorted((ancestors - {"."}) | {"bin", "tmp"})
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:

        def entry(name: str, kind: bytes, mode: int) -> tarfile.TarInfo:
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime = kind, mode, 0
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            return info

        for directory in directories:
            tar.addfile(entry(directory, tarfile.DIRTYPE, 0o1777 if directory == "tmp" else 0o755))
        binary = busybox.read_bytes()
        info = entry("bin/busybox", tarfile.REGTYPE, 0o755)
        info.size = len(binary)
        tar.addfile(info, io.BytesIO(binary))
        for link in links:
            info = entry(link, tarfile.SYMTYPE, 0o777)
            info.linkname = "/bin/busybox"
            tar.addfile(info)
    tar_bytes = buf.getvalue()
    return gzip.compress(tar_bytes, compresslevel=6, mtime=0), str(Digest.from_bytes(tar_bytes))


def busybox_image(command: str | None = None, *, busybox: Path = BUSYBOX) -> ImageBlobs:
    """A runnable image of the static ``busybox`` for this machine's platform; with
    ``command`` its entrypoint runs that shell command, else its command is ``/bin/sh``."""
    from hoist.core.platform import host_platform

    reason = busybox_missing(busybox)
    if reason is not None:
        raise OperationError(reason)
    layer, diff_id = _busybox_layer(busybox)
    runtime_config: dict[str, object] = {"Env": [PATH_ENV], "WorkingDir": "/"}
    if command is None:
        runtime_config["Cmd"] = ["/bin/sh"]
    else:
        runtime_config["Entrypoint"] = ["/bin/busybox", "sh", "-c", command]
    platform = host_platform()
    config_doc: dict[str, object] = {
        "created": "2024-01-01T00:00:00Z",
        "architecture": platform.architecture,
        "os": platform.os,
        "config": runtime_config,
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }
    if platform.variant:
        config_doc["variant"] = platform.variant
    config = json.dumps(config_doc).encode()
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": mediatypes.OCI_MANIFEST,
        "config": {"mediaType": mediatypes.OCI_CONFIG, "digest": str(Digest.from_bytes(config)),
                   "size": len(config)},
        "layers": [{"mediaType": mediatypes.OCI_LAYER_GZIP,
                    "digest": str(Digest.from_bytes(layer)), "size": len(layer)}],
    }).encode()
    return ImageBlobs(manifest=manifest, config=config, layer=layer)


def sandbox_image() -> ImageBlobs:
    """The sandbox ("pause") image: busybox sleeping until it is told to stop."""
    return busybox_image(PAUSE_COMMAND)
