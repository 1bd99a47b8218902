"""The embedded target: hoist's own single-node cluster, fed directly through its object
store (what ``hoist cluster apply`` does), with images from the embedded registry."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from hoist.deploy.target import RUN_ID_LABEL, ResourceRef, resource_ref


class EmbeddedTarget:
    name = "embedded"
    # The longest wait between two looks at the status: the store's status source wakes
    # the check as soon as anything is written, so this only bounds a missed notification.
    status_poll = 0.25

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

    def warm(self, references: Sequence[str]) -> None:
        """Start the node's runtime fetching images it is about to be asked for, in the
        background, so the fetch overlaps the rollout's teardown of the old pods. The
        kubelet still makes its own decision and its own PullImage call (with Always,
        containerd then finds the content local); only where the bytes come from early
        changes."""
        if self.env.runtime != "cri" or not self.env.cri_socket or not references:
            return
        import threading

        def fetch() -> None:
            from hoist.node.cri.runtime import CriRuntime
            from hoist.node.runtime import RuntimeFailure

            try:
                with CriRuntime(str(self.env.cri_socket), timeout=60.0) as runtime:
                    for ref in references:
                        runtime.pull_image(ref)
            except (RuntimeFailure, OSError):
                pass  # the kubelet's own pull reports whatever is wrong, as it would

        threading.Thread(target=fetch, name="hoist-warm-node", daemon=True).start()

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
        return delete_labelled(self.cluster, resources, run_id)


def delete_labelled(cluster: Any, resources: Sequence[ResourceRef], run_id: str | None
                    ) -> list[str]:
    """Delete from an embedded cluster what a run applied, and only objects still
    labelled with ``run_id`` (when given): a later run that took one over owns it."""
    from hoist.cluster.store import KINDS

    gone: list[str] = []
    for ref in resources:
        if ref.kind not in KINDS:
            continue
        obj = cluster.get(ref.kind, ref.namespace or None, ref.name)
        if obj is None:
            continue
        labels = (obj.get("metadata") or {}).get("labels") or {}
        if run_id is not None and labels.get(RUN_ID_LABEL) != run_id:
            continue
        if cluster.delete(ref.kind, ref.namespace or None, ref.name):
            gone.append(str(ref))
    return gone
