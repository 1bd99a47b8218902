"""``hoist deploy``: render the config's manifests with the built references, let each
artifact's pull policy shape the deploy (Always: the registry must serve the digest;
Never: the node gets the image first), apply to the target, wait for the workloads, and
check that what runs is what was built."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hoist.config import Config
from hoist.core.policy import PullPolicy
from hoist.core.reference import ReferenceError, parse_normalized_named, repository_name
from hoist.deploy.runs import RunRecord, RunStore
from hoist.deploy.target import (
    ResourceRef,
    Target,
    label_documents,
    new_run_id,
    workloads,
)
from hoist.errors import InputError, OperationError

TARGETS = ("auto", "embedded", "kube")
DEFAULT_STATUS_DEADLINE = 600.0  # Skaffold's statusCheckDeadlineSeconds default: 10 min


def _no_log(line: str) -> None:
    del line


@dataclass(frozen=True, slots=True)
class DeployOptions:
    target: str = "auto"
    kube_context: str | None = None
    kubeconfig: str | None = None
    kubectl: str = "kubectl"
    namespace: str | None = None
    run_id: str | None = None
    status_check: bool = True
    status_deadline: float | None = None
    verify: bool = True
    runtime: str = "auto"  # the embedded node's runtime when hoist starts it
    time_scale: float = 1.0
    store_root: Path | None = None
    data_dir: Path | None = None
    cluster_dir: Path | None = None
    runs_dir: Path | None = None
    # Digest-pinned references this process has just seen the registry serve (a build's
    # Always check): the deploy's own check would ask the same question again.
    served: frozenset[str] = frozenset()
    # Let the node fetch pulled artifacts while the rollout replaces the old pods (targets
    # that can: the embedded node with containerd).
    warm_node: bool = True
    log: Callable[[str], None] = _no_log


@dataclass(frozen=True, slots=True)
class BuiltArtifact:
    """One build.json entry, with what the deploy needs to know about it."""

    artifact: str
    image: str  # as the manifests write it
    repository: str
    tag: str
    digest: str
    policy: PullPolicy | None

    @property
    def reference(self) -> str:
        return f"{self.repository}:{self.tag}@{self.digest}" if self.tag else \
            f"{self.repository}@{self.digest}"

    @property
    def store_name(self) -> str:
        return f"{self.repository}:{self.tag}" if self.tag else self.reference


def built_artifacts(builds: Sequence[Mapping[str, Any]], config: Config | None
                    ) -> list[BuiltArtifact]:
    out: list[BuiltArtifact] = []
    for b in builds:
        name, ref = str(b.get("imageName") or ""), str(b.get("tag") or "")
        try:
            parsed = parse_normalized_named(ref)
        except ReferenceError as e:
            raise InputError(f"build artifact {name!r}: tag {ref!r}: {e}") from None
        if parsed.digest is None:
            raise InputError(f"build artifact {name!r}: {ref!r} has no digest: deploy needs "
                             f"the digest hoist built (repo:tag@sha256:…)")
        artifact = config.artifact_for(name) if config else None
        familiar = ref.split("@", 1)[0]
        tag = parsed.tag or ""
        if tag and familiar.endswith(":" + tag):
            familiar = familiar[: -len(tag) - 1]
        out.append(BuiltArtifact(artifact.name if artifact else name, name, familiar, tag,
                                 str(parsed.digest), artifact.pull_policy if artifact
                                 else None))
    return out


@dataclass
class DeployReport:
    run_id: str
    target: str
    description: str
    resources: list[tuple[ResourceRef, str]]
    artifacts: list[BuiltArtifact]
    status: Any = None  # hoist.deploy.status.StatusResult
    running: dict[str, list[str]] = field(default_factory=dict)  # pod → running image IDs
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "runId": self.run_id, "target": self.target, "description": self.description,
            "resources": [{**r.to_json(), "outcome": o} for r, o in self.resources],
            "artifacts": [{"artifact": a.artifact, "imageName": a.image,
                           "reference": a.reference,
                           "policy": a.policy.value if a.policy else None}
                          for a in self.artifacts],
            "ready": bool(self.status.ok) if self.status is not None else None,
            "running": self.running,
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
            "notes": self.notes,
        }


class DeployFailed(OperationError):
    """The status check or the verification failed; the message says what the node said
    and what to do next."""


# -- the target ---------------------------------------------------------------------------


def current_kube_context(kubeconfig: str | None = None) -> str | None:
    """The kubeconfig's current-context (``$KUBECONFIG``'s first file, else
    ``~/.kube/config``), or None when there is none."""
    import yaml

    paths = [kubeconfig] if kubeconfig else \
        [p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p] or \
        [str(Path.home() / ".kube" / "config")]
    for p in paths:
        try:
            data = yaml.safe_load(Path(p).read_text())
        except (OSError, yaml.YAMLError):
            continue
        if isinstance(data, dict) and data.get("current-context"):
            return str(data["current-context"])
    return None


def choose_target(options: DeployOptions, config: Config | None) -> str:
    """``embedded`` unless a kube context is configured (``--kube-context``, the config's
    ``kubeContext``, or a kubeconfig's current-context) or ``--target kube``."""
    if options.target not in TARGETS:
        raise InputError(f"--target {options.target!r}: want one of {', '.join(TARGETS)}")
    if options.target != "auto":
        return options.target
    if options.kube_context or (config is not None and config.kube_context):
        return "kube"
    return "kube" if current_kube_context(options.kubeconfig) else "embedded"


def open_target(name: str, options: DeployOptions, config: Config | None = None,
                env: Any = None) -> Target:
    if name == "kube":
        from hoist.deploy.kube import KubectlTarget

        context = options.kube_context or (config.kube_context if config else None)
        return KubectlTarget(context, kubectl=options.kubectl, kubeconfig=options.kubeconfig,
                             log=options.log)
    from hoist.deploy.embedded_target import EmbeddedTarget

    if env is None:
        env = ensure_environment(options)
    return EmbeddedTarget(env, log=options.log)


def ensure_environment(options: DeployOptions) -> Any:
    """The embedded registry and cluster, started in the background when not running."""
    from hoist.deploy.embedded import ensure_embedded

    env = ensure_embedded(data_dir=options.data_dir, cluster_dir=options.cluster_dir,
                          runtime=options.runtime, time_scale=options.time_scale,
                          log=options.log)
    for note in env.notes:
        options.log(note)
    return env


# -- policy gates -------------------------------------------------------------------------


def registry_serves(reference: str) -> bool:
    """One HEAD: does the registry serve this digest-pinned reference? A loopback registry
    that answers anonymously is asked over a plain kept-alive connection; anything else
    (credentials, TLS, redirects) goes through the full client."""
    from hoist.core.reference import parse_normalized_named
    from hoist.registry.errors import NotFound
    from hoist.registry.probe import ProbeUnavailable, QuickSession, is_local_host

    named = parse_normalized_named(reference)
    if is_local_host(named.domain) and named.digest is not None:
        try:
            with QuickSession(named.domain, timeout=10.0) as quick:
                return quick.manifest_digest(named.path, str(named.digest)) is not None
        except ProbeUnavailable:
            pass
    from hoist.transfer.ops import resolve

    try:
        resolve(reference)
    except NotFound:
        return False
    return True


def check_policies(artifacts: Sequence[BuiltArtifact], target: Target,
                   store_root: Path | None, log: Callable[[str], None],
                   serves: Callable[[str], bool] = registry_serves) -> list[str]:
    """What each artifact's policy needs before the apply (DESIGN.md §4)."""
    from hoist.store import default_store_root

    notes: list[str] = []
    for a in artifacts:
        pinned = f"{a.repository}@{a.digest}"
        if a.policy is PullPolicy.ALWAYS:
            if not serves(pinned):
                raise DeployFailed(
                    f"{a.artifact}: imagePullPolicy Always, but the registry does not serve "
                    f"{pinned}: every start pulls, so the deploy would fail; push it first "
                    f"(hoist build --push)")
            notes.append(f"{a.artifact}: registry serves {pinned} (Always)")
        elif a.policy is PullPolicy.NEVER:
            held = target.preload(a.store_name, store_root or default_store_root())
            notes.append(f"{a.artifact}: loaded {a.store_name} into the node ({held}); "
                         f"nothing pushed (Never)")
    for n in notes:
        log(n)
    return notes


# -- render -------------------------------------------------------------------------------


def render_documents(config: Config, builds: Sequence[Mapping[str, Any]]
                     ) -> list[dict[str, Any]]:
    """The config's manifests rewritten to the built references, as objects."""
    import yaml

    from hoist.api import read_inputs
    from hoist.render import document_filter, rules_from_builds
    from hoist.render import render as render_sources

    rules = rules_from_builds(builds, config, "local")
    inputs = read_inputs((), config, document_filter(rules) if rules else None)
    if inputs.problems:
        first = inputs.problems[0]
        raise InputError(str(getattr(first, "message", first)))
    docs: list[dict[str, Any]] = []
    for rendered in render_sources(inputs.files, rules):
        try:
            for doc in yaml.safe_load_all(rendered.text):
                if doc is None:
                    continue
                if not isinstance(doc, dict) or "kind" not in doc:
                    raise InputError(f"{rendered.source.name}: a document is not a "
                                     f"Kubernetes object")
                if doc.get("kind") == "List":
                    docs += [d for d in doc.get("items") or [] if isinstance(d, dict)]
                else:
                    docs.append(doc)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            line = f":{mark.line + 1}" if mark is not None else ""
            raise InputError(f"{rendered.source.name}{line}: {e}") from None
    return docs


# -- the deploy ---------------------------------------------------------------------------


def deploy(config: Config, builds: Sequence[Mapping[str, Any]], options: DeployOptions,
           target: Target | None = None) -> DeployReport:
    """Render, gate by policy, apply, wait, verify. ``builds`` are build.json entries."""
    log = options.log
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    artifacts = built_artifacts(builds, config)
    target_name = target.name if target is not None else choose_target(options, config)
    if target is None:
        target = open_target(target_name, options, config)
    run_id = options.run_id or new_run_id()
    namespace = options.namespace or config.default_namespace
    documents = label_documents(render_documents(config, builds), run_id, namespace)
    timings["render"] = time.perf_counter() - t0

    t = time.perf_counter()
    notes = check_policies(artifacts, target, options.store_root, log,
                           serves=lambda ref: ref in options.served or registry_serves(ref))
    timings["preload"] = time.perf_counter() - t

    warm = getattr(target, "warm", None)
    if options.warm_node and warm is not None:
        warm([a.reference for a in artifacts if a.policy is not PullPolicy.NEVER])
    t = time.perf_counter()
    runs = RunStore(options.runs_dir)
    record = _record_for(runs, run_id, target_name, options, config, target)
    applied = target.apply(documents)
    record.merge([r for r, _ in applied])
    runs.save(record)
    for ref, outcome in applied:
        log(f"{ref} {outcome}")
    timings["apply"] = time.perf_counter() - t

    report = DeployReport(run_id, target_name, target.describe(), applied, artifacts,
                          timings=timings, notes=notes)
    if options.status_check:
        t = time.perf_counter()
        report.status = wait_for_workloads(target, documents, [r for r, _ in applied],
                                           options)
        timings["ready"] = time.perf_counter() - t
        if options.verify:
            t = time.perf_counter()
            report.running = verify_workloads(target, report.status, artifacts)
            timings["verify"] = time.perf_counter() - t
    return report


def _record_for(runs: RunStore, run_id: str, target_name: str, options: DeployOptions,
                config: Config, target: Target) -> RunRecord:
    try:
        record = runs.load(run_id)
    except InputError:
        env = getattr(target, "env", None)
        record = RunRecord(run_id, target_name,
                           context=getattr(target, "context", None),
                           kubeconfig=options.kubeconfig,
                           cluster_dir=str(env.cluster_dir) if env is not None else None,
                           config=str(config.path))
    return record


def wait_for_workloads(target: Target, documents: Sequence[Mapping[str, Any]],
                       resources: Sequence[ResourceRef], options: DeployOptions) -> Any:
    from hoist.deploy.status import WorkloadRef, status_deadline, wait_for_ready

    refs = [WorkloadRef(r.kind, r.namespace, r.name) for r in workloads(resources)]
    if not refs:
        return None
    deadline = options.status_deadline or status_deadline(
        [d for d in documents if d.get("kind") == "Deployment"], DEFAULT_STATUS_DEADLINE)
    seen: dict[str, str] = {}

    def progress(state: Any) -> None:
        line = f"{state.ref}: {state.detail}"
        if seen.get(str(state.ref)) != line:
            seen[str(state.ref)] = line
            options.log(line)

    result = wait_for_ready(target.status_source(), refs, deadline=deadline,
                            images_only=target.images_only, on_progress=progress,
                            poll=float(getattr(target, "status_poll", 0.5)))
    if not result.ok:
        raise DeployFailed(_failure_message(result))
    return result


def _failure_message(result: Any) -> str:
    for state in result.states:
        for f in state.failures:
            return (f"{state.ref}: pod {f.pod} container {f.container}: {f.reason}: "
                    f"{f.message}; next: {f.hint}")
    return str(result.message)


def verify_workloads(target: Target, status: Any, artifacts: Sequence[BuiltArtifact]
                     ) -> dict[str, list[str]]:
    """Every container of the workloads' current pods runs the digest hoist built."""
    from hoist.deploy.verify import format_mismatch, verify_running

    if status is None:
        return {}
    expected = {repository_name(a.repository): a.digest for a in artifacts}
    wanted: dict[str, set[str]] = {}
    for state in status.states:
        wanted.setdefault(state.ref.namespace, set()).update(state.pods)
    pods = [p for ns, names in sorted(wanted.items()) for p in target.pods(ns)
            if (p.get("metadata") or {}).get("name") in names]
    mismatches = verify_running(pods, expected)
    if mismatches:
        raise DeployFailed("; ".join(format_mismatch(m) for m in mismatches))
    running: dict[str, list[str]] = {}
    for p in pods:
        statuses = (p.get("status") or {}).get("containerStatuses") or []
        running[str(p["metadata"]["name"])] = [str(s.get("imageID") or "") for s in statuses]
    return running


def delete_run(run_id: str | None = None, *, options: DeployOptions | None = None,
               all_runs: bool = False) -> list[str]:
    """``hoist delete``: remove what a run (the last one, by default) applied."""
    options = options or DeployOptions()
    runs = RunStore(options.runs_dir)
    records = runs.all() if all_runs else [runs.load(run_id)]
    gone: list[str] = []
    for record in records:
        if record.target == "kube":
            from hoist.deploy.kube import KubectlTarget

            target: Target = KubectlTarget(record.context, kubectl=options.kubectl,
                                           kubeconfig=record.kubeconfig, log=options.log)
            gone += target.delete(record.resources, record.run_id)
        else:
            from hoist.cluster.store import Cluster
            from hoist.deploy.embedded_target import delete_labelled

            cluster_dir = Path(record.cluster_dir) if record.cluster_dir else \
                options.cluster_dir
            if cluster_dir is None:
                from hoist.cluster.store import default_cluster_dir

                cluster_dir = default_cluster_dir()
            if not (cluster_dir / "cluster.db").exists():
                runs.forget(record.run_id)
                continue
            with Cluster.open(cluster_dir) as cluster:
                gone += delete_labelled(cluster, record.resources, record.run_id)
        runs.forget(record.run_id)
    return gone

