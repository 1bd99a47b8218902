"""The node agent: the kubelet's pod sync loop over the embedded control plane.

For every pod bound to this node it resolves the pull Secrets, ensures each container's
image through the image manager (hoist.node), and — when the runtime can run containers
(``cri``) — runs the pod in a host-network sandbox, starts containers in order (init
containers to completion first), restarts them per ``restartPolicy`` with the kubelet's
crash-loop back-off, reports container states in the pod's status, and tears pods down
when they are deleted. With the ``builtin`` runtime the image half is all there is: the
pod says so in an annotation that ``describe`` prints.

Each pod is synced by its own worker thread, as the kubelet's pod workers are, so a pod
waiting for a serial image pull does not hold up the others. A pod whose sync failed is
synced again after the worker back-off (10 s, scaled), which is when the image manager's
back-off decides between "BackOff" and a new pull.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hoist.core.policy import PullPolicy
from hoist.node import events
from hoist.node.backoff import Backoff
from hoist.node.credentials import node_config_files, node_keyring
from hoist.node.events import ObjectRef
from hoist.node.gofmt import go_duration
from hoist.node.image_manager import EnsureResult, ImageManager, PodIdentity
from hoist.node.puller import make_puller
from hoist.node.pullmanager import ImagePullManager
from hoist.node.runtime import (
    ContainerRuntime,
    ContainerSpec,
    ContainerState,
    ContainerStatus,
    ImageService,
    PodSandboxSpec,
    RuntimeFailure,
)

log = logging.getLogger("hoist.kubelet")

NODE_NAME = "hoist-node"
RUNTIME_NOTE_ANNOTATION = "hoist.dev/runtime-note"
BUILTIN_NOTE = ("images only: the builtin runtime pulls and verifies images but does not "
                "run containers")
# The waiting reason of a builtin-runtime container whose image is ensured: it will not
# run, and nothing upstream names that state.
IMAGE_PRESENT = "ImagePresent"
# pkg/kubelet/kubelet.go: backOffPeriod (pod worker re-sync after an error) and the
# crash-loop back-off's bounds (MaxContainerBackOff).
WORKER_BACKOFF = 10.0
CONTAINER_BACKOFF_INITIAL = 10.0
CONTAINER_BACKOFF_MAX = 300.0
RESYNC_INTERVAL = 60.0  # kubelet --sync-frequency default 1m
PLEG_RELIST = 1.0  # pkg/kubelet/kubelet.go genericPlegRelistPeriod
MIN_RELIST = 0.1  # however fast the time scale, do not spin on the runtime


@dataclass
class KubeletConfig:
    node_name: str = NODE_NAME
    time_scale: float = 1.0
    max_parallel_image_pulls: int = 0
    registry_pull_qps: float = 5.0
    registry_burst: int = 10
    node_dir: Path | None = None
    # KEP-2535: a PullManager (hoist.node.pullmanager) or None for the feature off.
    pull_manager: ImagePullManager | None = None

    image_gc: bool = True

    def scaled(self, seconds: float) -> float:
        return seconds * self.time_scale


def _now_rfc3339(ts: float | None = None) -> str:
    t = datetime.fromtimestamp(time.time() if ts is None else ts, UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def format_pod(pod: Mapping[str, Any]) -> str:
    """kubelet ``format.Pod``: ``name_namespace(uid)``."""
    meta = pod.get("metadata", {})
    return f"{meta.get('name', '')}_{meta.get('namespace', '')}({meta.get('uid', '')})"


def _container_ref(pod: Mapping[str, Any], kind: str, name: str) -> ObjectRef:
    meta = pod["metadata"]
    path = {"init": "spec.initContainers", "regular": "spec.containers",
            "ephemeral": "spec.ephemeralContainers"}[kind]
    return ObjectRef(kind="Pod", namespace=meta["namespace"], name=meta["name"],
                     uid=meta["uid"], field_path=f"{path}{{{name}}}")


def _pod_ref(pod: Mapping[str, Any]) -> ObjectRef:
    meta = pod["metadata"]
    return ObjectRef(kind="Pod", namespace=meta["namespace"], name=meta["name"],
                     uid=meta["uid"])


class ClusterRecorder:
    """Events into the cluster's store, from the kubelet on this node.

    As client-go's EventBroadcaster, recording does not wait for the write: events queue
    up and one thread writes them, so a pod's start does not pay a database commit per
    event. Each keeps the time it happened. :meth:`flush` waits until what was queued is
    written; the kubelet flushes before it writes a pod's status or removes the pod, so
    the store never shows a status without the events that led to it."""

    def __init__(self, cluster: Any, host: str) -> None:
        self.cluster = cluster
        self.host = host
        self._pending: list[tuple[dict[str, Any], str, str, str, str, float]] = []
        self._busy = False
        self._cond = threading.Condition()

    def event(self, ref: ObjectRef, type: str, reason: str, message: str) -> None:
        involved = {"apiVersion": ref.api_version, "kind": ref.kind,
                    "metadata": {"namespace": ref.namespace, "name": ref.name,
                                 "uid": ref.uid}}
        item = (involved, type, reason, message, ref.field_path, self.cluster.now())
        with self._cond:
            self._pending.append(item)
            if not self._busy:
                self._busy = True
                threading.Thread(target=self._drain, name="event-recorder",
                                 daemon=True).start()

    def _drain(self) -> None:
        while True:
            with self._cond:
                if not self._pending:
                    self._busy = False
                    self._cond.notify_all()
                    return
                batch, self._pending = self._pending, []
            for involved, type, reason, message, field_path, at in batch:
                try:
                    self.cluster.record_event(involved, type, reason, message,
                                              source="kubelet", host=self.host,
                                              field_path=field_path, now=at)
                except Exception:  # an event lost must not stop a pod
                    log.exception("recording event %s for %s/%s", reason,
                                  involved["metadata"]["namespace"],
                                  involved["metadata"]["name"])

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every queued event is written; False if ``timeout`` passed first."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._busy, timeout)


@dataclass
class _ContainerRecord:
    """What the node knows of one container between syncs."""

    container_id: str = ""
    image_ref: str = ""  # the status imageID (repository digest)
    runtime_image: str = ""  # the runtime's image ID, for the image GC
    restart_count: int = 0
    last_terminated: dict[str, Any] | None = None
    waiting: tuple[str, str] | None = None  # (reason, message)


@dataclass
class _PodState:
    uid: str
    sandbox_id: str = ""
    containers: dict[str, _ContainerRecord] = field(default_factory=dict)
    next_sync: float = 0.0
    busy: bool = False
    spec_revision: str = ""


class Kubelet:
    def __init__(self, cluster: Any, images: ImageService,
                 containers: ContainerRuntime | None, config: KubeletConfig) -> None:
        self.cluster = cluster
        self.images = images
        self.containers = containers
        self.config = config
        self.recorder = ClusterRecorder(cluster, config.node_name)
        self.image_backoff = Backoff(config.scaled(10.0), config.scaled(300.0))
        self.crash_backoff = Backoff(config.scaled(CONTAINER_BACKOFF_INITIAL),
                                     config.scaled(CONTAINER_BACKOFF_MAX), clock=time.time)
        self.puller = make_puller(images,
                                  max_parallel_image_pulls=config.max_parallel_image_pulls,
                                  qps=config.registry_pull_qps, burst=config.registry_burst,
                                  time_scale=config.time_scale)
        keyring = node_keyring(node_config_files(config.node_dir))
        self.image_manager = ImageManager(
            images, self.puller, self.image_backoff, self.recorder, keyring,
            pull_manager=config.pull_manager)
        self._pods: dict[str, _PodState] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.image_gc = self._make_image_gc() if config.image_gc else None
        self._next_gc = time.monotonic() + (self.image_gc.policy.period if self.image_gc
                                            else 0.0)
        self._gc_running = False

    # -- the loop ----------------------------------------------------------------------

    def run(self, stop: threading.Event | None = None, poll: float = 0.1) -> None:
        """Sync pods until ``stop`` is set."""
        stop = stop or self._stop
        self._cleanup_sandboxes()
        seen_revision = -1
        last_beat = last_reconcile = 0.0
        while not stop.is_set():
            now = time.monotonic()
            if now - last_beat >= 2.0:
                self.cluster.heartbeat(self.config.node_name, self.images.name,
                                       {"timeScale": self.config.time_scale})
                last_beat = now
            revision = self.cluster.revision()
            # Pods first: a pod deleted by whoever changed the store (an apply ran the
            # controllers already) starts stopping before the controllers run again here.
            self.sync_all()
            if revision != seen_revision or now - last_reconcile >= 1.0:
                # The workload controller runs with the node: it replaces deleted pods.
                # What it creates bumps the revision, so the next turn comes at once.
                try:
                    self.cluster.reconcile()
                except Exception:
                    log.exception("reconciling workloads")
                last_reconcile = now
            self._maybe_collect_images()
            seen_revision = revision
            self.cluster.wait_for_change(revision, timeout=poll)

    def _make_image_gc(self) -> Any:
        """The kubelet's image GC with its defaults (85 %/80 %, 2 min minimum age, every
        5 min), every duration scaled; remaining images prune the pulled-image records."""
        from hoist.node.image_gc import ImageGCManager, ImageGCPolicy

        defaults = ImageGCPolicy()
        policy = ImageGCPolicy(high_threshold_percent=defaults.high_threshold_percent,
                               low_threshold_percent=defaults.low_threshold_percent,
                               min_age=self.config.scaled(defaults.min_age),
                               max_age=self.config.scaled(defaults.max_age),
                               period=self.config.scaled(defaults.period))
        hooks = []
        manager = self.config.pull_manager
        if manager is not None and hasattr(manager, "prune_unknown_records"):
            hooks.append(manager.prune_unknown_records)
        return ImageGCManager(self.images, policy, post_gc_hooks=hooks)

    def images_in_use(self) -> set[str]:
        with self._lock:
            return {rec.runtime_image for state in self._pods.values()
                    for rec in state.containers.values() if rec.runtime_image}

    def _maybe_collect_images(self) -> None:
        gc = self.image_gc
        if gc is None or self._gc_running or time.monotonic() < self._next_gc:
            return
        self._gc_running = True
        self._next_gc = time.monotonic() + gc.policy.period

        def collect() -> None:
            try:
                result = gc.garbage_collect(self.images_in_use())
                node = ObjectRef(kind="Node", namespace="", name=self.config.node_name,
                                 uid=self.config.node_name)
                for ev in result.events:
                    self.recorder.event(node, ev.type, ev.reason, ev.message)
            except Exception:
                log.exception("image garbage collection")
            finally:
                self._gc_running = False

        threading.Thread(target=collect, name="image-gc", daemon=True).start()

    def shutdown(self) -> None:
        """Stop the puller and, with a container runtime, the pods this node runs (a
        stopped node leaves no container behind; `cluster up` runs them again)."""
        self._stop.set()
        self.puller.close()
        self._cleanup_sandboxes()
        self.recorder.flush()

    def stop(self) -> None:
        self._stop.set()

    def sync_all(self) -> None:
        """Start a worker for every pod that is due: new, changed (generation or
        deletion), or whose re-sync time has come."""
        pods = self.cluster.list("Pod")
        seen: set[str] = set()
        now = time.monotonic()
        for pod in pods:
            meta = pod["metadata"]
            if (pod.get("spec") or {}).get("nodeName") != self.config.node_name:
                continue  # not bound to this node (yet)
            uid = meta["uid"]
            seen.add(uid)
            version = f"{meta.get('generation', 0)}/{bool(meta.get('deletionTimestamp'))}"
            with self._lock:
                state = self._pods.setdefault(uid, _PodState(uid))
                due = version != state.spec_revision or now >= state.next_sync
                if state.busy or not due:
                    continue
                state.busy = True
                state.spec_revision = version
            threading.Thread(target=self._sync_worker, args=(pod, state), daemon=True,
                             name=f"pod-{meta['name']}").start()
        with self._lock:
            gone = [uid for uid in self._pods if uid not in seen and not self._pods[uid].busy]
            for uid in gone:
                state = self._pods.pop(uid)
                if state.sandbox_id:
                    threading.Thread(target=self._remove_sandbox, args=(state,),
                                     daemon=True).start()

    def _sync_worker(self, pod: dict[str, Any], state: _PodState) -> None:
        # Running containers are looked at again soon, as the PLEG relists every second;
        # an images-only pod only needs the periodic re-sync.
        delay = (self.config.scaled(RESYNC_INTERVAL) if self.containers is None
                 else max(MIN_RELIST, self.config.scaled(PLEG_RELIST)))
        try:
            if pod["metadata"].get("deletionTimestamp"):
                self.kill_pod(pod, state)
                self.recorder.flush()
                self.cluster.finalize_pod(pod["metadata"]["namespace"],
                                          pod["metadata"]["name"], state.uid)
                # As the kubelet: a killed pod's containers and sandbox are stopped before
                # the API object goes; removing them is garbage collection afterwards.
                self._remove_sandbox(state, stopped=True)
                return
            ok = self.sync_pod(pod, state)
            if not ok:
                delay = self.config.scaled(WORKER_BACKOFF)
        except Exception:
            log.exception("syncing pod %s", format_pod(pod))
            delay = self.config.scaled(WORKER_BACKOFF)
        finally:
            with self._lock:
                state.busy = False
                state.next_sync = time.monotonic() + delay

    # -- one pod -----------------------------------------------------------------------

    def _pull_secrets(self, pod: Mapping[str, Any]) -> list[dict[str, Any]]:
        """getPullSecretsForPod: the Secrets that exist, and one warning naming the rest."""
        ns = pod["metadata"]["namespace"]
        found, missing = [], []
        for entry in pod.get("spec", {}).get("imagePullSecrets") or []:
            name = (entry or {}).get("name", "")
            if not name:
                continue
            secret = self.cluster.get("Secret", ns, name)
            if secret is None:
                missing.append(name)
            else:
                found.append(secret)
        if missing:
            # pkg/kubelet/kubelet_pods.go getPullSecretsForPod
            self.recorder.event(
                _pod_ref(pod), events.WARNING, events.FAILED_TO_RETRIEVE_PULL_SECRET,
                "Unable to retrieve some image pull secrets "
                f"({', '.join(missing)}); attempting to pull the image may not succeed.")
        return found

    def ensure(self, pod: Mapping[str, Any], kind: str, container: Mapping[str, Any],
               secrets: list[dict[str, Any]]) -> EnsureResult:
        meta = pod["metadata"]
        policy_text = container.get("imagePullPolicy") or "IfNotPresent"
        try:
            policy = PullPolicy(policy_text)
        except ValueError:
            policy = PullPolicy.IF_NOT_PRESENT
        return self.image_manager.ensure_image(
            _container_ref(pod, kind, container["name"]),
            PodIdentity(meta["uid"], meta["namespace"], meta["name"]),
            container.get("image", ""), secrets, policy)

    def sync_pod(self, pod: dict[str, Any], state: _PodState) -> bool:
        """One SyncPod. Returns False when something failed and a re-sync is due soon."""
        secrets = self._pull_secrets(pod)
        if self.containers is None:
            return self._sync_images_only(pod, state, secrets)
        return self._sync_running(pod, state, secrets)

    def _sync_images_only(self, pod: dict[str, Any], state: _PodState,
                          secrets: list[dict[str, Any]]) -> bool:
        spec = pod.get("spec", {})
        ok = True
        statuses: dict[str, list[dict[str, Any]]] = {"init": [], "regular": []}
        for kind, key in (("init", "initContainers"), ("regular", "containers")):
            for c in spec.get(key) or []:
                rec = state.containers.setdefault(f"{kind}/{c['name']}", _ContainerRecord())
                if not ok and kind == "regular" and spec.get("initContainers"):
                    statuses[kind].append(self._status_entry(c, rec, waiting=(
                        "PodInitializing", "")))
                    continue
                result = self.ensure(pod, kind, c, secrets)
                if result.ok:
                    rec.runtime_image = result.image_ref
                    rec.image_ref = self._image_id(c, result.image_ref)
                    rec.waiting = None
                else:
                    ok = False
                    rec.waiting = (str(result.error), result.message)
                    self.recorder.event(_container_ref(pod, kind, c["name"]), events.WARNING,
                                        events.FAILED_TO_CREATE_CONTAINER,
                                        f"Error: {result.error}")
                statuses[kind].append(self._status_entry(c, rec))
        self._write_status(pod, statuses, images_only=True)
        return ok

    def _image_id(self, container: Mapping[str, Any], image_ref: str) -> str:
        """The status ``imageID``: the repository digest the node holds for the image, as
        containerd reports it (``repo@sha256:…``), else the image ID."""
        try:
            info = self.images.image_status(image_ref)
        except RuntimeFailure:
            return image_ref
        return info.repo_digests[0] if info is not None and info.repo_digests else image_ref

    def _status_entry(self, c: Mapping[str, Any], rec: _ContainerRecord,
                      waiting: tuple[str, str] | None = None,
                      running: ContainerStatus | None = None,
                      terminated: ContainerStatus | None = None) -> dict[str, Any]:
        waiting = waiting or rec.waiting
        entry: dict[str, Any] = {
            "name": c["name"], "image": c.get("image", ""), "imageID": rec.image_ref,
            "ready": False, "restartCount": rec.restart_count, "started": False,
        }
        if rec.container_id:
            entry["containerID"] = f"containerd://{rec.container_id}"
        if running is not None:
            entry["state"] = {"running": {"startedAt": _now_rfc3339(running.started_at)}}
            entry["ready"] = True
            entry["started"] = True
        elif terminated is not None:
            entry["state"] = {"terminated": _terminated(terminated)}
        elif waiting is not None:
            w: dict[str, str] = {"reason": waiting[0]}
            if waiting[1]:
                w["message"] = waiting[1]
            entry["state"] = {"waiting": w}
        else:
            entry["state"] = {"waiting": {"reason": "ContainerCreating"}}
        if rec.last_terminated:
            entry["lastState"] = {"terminated": rec.last_terminated}
        else:
            entry["lastState"] = {}
        return entry

    def _write_status(self, pod: dict[str, Any], statuses: dict[str, list[dict[str, Any]]],
                      images_only: bool = False, phase: str | None = None) -> None:
        meta = pod["metadata"]
        old = pod.get("status") or {}
        regular = statuses["regular"]
        init = statuses["init"]
        all_ready = bool(regular) and all(s["ready"] for s in regular)
        init_done = all("terminated" in s["state"] and
                        s["state"]["terminated"].get("exitCode") == 0 for s in init)
        now = _now_rfc3339()
        if phase is None:
            phase = "Running" if regular and all(
                "running" in s["state"] or "terminated" in s["state"] for s in regular) \
                and any("running" in s["state"] for s in regular) else "Pending"
        conditions = []
        old_conds = {c.get("type"): c for c in old.get("conditions") or []}

        def cond(kind: str, value: bool, reason: str = "") -> None:
            status = "True" if value else "False"
            prev = old_conds.get(kind)
            since = prev["lastTransitionTime"] if prev and prev.get("status") == status else now
            c: dict[str, Any] = {"type": kind, "status": status, "lastProbeTime": None,
                                 "lastTransitionTime": since}
            if reason and not value:
                c["reason"] = reason
            conditions.append(c)

        cond("PodReadyToStartContainers", images_only or bool(regular))
        if images_only:
            init_done = all(s["imageID"] for s in init)
        cond("Initialized", init_done, "ContainersNotInitialized")
        cond("Ready", all_ready and not images_only, "ContainersNotReady")
        cond("ContainersReady", all_ready and not images_only, "ContainersNotReady")
        cond("PodScheduled", True)
        if images_only:
            cond("hoist.dev/ImagesReady", all(s["imageID"] for s in init + regular),
                 "ImagesNotReady")
        status: dict[str, Any] = {
            "phase": phase, "conditions": conditions, "hostIP": "127.0.0.1",
            "hostIPs": [{"ip": "127.0.0.1"}], "podIP": "127.0.0.1",
            "podIPs": [{"ip": "127.0.0.1"}], "qosClass": "BestEffort",
            "startTime": old.get("startTime") or now, "containerStatuses": regular,
        }
        if init:
            status["initContainerStatuses"] = init
        if images_only:
            status["message"] = BUILTIN_NOTE
            for s in init + regular:
                if s["imageID"] and "waiting" in s["state"] and \
                        s["state"]["waiting"]["reason"] == "ContainerCreating":
                    s["state"] = {"waiting": {"reason": IMAGE_PRESENT,
                                              "message": BUILTIN_NOTE}}
        if status != old:
            self.recorder.flush()  # the events that led here go first
            self.cluster.update_pod_status(meta["namespace"], meta["name"], meta["uid"],
                                           status)

    # -- running pods (cri) --------------------------------------------------------------

    def _sandbox_spec(self, pod: Mapping[str, Any]) -> PodSandboxSpec:
        meta = pod["metadata"]
        log_dir = ""
        if self.config.node_dir is not None:
            log_dir = str(self.config.node_dir / "pods" /
                          f"{meta['namespace']}_{meta['name']}_{meta['uid']}")
            Path(log_dir).mkdir(parents=True, exist_ok=True)
        return PodSandboxSpec(name=meta["name"], namespace=meta["namespace"], uid=meta["uid"],
                              labels={"io.kubernetes.pod.uid": meta["uid"],
                                      "io.kubernetes.pod.name": meta["name"],
                                      "io.kubernetes.pod.namespace": meta["namespace"],
                                      "hoist.dev/node": self.config.node_name},
                              log_directory=log_dir)

    def _sync_running(self, pod: dict[str, Any], state: _PodState,
                      secrets: list[dict[str, Any]]) -> bool:
        assert self.containers is not None
        runtime = self.containers
        spec = pod.get("spec", {})
        sandbox = self._sandbox_spec(pod)
        current: dict[str, ContainerStatus] = {}
        if not state.sandbox_id:
            try:
                state.sandbox_id = runtime.run_pod_sandbox(sandbox)
            except RuntimeFailure as e:
                self.recorder.event(_pod_ref(pod), events.WARNING,
                                    events.FAILED_CREATE_POD_SANDBOX,
                                    f"Failed to create pod sandbox: {e}")
                return False
        else:  # a sandbox from an earlier sync (a new one holds nothing to list yet)
            current = {s.id: s for s in runtime.list_containers(state.sandbox_id)}
        restart_policy = spec.get("restartPolicy") or "Always"
        ok = True
        statuses: dict[str, list[dict[str, Any]]] = {"init": [], "regular": []}

        init_complete = True
        for c in spec.get("initContainers") or []:
            rec = state.containers.setdefault(f"init/{c['name']}", _ContainerRecord())
            if not init_complete:
                statuses["init"].append(self._status_entry(c, rec, waiting=(
                    "PodInitializing", "")))
                continue
            st = current.get(rec.container_id)
            if st is not None and st.state is ContainerState.EXITED and st.exit_code == 0:
                statuses["init"].append(self._status_entry(c, rec, terminated=st))
                continue
            init_complete = False
            if st is not None and st.state is ContainerState.RUNNING:
                statuses["init"].append(self._status_entry(c, rec, running=st))
                statuses["init"][-1]["ready"] = False
                continue
            if st is not None and st.state is ContainerState.EXITED and \
                    restart_policy == "Never":
                statuses["init"].append(self._status_entry(c, rec, terminated=st))
                ok = False
                continue
            started = self._start_container(pod, state, sandbox, "init", c, rec, st, secrets)
            ok = ok and started
            statuses["init"].append(self._status_entry(c, rec))

        for c in spec.get("containers") or []:
            rec = state.containers.setdefault(f"regular/{c['name']}", _ContainerRecord())
            if not init_complete:
                statuses["regular"].append(self._status_entry(c, rec, waiting=(
                    "PodInitializing", "")))
                continue
            st = current.get(rec.container_id)
            if st is not None and st.state is ContainerState.RUNNING:
                rec.waiting = None
                statuses["regular"].append(self._status_entry(c, rec, running=st))
                continue
            if st is not None and st.state is ContainerState.EXITED:
                restart = restart_policy == "Always" or (
                    restart_policy == "OnFailure" and st.exit_code != 0)
                if not restart:
                    statuses["regular"].append(self._status_entry(c, rec, terminated=st))
                    continue
            started = self._start_container(pod, state, sandbox, "regular", c, rec, st,
                                             secrets)
            ok = ok and started
            if started:
                try:
                    st2: ContainerStatus | None = runtime.container_status(rec.container_id)
                except RuntimeFailure:
                    st2 = None
                if st2 is not None and st2.state is ContainerState.RUNNING:
                    statuses["regular"].append(self._status_entry(c, rec, running=st2))
                    continue
            statuses["regular"].append(self._status_entry(c, rec))

        phase = None
        regular = statuses["regular"]
        if regular and all("terminated" in s["state"] for s in regular):
            codes = [s["state"]["terminated"].get("exitCode", 0) for s in regular]
            phase = "Succeeded" if all(code == 0 for code in codes) else "Failed"
        self._write_status(pod, statuses, phase=phase)
        # A running pod is re-synced soon to notice exits (the kubelet's PLEG relists every
        # second); sync_all honours next_sync.
        return ok and not any("waiting" in s["state"] for s in regular)

    def _start_container(self, pod: dict[str, Any], state: _PodState,
                         sandbox: PodSandboxSpec, kind: str, c: Mapping[str, Any],
                         rec: _ContainerRecord, previous: ContainerStatus | None,
                         secrets: list[dict[str, Any]]) -> bool:
        assert self.containers is not None
        runtime = self.containers
        ref = _container_ref(pod, kind, c["name"])
        meta = pod["metadata"]
        if previous is not None and previous.state is ContainerState.EXITED:
            # kuberuntime_manager.go doBackOff: keyed by the container, measured from
            # when it last finished.
            key = f"{meta['name']}_{meta['namespace']}_{meta['uid']}_{c['name']}"
            if self.crash_backoff.is_in_backoff_since(key, previous.finished_at):
                delay = go_duration(self.crash_backoff.get(key) / self.config.time_scale)
                self.recorder.event(ref, events.WARNING, events.BACK_OFF_START_CONTAINER,
                                    f"Back-off restarting failed container {c['name']} in "
                                    f"pod {format_pod(pod)}")
                rec.waiting = ("CrashLoopBackOff",
                               f"back-off {delay} restarting failed container={c['name']} "
                               f"pod={format_pod(pod)}")
                return False
            self.crash_backoff.next(key)
            rec.last_terminated = _terminated(previous)
            rec.restart_count += 1
            with contextlib.suppress(RuntimeFailure):
                runtime.remove_container(previous.id)
        result = self.ensure(pod, kind, c, secrets)
        if not result.ok:
            rec.waiting = (str(result.error), result.message)
            self.recorder.event(ref, events.WARNING, events.FAILED_TO_CREATE_CONTAINER,
                                f"Error: {result.error}")
            return False
        rec.runtime_image = result.image_ref
        rec.image_ref = self._image_id(c, result.image_ref)
        env = {str(e.get("name")): str(e.get("value", "")) for e in c.get("env") or []
               if isinstance(e, Mapping) and "value" in e}
        cspec = ContainerSpec(name=c["name"], image=result.image_ref,
                              command=tuple(c.get("command") or ()),
                              args=tuple(c.get("args") or ()), env=env,
                              working_dir=c.get("workingDir") or "",
                              attempt=rec.restart_count,
                              log_path=f"{c['name']}/{rec.restart_count}.log")
        try:
            cid = runtime.create_container(state.sandbox_id, cspec, sandbox)
        except RuntimeFailure as e:
            rec.waiting = ("CreateContainerError", str(e))
            self.recorder.event(ref, events.WARNING, events.FAILED_TO_CREATE_CONTAINER,
                                f"Error: {e}")
            return False
        rec.container_id = cid
        # pkg/kubelet/kuberuntime/kuberuntime_container.go startContainer
        self.recorder.event(ref, events.NORMAL, events.CREATED_CONTAINER,
                            f"Created container: {c['name']}")
        try:
            runtime.start_container(cid)
        except RuntimeFailure as e:
            rec.waiting = ("RunContainerError", str(e))
            self.recorder.event(ref, events.WARNING, events.FAILED_TO_CREATE_CONTAINER,
                                f"Error: {e}")
            return False
        self.recorder.event(ref, events.NORMAL, events.STARTED_CONTAINER,
                            f"Started container {c['name']}")
        rec.waiting = None
        return True

    def kill_pod(self, pod: Mapping[str, Any], state: _PodState) -> None:
        if self.containers is None or not state.sandbox_id:
            return
        spec = pod.get("spec", {})
        for kind, key in (("regular", "containers"), ("init", "initContainers")):
            for c in spec.get(key) or []:
                rec = state.containers.get(f"{kind}/{c['name']}")
                if rec and rec.container_id:
                    self.recorder.event(_container_ref(pod, kind, c["name"]), events.NORMAL,
                                        events.KILLING_CONTAINER,
                                        f"Stopping container {c['name']}")
        self._stop_sandbox(state)

    def _stop_sandbox(self, state: _PodState) -> list[str]:
        """Stop every container of the pod and its sandbox (pkg/kubelet/kuberuntime
        killPodWithSyncResult); the container ids. As the kubelet kills the running pod
        its cache knows, the containers are the ones this node recorded starting; only a
        sandbox it knows nothing of (left by an earlier node) is listed."""
        if self.containers is None or not state.sandbox_id:
            return []
        runtime = self.containers
        ids = [rec.container_id for rec in state.containers.values() if rec.container_id]
        if not ids:
            ids = [st.id for st in runtime.list_containers(state.sandbox_id)]
        for cid in ids:
            with contextlib.suppress(RuntimeFailure):
                runtime.stop_container(cid, timeout=2)
        with contextlib.suppress(RuntimeFailure):
            runtime.stop_pod_sandbox(state.sandbox_id)
        return ids

    def _remove_sandbox(self, state: _PodState, *, stopped: bool = False) -> None:
        """Remove the pod's containers and sandbox, stopping them first unless
        ``stopped`` (a killed pod's were)."""
        if self.containers is None or not state.sandbox_id:
            return
        runtime = self.containers
        ids = [rec.container_id for rec in state.containers.values() if rec.container_id] \
            if stopped else self._stop_sandbox(state)
        for cid in ids:
            with contextlib.suppress(RuntimeFailure):
                runtime.remove_container(cid)
        with contextlib.suppress(RuntimeFailure):
            runtime.remove_pod_sandbox(state.sandbox_id)
        state.sandbox_id = ""

    def _cleanup_sandboxes(self) -> None:
        """Sandboxes this node started before it was restarted: the node does not adopt
        them, it removes them and runs its pods afresh."""
        if self.containers is None:
            return
        try:
            sandboxes = self.containers.list_pod_sandboxes()
        except RuntimeFailure:
            return
        for sid, labels in sandboxes:
            if labels.get("hoist.dev/node") == self.config.node_name:
                self._remove_sandbox(_PodState(uid="", sandbox_id=sid))


def _terminated(st: ContainerStatus) -> dict[str, Any]:
    reason = st.reason or ("Completed" if st.exit_code == 0 else "Error")
    out: dict[str, Any] = {"exitCode": st.exit_code, "reason": reason,
                           "startedAt": _now_rfc3339(st.started_at),
                           "finishedAt": _now_rfc3339(st.finished_at),
                           "containerID": f"containerd://{st.id}"}
    if st.message:
        out["message"] = st.message
    return out
