"""``hoist doctor``: for every container, try the pull as its node would and say why it
fails.

For each container the node's credentials are looked up in the kubelet's order (the pod's
pull Secrets, then the node's config files; nothing matching means one anonymous pull),
each is tried in turn until one works, and each attempt is a manifest HEAD (a GET for an
index, to find the node's platform) with hoist's registry client. The last attempt's
outcome is the container's. With a pod of the embedded cluster, the node's own image
store says whether the image is already there."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hoist.auth.keyring import Keyring
from hoist.core.platform import Platform, host_platform
from hoist.core.policy import apply_default_image_tag
from hoist.core.reference import Reference, ReferenceError, parse_normalized_named
from hoist.doctor.classify import Observation, Outcome, Verdict, classify, invalid_reference
from hoist.doctor.credentials import CredentialChoice, choice_label, credential_choices
from hoist.doctor.node import Presence
from hoist.doctor.targets import ContainerTarget
from hoist.errors import InputError
from hoist.manifests.source import SourceProblem

COLUMNS = ("file", "line", "namespace", "pod", "container", "container_type", "image",
           "credential", "outcome", "detail", "hint")
# No request was made (the image name does not parse).
NO_CREDENTIAL = "none"
# Outcomes another credential cannot change: the node would meet them again.
_CREDENTIAL_INDEPENDENT = frozenset({Outcome.UNREACHABLE, Outcome.TLS_MISMATCH,
                                     Outcome.NO_PLATFORM})
# Requests in flight at once (each container costs one to three).
CONCURRENCY = 8
DEFAULT_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class ContainerDiagnosis:
    file: str | None
    line: int | None
    namespace: str
    pod: str
    container: str
    container_type: str
    image: str
    credential: str
    outcome: Outcome
    detail: str
    hint: str

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.OK

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.file is not None else \
            f"{self.namespace}/{self.pod}"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["outcome"] = self.outcome.value
        return out


@dataclass(slots=True)
class DoctorReport:
    containers: list[ContainerDiagnosis]
    problems: list[SourceProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.containers)

    def to_json(self) -> dict[str, Any]:
        """The ``-o json`` document: ``{"containers": [{file, line, namespace, pod,
        container, container_type, image, credential, outcome, detail, hint}, …]}``."""
        return {"containers": [c.to_dict() for c in self.containers]}


@dataclass(frozen=True, slots=True)
class NodeView:
    """What the node brings to a pull: its own keyring, its platform, the registries it
    reaches over plain HTTP beyond loopback, and (with a cluster) what it already holds."""

    keyring: Keyring = field(default_factory=Keyring)
    platform: Platform = field(default_factory=host_platform)
    insecure: frozenset[str] = frozenset()
    presence: Presence | None = None
    timeout: float = DEFAULT_TIMEOUT


Attempt = Callable[[Reference, CredentialChoice | None], Awaitable[Observation]]


# ---------------------------------------------------------------------- one container

def _result(target: ContainerTarget, credential: str, verdict: Verdict,
            extra: Sequence[str] = ()) -> ContainerDiagnosis:
    detail = "; ".join([verdict.detail, *extra, *target.notes])
    return ContainerDiagnosis(
        file=target.file, line=target.line, namespace=target.namespace, pod=target.pod,
        container=target.container, container_type=target.container_type,
        image=target.image, credential=credential, outcome=verdict.outcome, detail=detail,
        hint=verdict.hint)


async def diagnose_container(target: ContainerTarget, node: NodeView,
                             attempt: Attempt) -> ContainerDiagnosis:
    """The outcome for one container: its credentials tried in the kubelet's order until
    one works, ``attempt`` making each try (see :func:`hoist.doctor.probe.observe`)."""
    image = target.image
    try:
        ref = parse_normalized_named(apply_default_image_tag(image)) if image else None
    except ReferenceError as e:
        return _result(target, NO_CREDENTIAL, invalid_reference(image, str(e)))
    if ref is None:
        return _result(target, NO_CREDENTIAL, invalid_reference("", ""))
    choices: list[CredentialChoice | None] = list(
        credential_choices(image, target.pull_secrets, node.keyring)) or [None]
    tried: list[tuple[str, Verdict]] = []
    for choice in choices:
        verdict = classify(await attempt(ref, choice))
        tried.append((choice_label(choice), verdict))
        if verdict.ok or verdict.outcome in _CREDENTIAL_INDEPENDENT:
            break
    label, verdict = tried[-1]
    extra: list[str] = []
    if len(tried) > 1:
        extra.append("tried before: " + ", ".join(f"{lbl} ({v.outcome})"
                                                  for lbl, v in tried[:-1]))
    if target.pull_policy == "Never" and node.presence is None:
        extra.append("imagePullPolicy Never: the node never pulls this image; it must be "
                     "preloaded")
    if node.presence is not None:
        extra.append(node.presence(image).describe(target.pull_policy))
    return _result(target, label, verdict, extra)


def diagnose_targets(targets: Sequence[ContainerTarget],
                     node: NodeView) -> list[ContainerDiagnosis]:
    """Every target, the registry requests running concurrently; the same image with the
    same credential is asked once."""
    if not targets:
        return []
    return asyncio.run(_diagnose_all(targets, node))


async def _diagnose_all(targets: Sequence[ContainerTarget],
                        node: NodeView) -> list[ContainerDiagnosis]:
    from hoist.doctor.probe import observe
    from hoist.registry.client import new_session

    gate = asyncio.Semaphore(CONCURRENCY)
    seen: dict[tuple[str, CredentialChoice | None], asyncio.Task[Observation]] = {}

    async with new_session(connect_timeout=node.timeout,
                           read_timeout=node.timeout) as session:
        async def once(ref: Reference, choice: CredentialChoice | None) -> Observation:
            async with gate:
                return await observe(session, ref, choice, platform=node.platform,
                                     insecure=ref.domain in node.insecure,
                                     timeout=node.timeout)

        async def attempt(ref: Reference, choice: CredentialChoice | None) -> Observation:
            key = (str(ref), choice)
            task = seen.get(key)
            if task is None:
                task = seen[key] = asyncio.ensure_future(once(ref, choice))
            return await asyncio.shield(task)

        return list(await asyncio.gather(
            *(diagnose_container(t, node, attempt) for t in targets)))


# ---------------------------------------------------------------------- inputs

def _file_keyring(docker_config: str | Path | None) -> Keyring:
    """The node keyring for plain files: the user's docker config stands in for the
    node's (only its ``auths``, as the kubelet reads a config file). A file named
    explicitly must read; the default one is skipped when broken, as the kubelet does."""
    from hoist.auth.dockerconfig import resolve_config_path
    from hoist.node.credentials import node_keyring

    if docker_config is not None:
        return Keyring.from_config_file(docker_config)
    path = resolve_config_path()
    return node_keyring([path]) if path.is_file() else Keyring(())


def diagnose_paths(paths: Sequence[str] = (), *, config: str | None = None,
                   stdin: bytes | None = None, docker_config: str | Path | None = None,
                   platform: Platform | None = None, insecure: Sequence[str] = (),
                   timeout: float = DEFAULT_TIMEOUT) -> DoctorReport:
    """Manifest files, directories or ``-`` (or the config's manifests when none given).
    Pull Secrets and ServiceAccounts are taken from the same inputs."""
    from hoist.api import read_inputs, resolve_config
    from hoist.doctor.targets import document_wanted, targets_from_sources

    inputs = read_inputs(paths, resolve_config(config, paths), document_wanted, stdin)
    targets = targets_from_sources(inputs.files)
    node = NodeView(keyring=_file_keyring(docker_config),
                    platform=platform or host_platform(), insecure=frozenset(insecure),
                    timeout=timeout)
    return DoctorReport(diagnose_targets(targets, node), inputs.problems)


def diagnose_pod(name: str, namespace: str = "default", *,
                 cluster_dir: str | Path | None = None, platform: Platform | None = None,
                 insecure: Sequence[str] = (), timeout: float = DEFAULT_TIMEOUT) -> DoctorReport:
    """A pod of the embedded cluster: its stored pull Secrets, the node's config files
    (as the embedded kubelet reads them) and the node's image store."""
    from hoist.cluster.agent import NODE_DIR
    from hoist.cluster.store import CLUSTER_DB, Cluster, default_cluster_dir
    from hoist.doctor.node import node_presence
    from hoist.doctor.targets import targets_from_pod
    from hoist.explain import DEFAULT_SERVICE_ACCOUNT
    from hoist.node.credentials import node_config_files, node_keyring

    directory = Path(cluster_dir) if cluster_dir is not None else default_cluster_dir()
    if not (directory / CLUSTER_DB).is_file():
        raise InputError(f"{directory}: no embedded cluster there (hoist cluster apply or "
                         "hoist cluster up makes one)")
    with Cluster.open(directory) as cluster:
        pod = cluster.get("Pod", namespace, name)
        if pod is None:
            raise InputError(f'pods "{name}" not found in namespace "{namespace}"')
        spec = pod.get("spec") or {}
        secrets: dict[str, Mapping[str, Any]] = {}
        for entry in spec.get("imagePullSecrets") or []:
            secret_name = (entry or {}).get("name") if isinstance(entry, Mapping) else None
            if secret_name and (found := cluster.get("Secret", namespace, secret_name)):
                secrets[str(secret_name)] = found
        account = cluster.get("ServiceAccount", namespace,
                              str(spec.get("serviceAccountName") or DEFAULT_SERVICE_ACCOUNT))
        nodes = sorted(cluster.nodes(), key=lambda n: float(n["heartbeat"]))
    targets = targets_from_pod(pod, secrets, account)
    presence, close = node_presence(directory, str(nodes[-1]["runtime"]) if nodes else None)
    try:
        node = NodeView(keyring=node_keyring(node_config_files(directory / NODE_DIR)),
                        platform=platform or host_platform(), insecure=frozenset(insecure),
                        presence=presence, timeout=timeout)
        return DoctorReport(diagnose_targets(targets, node))
    finally:
        close()


def diagnose(paths: Sequence[str] = (), *, pod: str | None = None, namespace: str = "default",
             cluster_dir: str | Path | None = None, config: str | None = None,
             stdin: bytes | None = None, docker_config: str | Path | None = None,
             platform: Platform | None = None, insecure: Sequence[str] = (),
             timeout: float = DEFAULT_TIMEOUT) -> DoctorReport:
    """``hoist doctor``: the manifests in ``paths``, or with ``pod`` that pod of the
    embedded cluster (not both)."""
    if pod is not None:
        if paths:
            raise InputError("give manifest paths or --pod, not both")
        return diagnose_pod(pod, namespace, cluster_dir=cluster_dir, platform=platform,
                            insecure=insecure, timeout=timeout)
    return diagnose_paths(paths, config=config, stdin=stdin, docker_config=docker_config,
                          platform=platform, insecure=insecure, timeout=timeout)


__all__ = ["COLUMNS", "ContainerDiagnosis", "DoctorReport", "NodeView", "diagnose",
           "diagnose_container", "diagnose_paths", "diagnose_pod", "diagnose_targets"]
