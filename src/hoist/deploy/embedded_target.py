"""The embedded target: hoist's own single-node cluster, fed directly through its object
store (what ``hoist cluster apply`` does), with images from the embedded registry."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from hoist.deploy.target import RUN_ID_LABEL, ResourceRef, resource_ref


class EmbeddedTarget:
    name = "embedded"
    status_poll = 0.02  # a snapshot is a few local SQLite reads

    def __init__(self, env: Any, log: Callable[[str], None] | None = None) -> None:
        from hoist.cluster.store import Cluster

        self.env = env
        self.images_only = env.runtime == "builtin"
        self._log = log or (lambda line: None)
        self.cluster = Cluster.open(Path(env.cluster_dir))

    def close(self) -> None:
        self.cluster.close()

    def describe(self) -> str:
        runtime = "containerd over CRI" if self.env.runtime == "cri" else \
            "builtin runtime (images only; containers do not run)"
        return f"embedded cluster ({runtime}), registry {self.env.registry}"

    def preload(self, reference: str, store_root: Any) -> str:
        from hoist.deploy.embedded import preload_image
        from hoist.store import ContentStore

        store = ContentStore(Path(store_root))
        try:
            return str(preload_image(self.env, reference, store))
        finally:
            store.close()

    def apply(self, documents: Sequence[Mapping[str, Any]]) -> list[tuple[ResourceRef, str]]:
        from hoist.cluster.store import KINDS

        out: list[tuple[ResourceRef, str]] = []
        for doc in documents:
            ref = resource_ref(doc)
            if ref.kind not in KINDS:
                # Host networking makes Services moot on one node; the rest is not served.
                self._log(f"{ref}: skipped (the embedded cluster serves "
                          f"{', '.join(KINDS)})")
                continue
            # An object the API would refuse raises the cluster's ApiError (an InputError
            # with the API server's own wording).
            _, outcome = self.cluster.apply(doc)
            out.append((ref, outcome))
        return out

    def status_source(self) -> Any:
        from hoist.deploy.status import ClusterStatusSource

        return ClusterStatusSource(self.cluster)

    def pods(self, namespace: str) -> list[dict[str, Any]]:
        return self.cluster.list("Pod", namespace)

    def delete(self, resources: Sequence[ResourceRef], run_id: str | None) -> list[str]:
        from hoist.cluster.store import KINDS

        gone: list[str] = []
        for ref in resources:
            if ref.kind not in KINDS:
                continue
            obj = self.cluster.get(ref.kind, ref.namespace or None, ref.name)
            if obj is None:
                continue
            labels = (obj.get("metadata") or {}).get("labels") or {}
            if run_id is not None and labels.get(RUN_ID_LABEL) != run_id:
                continue  # a later run took it over: it is that run's to delete
            if self.cluster.delete(ref.kind, ref.namespace or None, ref.name):
                gone.append(str(ref))
        return gone
