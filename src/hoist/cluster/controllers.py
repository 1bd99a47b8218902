"""The Deployment controller, without ReplicaSets: a Deployment owns its Pods directly.

Decisions are pure functions over dicts (the store applies them in one transaction):

* one hash per pod template (label ``pod-template-hash``): FNV-32a over the template,
  its decimal value spelled with apimachinery's rand.SafeEncodeString alphabet, as
  pkg/controller/controller_utils.go ComputeHash spells it (the bytes hashed differ: Go
  hashes a spew dump, hoist canonical JSON — stable for one template all the same);
* pods named ``<deployment>-<hash>-<5 random chars>`` (the ReplicaSet's generateName);
* ``Recreate``: pods of an old template are deleted first; new ones are created once
  they are gone. ``RollingUpdate``: all pods of the new template are created at once (a
  surge of up to 100 %), old ones that are not ready are deleted at once, and ready old
  ones only as far as ``maxUnavailable`` allows — so a rollout whose new pods cannot pull
  their image keeps the old pods serving, as a real rollout does;
* status and the Available / Progressing conditions with the deployment controller's
  reasons and messages (pkg/controller/deployment/util/deployment_util.go), the
  pseudo-ReplicaSet named ``<deployment>-<hash>`` in messages.
"""

from __future__ import annotations

import copy
import functools
import json
import math
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

POD_TEMPLATE_HASH_LABEL = "pod-template-hash"
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
# k8s.io/apimachinery pkg/util/rand: no vowels, no 0/1/3 — nothing spells a word.
SAFE_ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"

# Condition reasons (deployment_util.go).
NEW_RS_CREATED = "NewReplicaSetCreated"
RS_UPDATED = "ReplicaSetUpdated"
NEW_RS_AVAILABLE = "NewReplicaSetAvailable"
TIMED_OUT = "ProgressDeadlineExceeded"
MIN_AVAILABLE = "MinimumReplicasAvailable"
MIN_UNAVAILABLE = "MinimumReplicasUnavailable"


# --------------------------------------------------------------------------- time


def format_timestamp(ts: float) -> str:
    """metav1.Time on the wire: RFC 3339, UTC, whole seconds."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(ts)))


def parse_timestamp(text: Any) -> float | None:
    if not isinstance(text, str) or not text:
        return None
    import datetime as _dt

    try:
        value = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=_dt.UTC)
    return value.timestamp()


# --------------------------------------------------------------------------- hashing


def safe_encode(s: str) -> str:
    return "".join(SAFE_ALPHANUMS[ord(ch) % len(SAFE_ALPHANUMS)] for ch in s)


def fnv32a(data: bytes) -> int:
    h = 0x811C9DC5
    for b in data:
        h ^= b
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def template_hash(template: Mapping[str, Any], collision_count: int = 0) -> str:
    """The ``pod-template-hash`` of a (defaulted) pod template."""
    clean = dict(template)
    meta = clean.get("metadata")
    if isinstance(meta, Mapping):
        labels = meta.get("labels")
        if isinstance(labels, Mapping) and POD_TEMPLATE_HASH_LABEL in labels:
            clean["metadata"] = {**meta, "labels": {
                k: v for k, v in labels.items() if k != POD_TEMPLATE_HASH_LABEL}}
    data = json.dumps(clean, sort_keys=True, separators=(",", ":")).encode()
    if collision_count:
        data += str(collision_count).encode()
    return _hash_of(data)


@functools.lru_cache(maxsize=64)
def _hash_of(data: bytes) -> str:
    # FNV-1a runs byte by byte in Python (0.1 ms a template), and a status check asks
    # for the same template's hash on every look.
    return safe_encode(str(fnv32a(data)))


def random_suffix(rng: random.Random | None = None, n: int = 5) -> str:
    r = rng or random.SystemRandom()
    return "".join(r.choice(SAFE_ALPHANUMS) for _ in range(n))


# --------------------------------------------------------------------------- pods


def owned_by(pod: Mapping[str, Any], uid: str) -> bool:
    refs = (pod.get("metadata") or {}).get("ownerReferences") or []
    return any(isinstance(r, Mapping) and r.get("uid") == uid for r in refs)


def pod_hash(pod: Mapping[str, Any]) -> str:
    return str(((pod.get("metadata") or {}).get("labels") or {}).get(
        POD_TEMPLATE_HASH_LABEL, ""))


def pod_terminating(pod: Mapping[str, Any]) -> bool:
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


def pod_active(pod: Mapping[str, Any]) -> bool:
    """controller.IsPodActive: not terminal, not being deleted."""
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed") and not pod_terminating(pod)


def _ready_condition(pod: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for c in (pod.get("status") or {}).get("conditions") or []:
        if isinstance(c, Mapping) and c.get("type") == "Ready":
            return c
    return None


def pod_ready(pod: Mapping[str, Any]) -> bool:
    c = _ready_condition(pod)
    return c is not None and c.get("status") == "True"


def pod_available(pod: Mapping[str, Any], min_ready_seconds: int, now: float) -> bool:
    """podutil.IsPodAvailable: ready for at least minReadySeconds."""
    c = _ready_condition(pod)
    if c is None or c.get("status") != "True":
        return False
    if min_ready_seconds <= 0:
        return True
    since = parse_timestamp(c.get("lastTransitionTime"))
    return since is not None and since + min_ready_seconds <= now


def scaled_value(value: Any, total: int, round_up: bool) -> int:
    """intstr.GetScaledValueFromIntOrPercent."""
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.endswith("%"):
        try:
            pct = int(value[:-1])
        except ValueError:
            return 0
        exact = pct * total / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    try:
        return int(str(value))
    except ValueError:
        return 0


def max_unavailable(dep: Mapping[str, Any]) -> int:
    """deploymentutil.MaxUnavailable: 0 for Recreate; surge and unavailable both 0 → 1."""
    spec = dep.get("spec") or {}
    replicas = int(spec.get("replicas", 1))
    strategy = spec.get("strategy") or {}
    if strategy.get("type") != "RollingUpdate" or replicas == 0:
        return 0
    rolling = strategy.get("rollingUpdate") or {}
    surge = scaled_value(rolling.get("maxSurge", "25%"), replicas, True)
    unavailable = scaled_value(rolling.get("maxUnavailable", "25%"), replicas, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return min(unavailable, replicas)


# --------------------------------------------------------------------------- rollout


@dataclass(slots=True)
class RolloutPlan:
    """What the controller does for one Deployment this round."""

    hash: str
    create: int = 0
    delete: list[dict[str, Any]] = field(default_factory=list)


def _newest_first_unready_first(pods: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Which pods to scale down first (controller.ActivePods ordering, simplified):
    not ready before ready, newer before older."""
    return sorted(pods, key=lambda p: (pod_ready(p),
                                       -(parse_timestamp((p.get("metadata") or {}).get(
                                           "creationTimestamp")) or 0)))


def plan_rollout(dep: Mapping[str, Any], pods: Sequence[dict[str, Any]]) -> RolloutPlan:
    """Pods to create (of the current template) and pods to delete; ``pods`` are the
    Deployment's own, terminating ones included."""
    spec = dep.get("spec") or {}
    desired = int(spec.get("replicas", 1))
    current = template_hash(spec.get("template") or {})
    plan = RolloutPlan(current)
    active = [p for p in pods if pod_active(p)]
    new = [p for p in active if pod_hash(p) == current]
    old = [p for p in active if pod_hash(p) != current]
    if len(new) > desired:
        plan.delete += _newest_first_unready_first(new)[: len(new) - desired]
        new = [p for p in new if p not in plan.delete]
    strategy = (spec.get("strategy") or {}).get("type", "RollingUpdate")
    if strategy == "Recreate":
        plan.delete += old
        old_left = [p for p in pods if pod_hash(p) != current and
                    (pod_terminating(p) or pod_active(p))]
        if not old_left:
            plan.create = max(0, desired - len(new))
        return plan
    plan.create = max(0, desired - len(new))
    unready_old = [p for p in old if not pod_ready(p)]
    ready_old = [p for p in old if pod_ready(p)]
    plan.delete += unready_old
    ready_new = sum(1 for p in new if pod_ready(p))
    if ready_new >= desired:
        plan.delete += ready_old
    else:
        may_go = ready_new + len(ready_old) - (desired - max_unavailable(dep))
        if may_go > 0:
            plan.delete += _newest_first_unready_first(ready_old)[:may_go]
    return plan


def new_pod(dep: Mapping[str, Any], hash_: str, suffix: str) -> dict[str, Any]:
    """The pod the (pseudo-)ReplicaSet of ``hash_`` creates."""
    meta = dep.get("metadata") or {}
    template = copy.deepcopy((dep.get("spec") or {}).get("template") or {})
    tmeta = template.get("metadata") or {}
    labels = dict(tmeta.get("labels") or {})
    labels[POD_TEMPLATE_HASH_LABEL] = hash_
    pod_meta: dict[str, Any] = {
        "name": f"{meta.get('name')}-{hash_}-{suffix}",
        "generateName": f"{meta.get('name')}-{hash_}-",
        "namespace": meta.get("namespace", "default"),
        "labels": labels,
        "ownerReferences": [{
            "apiVersion": "apps/v1", "kind": "Deployment", "name": meta.get("name"),
            "uid": meta.get("uid"), "controller": True, "blockOwnerDeletion": True,
        }],
    }
    if tmeta.get("annotations"):
        pod_meta["annotations"] = dict(tmeta["annotations"])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta,
            "spec": template.get("spec") or {}}


# --------------------------------------------------------------------------- status


def _condition(conditions: list[dict[str, Any]], ctype: str) -> dict[str, Any] | None:
    for c in conditions:
        if c.get("type") == ctype:
            return c
    return None


def _set_condition(conditions: list[dict[str, Any]], ctype: str, status: str, reason: str,
                   message: str, now: str, touch: bool) -> None:
    """deploymentutil.SetDeploymentCondition: the transition time moves only when the
    status changes; the update time when asked (progress was made) or anything changed."""
    old = _condition(conditions, ctype)
    new = {"type": ctype, "status": status, "lastUpdateTime": now,
           "lastTransitionTime": now, "reason": reason, "message": message}
    if old is not None:
        if old.get("status") == status:
            new["lastTransitionTime"] = old.get("lastTransitionTime", now)
            if old.get("reason") == reason and old.get("message") == message and not touch:
                new["lastUpdateTime"] = old.get("lastUpdateTime", now)
        conditions[conditions.index(old)] = new
    else:
        conditions.append(new)


def deployment_status(dep: Mapping[str, Any], pods: Sequence[Mapping[str, Any]],
                      now: float, pods_created: bool = False) -> dict[str, Any]:
    """The Deployment's status from its pods (terminating pods count for nothing) and
    its previous status (for the conditions' times and the progress deadline)."""
    spec = dep.get("spec") or {}
    meta = dep.get("metadata") or {}
    prev = dict(dep.get("status") or {})
    desired = int(spec.get("replicas", 1))
    min_ready = int(spec.get("minReadySeconds", 0) or 0)
    current = template_hash(spec.get("template") or {})
    rs_name = f"{meta.get('name')}-{current}"
    active = [p for p in pods if pod_active(p)]
    updated = sum(1 for p in active if pod_hash(p) == current)
    ready = sum(1 for p in active if pod_ready(p))
    available = sum(1 for p in active if pod_available(p, min_ready, now))
    counts = {
        "observedGeneration": int(meta.get("generation", 1)),
        "replicas": len(active),
        "updatedReplicas": updated,
        "readyReplicas": ready,
        "availableReplicas": available,
        "unavailableReplicas": max(0, desired - available),
    }
    status: dict[str, Any] = {k: v for k, v in counts.items() if v}  # omitempty
    stamp = format_timestamp(now)
    conditions = [dict(c) for c in prev.get("conditions") or [] if isinstance(c, Mapping)]
    if available >= desired - max_unavailable(dep):
        _set_condition(conditions, "Available", "True", MIN_AVAILABLE,
                       "Deployment has minimum availability.", stamp, False)
    else:
        _set_condition(conditions, "Available", "False", MIN_UNAVAILABLE,
                       "Deployment does not have minimum availability.", stamp, False)
    old_active = len(active) - updated
    complete = updated == desired and available == desired and old_active == 0
    progressed = (pods_created or updated > prev.get("updatedReplicas", 0)
                  or ready > prev.get("readyReplicas", 0)
                  or available > prev.get("availableReplicas", 0)
                  or old_active < prev.get("replicas", 0) - prev.get("updatedReplicas", 0))
    progressing = _condition(conditions, "Progressing")
    if complete:
        _set_condition(conditions, "Progressing", "True", NEW_RS_AVAILABLE,
                       f'ReplicaSet "{rs_name}" has successfully progressed.', stamp, False)
    elif progressing is None:
        _set_condition(conditions, "Progressing", "True", NEW_RS_CREATED,
                       f'Created new replica set "{rs_name}"', stamp, True)
    elif progressed or (progressing.get("reason") == NEW_RS_AVAILABLE):
        _set_condition(conditions, "Progressing", "True", RS_UPDATED,
                       f'ReplicaSet "{rs_name}" is progressing.', stamp, True)
    else:
        deadline = spec.get("progressDeadlineSeconds")
        last = parse_timestamp(progressing.get("lastUpdateTime"))
        if (isinstance(deadline, int) and last is not None and progressing.get("reason")
                != TIMED_OUT and last + deadline < now):
            _set_condition(conditions, "Progressing", "False", TIMED_OUT,
                           f'ReplicaSet "{rs_name}" has timed out progressing.', stamp, True)
    # Available before Progressing, as the controller's first sync writes them.
    conditions.sort(key=lambda c: {"Available": 0, "Progressing": 1}.get(c["type"], 2))
    status["conditions"] = conditions
    return status
