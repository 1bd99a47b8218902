"""The containers to check and the pull Secrets their node would use: from manifest files
(the walker ``hoist explain`` uses) or from a pod of the embedded cluster. Pure: objects
in, targets out."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from hoist.errors import InputError
from hoist.explain import DEFAULT_SERVICE_ACCOUNT, pod_pull_secrets, service_account_secrets
from hoist.manifests.source import SourceFile, kind_filter
from hoist.manifests.workloads import (
    CONTAINER_LISTS,
    ContainerType,
    iter_image_sites,
    iter_resources,
)

# Only documents that can hold a pod spec, a ServiceAccount or a Secret need parsing.
document_wanted = kind_filter("ServiceAccount", "Secret")


@dataclass(frozen=True, slots=True)
class ContainerTarget:
    """One image a pod needs, with the pull Secrets its node would use (the objects, in
    the pod's order) and notes about how they were found."""

    file: str | None
    line: int | None
    namespace: str
    pod: str
    container: str
    container_type: str
    image: str
    pull_policy: str | None = None
    pull_secrets: tuple[Mapping[str, Any], ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)


# ---------------------------------------------------------------------- from files

@dataclass(frozen=True, slots=True)
class _FoundSecret:
    obj: dict[str, Any]
    where: str


def _secrets_in(sources: Sequence[SourceFile]) -> dict[tuple[str, str], _FoundSecret]:
    """(namespace, name) → Secret object of every Secret in the inputs (the last wins,
    as a later ``kubectl apply`` of the same name would)."""
    out: dict[tuple[str, str], _FoundSecret] = {}
    for source in sources:
        for res in iter_resources(source):
            if res.kind != "Secret" or not res.name:
                continue
            where = f"{source.name}:{res.line}"
            try:
                obj = yaml.constructor.SafeConstructor().construct_document(res.node)
            except (yaml.YAMLError, TypeError, ValueError) as e:
                raise InputError(f"{where}: cannot read the Secret ({e})") from None
            if not isinstance(obj, dict):
                continue
            meta = obj.setdefault("metadata", {})
            if isinstance(meta, dict):
                # Labels say "secret NS/NAME" even when the file leaves the namespace out.
                meta["namespace"] = res.effective_namespace
            out[(res.effective_namespace, res.name)] = _FoundSecret(obj, where)
    return out


def _check_secret(found: _FoundSecret) -> None:
    """A referenced Secret that the kubelet could not decode is bad input: say where."""
    from hoist.auth.keyring import Keyring

    try:
        Keyring.from_secrets([found.obj])
    except InputError as e:
        raise InputError(f"{found.where}: {e}") from None


def targets_from_sources(sources: Sequence[SourceFile]) -> list[ContainerTarget]:
    """One target per container and image volume of every pod-bearing object. Secrets
    come as ServiceAccount admission would leave them: the pod's own list, else its
    account's (replace, not merge); Secrets and ServiceAccounts are looked up among the
    same inputs."""
    accounts = service_account_secrets(sources)
    secrets = _secrets_in(sources)
    checked: set[tuple[str, str]] = set()
    out: list[ContainerTarget] = []
    for site in iter_image_sites(list(sources)):
        res = site.pod.resource
        ns = res.effective_namespace
        names = [n for n in pod_pull_secrets(site.pod, accounts) if n]
        found: list[dict[str, Any]] = []
        notes: list[str] = []
        missing = []
        for name in names:
            hit = secrets.get((ns, name))
            if hit is None:
                missing.append(name)
                continue
            if (ns, name) not in checked:
                _check_secret(hit)
                checked.add((ns, name))
            found.append(hit.obj)
        if missing:
            notes.append(f"pull secret{'s' if len(missing) > 1 else ''} "
                         f"{', '.join(missing)} not among the inputs: not tried")
        out.append(ContainerTarget(
            file=res.source.name, line=site.line, namespace=ns,
            pod=res.name if res.kind == "Pod" else res.display,
            container=site.name, container_type=site.container_type.value,
            image=site.image or "", pull_policy=site.declared_policy,
            pull_secrets=tuple(found), notes=tuple(notes)))
    return out


# ---------------------------------------------------------------------- from the cluster

def _pod_images(spec: Mapping[str, Any]) -> Iterator[tuple[str, str, str, str | None]]:
    """(container type, name, image, pull policy) of every container and image volume."""
    for key, ctype in CONTAINER_LISTS:
        for c in spec.get(key) or []:
            if isinstance(c, Mapping):
                yield (ctype.value, str(c.get("name") or ""), str(c.get("image") or ""),
                       c.get("imagePullPolicy"))
    for v in spec.get("volumes") or []:
        image = v.get("image") if isinstance(v, Mapping) else None
        if isinstance(image, Mapping):
            yield (ContainerType.IMAGE_VOLUME.value, str(v.get("name") or ""),
                   str(image.get("reference") or ""), image.get("pullPolicy"))


def _names(entries: Any) -> list[str]:
    return [str(e.get("name")) for e in entries or [] if isinstance(e, Mapping) and e.get("name")]


def targets_from_pod(pod: Mapping[str, Any], secrets: Mapping[str, Mapping[str, Any]],
                     account: Mapping[str, Any] | None) -> list[ContainerTarget]:
    """Targets of a stored pod. The kubelet uses the pod's own ``imagePullSecrets`` only:
    ServiceAccount admission copied the account's into it when the pod was created, and a
    change to the account later does not reach it. ``secrets`` are the Secret objects of
    the pod's namespace by name; a named one that is missing is passed over with the
    kubelet's FailedToRetrieveImagePullSecret warning."""
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    ns, name = str(meta.get("namespace") or "default"), str(meta.get("name") or "")
    names = _names(spec.get("imagePullSecrets"))
    sa_name = str(spec.get("serviceAccountName") or spec.get("serviceAccount")
                  or DEFAULT_SERVICE_ACCOUNT)
    sa_names = _names((account or {}).get("imagePullSecrets"))
    notes: list[str] = []
    missing = [n for n in names if n not in secrets]
    if missing:
        notes.append("Unable to retrieve some image pull secrets "
                     f"({', '.join(missing)}); attempting to pull the image may not succeed.")
    if names and names == sa_names:
        notes.append(f"pull secrets from service account {sa_name}")
    elif not names and sa_names:
        notes.append(f"service account {sa_name} lists {', '.join(sa_names)}, but this pod "
                     "was created before: the kubelet uses the pod's own list (empty); "
                     "recreate the pod to pick them up")
    found = tuple(copy.deepcopy(dict(secrets[n])) for n in names if n in secrets)
    return [ContainerTarget(file=None, line=None, namespace=ns, pod=name, container=cname,
                            container_type=ctype, image=image, pull_policy=policy,
                            pull_secrets=found, notes=tuple(notes))
            for ctype, cname, image, policy in _pod_images(spec)]
