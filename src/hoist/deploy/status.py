"""The status check after a deploy: are the workloads' current pods ready, or has a node
already said why they will not be?

The core is :func:`assess`, a pure function over Kubernetes-shaped JSON (a
:class:`Snapshot` of workloads, pods and events), so the embedded cluster
(:class:`ClusterStatusSource`) and a real cluster read through kubectl feed the same
rules. :func:`wait_for_ready` polls a :class:`StatusSource` until every workload is ready,
one fails, or the deadline passes.

Readiness follows what ``kubectl rollout status`` waits for (the controller observed the
latest generation, the pods of the current template number the desired replicas and are
ready, no pod of an older template is left), checked on the pods themselves so that a
container the kubelet cannot start is reported at once, with the kubelet's own words. With
the ``builtin`` runtime containers never run; ``images_only`` makes "ready" mean that every
container's image is on the node.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from hoist.cluster.controllers import parse_timestamp, template_hash
from hoist.errors import InputError

if TYPE_CHECKING:
    from hoist.cluster.store import Cluster

Phase = Literal["waiting", "ready", "failed"]

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "Pod")
_CANONICAL_KIND = {k.lower(): k for k in WORKLOAD_KINDS}

# Waiting reasons that end the wait at once. The image ones are the errors the kubelet's
# image manager returns (pkg/kubelet/images/types.go and evalCRIPullErr): the kubelet keeps
# retrying, but the answer rarely changes without a new push or a fixed manifest, and
# the developer is better served by the node's message now than by a timeout later.
IMAGE_FAILURE_REASONS = frozenset({
    "ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName",
    "ImageInspectError", "RegistryUnavailable", "SignatureValidationFailed",
})
# A container that exits over and over, or that the runtime refuses to create.
START_FAILURE_REASONS = frozenset({"CrashLoopBackOff", "CreateContainerError"})
FAIL_FAST_REASONS = IMAGE_FAILURE_REASONS | START_FAILURE_REASONS
# Pull errors that say nothing about the image: the kubelet's own rate limit
# (pkg/kubelet/images/puller.go) fails a pull when its token bucket is empty, and the next
# try after the back-off succeeds. Those are waited out.
TRANSIENT_PULL_ERRORS = ("pull QPS exceeded",)

# The pod condition the embedded kubelet sets with the builtin runtime (cluster/kubelet.py).
IMAGES_READY_CONDITION = "hoist.dev/ImagesReady"
# Labels and annotations the workload controllers write (k8s.io/api apps/v1 types.go,
# pkg/controller/daemon and deployment util).
POD_TEMPLATE_HASH = "pod-template-hash"
CONTROLLER_REVISION_HASH = "controller-revision-hash"
DAEMONSET_TEMPLATE_GENERATION = "deprecated.daemonset.template.generation"
POD_TEMPLATE_GENERATION = "pod-template-generation"
DEPLOYMENT_REVISION = "deployment.kubernetes.io/revision"
# The kubelet's image events (pkg/kubelet/events/event.go) that tell where a pull stands.
PULL_EVENT_REASONS = frozenset({"Pulling", "Pulled", "Failed", "BackOff"})
# apps/v1's default progressDeadlineSeconds (pkg/apis/apps/v1/defaults.go), and Skaffold's
# default status check deadline.
DEFAULT_DEADLINE = 600.0


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class WorkloadRef:
    kind: str
    namespace: str
    name: str

    def __post_init__(self) -> None:
        # "deployment" and "Deployment" name one kind; the API's spelling is kept.
        object.__setattr__(self, "kind", _CANONICAL_KIND.get(self.kind.lower(), self.kind))

    def __str__(self) -> str:
        return f"{self.kind.lower()}/{self.name}"

    @classmethod
    def of(cls, obj: Mapping[str, Any], default_namespace: str = "default") -> WorkloadRef:
        meta = obj.get("metadata") or {}
        return cls(str(obj.get("kind") or ""), str(meta.get("namespace") or default_namespace),
                   str(meta.get("name") or ""))


def workload_refs(objects: Iterable[Mapping[str, Any]],
                  default_namespace: str = "default") -> list[WorkloadRef]:
    """The objects the status check can wait for, in order."""
    return [WorkloadRef.of(o, default_namespace) for o in objects
            if isinstance(o, Mapping) and o.get("kind") in WORKLOAD_KINDS]


@dataclass(frozen=True)
class Snapshot:
    """What a cluster says at one moment: the workload objects (and, from a real
    cluster, the ReplicaSets of its Deployments), the pods and events of their
    namespaces — all as the API serves them."""

    workloads: Sequence[Mapping[str, Any]]
    pods: Sequence[Mapping[str, Any]]
    events: Sequence[Mapping[str, Any]] = ()


def snapshot_from_objects(objects: Iterable[Mapping[str, Any]]) -> Snapshot:
    """A snapshot from API objects or ``kubectl get … -o json`` documents (``List``s are
    opened): Pods, Events (core/v1 and events.k8s.io/v1) and everything else."""
    workloads: list[Mapping[str, Any]] = []
    pods: list[Mapping[str, Any]] = []
    events: list[Mapping[str, Any]] = []
    for obj in _flatten(objects):
        kind = obj.get("kind")
        if kind == "Pod":
            pods.append(obj)
        elif kind == "Event":
            events.append(obj)
        else:
            workloads.append(obj)
    return Snapshot(tuple(workloads), tuple(pods), tuple(events))


def _flatten(objects: Iterable[Mapping[str, Any]]) -> Iterable[Mapping[str, Any]]:
    for obj in objects:
        if not isinstance(obj, Mapping):
            continue
        items = obj.get("items")
        if str(obj.get("kind") or "").endswith("List") and isinstance(items, list):
            yield from _flatten(items)
        else:
            yield obj


class StatusSource(Protocol):
    def snapshot(self, refs: Sequence[WorkloadRef]) -> Snapshot: ...

    # Optional: ``wait_for_update(timeout)`` returns early once the source may have
    # news; :func:`wait_for_ready` sleeps for its poll interval where it is missing.


@dataclass(frozen=True)
class PodFailure:
    """A container the kubelet will not start, with its words for why."""

    namespace: str
    pod: str
    container: str
    image: str
    reason: str
    message: str

    @property
    def hint(self) -> str:
        return f"hoist doctor --pod {self.pod} -n {self.namespace}"

    def __str__(self) -> str:
        text = f"pod {self.pod} container {self.container}: {self.reason}"
        return f"{text}: {self.message}" if self.message else text


@dataclass(frozen=True)
class WorkloadState:
    ref: WorkloadRef
    desired: int
    updated: int  # pods of the current template (not being deleted)
    ready: int  # of those, ready (images_only: with every image on the node)
    phase: Phase
    detail: str  # "0/1 ready (pulling reg/app@sha256:…)"
    failures: tuple[PodFailure, ...] = ()
    pods: tuple[str, ...] = ()  # names of the pods of the current template

    def __str__(self) -> str:
        return f"{self.ref}: {self.detail}"


@dataclass
class StatusResult:
    ok: bool
    states: list[WorkloadState]
    elapsed: float
    timed_out: bool
    message: str


# --------------------------------------------------------------------------- small reads


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _spec(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    spec = obj.get("spec")
    return spec if isinstance(spec, Mapping) else {}


def _status(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    status = obj.get("status")
    return status if isinstance(status, Mapping) else {}


def _labels(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    labels = _meta(obj).get("labels")
    return labels if isinstance(labels, Mapping) else {}


def _int(value: Any, default: int = 0) -> int:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    try:
        return int(str(value))
    except ValueError:
        return default


def _condition(obj: Mapping[str, Any], ctype: str) -> Mapping[str, Any] | None:
    for c in _status(obj).get("conditions") or []:
        if isinstance(c, Mapping) and c.get("type") == ctype:
            return c
    return None


def _condition_true(obj: Mapping[str, Any], ctype: str) -> bool:
    c = _condition(obj, ctype)
    return c is not None and c.get("status") == "True"


def _terminating(pod: Mapping[str, Any]) -> bool:
    return bool(_meta(pod).get("deletionTimestamp"))


def _active(pod: Mapping[str, Any]) -> bool:
    """controller.IsPodActive: neither finished nor being deleted."""
    return _status(pod).get("phase") not in ("Succeeded", "Failed") and not _terminating(pod)


def _controller_of(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for ref in _meta(obj).get("ownerReferences") or []:
        if isinstance(ref, Mapping) and ref.get("controller"):
            return ref
    return None


def _owned_by(obj: Mapping[str, Any], owner: Mapping[str, Any]) -> bool:
    ref = _controller_of(obj)
    if ref is None:
        return False
    uid = _meta(owner).get("uid")
    if uid and ref.get("uid"):
        return bool(ref.get("uid") == uid)
    return bool(ref.get("kind") == owner.get("kind") and ref.get("name") == _meta(owner).get(
        "name"))


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, Any]) -> bool:
    """A metav1.LabelSelector against labels: every matchLabels pair and every
    matchExpressions requirement (In, NotIn, Exists, DoesNotExist). An empty selector
    matches everything, as the API defines it for workloads' selectors."""
    if not selector:
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for req in selector.get("matchExpressions") or []:
        if not isinstance(req, Mapping):
            return False
        key, op = str(req.get("key")), req.get("operator")
        values = list(req.get("values") or [])
        present = key in labels
        if op == "In" and not (present and labels[key] in values):
            return False
        if op == "NotIn" and present and labels[key] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
        if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            return False
    return True


def _container_statuses(pod: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    status = _status(pod)
    out: list[Mapping[str, Any]] = []
    for key in ("initContainerStatuses", "containerStatuses"):
        out += [s for s in status.get(key) or [] if isinstance(s, Mapping)]
    return out


def _spec_containers(spec: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    out: list[Mapping[str, Any]] = []
    for key in ("initContainers", "containers"):
        out += [c for c in spec.get(key) or [] if isinstance(c, Mapping)]
    return out


def _images(spec: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    return [(key, str(c.get("name")), str(c.get("image")))
            for key in ("initContainers", "containers")
            for c in spec.get(key) or [] if isinstance(c, Mapping)]


def pod_ready(pod: Mapping[str, Any]) -> bool:
    return _condition_true(pod, "Ready")


def pod_images_ready(pod: Mapping[str, Any]) -> bool:
    """Every container's image is on the node: the embedded kubelet's condition, else an
    ``imageID`` in the status of every container the spec names."""
    if _condition_true(pod, IMAGES_READY_CONDITION):
        return True
    names = [str(c.get("name")) for c in _spec_containers(_spec(pod))]
    ids = {str(s.get("name")): str(s.get("imageID") or "") for s in _container_statuses(pod)}
    return bool(names) and all(ids.get(n) for n in names)


def pod_failures(pod: Mapping[str, Any]) -> list[PodFailure]:
    """The containers (init ones included) waiting for a reason that will not pass on
    its own, with the kubelet's message verbatim."""
    meta = _meta(pod)
    images = {str(c.get("name")): str(c.get("image") or "")
              for c in _spec_containers(_spec(pod))}
    out = []
    for s in _container_statuses(pod):
        waiting = (s.get("state") or {}).get("waiting") or {}
        reason = str(waiting.get("reason") or "")
        message = str(waiting.get("message") or "")
        if reason not in FAIL_FAST_REASONS or (
                reason in IMAGE_FAILURE_REASONS and
                any(text in message for text in TRANSIENT_PULL_ERRORS)):
            continue
        name = str(s.get("name") or "")
        out.append(PodFailure(str(meta.get("namespace") or ""), str(meta.get("name") or ""),
                              name, images.get(name) or str(s.get("image") or ""), reason,
                              message))
    return out


# --------------------------------------------------------------------------- events

_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')


def _event_time(event: Mapping[str, Any]) -> float:
    for key in ("lastTimestamp", "eventTime", "firstTimestamp"):
        ts = parse_timestamp(event.get(key))
        if ts is not None:
            return ts
    series = event.get("series")
    if isinstance(series, Mapping):
        ts = parse_timestamp(series.get("lastObservedTime"))
        if ts is not None:
            return ts
    return parse_timestamp(_meta(event).get("creationTimestamp")) or 0.0


def _event_subject(event: Mapping[str, Any]) -> Mapping[str, Any]:
    subject = event.get("involvedObject") or event.get("regarding") or {}
    return subject if isinstance(subject, Mapping) else {}


def _event_message(event: Mapping[str, Any]) -> str:
    return str(event.get("message") or event.get("note") or "")


def pull_note(event: Mapping[str, Any]) -> str:
    """A short account of one kubelet image event: ``pulling IMAGE``, ``pulled IMAGE``,
    ``IMAGE already present``, or the message itself."""
    reason, message = str(event.get("reason") or ""), _event_message(event)
    quoted = _QUOTED.search(message)
    image = quoted.group(1) if quoted else ""
    if reason == "Pulling" and image:
        return f"pulling {image}"
    if reason == "Pulled" and image:
        if "already present" in message:
            return f"{image} already present on the node"
        return f"pulled {image}"
    return message


def _latest_pull_note(pods: Sequence[Mapping[str, Any]],
                      events: Sequence[Mapping[str, Any]]) -> str:
    uids = {str(_meta(p).get("uid")) for p in pods if _meta(p).get("uid")}
    names = {(str(_meta(p).get("namespace")), str(_meta(p).get("name"))) for p in pods}
    best: tuple[float, int, int] | None = None
    chosen: Mapping[str, Any] | None = None
    for i, event in enumerate(events):
        if event.get("reason") not in PULL_EVENT_REASONS:
            continue
        subject = _event_subject(event)
        if subject.get("kind", "Pod") != "Pod":
            continue
        uid = subject.get("uid")
        if not (uid in uids if uid else
                (str(subject.get("namespace")), str(subject.get("name"))) in names):
            continue
        # "Error: ErrImagePull" follows the event that says what the error was.
        informative = 0 if _event_message(event).startswith("Error: ") else 1
        key = (_event_time(event), informative, i)
        if best is None or key > best:
            best, chosen = key, event
    return pull_note(chosen) if chosen is not None else ""


# --------------------------------------------------------------------------- assessment


@dataclass
class _Rollout:
    """One workload read off its object: the numbers and pods the verdict is made of."""

    desired: int
    current: list[Mapping[str, Any]] = field(default_factory=list)
    old: list[Mapping[str, Any]] = field(default_factory=list)
    observed: bool = True
    counters_ready: bool = True  # the controller's own status counters agree
    counters_note: str = ""
    done: bool = False  # finished for good (a Job complete, a Pod succeeded)
    failed: str = ""  # the workload itself failed (deadline exceeded, Job failed)
    count: str = ""  # instead of "<ready>/<desired> ready" (a Job counts completions)


class _Index:
    def __init__(self, snapshot: Snapshot) -> None:
        self.workloads = [w for w in snapshot.workloads if isinstance(w, Mapping)]
        self.pods = [p for p in snapshot.pods if isinstance(p, Mapping)]
        self.events = [e for e in snapshot.events if isinstance(e, Mapping)]

    def find(self, ref: WorkloadRef) -> Mapping[str, Any] | None:
        pool = self.pods + self.workloads if ref.kind == "Pod" else self.workloads
        for obj in pool:
            meta = _meta(obj)
            if obj.get("kind") == ref.kind and meta.get("name") == ref.name and (
                    not ref.namespace or meta.get("namespace", "default") == ref.namespace):
                return obj
        return None

    def pods_in(self, namespace: str) -> list[Mapping[str, Any]]:
        return [p for p in self.pods if _meta(p).get("namespace", "default") == namespace]

    def objects(self, kind: str, namespace: str) -> list[Mapping[str, Any]]:
        return [w for w in self.workloads if w.get("kind") == kind and
                _meta(w).get("namespace", "default") == namespace]


def _generation_observed(obj: Mapping[str, Any]) -> bool:
    generation = _meta(obj).get("generation")
    if generation is None:
        return True
    observed = _status(obj).get("observedGeneration")
    return observed is not None and _int(observed) >= _int(generation)


def _without_hash(template: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(template)
    meta = dict(out.get("metadata") or {})
    meta["labels"] = {k: v for k, v in (meta.get("labels") or {}).items()
                      if k != POD_TEMPLATE_HASH}
    out["metadata"] = meta
    return out


def _template_matches(rs: Mapping[str, Any], template: Mapping[str, Any]) -> bool:
    """deploymentutil.EqualIgnoreHash: the ReplicaSet's template is the Deployment's, but
    for the hash label the ReplicaSet controller added."""
    return _without_hash(_spec(rs).get("template") or {}) == _without_hash(template)


def _deployment_hash(dep: Mapping[str, Any], replicasets: Sequence[Mapping[str, Any]],
                     pods: Sequence[Mapping[str, Any]]) -> str | None:
    """The ``pod-template-hash`` of the Deployment's current template, or None when the
    snapshot does not say (a real cluster's pods without their ReplicaSets)."""
    template = _spec(dep).get("template") or {}
    if replicasets:
        for rs in replicasets:
            if _template_matches(rs, template):
                return str(_labels(rs).get(POD_TEMPLATE_HASH) or "") or None
        revision = (_meta(dep).get("annotations") or {}).get(DEPLOYMENT_REVISION)
        for rs in replicasets:
            if revision and (_meta(rs).get("annotations") or {}).get(
                    DEPLOYMENT_REVISION) == revision:
                return str(_labels(rs).get(POD_TEMPLATE_HASH) or "") or None
        return None
    direct = [p for p in pods if (_controller_of(p) or {}).get("kind") == "Deployment"]
    if direct or not pods:
        # The embedded controller: no ReplicaSets, pods owned by the Deployment and
        # labelled with hoist's hash of the template (cluster/controllers.py).
        return template_hash(template)
    return None


def _assess_deployment(dep: Mapping[str, Any], index: _Index, images_only: bool) -> _Rollout:
    meta, spec, status = _meta(dep), _spec(dep), _status(dep)
    namespace = str(meta.get("namespace") or "default")
    name = str(meta.get("name") or "")
    desired = _int(spec.get("replicas"), 1)
    replicasets = [rs for rs in index.objects("ReplicaSet", namespace) if _owned_by(rs, dep)]
    rs_uids = {str(_meta(rs).get("uid")) for rs in replicasets}

    def belongs(pod: Mapping[str, Any]) -> bool:
        if not selector_matches(spec.get("selector"), _labels(pod)):
            return False
        owner = _controller_of(pod)
        if owner is None:
            return True  # an orphan the ReplicaSet controller would adopt
        if owner.get("kind") == "Deployment":
            return _owned_by(pod, dep)
        if owner.get("kind") != "ReplicaSet":
            return False
        if owner.get("uid") in rs_uids:
            return True
        # A ReplicaSet the snapshot does not hold: it is the Deployment's when named
        # "<deployment>-<pod-template-hash>", as the deployment controller names them.
        return owner.get("name") == f"{name}-{_labels(pod).get(POD_TEMPLATE_HASH, '')}"

    pods = [p for p in index.pods_in(namespace) if belongs(p)]
    hash_ = _deployment_hash(dep, replicasets, pods)
    if hash_ is not None:
        def is_current(p: Mapping[str, Any]) -> bool:
            return _labels(p).get(POD_TEMPLATE_HASH) == hash_
    else:
        wanted = _images(spec.get("template", {}).get("spec") or {})

        def is_current(p: Mapping[str, Any]) -> bool:
            return _images(_spec(p)) == wanted
    active = [p for p in pods if _active(p)]
    r = _Rollout(desired, [p for p in active if is_current(p)],
                 [p for p in active if not is_current(p)], _generation_observed(dep))
    progressing = _condition(dep, "Progressing")
    if progressing is not None and progressing.get("reason") == "ProgressDeadlineExceeded":
        r.failed = str(progressing.get("message") or "progress deadline exceeded")
    if not images_only:
        # kubectl rollout status (polymorphichelpers/rollout_status.go) waits on these.
        updated = _int(status.get("updatedReplicas"))
        total = _int(status.get("replicas"))
        available = _int(status.get("availableReplicas"))
        r.counters_ready = updated >= desired and total <= updated and available >= updated
        if not r.counters_ready:
            r.counters_note = (f"the Deployment reports {updated} updated, {available} "
                               f"available of {desired}")
    return r


def _owned_pods(obj: Mapping[str, Any], index: _Index) -> list[Mapping[str, Any]]:
    namespace = str(_meta(obj).get("namespace") or "default")
    selector = _spec(obj).get("selector")
    out = []
    for pod in index.pods_in(namespace):
        owner = _controller_of(pod)
        if owner is not None:
            if _owned_by(pod, obj):
                out.append(pod)
        elif selector and selector_matches(selector, _labels(pod)):
            out.append(pod)
    return out


def _assess_statefulset(sts: Mapping[str, Any], index: _Index, images_only: bool) -> _Rollout:
    spec, status = _spec(sts), _status(sts)
    desired = _int(spec.get("replicas"), 1)
    active = [p for p in _owned_pods(sts, index) if _active(p)]
    strategy = spec.get("updateStrategy") or {}
    partition = _int((strategy.get("rollingUpdate") or {}).get("partition"))
    revision = str(status.get("updateRevision") or "")
    if strategy.get("type") == "OnDelete" or partition > 0 or not revision:
        # Old revisions stay by design (OnDelete, a partition): every pod counts.
        current, old = active, []
    else:
        current = [p for p in active if _labels(p).get(CONTROLLER_REVISION_HASH) == revision]
        old = [p for p in active if p not in current]
    r = _Rollout(desired, current, old, _generation_observed(sts))
    if not images_only:
        ready = _int(status.get("readyReplicas"))
        updated = _int(status.get("updatedReplicas"))
        r.counters_ready = ready >= desired and (partition > 0 or revision == "" or
                                                 strategy.get("type") == "OnDelete" or
                                                 updated >= desired)
        if not r.counters_ready:
            r.counters_note = (f"the StatefulSet reports {updated} updated, {ready} ready of "
                               f"{desired}")
    return r


def _assess_daemonset(ds: Mapping[str, Any], index: _Index, images_only: bool) -> _Rollout:
    spec, status = _spec(ds), _status(ds)
    desired = _int(status.get("desiredNumberScheduled"))
    active = [p for p in _owned_pods(ds, index) if _active(p)]
    generation = (_meta(ds).get("annotations") or {}).get(DAEMONSET_TEMPLATE_GENERATION)
    if generation:
        current = [p for p in active if str(_labels(p).get(POD_TEMPLATE_GENERATION)) ==
                   str(generation)]
    else:
        wanted = _images((spec.get("template") or {}).get("spec") or {})
        current = [p for p in active if _images(_spec(p)) == wanted]
    r = _Rollout(desired, current, [p for p in active if p not in current],
                 _generation_observed(ds) and "desiredNumberScheduled" in status)
    if not images_only:
        updated = _int(status.get("updatedNumberScheduled"))
        available = _int(status.get("numberAvailable"))
        r.counters_ready = updated >= desired and available >= desired
        if not r.counters_ready:
            r.counters_note = (f"the DaemonSet reports {updated} updated, {available} "
                               f"available of {desired}")
    return r


def _assess_replicaset(rs: Mapping[str, Any], index: _Index, images_only: bool) -> _Rollout:
    spec, status = _spec(rs), _status(rs)
    desired = _int(spec.get("replicas"), 1)
    active = [p for p in _owned_pods(rs, index) if _active(p)]
    r = _Rollout(desired, active, [], _generation_observed(rs))
    if not images_only:
        available = _int(status.get("availableReplicas"))
        r.counters_ready = available >= desired
        if not r.counters_ready:
            r.counters_note = f"the ReplicaSet reports {available} available of {desired}"
    return r


def _assess_job(job: Mapping[str, Any], index: _Index, images_only: bool) -> _Rollout:
    spec, status = _spec(job), _status(job)
    completions = _int(spec.get("completions"), 1) if spec.get("completions") is not None \
        else 1
    active = [p for p in _owned_pods(job, index) if _active(p)]
    if images_only:
        # Nothing completes without running: the pods the controller starts at once
        # (min(parallelism, completions)) must have their images.
        desired = min(_int(spec.get("parallelism"), 1), completions)
        r = _Rollout(desired, active)
    else:
        r = _Rollout(completions, active,
                     count=f"{_int(status.get('succeeded'))}/{completions} complete")
    failed = _condition(job, "Failed")
    if failed is not None and failed.get("status") == "True":
        r.failed = str(failed.get("message") or failed.get("reason") or "the Job failed")
    # Since 1.31 a Job meets SuccessCriteriaMet before its last pods are gone and
    # Complete after: either with nothing left running is done.
    if _condition_true(job, "Complete") or (
            _condition_true(job, "SuccessCriteriaMet") and not active):
        r.done = True
    return r


def _assess_pod(pod: Mapping[str, Any], index: _Index, images_only: bool) -> _Rollout:
    del index, images_only
    status = _status(pod)
    r = _Rollout(1, [pod])
    if status.get("phase") == "Succeeded":
        r.done = True
    elif status.get("phase") == "Failed":
        r.failed = str(status.get("message") or status.get("reason") or _terminations(pod)
                       or "the pod failed")
    return r


def _terminations(pod: Mapping[str, Any]) -> str:
    """``container app: OOMKilled (exit code 137)`` for each container that ended badly."""
    out = []
    for s in _container_statuses(pod):
        done = (s.get("state") or {}).get("terminated")
        if isinstance(done, Mapping) and _int(done.get("exitCode")) != 0:
            out.append(f"container {s.get('name')}: {done.get('reason') or 'Error'} "
                       f"(exit code {_int(done.get('exitCode'))})")
    return "; ".join(out)


_ASSESSORS: dict[str, Callable[[Mapping[str, Any], _Index, bool], _Rollout]] = {
    "Deployment": _assess_deployment,
    "StatefulSet": _assess_statefulset,
    "DaemonSet": _assess_daemonset,
    "ReplicaSet": _assess_replicaset,
    "Job": _assess_job,
    "Pod": _assess_pod,
}


def _waiting_note(pods: Sequence[Mapping[str, Any]], events: Sequence[Mapping[str, Any]],
                  images_only: bool) -> str:
    """Why the first pods that are not ready are not, in the fewest words the snapshot
    allows: unschedulable, the latest image event, a waiting reason, a readiness gate."""
    for pod in pods:
        scheduled = _condition(pod, "PodScheduled")
        if scheduled is not None and scheduled.get("status") == "False":
            return str(scheduled.get("message") or scheduled.get("reason") or "unscheduled")
    if not any(_spec(pod).get("nodeName") for pod in pods):
        return "not scheduled yet"
    pulling = [p for p in pods if any("waiting" in (s.get("state") or {})
                                      for s in _container_statuses(p))
               or not _container_statuses(p)]
    note = _latest_pull_note(pulling, events)
    if note:
        return note
    for pod in pods:
        for s in _container_statuses(pod):
            waiting = (s.get("state") or {}).get("waiting")
            if isinstance(waiting, Mapping) and waiting.get("reason"):
                return str(waiting["reason"])
    if not images_only:
        for pod in pods:
            ready = _condition(pod, "Ready")
            if ready is not None and ready.get("status") == "False" and ready.get("message"):
                return str(ready["message"])
    for pod in pods:
        phase = _status(pod).get("phase")
        if phase:
            return str(phase)
    return ""


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _assess_one(ref: WorkloadRef, index: _Index, images_only: bool) -> WorkloadState:
    assessor = _ASSESSORS.get(ref.kind)
    if assessor is None:
        raise InputError(f"{ref}: the status check waits for {', '.join(WORKLOAD_KINDS)}, "
                         f"not {ref.kind}")
    obj = index.find(ref)
    if obj is None:
        return WorkloadState(ref, 0, 0, 0, "waiting", "not found")
    r = assessor(obj, index, images_only)
    ok: Callable[[Mapping[str, Any]], bool] = pod_images_ready if images_only else pod_ready
    ready_pods = [p for p in r.current if ok(p)]
    names = tuple(str(_meta(p).get("name")) for p in r.current)
    failures = tuple(f for p in r.current for f in pod_failures(p))
    count = r.count or f"{len(ready_pods)}/{r.desired} ready"

    def state(phase: Phase, note: str,
              failures: tuple[PodFailure, ...] = failures) -> WorkloadState:
        detail = f"{count} ({note})" if note else count
        return WorkloadState(ref, r.desired, len(r.current), len(ready_pods), phase, detail,
                             failures, names)

    if not r.observed:
        # Until the controller has seen the spec, which pods are current is not known
        # for sure: a failing pod may be one the new spec replaces.
        return state("waiting", "waiting for the controller to observe the latest spec", ())
    if r.failed:
        return state("failed", r.failed)
    if failures:
        first = failures[0]
        return state("failed", f"{first.reason}: {first.message}" if first.message
                     else first.reason)
    if r.done:
        return state("ready", "")
    unready = [p for p in r.current if not ok(p)]
    if unready:
        return state("waiting", _waiting_note(unready, index.events, images_only))
    if ref.kind == "Job" and not images_only:
        return state("waiting", "running" if r.current else "")
    notes = []
    if len(r.current) < r.desired:
        notes.append(f"{_plural(r.desired - len(r.current), 'pod')} to be created")
    if len(r.current) > r.desired:
        notes.append(f"{_plural(len(r.current) - r.desired, 'surplus pod')} to go")
    if r.old:
        notes.append(f"{_plural(len(r.old), 'pod')} of an older template still there")
    if notes:
        return state("waiting", ", ".join(notes))
    if not r.counters_ready:
        return state("waiting", r.counters_note)
    if images_only:
        return state("ready", "images on the node; the builtin runtime runs no containers")
    return state("ready", "")


def assess(refs: Sequence[WorkloadRef], snapshot: Snapshot, *,
           images_only: bool = False) -> list[WorkloadState]:
    """One state per ref, in order. Pure: everything comes from ``snapshot``."""
    index = _Index(snapshot)
    return [_assess_one(ref, index, images_only) for ref in refs]


def status_deadline(workloads: Sequence[Mapping[str, Any]],
                    default: float = DEFAULT_DEADLINE) -> float:
    """How long to wait: ``default``, or less when a Deployment's progressDeadlineSeconds
    is shorter (the controller gives up then; waiting longer learns nothing)."""
    deadline = default
    for obj in workloads:
        if not isinstance(obj, Mapping) or obj.get("kind") != "Deployment":
            continue
        value = _spec(obj).get("progressDeadlineSeconds")
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            deadline = min(deadline, float(value))
    return deadline


# --------------------------------------------------------------------------- waiting


def _failure_message(states: Sequence[WorkloadState]) -> str:
    lines = []
    for s in states:
        if s.phase != "failed":
            continue
        lines.append(f"{s.ref} failed: {s.detail}")
        for f in s.failures:
            lines.append(f"  {f}")
            lines.append(f"  next: {f.hint}")
    return "\n".join(lines)


def _format_seconds(seconds: float) -> str:
    return f"{seconds:.0f}s" if seconds >= 10 else f"{seconds:.1f}s"


def wait_for_ready(source: StatusSource, refs: Sequence[WorkloadRef], *, deadline: float,
                   images_only: bool = False,
                   on_progress: Callable[[WorkloadState], None] | None = None,
                   poll: float = 0.2, clock: Callable[[], float] = time.monotonic,
                   sleep: Callable[[float], None] | None = None) -> StatusResult:
    """Poll ``source`` until every workload is ready (ok), one has failed (at once, with
    the kubelet's message), or ``deadline`` seconds have passed (timed_out).
    ``on_progress`` hears each workload's state whenever its phase or detail changes.
    Between two looks it waits ``poll`` seconds at most: through the source's
    ``wait_for_update`` when it has one (woken by the next write), else ``sleep``."""
    refs = list(refs)
    if sleep is None:
        sleep = getattr(source, "wait_for_update", None) or time.sleep
    start = clock()
    last: dict[WorkloadRef, tuple[str, str]] = {}
    while True:
        states = assess(refs, source.snapshot(refs), images_only=images_only)
        elapsed = clock() - start
        for s in states:
            seen = (s.phase, s.detail)
            if last.get(s.ref) != seen:
                last[s.ref] = seen
                if on_progress is not None:
                    on_progress(s)
        if any(s.phase == "failed" for s in states):
            return StatusResult(False, states, elapsed, False, _failure_message(states))
        if all(s.phase == "ready" for s in states):
            what = "with every image on the node" if images_only else "ready"
            return StatusResult(True, states, elapsed, False,
                                f"{_plural(len(states), 'workload')} {what} after "
                                f"{_format_seconds(elapsed)}")
        if elapsed >= deadline:
            pending = [s for s in states if s.phase != "ready"]
            lines = [f"timed out after {_format_seconds(elapsed)} waiting for "
                     f"{_plural(len(pending), 'workload')}:"]
            lines += [f"  {s.ref}: {s.detail}" for s in pending]
            return StatusResult(False, states, elapsed, True, "\n".join(lines))
        sleep(max(0.0, min(poll, deadline - elapsed)))


# --------------------------------------------------------------------------- sources


class ClusterStatusSource:
    """Snapshots of the embedded cluster, read from its object store."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self._version = -1

    def wait_for_update(self, timeout: float) -> None:
        """Return once the store has been written since the last snapshot began."""
        self.cluster.wait_for_write(self._version, timeout)

    def snapshot(self, refs: Sequence[WorkloadRef]) -> Snapshot:
        from hoist.cluster.validation import ApiError

        # Read before the objects: a write during the snapshot wakes the next wait.
        self._version = self.cluster.resource_version()
        workloads: list[Mapping[str, Any]] = []
        namespaces: list[str] = []
        for ref in refs:
            namespace = ref.namespace or "default"
            if namespace not in namespaces:
                namespaces.append(namespace)
            if ref.kind == "Pod":
                continue  # pods come with their namespace below
            try:
                obj = self.cluster.get(ref.kind, namespace, ref.name)
            except ApiError:
                continue  # a kind the embedded cluster does not serve: never found
            if obj is not None:
                workloads.append(obj)
        pods: list[Mapping[str, Any]] = []
        for namespace in namespaces:
            pods += self.cluster.list("Pod", namespace)
        # Only the events of these pods: a long dev session leaves an hour of events
        # about pods long gone, and this runs on every write.
        uids = [str(p["metadata"]["uid"]) for p in pods if p.get("metadata", {}).get("uid")]
        events = self.cluster.events(involved_uids=uids) if uids else []
        return Snapshot(tuple(workloads), tuple(pods), tuple(events))
