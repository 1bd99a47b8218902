"""What a deploy target is (the embedded cluster, a real one through kubectl) and the
small decisions every target shares: labels that mark what hoist applied, namespaces,
run ids."""

from __future__ import annotations

import copy
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from hoist.errors import InputError

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "hoist"
RUN_ID_LABEL = "hoist.dev/run-id"
# Kinds whose objects live outside any namespace: a namespace is never set on them.
CLUSTER_SCOPED = frozenset({
    "Namespace", "Node", "PersistentVolume", "ClusterRole", "ClusterRoleBinding",
    "CustomResourceDefinition", "StorageClass", "PriorityClass", "IngressClass",
    "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration", "APIService",
})
# Kinds the status check waits for.
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "Pod")


@dataclass(frozen=True, slots=True, order=True)
class ResourceRef:
    kind: str
    namespace: str  # "" for cluster-scoped kinds
    name: str

    def __str__(self) -> str:
        return f"{self.kind.lower()}/{self.name}"

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "namespace": self.namespace, "name": self.name}


class Target(Protocol):
    """Where manifests go. ``images_only``: the node only ensures images (the builtin
    runtime), so "ready" means every image is on the node."""

    name: str
    images_only: bool

    def describe(self) -> str: ...

    def preload(self, reference: str, store_root: Any) -> str:
        """``imagePullPolicy: Never``: put the image on the node before the deploy."""
        ...

    def apply(self, documents: Sequence[Mapping[str, Any]]) -> list[tuple[ResourceRef, str]]:
        """Apply; each resource with kubectl's outcome word (created, configured…)."""
        ...

    def status_source(self) -> Any: ...

    def pods(self, namespace: str) -> list[dict[str, Any]]: ...

    def delete(self, resources: Sequence[ResourceRef], run_id: str | None) -> list[str]:
        """Delete what a run applied (only objects still labelled with ``run_id`` when
        given); the names of what went."""
        ...


def new_run_id() -> str:
    """Skaffold labels a session's resources with a UUID; 12 hex digits are plenty to
    tell one developer's runs apart and short enough to read."""
    return secrets.token_hex(6)


def label_documents(documents: Sequence[Mapping[str, Any]], run_id: str,
                    namespace: str | None) -> list[dict[str, Any]]:
    """Copies of ``documents`` with hoist's labels on every resource and ``namespace``
    on namespaced resources that name none. A resource that names another namespace than
    ``--namespace`` is refused, as kubectl refuses it."""
    out: list[dict[str, Any]] = []
    for doc in documents:
        obj = copy.deepcopy(dict(doc))
        kind = str(obj.get("kind") or "")
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise InputError(f"{kind or 'a resource'}: metadata is not a mapping")
        labels = meta.setdefault("labels", {}) or {}
        meta["labels"] = {**labels, MANAGED_BY_LABEL: MANAGED_BY, RUN_ID_LABEL: run_id}
        if kind not in CLUSTER_SCOPED and namespace:
            current = meta.get("namespace")
            if current and current != namespace:
                raise InputError(
                    f"{kind}/{meta.get('name')}: its namespace {current!r} does not match "
                    f"--namespace {namespace!r}")
            meta["namespace"] = namespace
        out.append(obj)
    return out


def resource_ref(obj: Mapping[str, Any], default_namespace: str = "default") -> ResourceRef:
    kind = str(obj.get("kind") or "")
    meta = obj.get("metadata") or {}
    namespace = "" if kind in CLUSTER_SCOPED else str(meta.get("namespace")
                                                      or default_namespace)
    return ResourceRef(kind, namespace, str(meta.get("name") or ""))


def workloads(resources: Sequence[ResourceRef]) -> list[ResourceRef]:
    return [r for r in resources if r.kind in WORKLOAD_KINDS]
