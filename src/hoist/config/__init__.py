"""hoist.yaml / skaffold.yaml: the artifacts hoist builds, their pull policy, the manifests.

Two shapes load into one model: the real Skaffold schema (``build.artifacts`` a list of
``{image: …}``) and the seed's form (``build.artifacts`` a map keyed by artifact name, the
image under ``docker.image``, and ``imagePullPolicy: {value, override}``). Skaffold has no
per-artifact pull policy; hoist accepts ``imagePullPolicy`` in both shapes as its own key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from hoist.core.policy import EffectivePolicy, PullPolicy, effective_pull_policy
from hoist.core.reference import repository_name
from hoist.errors import InputError
from hoist.manifests.source import read_source
from hoist.manifests.workloads import get, items, scalar

CONFIG_NAMES = ("hoist.yaml", "skaffold.yaml")
DEFAULT_V2_MANIFESTS = ("k8s/*.yaml",)  # Skaffold v2beta* default for deploy.kubectl

TOP_LEVEL_KEYS = frozenset({
    "apiVersion", "kind", "metadata", "requires", "build", "test", "render", "manifests",
    "deploy", "portForward", "profiles", "verify", "customActions", "resourceSelector",
})
ARTIFACT_KEYS = frozenset({
    "image", "context", "docker", "custom", "buildpacks", "jib", "bazel", "ko", "kaniko",
    "cluster", "sync", "requires", "hooks", "platforms", "runtimeType", "dependencies",
    "imagePullPolicy",
})
PULL_POLICY_KEYS = frozenset({"value", "override"})


@dataclass(frozen=True, slots=True)
class Artifact:
    name: str
    image: str
    context: str = "."
    pull_policy: PullPolicy | None = None
    override_policy: bool = False


@dataclass(frozen=True, slots=True)
class Config:
    path: str
    api_version: str
    artifacts: tuple[Artifact, ...]
    manifests: tuple[str, ...] = field(default_factory=tuple)

    def artifact_for(self, image: str) -> Artifact | None:
        """The artifact a manifest image refers to: same repository, tag and digest ignored
        (as Skaffold matches); None for third-party images."""
        repo = repository_name(image)
        for a in self.artifacts:
            if repository_name(a.image) == repo:
                return a
        return None

    @property
    def directory(self) -> str:
        return str(Path(self.path).parent)

    def manifest_paths(self) -> list[str]:
        """The manifest globs, relative to the config's directory, expanded and sorted."""
        base = Path(self.directory)
        out: list[str] = []
        for pattern in self.manifests:
            matches = sorted(str(p) for p in base.glob(pattern)) if any(
                c in pattern for c in "*?[") else [str(base / pattern)]
            out.extend(m for m in matches if m not in out)
        return out


def find_config(explicit: str | None = None, directory: str = ".") -> str | None:
    """``-f FILE`` if given, else hoist.yaml, else skaffold.yaml in ``directory``."""
    if explicit:
        return explicit
    for name in CONFIG_NAMES:
        candidate = os.path.join(directory, name)
        if os.path.isfile(candidate):
            return candidate
    return None


def _fail(path: str, node: yaml.Node | None, message: str) -> InputError:
    line = f":{node.start_mark.line + 1}" if node is not None else ""
    return InputError(f"{path}{line}: {message}")


def _check_keys(path: str, node: yaml.Node | None, allowed: frozenset[str], where: str) -> None:
    if not isinstance(node, yaml.MappingNode):
        return
    for k, _ in node.value:
        if isinstance(k, yaml.ScalarNode) and k.value not in allowed:
            raise _fail(path, k, f"unknown key {k.value!r} in {where}")


def _pull_policy(path: str, node: yaml.Node | None, where: str) -> tuple[PullPolicy | None, bool]:
    if node is None:
        return None, False
    if isinstance(node, yaml.ScalarNode):  # shorthand: imagePullPolicy: Always
        text = scalar(node) or ""
        override_node: yaml.Node | None = None
        value_node: yaml.Node = node
    elif isinstance(node, yaml.MappingNode):
        _check_keys(path, node, PULL_POLICY_KEYS, f"{where}.imagePullPolicy")
        value = get(node, "value")
        if value is None:
            raise _fail(path, node, f"{where}.imagePullPolicy needs a 'value'")
        value_node, text, override_node = value, scalar(value) or "", get(node, "override")
    else:
        raise _fail(path, node, f"{where}.imagePullPolicy must be a mapping or a string")
    try:
        policy = PullPolicy.parse(text)
    except ValueError as e:
        raise _fail(path, value_node, f"{where}.imagePullPolicy.value: {e}") from None
    override = False
    if override_node is not None:
        if not (isinstance(override_node, yaml.ScalarNode) and override_node.tag.endswith(":bool")):
            raise _fail(path, override_node, f"{where}.imagePullPolicy.override must be "
                                             "true or false")
        override = override_node.value.lower() in ("true", "yes", "on")
    return policy, override


def _artifact(path: str, name: str, node: yaml.Node, where: str, seed_form: bool) -> Artifact:
    if not isinstance(node, yaml.MappingNode):
        raise _fail(path, node, f"{where} must be a mapping")
    _check_keys(path, node, ARTIFACT_KEYS, where)
    image = scalar(get(node, "image"))
    if image is None and seed_form:
        image = scalar(get(get(node, "docker"), "image"))
    if not image:
        raise _fail(path, node, f"{where} has no image"
                    + (" (docker.image in this form)" if seed_form else ""))
    policy, override = _pull_policy(path, get(node, "imagePullPolicy"), where)
    return Artifact(name or image, image, scalar(get(node, "context")) or ".", policy, override)


def load_config(path: str) -> Config:
    """Load a config file into the model; bad input raises InputError naming file and line."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as e:
        raise InputError(f"{path}: {e.strerror or e}") from None
    source = read_source(path, data)
    if not source.documents:
        raise InputError(f"{path}: empty config")
    root = source.documents[0].root
    if not isinstance(root, yaml.MappingNode):
        raise _fail(path, root, "a config must be a mapping")
    _check_keys(path, root, TOP_LEVEL_KEYS, "the config")
    api_version = scalar(get(root, "apiVersion")) or ""
    artifacts: list[Artifact] = []
    arts = get(get(root, "build"), "artifacts")
    if isinstance(arts, yaml.SequenceNode):
        for i, node in enumerate(items(arts)):
            artifacts.append(_artifact(path, "", node, f"build.artifacts[{i}]", False))
    elif isinstance(arts, yaml.MappingNode):
        for k, v in arts.value:
            name = scalar(k) or ""
            artifacts.append(_artifact(path, name, v, f"build.artifacts.{name}", True))
    elif arts is not None:
        raise _fail(path, arts, "build.artifacts must be a list or a mapping")
    manifests = [scalar(n) or "" for n in items(get(get(root, "manifests"), "rawYaml"))]
    manifests += [scalar(n) or "" for n in items(get(get(get(root, "deploy"), "kubectl"),
                                                      "manifests"))]
    if not manifests and api_version.startswith("skaffold/v2") and get(
            get(root, "deploy"), "kubectl") is not None:
        manifests = list(DEFAULT_V2_MANIFESTS)
    return Config(path, api_version, tuple(artifacts), tuple(m for m in manifests if m))


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
