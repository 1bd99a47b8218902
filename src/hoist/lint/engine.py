"""Running the rules over parsed manifests, with inline suppression."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import yaml

from hoist.auth.k8s_secret import inspect_docker_config_secret
from hoist.config import Config, effective_policy
from hoist.core.policy import PolicyTrap, PullPolicy, policy_traps, unsupported_policy_message
from hoist.core.reference import ReferenceError, parse_normalized_named
from hoist.errors import InputError
from hoist.lint.rules import (
    ALWAYS_ON_DIGEST,
    INVALID_IMAGE,
    INVALID_PULL_POLICY,
    LATEST_TAG,
    MUTABLE_TAG_IF_NOT_PRESENT,
    NEVER_OUTSIDE_LOCAL,
    PULL_SECRET_INVALID,
    PULL_SECRET_NAME,
    RULES_BY_KEY,
    Rule,
    Severity,
)
from hoist.manifests.source import SourceFile, kind_filter
from hoist.manifests.workloads import (
    ImageSite,
    Resource,
    get,
    items,
    iter_images,
    iter_resources,
    pod_spec_of,
    scalar,
)

IGNORE_ANNOTATION = "hoist.dev/ignore"


@dataclass(frozen=True, slots=True)
class Finding:
    rule: str
    rule_name: str
    severity: str
    file: str
    line: int
    resource: str
    container: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class LintOptions:
    local_cluster: bool = False
    config: Config | None = None


# Documents that can hold a pod spec, a Secret or a ServiceAccount.
document_wanted = kind_filter("Secret", "ServiceAccount")


def _finding(rule: Rule, res: Resource, line: int, container: str, message: str) -> Finding:
    return Finding(rule.id, rule.name, rule.severity.value, res.source.name, line,
                   res.display, container, message)


def suppressed_rules(res: Resource, pod_meta: yaml.Node | None) -> set[str]:
    """Rule IDs named by ``hoist.dev/ignore`` on the object or its pod template."""
    out: set[str] = set()
    for meta in (get(res.node, "metadata"), pod_meta):
        text = scalar(get(get(meta, "annotations"), IGNORE_ANNOTATION))
        for key in (text or "").split(","):
            rule = RULES_BY_KEY.get(key.strip())
            if rule is not None:
                out.add(rule.id)
    return out


def check_image_site(site: ImageSite, opts: LintOptions) -> Iterator[Finding]:
    res = site.pod.resource
    line, cname = site.line, site.name
    image = site.image
    declared = site.declared_policy
    where = f"{site.field_path}"
    if image is None or image == "":
        yield _finding(INVALID_IMAGE, res, line, cname, f"{where}.image: Required value")
        return
    if image != image.strip():
        yield _finding(INVALID_IMAGE, res, line, cname,
                       f"{where}.image: Invalid value: {image!r}: must not have leading or "
                       "trailing whitespace")
        return
    if declared is not None and declared not in {p.value for p in PullPolicy}:
        yield _finding(INVALID_PULL_POLICY, res, site.pod.resource.line_of(site.policy_node)
                       if site.policy_node is not None else line, cname,
                       f"{where}.{site.policy_key}: {unsupported_policy_message(declared)}")
        return
    try:
        ref = parse_normalized_named(image)
    except ReferenceError as e:
        # The kubelet's own words (image_manager.go, applyDefaultImageTag failure).
        yield _finding(INVALID_IMAGE, res, line, cname,
                       f'Failed to apply default image tag "{image}": couldn\'t parse image '
                       f'name "{image}": {e} (InvalidImageName)')
        return
    eff, artifact = effective_policy(opts.config, image, declared)
    how = "declared" if declared else "defaulted"
    for trap in policy_traps(ref, eff.policy, declared is not None):
        if artifact is not None and trap in _REWRITTEN_AWAY:
            continue  # render pins built artifacts to a unique tag and a digest
        if trap is PolicyTrap.LATEST_TAG:
            what = "has no tag (it means ':latest')" if not ref.tag else "uses the tag 'latest'"
            yield _finding(LATEST_TAG, res, line, cname, f"image {image!r} {what}")
        elif trap in (PolicyTrap.LATEST_IF_NOT_PRESENT, PolicyTrap.MUTABLE_TAG_IF_NOT_PRESENT):
            yield _finding(MUTABLE_TAG_IF_NOT_PRESENT, res, line, cname,
                           f"image {image!r} is a mutable tag with IfNotPresent ({how}): nodes "
                           "that have an older image under this tag keep running it")
        elif trap is PolicyTrap.ALWAYS_ON_DIGEST:
            why = how if declared else "defaulted from the tag 'latest'"
            yield _finding(ALWAYS_ON_DIGEST, res, line, cname,
                           f"image {image!r} is digest-pinned but pulled Always ({why}): a "
                           "registry round trip on every start that cannot change what runs")
        elif trap is PolicyTrap.NEVER and not opts.local_cluster:
            yield _finding(NEVER_OUTSIDE_LOCAL, res, line, cname,
                           f"image {image!r} has pull policy Never: every node that may run "
                           "this pod must have it preloaded (pass --local-cluster for a local "
                           "cluster)")


_REWRITTEN_AWAY = frozenset({PolicyTrap.LATEST_TAG, PolicyTrap.LATEST_IF_NOT_PRESENT,
                             PolicyTrap.MUTABLE_TAG_IF_NOT_PRESENT})


def _secret_names(res: Resource, node: yaml.Node | None) -> Iterator[tuple[int, str | None]]:
    for s in items(node):
        yield res.line_of(s), scalar(get(s, "name"))


def check_secret_names(res: Resource, spec: yaml.Node | None) -> Iterator[Finding]:
    seen: set[str] = set()
    for line, name in _secret_names(res, get(spec, "imagePullSecrets")):
        if not name:
            yield _finding(PULL_SECRET_NAME, res, line, "",
                           "imagePullSecrets has an entry with an empty name")
        elif name in seen:
            yield _finding(PULL_SECRET_NAME, res, line, "",
                           f"imagePullSecrets names {name!r} more than once")
        else:
            seen.add(name)


def secret_problem(res: Resource, name: str) -> str | None:
    """Why this Secret cannot serve as a pull secret (type, key, base64, JSON), as
    hoist.auth reads pull secrets; None when it can."""
    where = f"Secret {name!r} ({res.source.name}:{res.line})"
    try:
        obj = yaml.constructor.SafeConstructor().construct_document(res.node)
        inspect_docker_config_secret(obj, source=where)
    except InputError as e:
        return str(e)
    except (yaml.YAMLError, TypeError, ValueError):
        return f"{where}: its data cannot be read"
    return None


def check_secret_refs(
    res: Resource, spec: yaml.Node | None, secrets: dict[tuple[str, str], Resource]
) -> Iterator[Finding]:
    ns = res.effective_namespace
    for line, name in _secret_names(res, get(spec, "imagePullSecrets")):
        target = secrets.get((ns, name or ""))
        if target is None:
            continue
        problem = secret_problem(target, name or "")
        if problem:
            yield _finding(PULL_SECRET_INVALID, res, line, "", f"imagePullSecrets names {problem}")


def lint(sources: Sequence[SourceFile], opts: LintOptions | None = None) -> list[Finding]:
    opts = opts or LintOptions()
    resources = [r for s in sources for r in iter_resources(s)]
    secrets = {(r.effective_namespace, r.name): r for r in resources
               if r.kind == "Secret"}
    findings: list[Finding] = []
    for res in resources:
        found: list[Finding] = []
        pod_meta: yaml.Node | None = None
        if res.kind == "ServiceAccount":
            found += check_secret_names(res, res.node)
            found += check_secret_refs(res, res.node, secrets)
        pod = pod_spec_of(res)
        if pod is not None:
            pod_meta = pod.pod_meta
            found += check_secret_names(res, pod.spec)
            found += check_secret_refs(res, pod.spec, secrets)
            for site in iter_images(pod):
                found += check_image_site(site, opts)
        if found:
            ignored = suppressed_rules(res, pod_meta)
            findings += [f for f in found if f.rule not in ignored]
    return findings


def has_errors(findings: Sequence[Finding]) -> bool:
    return any(f.severity == Severity.ERROR.value for f in findings)


__all__ = ["Finding", "LintOptions", "has_errors", "lint"]
