"""``hoist explain``: what every container will pull, when, with which secrets, and why.

For each image site the row shows the declared policy, the effective one (API defaulting,
or the policy a hoist/skaffold config injects for its artifacts) and its source, the pull
secrets the pod carries after ServiceAccount admission, what the node does on a container
start, and notes for the traps users keep hitting.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from hoist.config import Config, effective_policy
from hoist.core.policy import PolicySource, PolicyTrap, PullPolicy, describe_policy, policy_traps
from hoist.core.reference import ReferenceError, parse_normalized_named
from hoist.manifests.source import SourceFile, kind_filter
from hoist.manifests.workloads import (
    ContainerType,
    ImageSite,
    PodSpecSite,
    get,
    items,
    iter_image_sites,
    iter_resources,
    scalar,
)

DEFAULT_SERVICE_ACCOUNT = "default"

COLUMNS = (
    "file", "line", "kind", "namespace", "name", "container", "container_type", "image",
    "declared_policy", "effective_policy", "policy_source", "pull_secrets", "node_action",
    "notes",
)


@dataclass(frozen=True, slots=True)
class ExplainRow:
    file: str
    line: int
    kind: str
    namespace: str
    name: str
    container: str
    container_type: str
    image: str
    declared_policy: str | None
    effective_policy: str | None
    policy_source: str
    pull_secrets: list[str]
    node_action: str
    notes: list[str] = field(default_factory=list)
    # with a config: the artifact this image is, and the reference it was built as
    artifact: str | None = None
    built_reference: str | None = None

    def to_dict(self, with_build: bool = False) -> dict[str, Any]:
        """DESIGN.md's columns; ``artifact`` and ``built_reference`` too when a config is
        in use."""
        out = asdict(self)
        if not with_build:
            del out["artifact"], out["built_reference"]
        return out


# Only documents that can hold a pod spec or a ServiceAccount need parsing.
document_wanted = kind_filter("ServiceAccount")


def service_account_secrets(sources: Iterable[SourceFile]) -> dict[tuple[str, str], list[str]]:
    """(namespace, name) → imagePullSecrets names of every ServiceAccount in the inputs."""
    out: dict[tuple[str, str], list[str]] = {}
    for source in sources:
        for res in iter_resources(source):
            if res.kind == "ServiceAccount" and res.name:
                names = [scalar(get(s, "name")) or "" for s in items(get(res.node,
                                                                          "imagePullSecrets"))]
                out[(res.effective_namespace, res.name)] = names
    return out


def pod_pull_secrets(pod: PodSpecSite, accounts: dict[tuple[str, str], list[str]]) -> list[str]:
    """The secrets the pod will carry after ServiceAccount admission: the pod's own list
    wins; otherwise its account's (plugin/pkg/admission/serviceaccount copies them only
    when the pod has none)."""
    own = [scalar(get(s, "name")) or "" for s in items(get(pod.spec, "imagePullSecrets"))]
    if own:
        return own
    account = (scalar(get(pod.spec, "serviceAccountName"))
               or scalar(get(pod.spec, "serviceAccount")) or DEFAULT_SERVICE_ACCOUNT)
    return accounts.get((pod.resource.effective_namespace, account), [])


TRAP_NOTES = {
    PolicyTrap.LATEST_IF_NOT_PRESENT:
        "':latest' with IfNotPresent: a node keeps whichever 'latest' it pulled first",
    PolicyTrap.MUTABLE_TAG_IF_NOT_PRESENT:
        "mutable tag {tag!r} with IfNotPresent: a node that already has this tag keeps running "
        "its old image (stale code)",
    PolicyTrap.ALWAYS_ON_DIGEST:
        "digest-pinned with Always: a registry round trip on every container start that cannot "
        "change what runs",
    PolicyTrap.NEVER: "Never: the image must be preloaded on every node that may run this pod",
    PolicyTrap.LATEST_DIGEST_DEFAULTS_ALWAYS:
        "':latest@sha256:…' defaults to Always: the API server looks at the tag, not the digest",
}


def trap_notes(image: str, policy: PullPolicy | None, declared: str | None) -> list[str]:
    """Notes for the pull-policy traps (core.policy_traps) an image falls into. A plain
    ':latest' gets none here: its effective policy already says Always."""
    try:
        ref = parse_normalized_named(image)
    except ReferenceError as e:
        return [f"invalid image name: the kubelet fails with InvalidImageName ({e})"]
    return [TRAP_NOTES[t].format(tag=ref.tag)
            for t in policy_traps(ref, policy, declared is not None) if t in TRAP_NOTES]


def explain_site(
    site: ImageSite,
    accounts: dict[tuple[str, str], list[str]],
    config: Config | None = None,
    built: Mapping[str, str] | None = None,
) -> ExplainRow:
    image = site.image or ""
    declared = site.declared_policy
    eff, artifact = effective_policy(config, image, declared)
    injected = artifact.pull_policy if artifact else None
    notes: list[str] = []
    if not image:
        notes.append("no image: the API server rejects this pod")
    else:
        notes.extend(trap_notes(image, eff.policy, eff.declared))
    if eff.invalid_declared:
        notes.append(f"imagePullPolicy {declared!r} is not Always, IfNotPresent or Never: the "
                     "API server rejects this pod")
    if artifact is not None:
        if eff.source is PolicySource.HOIST_CONFIG and declared:
            notes.append(f"built artifact {artifact.name!r}: config policy {injected} replaces "
                         f"the manifest's {declared} (override: true)")
        elif eff.source is PolicySource.HOIST_CONFIG:
            notes.append(f"built artifact {artifact.name!r}: config injects {injected}")
        elif injected is not None:
            notes.append(f"built artifact {artifact.name!r}: manifest's {declared} kept; config "
                         f"asks {injected} (set override: true to replace it)")
        else:
            notes.append(f"built artifact {artifact.name!r}: image rewritten to the built "
                         "reference; policy as the manifest/API default gives")
    secrets = pod_pull_secrets(site.pod, accounts)
    res = site.pod.resource
    return ExplainRow(
        file=res.source.name,
        line=site.line,
        kind=res.kind,
        namespace=res.effective_namespace,
        name=res.name,
        container=site.name,
        container_type=site.container_type.value,
        image=image,
        declared_policy=declared,
        effective_policy=eff.policy.value if eff.policy else None,
        policy_source=eff.source.value,
        pull_secrets=secrets,
        node_action=describe_policy(eff.policy) if eff.policy else "pod rejected by the API server",
        notes=notes,
        artifact=artifact.name if artifact else None,
        built_reference=(built or {}).get(artifact.name) if artifact else None,
    )


def explain(sources: Sequence[SourceFile], config: Config | None = None,
            built: Mapping[str, str] | None = None) -> list[ExplainRow]:
    """``built`` maps an artifact's name to its built reference (from build.json)."""
    accounts = service_account_secrets(sources)
    return [explain_site(site, accounts, config, built)
            for site in iter_image_sites(list(sources))]


__all__ = ["COLUMNS", "ContainerType", "ExplainRow", "document_wanted", "explain"]
