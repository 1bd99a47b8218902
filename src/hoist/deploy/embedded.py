"""The embedded defaults a ``hoist deploy`` brings up on its own: a registry over the local
content store, a container runtime, and the single-node cluster's node agent.

State, under the data directory (default ``~/.local/share/hoist``, honouring
``XDG_DATA_HOME``)::

    store/                       the content store the registry serves (the user's own)
    registry/registry.json       {"addr", "pid", "store"} of the last registry started; kept
                                 after it stops so the next start asks for the same port
    registry/registry.pid        the running registry's PID (gone once it stops)
    registry/registry.log        its output and access log
    containerd/                  a containerd hoist manages (hoist.node.cri.managed)
    embedded.lock                held while ensure_embedded or stop_embedded runs

and under the cluster directory (``hoist.cluster.store.default_cluster_dir()``) the node
agent's ``node.pid``, ``node.log`` and ``node/`` (its builtin runtime's image store is
``node/images``).

Everything is found again by PID file and stopped by PID; nothing relies on process names.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from hoist.errors import InputError, OperationError
from hoist.fileio import write_atomically

# Kept light: the registry process imports this module to record itself, and
# hoist.node.cri brings gRPC with it, so that is imported where it is used.
if TYPE_CHECKING:
    from hoist.core.digest import Digest
    from hoist.core.manifest import Manifest
    from hoist.core.reference import Reference
    from hoist.node.cri.managed import ImageBlobs, ManagedContainerd
    from hoist.store.store import ContentStore, ImageRecord

Log = Callable[[str], None]

RUNTIMES = ("auto", "cri", "builtin")
REGISTRY_DIR = "registry"
REGISTRY_STATE = "registry.json"
REGISTRY_PID = "registry.pid"
REGISTRY_LOG = "registry.log"
CONTAINERD_DIR = "containerd"
# The registry keeps its own store: a build's local images are not "in the registry" until
# pushed (a Never image must not be pullable, and a push must see a tag it would move).
STORE_DIR = "registry-store"
LOCK_FILE = "embedded.lock"
# The sandbox image in the embedded registry: <registry>/hoist/pause:busybox.
PAUSE_REPOSITORY = "hoist/pause"
PAUSE_TAG = "busybox"
ANY_PORT = "127.0.0.1:0"
REGISTRY_START_TIMEOUT = 20.0
CTR_TIMEOUT = 300.0
MISSING_CTR = "ctr not installed (Debian package containerd)"
# containerd's CRI plugin sees images in this namespace (pkg/cri/constants).
CRI_NAMESPACE = "k8s.io"


@dataclass(frozen=True)
class EmbeddedEnvironment:
    data_dir: Path
    registry: str  # "127.0.0.1:PORT" of the embedded registry
    registry_pid: int
    store_root: Path  # the content store the registry serves
    cluster_dir: Path
    runtime: str  # "cri" | "builtin"
    cri_socket: str | None
    containerd_pid: int | None  # a containerd hoist manages, else None
    node_pid: int
    started: tuple[str, ...]  # what this call started: of "registry", "containerd", "node"
    notes: tuple[str, ...]


def default_data_dir() -> Path:
    from hoist.store import default_store_root

    return default_store_root().parent


def _dirs(data_dir: Path | None, cluster_dir: Path | None) -> tuple[Path, Path]:
    from hoist.cluster.store import default_cluster_dir

    return ((data_dir or default_data_dir()).absolute(),
            (cluster_dir or default_cluster_dir()).absolute())


@contextlib.contextmanager
def _locked(data_dir: Path) -> Iterator[None]:
    """One ensure or stop at a time per data directory (two deploys starting at once must
    not start two registries)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _quiet(log: Log | None) -> Log:
    return log if log is not None else (lambda line: None)


# ------------------------------------------------------------------ the registry


@dataclass(frozen=True)
class RegistryRecord:
    """What ``registry.json`` says about the registry last started for a data directory."""

    addr: str
    pid: int
    store: Path

    @property
    def url(self) -> str:
        return f"http://{self.addr}"


def registry_dir(data_dir: Path) -> Path:
    return data_dir / REGISTRY_DIR


def read_registry_record(data_dir: Path) -> RegistryRecord | None:
    """``registry.json`` as written, whether or not that registry still runs."""
    try:
        doc = json.loads((registry_dir(data_dir) / REGISTRY_STATE).read_text())
        return RegistryRecord(str(doc["addr"]), int(doc["pid"]), Path(str(doc["store"])))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def record_registry(state_dir: Path, addr: str, store: Path) -> None:
    """Called by the registry process once it listens: its state file, then its PID file
    (the PID file is what says it runs)."""
    pid = os.getpid()
    doc = {"addr": addr, "pid": pid, "store": str(store)}
    write_atomically(state_dir / REGISTRY_STATE, json.dumps(doc).encode() + b"\n")
    write_atomically(state_dir / REGISTRY_PID, f"{pid}\n".encode())


def forget_registry(state_dir: Path) -> None:
    """Called by the registry process as it exits: its PID file goes (if still its own);
    the state file stays, so the next start asks for the same address."""
    pid_file = state_dir / REGISTRY_PID
    if read_pid(pid_file) == os.getpid():
        pid_file.unlink(missing_ok=True)


def registry_answers(addr: str, timeout: float = 2.0) -> bool:
    """Whether an OCI distribution API answers ``GET /v2/`` at ``addr``."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://{addr}/v2/", timeout=timeout) as response:
            headers = response.headers
    except urllib.error.HTTPError as e:
        if e.code != 401:
            return False
        headers = e.headers
    except (OSError, ValueError):
        return False
    return bool(headers.get("Docker-Distribution-API-Version", "").startswith("registry/2"))


def _is_registry_process(pid: int) -> bool:
    from hoist.node.cri.managed import process_cmdline

    cmdline = process_cmdline(pid)
    # without procfs there is only the PID to go by
    return not cmdline or ("registry" in cmdline and "serve" in cmdline)


def running_registry(data_dir: Path) -> RegistryRecord | None:
    """The registry running for ``data_dir``: its PID alive and ``/v2/`` answering."""
    from hoist.node.cri.managed import process_alive

    record = read_registry_record(data_dir)
    pid = read_pid(registry_dir(data_dir) / REGISTRY_PID)
    if record is None or pid is None or pid != record.pid:
        return None
    if not process_alive(pid) or not _is_registry_process(pid):
        return None
    return record if registry_answers(record.addr) else None


def registry_addresses(asked: str | None, previous: RegistryRecord | None) -> list[str]:
    """The addresses a start tries, in order: the one asked for; else the last one used
    (so references to images in it keep working), then any free port."""
    if asked:
        return [asked]
    tried = []
    if previous is not None and not previous.addr.endswith(":0"):
        tried.append(previous.addr)
    return [*tried, ANY_PORT]


def start_registry(data_dir: Path, store_root: Path, *, addr: str | None = None,
                   serve_args: Sequence[str] = (),
                   timeout: float = REGISTRY_START_TIMEOUT) -> RegistryRecord:
    """Start ``hoist registry serve`` detached (its own session) for ``data_dir``, serving
    ``store_root``; return once it listens and has written its state."""
    from hoist.node.cri.managed import terminate_pid, track_child

    state_dir = registry_dir(data_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    running = running_registry(data_dir)
    if running is not None:
        raise OperationError(f"a registry already runs for {data_dir} at {running.addr} "
                             f"(pid {running.pid}); `hoist registry stop` stops it")
    log_path = state_dir / REGISTRY_LOG
    failures: list[str] = []
    for candidate in registry_addresses(addr, read_registry_record(data_dir)):
        with log_path.open("ab") as log:
            offset = log.tell()
            proc = subprocess.Popen(
                [sys.executable, "-m", "hoist", "registry", "serve", "--addr", candidate,
                 "--store", str(store_root), "--state-dir", str(state_dir), *serve_args],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        track_child(proc)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            record = read_registry_record(data_dir)
            if (record is not None and record.pid == proc.pid
                    and read_pid(state_dir / REGISTRY_PID) == proc.pid):
                return record
            time.sleep(0.02)
        if proc.poll() is None:
            terminate_pid(proc.pid)
            raise OperationError(f"the registry did not listen on {candidate} within "
                                 f"{timeout:g} s; see {log_path}")
        failures.append(f"{candidate}: " + _tail(log_path, offset))
    raise OperationError("the registry did not start (" + "; ".join(failures) + ")")


def _tail(path: Path, offset: int, lines: int = 3) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(offset)
            text = fh.read().decode(errors="replace")
    except OSError:
        return "no log"
    return " | ".join(text.strip().splitlines()[-lines:]) or "no output"


def stop_registry(data_dir: Path, timeout: float = 10.0) -> int | None:
    """Stop the registry running for ``data_dir`` by PID; its PID, or None if none ran."""
    from hoist.node.cri.managed import process_alive, terminate_pid

    pid_file = registry_dir(data_dir) / REGISTRY_PID
    pid = read_pid(pid_file)
    if pid is None or not process_alive(pid) or not _is_registry_process(pid):
        pid_file.unlink(missing_ok=True)
        return None
    terminate_pid(pid, timeout)
    if read_pid(pid_file) == pid:
        pid_file.unlink(missing_ok=True)
    return pid


# ------------------------------------------------------------------ the runtime


@dataclass(frozen=True)
class RuntimePlan:
    """Which runtime a node gets and where its containerd comes from: ``managed`` (one hoist
    runs under the data directory), ``system`` (the default socket), or ``none``."""

    runtime: str
    containerd: str
    note: str | None = None


def plan_runtime(asked: str, *, managed_running: bool, system_socket_answers: bool,
                 containerd_missing: str | None, busybox_missing: str | None,
                 system_socket: str = "") -> RuntimePlan:
    """``auto`` takes a containerd hoist already runs, then one answering at the default
    socket, then starts one when it can run here, else ``builtin`` with the reason;
    ``cri`` insists (an error names what is missing), ``builtin`` never uses containerd."""
    if asked not in RUNTIMES:
        raise InputError(f"runtime {asked!r}: expected one of {', '.join(RUNTIMES)}")
    if asked == "builtin":
        return RuntimePlan("builtin", "none")
    if managed_running:
        return RuntimePlan("cri", "managed")
    if system_socket_answers:
        return RuntimePlan("cri", "system")
    reason = containerd_missing or busybox_missing
    if reason is None:
        return RuntimePlan("cri", "managed")
    where = f"no CRI runtime answers on {system_socket} and " if system_socket else ""
    if asked == "cri":
        raise OperationError(f"runtime cri: {where}{reason}")
    return RuntimePlan("builtin", "none", f"runtime builtin: {reason}")


_NODE_UP = re.compile(r"^node \S+ up: runtime (?P<runtime>cri|builtin)\b"
                      r"(?: \(containerd at (?P<socket>.*)\), cluster )?")


def node_runtime_from_log(text: str) -> tuple[str, str | None] | None:
    """(runtime, CRI socket) from the last ``node … up: runtime …`` line a node agent
    printed into its log, or None."""
    for line in reversed(text.splitlines()):
        m = _NODE_UP.match(line)
        if m:
            return m.group("runtime"), m.group("socket")
    return None


def _node_runtime(cluster_dir: Path) -> tuple[str, str | None] | None:
    from hoist.cluster.agent import LOG_FILE

    try:
        text = (cluster_dir / LOG_FILE).read_text(errors="replace")
    except OSError:
        return None
    return node_runtime_from_log(text)


def pause_reference(registry: str) -> str:
    return f"{registry}/{PAUSE_REPOSITORY}:{PAUSE_TAG}"


def _store_image(store: ContentStore, name: str, image: ImageBlobs) -> None:
    """Write ``image`` into the store and name it (blobs first, the name last)."""
    from hoist.core.manifest import parse_manifest

    with store.writing():
        for digest, data in image.blobs():
            store.blobs.put(data, digest)
        store.record(name, parse_manifest(image.manifest))


def _push_sandbox_image(registry: str, store_root: Path) -> str:
    """The sandbox image, built from busybox-static into the store and pushed into the
    embedded registry; its reference."""
    from hoist.auth.credential import ANONYMOUS
    from hoist.node.cri import managed
    from hoist.store import ContentStore
    from hoist.transfer.copy import Options, copy

    reference = pause_reference(registry)
    with ContentStore(store_root) as store:
        _store_image(store, reference, managed.sandbox_image())
        copy(f"store:{reference}", f"docker://{reference}",
             Options(store=store, credentials=ANONYMOUS))
    return reference


def _ensure_sandbox_image(containerd: ManagedContainerd, registry: str,
                          store_root: Path) -> bool:
    """A reused containerd configured with a sandbox image of an earlier registry address
    cannot pull it any more: load it from the store instead. Whether it loaded one."""
    from hoist.node.cri import managed
    from hoist.node.cri.runtime import CriRuntime
    from hoist.store import ContentStore

    wanted = containerd.sandbox_image
    if not wanted or wanted == pause_reference(registry):
        return False
    with CriRuntime(str(containerd.socket), timeout=30.0) as runtime:
        if runtime.image_status(wanted) is not None:
            return False
    with ContentStore(store_root) as store:
        _store_image(store, wanted, managed.sandbox_image())
        _import_into_containerd(str(containerd.socket), containerd.snapshotter, store,
                                _normalized(wanted))
    return True


# ------------------------------------------------------------------ ensure / status / stop


def ensure_embedded(*, data_dir: Path | None = None, cluster_dir: Path | None = None,
                    runtime: str = "auto", time_scale: float = 1.0,
                    log: Log | None = None) -> EmbeddedEnvironment:
    """Bring up what is not running yet (registry, containerd when it can run here, node
    agent) and reuse what is; say what was started in ``started`` and why a runtime was
    (not) taken in ``notes``."""
    if runtime not in RUNTIMES:
        raise InputError(f"runtime {runtime!r}: expected one of {', '.join(RUNTIMES)}")
    if time_scale <= 0:
        raise InputError(f"time scale must be positive, not {time_scale}")
    data, cluster = _dirs(data_dir, cluster_dir)
    say = _quiet(log)
    with _locked(data):
        return _ensure(data, cluster, runtime, time_scale, say)


def _ensure(data: Path, cluster: Path, asked: str, time_scale: float,
            say: Log) -> EmbeddedEnvironment:
    from hoist.cluster import agent
    from hoist.node.cri import managed
    from hoist.node.cri.runtime import DEFAULT_CRI_SOCKET, probe_cri_socket

    store_root = data / STORE_DIR
    started: list[str] = []
    notes: list[str] = []

    t0 = time.monotonic()
    registry = running_registry(data)
    if registry is None:
        registry = start_registry(data, store_root)
        started.append("registry")
        say(f"registry: started at {registry.addr} (pid {registry.pid}, store "
            f"{registry.store}) in {time.monotonic() - t0:.1f} s")
    else:
        say(f"registry: running at {registry.addr} (pid {registry.pid})")
    if registry.store != store_root:
        notes.append(f"the registry serves {registry.store}, not {store_root}")

    containerd_dir = data / CONTAINERD_DIR
    containerd = managed.find_containerd(containerd_dir)
    if containerd is not None and not probe_cri_socket(str(containerd.socket)):
        notes.append(f"containerd (pid {containerd.pid}) does not answer on "
                     f"{containerd.socket}")
    node_pid = agent.running_pid(cluster)
    socket: str | None
    if node_pid is not None:
        found = _node_runtime(cluster)
        if found is None:
            name, socket = "builtin", None
            notes.append(f"the node agent (pid {node_pid}) does not say which runtime it "
                         f"runs; see {cluster / agent.LOG_FILE}")
        else:
            name, socket = found
        if asked not in ("auto", name):
            notes.append(f"the node agent already runs with runtime {name} (pid {node_pid}); "
                         f"kept it (runtime {asked} asked for)")
        managed_socket = str(managed.Paths(containerd_dir).socket)
        if name == "cri" and socket == managed_socket and containerd is None:
            containerd = _start_containerd(containerd_dir, registry, store_root, say)
            started.append("containerd")
        say(f"node: running with runtime {name} (pid {node_pid})")
    else:
        plan = plan_runtime(
            asked, managed_running=containerd is not None,
            system_socket_answers=probe_cri_socket(DEFAULT_CRI_SOCKET),
            containerd_missing=managed.missing_requirements(),
            busybox_missing=managed.busybox_missing(), system_socket=DEFAULT_CRI_SOCKET)
        if plan.note:
            notes.append(plan.note)
        name, socket = plan.runtime, None
        if plan.containerd == "system":
            socket = DEFAULT_CRI_SOCKET
            say(f"containerd: using the one answering on {socket}")
        elif plan.containerd == "managed":
            if containerd is None:
                containerd = _start_containerd(containerd_dir, registry, store_root, say)
                started.append("containerd")
            else:
                say(f"containerd: running (pid {containerd.pid}, socket {containerd.socket})")
            socket = str(containerd.socket)
        t0 = time.monotonic()
        captured = io.StringIO()
        with contextlib.redirect_stdout(captured):
            agent.up(cluster, agent.NodeOptions(detach=True, runtime=name, cri_socket=socket,
                                                time_scale=time_scale))
        node_pid = agent.running_pid(cluster)
        if node_pid is None:
            raise OperationError(f"the node agent exited right after it started; see "
                                 f"{cluster / agent.LOG_FILE}")
        started.append("node")
        say(f"node: started with runtime {name} (pid {node_pid}, cluster {cluster}) in "
            f"{time.monotonic() - t0:.1f} s")

    containerd_pid = None
    if containerd is not None and socket == str(containerd.socket):
        containerd_pid = containerd.pid
        if _ensure_sandbox_image(containerd, registry.addr, store_root):
            notes.append(f"loaded the sandbox image {containerd.sandbox_image} from the store "
                         f"(the registry moved to {registry.addr})")
    return EmbeddedEnvironment(
        data_dir=data, registry=registry.addr, registry_pid=registry.pid,
        store_root=registry.store, cluster_dir=cluster, runtime=name, cri_socket=socket,
        containerd_pid=containerd_pid, node_pid=node_pid, started=tuple(started),
        notes=tuple(notes))


def _start_containerd(workdir: Path, registry: RegistryRecord, store_root: Path,
                      say: Log) -> ManagedContainerd:
    from hoist.node.cri import managed

    t0 = time.monotonic()
    pause = _push_sandbox_image(registry.addr, store_root)
    say(f"sandbox image: {pause} built from busybox-static and pushed in "
        f"{time.monotonic() - t0:.1f} s")
    t0 = time.monotonic()
    started = managed.start_containerd(workdir, sandbox_image=pause, detach=True)
    say(f"containerd: started (pid {started.pid}, socket {started.socket}, snapshotter "
        f"{started.snapshotter}) in {time.monotonic() - t0:.1f} s")
    return started


def embedded_status(*, data_dir: Path | None = None,
                    cluster_dir: Path | None = None) -> EmbeddedEnvironment | None:
    """What runs now, or None unless both the registry and the node agent run."""
    from hoist.cluster import agent
    from hoist.node.cri.managed import find_containerd
    from hoist.node.cri.runtime import probe_cri_socket

    data, cluster = _dirs(data_dir, cluster_dir)
    registry = running_registry(data)
    node_pid = agent.running_pid(cluster)
    if registry is None or node_pid is None:
        return None
    notes: list[str] = []
    found = _node_runtime(cluster)
    if found is None:
        notes.append(f"the node agent does not say which runtime it runs; see "
                     f"{cluster / agent.LOG_FILE}")
        name, socket = "builtin", None
    else:
        name, socket = found
    containerd = find_containerd(data / CONTAINERD_DIR)
    containerd_pid = None
    if containerd is not None:
        if socket == str(containerd.socket):
            containerd_pid = containerd.pid
        else:
            notes.append(f"a managed containerd runs (pid {containerd.pid}) but the node does "
                         "not use it")
    if socket is not None and not probe_cri_socket(socket):
        notes.append(f"no CRI runtime answers on {socket}")
    return EmbeddedEnvironment(
        data_dir=data, registry=registry.addr, registry_pid=registry.pid,
        store_root=registry.store, cluster_dir=cluster, runtime=name, cri_socket=socket,
        containerd_pid=containerd_pid, node_pid=node_pid, started=(), notes=tuple(notes))


def stop_embedded(*, data_dir: Path | None = None, cluster_dir: Path | None = None,
                  log: Log | None = None) -> list[str]:
    """Stop, by PID, the node agent, the containerd hoist manages (its pods removed first)
    and the registry; the names of those that ran (``node``, ``containerd``,
    ``registry``)."""
    from hoist.cluster import agent
    from hoist.node.cri import managed

    data, cluster = _dirs(data_dir, cluster_dir)
    say = _quiet(log)
    stopped: list[str] = []
    with _locked(data):
        pid = agent.running_pid(cluster)
        if pid is not None:
            t0 = time.monotonic()
            with contextlib.redirect_stdout(io.StringIO()):
                agent.down(cluster)
            stopped.append("node")
            say(f"node: stopped (pid {pid}) in {time.monotonic() - t0:.1f} s")
        t0 = time.monotonic()
        pid = managed.stop_containerd(data / CONTAINERD_DIR)
        if pid is not None:
            stopped.append("containerd")
            say(f"containerd: stopped (pid {pid}) in {time.monotonic() - t0:.1f} s")
        t0 = time.monotonic()
        pid = stop_registry(data)
        if pid is not None:
            stopped.append("registry")
            say(f"registry: stopped (pid {pid}) in {time.monotonic() - t0:.1f} s")
    return stopped


# ------------------------------------------------------------------ preloading images


def _normalized(reference: str) -> Reference:
    from hoist.core.reference import ReferenceError, parse_normalized_named

    try:
        ref = parse_normalized_named(reference)
    except (ReferenceError, ValueError) as e:
        raise InputError(f"{reference}: not a valid image reference ({e})") from None
    if not ref.tag and ref.digest is None:
        ref = ref.with_tag("latest")
    return ref


def _store_record(store: ContentStore, ref: Reference) -> ImageRecord:
    """The store image ``ref`` names: by ``name:tag`` or ``name@digest``; a digest-only
    reference also finds the image under any tag of its repository (what a build records)."""
    names = []
    if ref.tag:
        names.append(f"{ref.name}:{ref.tag}")
    if ref.digest is not None:
        names.append(f"{ref.name}@{ref.digest}")
    for name in names:
        record = store.lookup(name)
        if record is not None and (ref.digest is None or record.digest == ref.digest):
            return record
    if ref.digest is not None and not ref.tag:
        for record in store.images():
            if record.digest == ref.digest and record.name.startswith((f"{ref.name}:",
                                                                      f"{ref.name}@")):
                return record
    raise OperationError(f"{ref}: not in the store at {store.root}")


def preload_image(env: EmbeddedEnvironment, reference: str, store: ContentStore) -> str:
    """Load ``reference`` from ``store`` into the node's runtime (what
    ``imagePullPolicy: Never`` needs); the image ID the node now holds it under."""
    ref = _normalized(reference)
    if env.runtime == "builtin":
        from hoist.cluster.agent import NODE_DIR
        from hoist.node.builtin import BuiltinRuntime
        from hoist.node.runtime import RuntimeFailure

        record = _store_record(store, ref)
        name = str(ref)
        if ref.digest is not None and not ref.tag and "@" not in record.name:
            # found under a tag only: the node gets that tag beside the digest it was asked
            # for (the builtin runtime imports by a name the store holds)
            name = f"{record.name}@{ref.digest}"
        # The node agent's own image service, opened beside it: the store takes writers
        # from several processes (SQLite WAL, blobs committed by rename, the name last).
        images = BuiltinRuntime(env.cluster_dir / NODE_DIR / "images")
        try:
            return images.import_image(store, name)
        except RuntimeFailure as e:
            raise OperationError(str(e)) from None
        finally:
            images.close()
    from hoist.node.cri.managed import find_containerd

    if env.runtime != "cri" or not env.cri_socket:
        raise OperationError(f"runtime {env.runtime}: cannot preload images into it")
    containerd = find_containerd(env.data_dir / CONTAINERD_DIR)
    snapshotter = (containerd.snapshotter if containerd is not None
                   and str(containerd.socket) == env.cri_socket else "")
    return _import_into_containerd(env.cri_socket, snapshotter, store, ref)


def oci_archive_members(store: ContentStore, top: Manifest) -> list[tuple[str, Digest]]:
    """The blobs of ``top`` as they go into an OCI archive: (path, digest), the top manifest
    last; an index brings those of its platform manifests the store holds."""
    digests: list[Digest] = []
    children = store.children(top) if top.is_index else [top]
    for child in children:
        digests += [d.digest for d in child.blobs()]
        if top.is_index:
            digests.append(child.digest)
    digests.append(top.digest)
    seen: set[str] = set()
    out: list[tuple[str, Digest]] = []
    for d in digests:
        if str(d) not in seen:
            seen.add(str(d))
            out.append((f"blobs/{d.algorithm}/{d.encoded}", d))
    return out


def write_oci_archive(store: ContentStore, record: ImageRecord, tag: str,
                      out: IO[bytes]) -> None:
    """One store image as an OCI image layout in a tar stream: the blobs, then
    ``index.json`` with one entry, the top manifest, tagged ``tag`` (untagged when empty).
    Every blob is checked to be in the store before the first byte is written."""
    from hoist.core.manifest import Descriptor

    top = store.manifest(record.digest)
    members = oci_archive_members(store, top)
    sizes = []
    for _name, digest in members:
        size = store.blobs.size(digest)
        if size is None:
            raise OperationError(f"{record.name}: blob {digest} is not in the store at "
                                 f"{store.root}")
        sizes.append(size)
    desc = Descriptor(top.media_type, top.digest, top.size,
                      annotations={"org.opencontainers.image.ref.name": tag} if tag else {})
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [desc.to_json()]}
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:

        def member(name: str, size: int) -> tarfile.TarInfo:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = size, 0o644, 0
            return info

        layout = b'{"imageLayoutVersion":"1.0.0"}'
        tar.addfile(member("oci-layout", len(layout)), io.BytesIO(layout))
        for (name, digest), size in zip(members, sizes, strict=True):
            with store.blobs.open(digest) as blob:
                tar.addfile(member(name, size), blob)
        body = json.dumps(index).encode()
        tar.addfile(member("index.json", len(body)), io.BytesIO(body))


def ctr_import_command(socket: str, ref: Reference, snapshotter: str = "",
                       ctr: str = "ctr") -> list[str]:
    """``ctr images import`` of a tar on stdin, naming the image ``name:tag`` and
    ``name@digest`` (the names a CRI pull gives it, so the kubelet finds its repository
    digest) in the CRI namespace."""
    command = [ctr, "--address", socket, "-n", CRI_NAMESPACE, "images", "import",
               "--base-name", ref.name, "--digests"]
    if snapshotter:
        command += ["--snapshotter", snapshotter]
    return [*command, "-"]


def _import_into_containerd(socket: str, snapshotter: str, store: ContentStore,
                            ref: Reference) -> str:
    """Stream the store image into ``ctr images import``; containerd names the image only
    once all its content arrived, so a failure on either side leaves no image (containerd's
    GC takes the partial content)."""
    from hoist.node.cri.managed import SEARCH_PATH
    from hoist.node.cri.runtime import CriRuntime

    ctr = shutil.which("ctr", path=SEARCH_PATH + os.pathsep + os.environ.get("PATH", ""))
    if ctr is None:
        raise OperationError(MISSING_CTR)
    record = _store_record(store, ref)
    store.manifest(record.digest)  # a damaged top manifest fails before ctr starts
    with tempfile.TemporaryFile() as output:
        proc = subprocess.Popen(ctr_import_command(socket, ref, snapshotter, ctr),
                                stdin=subprocess.PIPE, stdout=output,
                                stderr=subprocess.STDOUT)
        assert proc.stdin is not None
        try:
            write_oci_archive(store, record, ref.tag, proc.stdin)
            proc.stdin.close()
        except BrokenPipeError:
            pass  # ctr gave up early: its own words follow
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        try:
            code = proc.wait(timeout=CTR_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise OperationError(f"{ref}: ctr images import did not finish within "
                                 f"{CTR_TIMEOUT:g} s") from None
        if code != 0:
            output.seek(0)
            why = output.read().decode(errors="replace").strip().splitlines()
            raise OperationError(f"{ref}: ctr images import failed: "
                                 f"{why[-1] if why else f'exit {code}'}")
    # CRI learns of an imported image from containerd's events: wait until it lists it.
    with CriRuntime(socket, timeout=30.0) as runtime:
        deadline = time.monotonic() + 10.0
        while True:
            info = runtime.image_status(str(ref))
            if info is not None:
                return info.id
            if time.monotonic() > deadline:
                raise OperationError(f"{ref}: imported, but containerd's CRI does not list it")
            time.sleep(0.05)
