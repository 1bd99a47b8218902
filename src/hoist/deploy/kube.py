"""The kube target: a real cluster through ``kubectl`` — apply (server-side when the
server takes it), read state as JSON for the status check, delete by hoist's labels —
plus ``kind load`` for ``imagePullPolicy: Never`` on kind clusters."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from hoist.deploy.target import RUN_ID_LABEL, ResourceRef, resource_ref
from hoist.errors import OperationError

# kubectl's words for a server that cannot do server-side apply (older API servers or
# aggregated APIs): hoist then applies client-side, as kubectl apply does by default.
_NO_SERVER_SIDE = ("server-side apply", "does not support", "the server does not allow")
KIND_CONTEXT_PREFIX = "kind-"  # kind names the kubeconfig context kind-<cluster>


def kind_cluster(context: str | None) -> str | None:
    """The kind cluster a context belongs to (``kind-dev`` → ``dev``), else None."""
    if context and context.startswith(KIND_CONTEXT_PREFIX) and len(context) > 5:
        return context[len(KIND_CONTEXT_PREFIX):]
    return None


def never_refusal(context: str | None) -> str:
    return (f"imagePullPolicy Never needs the image preloaded on the node, and hoist can "
            f"load images only into its embedded cluster or a kind cluster (with `kind` "
            f"installed); context {context or '(current)'!r} is neither: use IfNotPresent "
            f"with the digest-pinned reference, or load the image onto the nodes yourself")


class KubectlTarget:
    name = "kube"
    images_only = False
    status_poll = 1.0  # each snapshot is three kubectl calls against the API server

    def __init__(self, context: str | None = None, *, kubectl: str = "kubectl",
                 kubeconfig: str | None = None, server_side: bool = True,
                 log: Callable[[str], None] | None = None) -> None:
        self.context = context
        self.kubectl = kubectl
        self.kubeconfig = kubeconfig
        self.server_side = server_side
        self._log = log or (lambda line: None)

    def describe(self) -> str:
        return f"kubectl context {self.context or '(current)'}"

    # -- kubectl --------------------------------------------------------------------------

    def _argv(self, *args: str) -> list[str]:
        argv = [self.kubectl]
        if self.kubeconfig:
            argv += ["--kubeconfig", self.kubeconfig]
        if self.context:
            argv += ["--context", self.context]
        return argv + list(args)

    def run(self, *args: str, stdin: bytes | None = None) -> str:
        argv = self._argv(*args)
        if shutil.which(argv[0]) is None and not os.path.isfile(argv[0]):
            raise OperationError(f"{argv[0]}: not found (install kubectl, or use "
                                 f"--target embedded)")
        proc = subprocess.run(argv, input=stdin, capture_output=True, check=False)
        if proc.returncode != 0:
            message = proc.stderr.decode(errors="replace").strip().splitlines()
            raise OperationError(f"kubectl {' '.join(args[:2])}: "
                                 f"{message[-1] if message else f'exit {proc.returncode}'}")
        return proc.stdout.decode(errors="replace")

    def _json(self, *args: str) -> Any:
        text = self.run(*args, "-o", "json")
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            raise OperationError(f"kubectl {' '.join(args[:2])}: output is not JSON") from None

    # -- Target ---------------------------------------------------------------------------

    def preload(self, reference: str, store_root: Any) -> str:
        cluster = kind_cluster(self.context)
        if cluster is None or shutil.which("kind") is None:
            raise OperationError(f"{reference}: {never_refusal(self.context)}")
        from hoist.transfer.copy import Options, copy

        with tempfile.TemporaryDirectory(prefix="hoist-kind-") as tmp:
            layout = Path(tmp) / "layout"
            result = copy(f"store:{reference}", f"oci:{layout}:{reference.rsplit('/', 1)[-1]}",
                          Options(store_root=Path(store_root)))
            archive = Path(tmp) / "image.tar"
            with tarfile.open(archive, "w") as tar:
                for path in sorted(layout.rglob("*")):
                    tar.add(path, arcname=str(path.relative_to(layout)), recursive=False)
            proc = subprocess.run(["kind", "load", "image-archive", str(archive), "--name",
                                   cluster], capture_output=True, check=False)
            if proc.returncode != 0:
                raise OperationError(f"kind load image-archive ({reference}): "
                                     f"{proc.stderr.decode(errors='replace').strip()}")
        self._log(f"loaded {reference} into kind cluster {cluster}")
        return str(result.digest)

    def apply(self, documents: Sequence[Mapping[str, Any]]) -> list[tuple[ResourceRef, str]]:
        if not documents:
            return []
        stream = json.dumps({"apiVersion": "v1", "kind": "List",
                             "items": list(documents)}).encode()
        args = ["apply", "-f", "-", "-o", "name"]
        if self.server_side:
            try:
                self.run(*args, "--server-side", "--field-manager=hoist",
                         "--force-conflicts", stdin=stream)
            except OperationError as e:
                if not any(word in str(e) for word in _NO_SERVER_SIDE):
                    raise
                self._log("the server refused server-side apply; applying client-side")
                self.run(*args, stdin=stream)
        else:
            self.run(*args, stdin=stream)
        # `-o name` lists what was applied; the documents name it with its namespace
        return [(resource_ref(d), "applied") for d in documents]

    def status_source(self) -> KubectlStatusSource:
        return KubectlStatusSource(self)

    def pods(self, namespace: str) -> list[dict[str, Any]]:
        return list(self._json("get", "pods", "-n", namespace).get("items") or [])

    def delete(self, resources: Sequence[ResourceRef], run_id: str | None) -> list[str]:
        by_namespace: dict[str, set[str]] = defaultdict(set)
        for ref in resources:
            by_namespace[ref.namespace].add(ref.kind.lower())
        gone: list[str] = []
        for namespace, kinds in sorted(by_namespace.items()):
            # Only what still carries this run's label: a later run may own it by now.
            selector = f"{RUN_ID_LABEL}={run_id}" if run_id else \
                "app.kubernetes.io/managed-by=hoist"
            args = ["delete", ",".join(sorted(kinds)), "-l", selector, "--ignore-not-found",
                    "-o", "name"]
            if namespace:
                args += ["-n", namespace]
            out = self.run(*args)
            gone += [line.strip() for line in out.splitlines() if line.strip()]
        return gone


class KubectlStatusSource:
    """Snapshots for the status check from ``kubectl get … -o json``."""

    def __init__(self, target: KubectlTarget) -> None:
        self.target = target

    def snapshot(self, refs: Sequence[Any]) -> Any:
        from hoist.deploy.status import Snapshot

        workloads: list[dict[str, Any]] = []
        pods: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        namespaces: dict[str, list[Any]] = defaultdict(list)
        for ref in refs:
            namespaces[ref.namespace].append(ref)
        for namespace, group in sorted(namespaces.items()):
            names = [f"{r.kind.lower()}/{r.name}" for r in group]
            ns = ["-n", namespace] if namespace else []
            found = self.target._json("get", *names, *ns, "--ignore-not-found")
            workloads += list(found.get("items") or ([found] if found.get("kind") else []))
            # Pods and ReplicaSets of the namespace: the status check picks those of each
            # workload's current template (old ones must be gone before it is ready).
            pods += list(self.target._json("get", "pods", *ns).get("items") or [])
            # ReplicaSets tell the current template's pods from the old ones even when only
            # env or config changed between them.
            workloads += list(self.target._json("get", "replicasets", *ns).get("items") or [])
            events += list(self.target._json("get", "events", *ns).get("items") or [])
        return Snapshot(workloads=workloads, pods=pods, events=events)
