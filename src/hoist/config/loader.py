"""Reading hoist.yaml / skaffold.yaml into the model.

Order of work: parse every YAML document of the file into the line-carrying tree; check
each document's apiVersion, kind, keys and value types (profiles included, active or
not); pick the active profiles per document and lay them over it (patches too), checking
the result again; turn each document into model values; then check across documents
(duplicate images, ``requires`` naming unknown artifacts or forming cycles).

Every bad input raises InputError ``file:line: message`` naming the key path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hoist.config.load import CONFIG_NAMES as CONFIG_NAMES
from hoist.config.load import find_config as find_config
from hoist.config.load import load_config as load_config
from hoist.config.model import (
    Activation,
    Artifact,
    ArtifactDependency,
    Config,
    ConfigDependency,
    DockerSecret,
    DockerSpec,
    LocalSpec,
    Profile,
    ProfilePatch,
    Stage,
    Unsupported,
)
from hoist.config.profiles import (
    apply_profile,
    auto_active,
    select_profiles,
    split_requested,
)
from hoist.config.schema import (
    ACCEPTED_API_VERSIONS,
    ARTIFACT_BUILDERS,
    DEPLOYERS,
    IGNORED_SECTIONS,
    PIPELINE,
    TOP_LEVEL,
    Context,
    api_version_accepted,
    did_you_mean,
    uses_v2_manifests,
)
from hoist.config.tree import (
    FrozenMap,
    YMap,
    YNode,
    YScalar,
    YSeq,
    from_yaml,
    is_null,
    parse_int,
    to_python,
)
from hoist.core.policy import EffectivePolicy, PullPolicy, effective_pull_policy
from hoist.core.reference import repository_name
from hoist.errors import InputError
from hoist.manifests.source import read_source

DEFAULT_V2_MANIFESTS = ("k8s/*.yaml",)  # Skaffold v1/v2beta* default for deploy.kubectl
MULTI_CONFIG = "requires (multi-config files)"
ALL_STAGES: tuple[Stage, ...] = ("build", "render", "deploy")
RENDER_DEPLOY: tuple[Stage, ...] = ("render", "deploy")


def parse_config(path: str, data: bytes, profiles: Sequence[str] = (), *, command: str = "",
                 environ: Mapping[str, str] | None = None) -> Config:
    """load_config on bytes already read (``path`` names them in messages)."""
    env = {} if environ is None else environ
    ctx = Context(path)
    source = read_source(path, data)
    docs: list[YMap] = []
    for d in source.documents:
        tree = from_yaml(d.root, d.line_offset, path)
        if not isinstance(tree, YMap):
            raise ctx.fail(tree.line, "a config must be a mapping")
        _check_header(tree, ctx)
        TOP_LEVEL.check(tree, "", ctx)
        docs.append(tree)
    if not docs:
        raise InputError(f"{path}: empty config")

    requested = split_requested(profiles)
    declared = [_profile_nodes(doc, ctx) for doc in docs]
    every_name = [name for per_doc in declared for name in per_doc]
    for name in requested:
        if not name.startswith("-") and name not in every_name:
            known = ", ".join(dict.fromkeys(every_name)) or "none"
            raise InputError(f"{path}: no profile named {name!r} (profiles: {known})"
                             + did_you_mean(name, tuple(dict.fromkeys(every_name))))

    parts: list[_DocPart] = []
    for index, (doc, named) in enumerate(zip(docs, declared, strict=True)):
        notes: list[str] = []
        auto: list[str] = []
        for name, (i, node) in named.items():
            on, why = auto_active(node, command, env, f"profiles[{i}] ({name})", ctx)
            if on:
                auto.append(name)
            elif name not in requested:
                notes.extend(why)
        chosen = select_profiles(list(named), auto, requested)
        tree = doc.clone()
        tree.remove("profiles")
        for name in chosen:
            i, node = named[name]
            tree = apply_profile(tree, node, f"profiles[{i}] ({name})", ctx)
        if chosen:  # patches may have written anything: check the result as written
            try:
                _check_header(tree, ctx)
                TOP_LEVEL.check(tree, "", ctx)
            except InputError as e:
                raise InputError(f"{e} (with profile{'s' if len(chosen) > 1 else ''} "
                                 f"{', '.join(chosen)} applied)") from None
        part = _decode_document(tree, index, ctx)
        part.profiles = [_profile_model(node, i, index) for _, (i, node) in named.items()]
        part.active = chosen
        part.notes = notes
        parts.append(part)
    return _combine(path, parts, ctx)


def effective_policy(
    config: Config | None, image: str, declared: str | None
) -> tuple[EffectivePolicy, Artifact | None]:
    """The policy a container ends up with once hoist deploys it under ``config``: the
    artifact's configured policy where the manifest declares none (or with override), else
    the manifest's or the API default; and the artifact the image is, if any."""
    artifact = config.artifact_for(image) if config is not None and image else None
    if artifact is None:
        return effective_pull_policy(image, declared), None
    return effective_pull_policy(image, declared, artifact.pull_policy,
                                 artifact.override_policy), artifact


# ---- per document -------------------------------------------------------------------------

def _check_header(doc: YMap, ctx: Context) -> None:
    version = doc.get("apiVersion")
    if is_null(version):
        raise ctx.fail(doc.line, f"the config has no apiVersion (hoist reads "
                                 f"{ACCEPTED_API_VERSIONS})")
    if not (isinstance(version, YScalar) and api_version_accepted(version.text or "")):
        assert version is not None
        shown = version.text if isinstance(version, YScalar) else "a collection"
        raise ctx.fail(version.line, f"apiVersion {shown!r} is not one hoist reads "
                                     f"(accepted: {ACCEPTED_API_VERSIONS})")
    kind = doc.get("kind")
    if is_null(kind):
        raise ctx.fail(doc.line, "kind must be Config (the config has no kind)")
    if not (isinstance(kind, YScalar) and kind.text == "Config"):
        assert kind is not None
        shown = kind.text if isinstance(kind, YScalar) else "a collection"
        raise ctx.fail(kind.line, f"kind must be Config, not {shown!r}")


def _profile_nodes(doc: YMap, ctx: Context) -> dict[str, tuple[int, YMap]]:
    """Profiles of one document by name (with their index); a name given twice is an
    error, as Skaffold would silently use only the last."""
    out: dict[str, tuple[int, YMap]] = {}
    profiles = doc.get("profiles")
    for i, node in enumerate(profiles.items if isinstance(profiles, YSeq) else []):
        if not isinstance(node, YMap):
            continue
        name_node = node.get("name")
        name = _text(name_node) or ""
        if name in out:
            first = out[name][1]
            raise ctx.fail(name_node.line if name_node else node.line,
                           f"profiles[{i}]: profile {name!r} is defined twice (first at line "
                           f"{first.line})")
        out[name] = (i, node)
    return out


def _profile_model(node: YMap, index: int, document: int) -> Profile:
    activation = tuple(
        Activation(_text(c.get("env")), _text(c.get("kubeContext")), _text(c.get("command")))
        for c in _maps(node.get("activation")))
    patches = tuple(
        ProfilePatch(_text(p.get("op")) or "replace", _text(p.get("path")) or "",
                     _text(p.get("from")),
                     None if is_null(p.get("value")) else to_python(_must(p.get("value"))),
                     p.line)
        for p in _maps(node.get("patches")))
    overrides = FrozenMap({k.text or "": to_python(v) for k, v in node.entries
                           if k.text in PIPELINE and not is_null(v)})
    return Profile(_text(node.get("name")) or "", node.line, activation,
                   _bool(node.get("requiresAllActivations")), patches, overrides, document)


@dataclass(slots=True)
class _DocPart:
    index: int
    api_version: str
    metadata_name: str | None = None
    artifacts: list[tuple[Artifact, str]] = field(default_factory=list)  # with key path
    requires_lines: dict[int, list[int]] = field(default_factory=dict)  # per artifact
    manifests: list[str] = field(default_factory=list)
    tag_policy: tuple[FrozenMap, int] | None = None
    local: tuple[LocalSpec, int] | None = None
    insecure_registries: list[str] = field(default_factory=list)
    platforms: list[str] = field(default_factory=list)
    default_repo: tuple[str, int] | None = None
    deployers: list[str] = field(default_factory=list)
    default_namespace: str | None = None
    kube_context: str | None = None
    requires: list[ConfigDependency] = field(default_factory=list)
    port_forward: list[FrozenMap] = field(default_factory=list)
    unsupported: list[Unsupported] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    profiles: list[Profile] = field(default_factory=list)
    active: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _decode_document(doc: YMap, index: int, ctx: Context) -> _DocPart:
    api_version = _text(doc.get("apiVersion")) or ""
    part = _DocPart(index, api_version)
    meta = doc.get("metadata")
    part.metadata_name = _text(meta.get("name")) if isinstance(meta, YMap) else None
    repo = doc.get("defaultRepo")
    if isinstance(repo, YScalar) and repo.text:
        part.default_repo = (repo.text, repo.line)
    _decode_build(doc.get("build"), part, ctx)
    _decode_manifests(doc, part)
    for i, req in enumerate(_maps(doc.get("requires"))):
        part.requires.append(ConfigDependency(req.line, to_python(req)))
        if i == 0:
            part.unsupported.append(Unsupported(MULTI_CONFIG, req.line, ALL_STAGES))
    part.port_forward = [to_python(p) for p in _maps(doc.get("portForward"))]
    part.ignored = [k.text or "" for k, v in doc.entries
                    if (k.text in IGNORED_SECTIONS or k.text == "portForward")
                    and not is_null(v)]
    return part


def _decode_build(build: YNode | None, part: _DocPart, ctx: Context) -> None:
    if not isinstance(build, YMap):
        return
    part.platforms = list(_strs(build.get("platforms")))
    part.insecure_registries = list(_strs(build.get("insecureRegistries")))
    tag = build.get("tagPolicy")
    if isinstance(tag, YMap) and tag.entries:
        part.tag_policy = (to_python(tag), tag.line)
    local = build.get("local")
    if isinstance(local, YMap):
        part.local = (_local(local, ctx), local.line)
    for env in ("googleCloudBuild", "cluster"):
        key = build.key_node(env)
        if key is not None and not is_null(build.get(env)):
            part.unsupported.append(Unsupported(f"build.{env}", key.line, ("build",)))
    hooks = build.key_node("hooks")
    if hooks is not None and not is_null(build.get("hooks")):
        part.unsupported.append(Unsupported("build.hooks", hooks.line, ("build",)))
    arts = build.get("artifacts")
    if isinstance(arts, YSeq):
        for i, node in enumerate(arts.items):
            if isinstance(node, YMap):
                where = f"build.artifacts[{i}]"
                _add_artifact(part, node, where, "", False, ctx)
    elif isinstance(arts, YMap):
        for k, node in arts.entries:
            name = k.text or ""
            if isinstance(node, YMap):
                _add_artifact(part, node, f"build.artifacts.{name}", name, True, ctx)
            elif is_null(node):
                raise ctx.fail(k.line, f"build.artifacts.{name} has no image "
                                       "(docker.image in this form)")


def _local(node: YMap, ctx: Context) -> LocalSpec:
    concurrency = node.get("concurrency")
    value = 1
    if isinstance(concurrency, YScalar) and concurrency.text is not None:
        value = parse_int(concurrency.text) or 0
        if value < 0:
            raise ctx.fail(concurrency.line, "build.local.concurrency must be 0 (no limit) or "
                                             f"more, not {value}")
    buildkit = node.get("useBuildkit")
    push = node.get("push")
    return LocalSpec(
        push=None if is_null(push) else _bool(push),
        concurrency=value,
        try_import_missing=_bool(node.get("tryImportMissing")),
        use_buildkit=None if is_null(buildkit) else _bool(buildkit),
        use_docker_cli=_bool(node.get("useDockerCLI")),
    )


def _add_artifact(part: _DocPart, node: YMap, where: str, name: str, seed_form: bool,
                  ctx: Context) -> None:
    docker_node = node.get("docker")
    image = _text(node.get("image"))
    if image is None and seed_form and isinstance(docker_node, YMap):
        image = _text(docker_node.get("image"))
    if not image:
        raise ctx.fail(node.line, f"{where} has no image"
                       + (" (docker.image in this form)" if seed_form else ""))
    builder, builder_line = "docker", 0
    for key in ARTIFACT_BUILDERS:
        key_node = node.key_node(key)
        if key_node is not None and not is_null(node.get(key)):
            builder, builder_line = key, key_node.line
            break
    unsupported: str | None = None
    unsupported_line = 0
    if builder != "docker":
        unsupported, unsupported_line = f"not supported yet: {where}.{builder}", builder_line
    else:
        hooks = node.key_node("hooks")
        if hooks is not None and not is_null(node.get("hooks")):
            unsupported, unsupported_line = f"not supported yet: {where}.hooks", hooks.line
    policy, override = _pull_policy(node.get("imagePullPolicy"), where, ctx)
    hoist = node.get("hoist")
    hoist_builder = (_text(hoist.get("builder")) if isinstance(hoist, YMap) else None) or "auto"
    requires: list[ArtifactDependency] = []
    lines: list[int] = []
    for dep in _maps(node.get("requires")):
        dep_image = _text(dep.get("image")) or ""
        requires.append(ArtifactDependency(dep_image, _text(dep.get("alias")) or dep_image))
        lines.append(dep.line)
    sync = node.get("sync")
    artifact = Artifact(
        name=name or image,
        image=image,
        context=_text(node.get("context")) or ".",
        pull_policy=policy,
        override_policy=override,
        docker=_docker(docker_node) if builder == "docker" else None,
        builder=builder,
        hoist_builder=hoist_builder,
        requires=tuple(requires),
        platforms=_strs(node.get("platforms")) or tuple(part.platforms),
        sync=to_python(sync) if isinstance(sync, YMap) else None,
        line=node.line,
        unsupported=unsupported,
        unsupported_line=unsupported_line,
        file=ctx.path,
    )
    part.requires_lines[len(part.artifacts)] = lines
    part.artifacts.append((artifact, where))


def _docker(node: YNode | None) -> DockerSpec:
    if not isinstance(node, YMap):
        return DockerSpec()
    args = node.get("buildArgs")
    build_args = FrozenMap({k.text or "": None if is_null(v) else _text(v)
                            for k, v in (args.entries if isinstance(args, YMap) else [])})
    return DockerSpec(
        dockerfile=_text(node.get("dockerfile")) or "Dockerfile",
        target=_text(node.get("target")) or None,
        build_args=build_args,
        network=_text(node.get("network")) or None,
        add_host=_strs(node.get("addHost")),
        cache_from=_strs(node.get("cacheFrom")),
        cache_to=_strs(node.get("cacheTo")),
        cli_flags=_strs(node.get("cliFlags")),
        pull_parent=_bool(node.get("pullParent")),
        no_cache=_bool(node.get("noCache")),
        squash=_bool(node.get("squash")),
        secrets=tuple(DockerSecret(_text(s.get("id")) or "", _text(s.get("src")),
                                   _text(s.get("env"))) for s in _maps(node.get("secrets"))),
        ssh=_text(node.get("ssh")) or None,
    )


def _pull_policy(node: YNode | None, where: str,
                 ctx: Context) -> tuple[PullPolicy | None, bool]:
    """hoist's per-artifact ``imagePullPolicy``: ``{value, override}`` or a bare value."""
    if node is None or is_null(node):
        return None, False
    override_node: YNode | None = None
    value_node: YNode | None = node
    if isinstance(node, YMap):
        value_node, override_node = node.get("value"), node.get("override")
    if not isinstance(value_node, YScalar):  # the schema check reported other shapes
        raise ctx.fail(node.line, f"{where}.imagePullPolicy needs a 'value'")
    try:
        policy = PullPolicy.parse(value_node.text or "")
    except ValueError as e:
        raise ctx.fail(value_node.line, f"{where}.imagePullPolicy.value: {e}") from None
    return policy, _bool(override_node)


def _decode_manifests(doc: YMap, part: _DocPart) -> None:
    manifests = doc.get("manifests")
    deploy = doc.get("deploy")
    kubectl = deploy.get("kubectl") if isinstance(deploy, YMap) else None
    raw = list(_strs(manifests.get("rawYaml"))) if isinstance(manifests, YMap) else []
    raw += _strs(kubectl.get("manifests")) if isinstance(kubectl, YMap) else ()
    if not raw and uses_v2_manifests(part.api_version) and not is_null(kubectl):
        raw = list(DEFAULT_V2_MANIFESTS)
    part.manifests = raw
    if isinstance(manifests, YMap):
        for k, v in manifests.entries:
            if k.text != "rawYaml" and not _empty_value(v):
                part.unsupported.append(Unsupported(f"manifests.{k.text}", k.line,
                                                    RENDER_DEPLOY))
    if isinstance(deploy, YMap):
        for k, v in deploy.entries:
            if k.text in DEPLOYERS and not is_null(v):
                part.deployers.append(k.text or "")
                if k.text != "kubectl":
                    part.unsupported.append(Unsupported(f"deploy.{k.text}", k.line,
                                                        RENDER_DEPLOY))
        part.kube_context = _text(deploy.get("kubeContext")) or None
    if isinstance(kubectl, YMap):
        part.default_namespace = _text(kubectl.get("defaultNamespace")) or None
        for key in ("flags", "hooks", "remoteManifests"):
            key_node = kubectl.key_node(key)
            if key_node is not None and not _empty_value(kubectl.get(key)):
                part.unsupported.append(Unsupported(f"deploy.kubectl.{key}", key_node.line,
                                                    ("deploy",)))


# ---- across documents ---------------------------------------------------------------------

def _combine(path: str, parts: list[_DocPart], ctx: Context) -> Config:
    artifacts = [(a, where, part.requires_lines[i]) for part in parts
                 for i, (a, where) in enumerate(part.artifacts)]
    _check_unique(artifacts, ctx)
    _check_requires(artifacts, ctx)
    manifests: list[str] = []
    for part in parts:
        manifests.extend(m for m in part.manifests if m and m not in manifests)
    deployers: list[str] = []
    for part in parts:
        deployers.extend(d for d in part.deployers if d not in deployers)
    deploy_kind = "+".join(deployers) if deployers else ("kubectl" if manifests else None)
    tag = _one_value(parts, "tag_policy", "build.tagPolicy", ctx)
    local = _one_value(parts, "local", "build.local", ctx)
    repo = _one_value(parts, "default_repo", "defaultRepo", ctx)
    first = parts[0]
    active: list[str] = []
    for part in parts:
        active.extend(p for p in part.active if p not in active)
    return Config(
        path=path,
        api_version=first.api_version,
        artifacts=tuple(a for a, _, _ in artifacts),
        manifests=tuple(manifests),
        metadata_name=first.metadata_name,
        tag_policy=tag[0] if tag else None,
        tag_policy_line=tag[1] if tag else 0,
        local=local[0] if local else LocalSpec(),
        insecure_registries=tuple(dict.fromkeys(
            r for part in parts for r in part.insecure_registries)),
        platforms=next((tuple(p.platforms) for p in parts if p.platforms), ()),
        default_repo=repo[0] if repo else None,
        profiles=tuple(p for part in parts for p in part.profiles),
        active_profiles=tuple(active),
        deployers=tuple(deployers),
        deploy_kind=deploy_kind,
        default_namespace=next((p.default_namespace for p in parts if p.default_namespace),
                               None),
        kube_context=next((p.kube_context for p in parts if p.kube_context), None),
        requires=tuple(r for part in parts for r in part.requires),
        port_forward=tuple(f for part in parts for f in part.port_forward),
        unsupported=tuple(u for part in parts for u in part.unsupported),
        ignored=tuple(dict.fromkeys(i for part in parts for i in part.ignored)),
        notes=tuple(n for part in parts for n in part.notes),
        documents=len(parts),
    )


def _one_value(parts: list[_DocPart], attr: str, key: str,
               ctx: Context) -> tuple[Any, int] | None:
    """A setting hoist keeps once per file: the documents that set it must agree."""
    found: tuple[Any, int] | None = None
    for part in parts:
        value: tuple[Any, int] | None = getattr(part, attr)
        if value is None:
            continue
        if found is not None and found[0] != value[0]:
            raise ctx.fail(value[1], f"{key} differs from the one at line {found[1]}: hoist "
                                     "keeps one per file, so the documents must agree")
        found = found or value
    return found


def _check_unique(artifacts: list[tuple[Artifact, str, list[int]]], ctx: Context) -> None:
    seen: dict[str, tuple[Artifact, str]] = {}
    for a, where, _ in artifacts:
        repo = repository_name(a.image)
        if repo in seen:
            other, other_where = seen[repo]
            raise ctx.fail(a.line, f"{where}: image {a.image!r} is already built by "
                                   f"{other_where} (line {other.line}); an image is one "
                                   "artifact")
        seen[repo] = (a, where)


def _check_requires(artifacts: list[tuple[Artifact, str, list[int]]], ctx: Context) -> None:
    images = {a.image: (a, where, lines) for a, where, lines in artifacts}
    for a, where, lines in artifacts:
        for j, dep in enumerate(a.requires):
            if dep.image not in images:
                raise ctx.fail(lines[j], f"{where}.requires[{j}]: no artifact has image "
                                         f"{dep.image!r}"
                                         + did_you_mean(dep.image, tuple(images)))
    # Depth-first search for a cycle, following requires in the order written.
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    stack: list[str] = []

    def visit(image: str) -> None:
        state[image] = 1
        stack.append(image)
        a, where, lines = images[image]
        for j, dep in enumerate(a.requires):
            if state.get(dep.image) == 1:
                cycle = [*stack[stack.index(dep.image):], dep.image]
                raise ctx.fail(lines[j], f"{where}.requires[{j}]: artifacts require each "
                                         f"other in a cycle: {' -> '.join(cycle)}")
            if dep.image not in state:
                visit(dep.image)
        stack.pop()
        state[image] = 2

    for a, _, _ in artifacts:
        if a.image not in state:
            visit(a.image)


# ---- small readers (the schema check has vouched for the shapes) --------------------------

def _text(node: YNode | None) -> str | None:
    return node.text if isinstance(node, YScalar) else None


def _strs(node: YNode | None) -> tuple[str, ...]:
    if not isinstance(node, YSeq):
        return ()
    return tuple(i.text for i in node.items if isinstance(i, YScalar) and i.text is not None)


def _bool(node: YNode | None) -> bool:
    return isinstance(node, YScalar) and (node.text or "").lower() == "true"


def _maps(node: YNode | None) -> list[YMap]:
    return [i for i in node.items if isinstance(i, YMap)] if isinstance(node, YSeq) else []


def _must(node: YNode | None) -> YNode:
    assert node is not None
    return node


def _empty_value(node: YNode | None) -> bool:
    return is_null(node) or (isinstance(node, (YSeq, YMap)) and not (
        node.items if isinstance(node, YSeq) else node.entries))
