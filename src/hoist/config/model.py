"""The config model: what hoist builds, tags, renders and deploys, from either schema.

Every value is immutable. Raw sections another package interprets (``build.tagPolicy``,
an artifact's ``sync``) are kept as FrozenMap/tuple data. Features hoist reads but cannot
act on yet load fine and are refused only when used: an artifact's ``unsupported`` (for
its builder) and the config's ``unsupported`` entries (per stage) say what and where.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from hoist.config.tree import FrozenMap
from hoist.core.policy import PullPolicy
from hoist.core.reference import repository_name
from hoist.errors import InputError

Stage = Literal["build", "render", "deploy"]


@dataclass(frozen=True, slots=True)
class DockerSecret:
    """One ``docker.secrets`` entry: the secret's id and the file or environment variable
    that holds it."""

    id: str
    src: str | None = None
    env: str | None = None


@dataclass(frozen=True, slots=True)
class DockerSpec:
    """``docker:`` of an artifact (Skaffold's DockerArtifact). Paths are as written,
    relative to the artifact's context."""

    dockerfile: str = "Dockerfile"
    target: str | None = None
    # Values are kept as written, templates (`{{.IMAGE_REPO}}`) included; None is an arg
    # given without a value (taken from the environment, as `docker build --build-arg K`).
    build_args: Mapping[str, str | None] = field(default_factory=FrozenMap)
    network: str | None = None
    add_host: tuple[str, ...] = ()
    cache_from: tuple[str, ...] = ()
    cache_to: tuple[str, ...] = ()
    cli_flags: tuple[str, ...] = ()
    pull_parent: bool = False
    no_cache: bool = False
    squash: bool = False
    secrets: tuple[DockerSecret, ...] = ()
    ssh: str | None = None


@dataclass(frozen=True, slots=True)
class ArtifactDependency:
    """``requires:`` of an artifact: another artifact's image, and the name (build arg for
    docker) its built reference is passed under."""

    image: str
    alias: str


@dataclass(frozen=True, slots=True)
class Artifact:
    """One image the config builds: its context, builder, pull policy and requirements,
    and where in the config file it was written."""

    name: str  # the seed form's map key; the image in Skaffold's list form
    image: str
    context: str = "."
    pull_policy: PullPolicy | None = None
    override_policy: bool = False
    docker: DockerSpec | None = None
    builder: str = "docker"  # the Skaffold builder key: docker, jib, custom, ...
    hoist_builder: str = "auto"  # hoist's own `hoist: {builder: …}`: native, buildah, ...
    requires: tuple[ArtifactDependency, ...] = ()
    platforms: tuple[str, ...] = ()  # the artifact's own, else build.platforms
    sync: Mapping[str, Any] | None = None  # kept as written; not acted on
    line: int = 0  # where the artifact starts in the config file
    unsupported: str | None = None  # "not supported yet: build.artifacts[0].jib"
    unsupported_line: int = 0
    file: str = ""  # the config file the artifact came from

    def require_buildable(self) -> None:
        """Raise InputError (file:line: not supported yet: …) if hoist cannot build it."""
        if self.unsupported:
            raise InputError(f"{self.file}:{self.unsupported_line or self.line}: "
                             f"{self.unsupported}")


@dataclass(frozen=True, slots=True)
class LocalSpec:
    """``build.local``. ``concurrency``: artifacts built at once, 0 = no limit."""

    push: bool | None = None  # None: push only when the cluster is not local
    concurrency: int = 1  # Skaffold's default
    try_import_missing: bool = False
    use_buildkit: bool | None = None
    use_docker_cli: bool = False


@dataclass(frozen=True, slots=True)
class Activation:
    """One ``activation`` entry of a profile; every part it sets must hold."""

    env: str | None = None  # KEY=pattern; `!pattern` negates; empty pattern: unset/empty
    kube_context: str | None = None
    command: str | None = None


@dataclass(frozen=True, slots=True)
class ProfilePatch:
    """One JSON patch operation of a profile, as written."""

    op: str
    path: str
    from_path: str | None = None
    value: Any = None  # as plain data (FrozenMap/tuple/scalars)
    line: int = 0


@dataclass(frozen=True, slots=True)
class Profile:
    """A profile as written: when it activates, the sections it lays over the config
    and its patches."""

    name: str
    line: int
    activation: tuple[Activation, ...] = ()
    requires_all_activations: bool = False
    patches: tuple[ProfilePatch, ...] = ()
    # the sections it lays over the config's (build, deploy, manifests, …), as written
    overrides: Mapping[str, Any] = field(default_factory=FrozenMap)
    document: int = 0  # index of the YAML document (multi-config files) it belongs to


@dataclass(frozen=True, slots=True)
class ConfigDependency:
    """A top-level ``requires:`` entry (another config file); kept, not followed yet."""

    line: int
    spec: Mapping[str, Any] = field(default_factory=FrozenMap)


@dataclass(frozen=True, slots=True)
class Unsupported:
    """A feature the config uses that hoist cannot honour yet, and the stages it stops."""

    feature: str  # "deploy.helm", "requires (multi-config files)"
    line: int
    stages: tuple[Stage, ...]

    def message(self) -> str:
        return f"not supported yet: {self.feature}"


@dataclass(frozen=True, slots=True)
class Config:
    """One config file as loaded: every document combined, active profiles applied."""

    path: str
    api_version: str
    artifacts: tuple[Artifact, ...]
    manifests: tuple[str, ...] = field(default_factory=tuple)
    kind: str = "Config"
    metadata_name: str | None = None
    tag_policy: Mapping[str, Any] | None = None  # raw build.tagPolicy: one key, its settings
    tag_policy_line: int = 0
    local: LocalSpec = field(default_factory=LocalSpec)
    insecure_registries: tuple[str, ...] = ()
    platforms: tuple[str, ...] = ()
    default_repo: str | None = None  # hoist's top-level `defaultRepo`
    profiles: tuple[Profile, ...] = ()
    active_profiles: tuple[str, ...] = ()
    deployers: tuple[str, ...] = ()  # the deploy section's deployer keys, as written
    deploy_kind: str | None = None  # "kubectl", "helm", "helm+kubectl", or None
    default_namespace: str | None = None  # deploy.kubectl.defaultNamespace
    kube_context: str | None = None  # deploy.kubeContext
    requires: tuple[ConfigDependency, ...] = ()
    port_forward: tuple[Mapping[str, Any], ...] = ()  # kept as written; not acted on
    unsupported: tuple[Unsupported, ...] = ()
    ignored: tuple[str, ...] = ()  # sections present that hoist has no use for
    notes: tuple[str, ...] = ()  # e.g. profiles a kubeContext activation could not decide
    documents: int = 1  # YAML documents (configs) in the file

    def artifact_for(self, image: str) -> Artifact | None:
        """The artifact a manifest image refers to: same repository, tag and digest ignored
        (as Skaffold matches); None for third-party images."""
        repo = repository_name(image)
        for a in self.artifacts:
            if repository_name(a.image) == repo:
                return a
        return None

    def artifact_named(self, name: str) -> Artifact | None:
        for a in self.artifacts:
            if name in (a.name, a.image):
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

    def problems(self, stage: Stage) -> list[Unsupported]:
        return [u for u in self.unsupported if stage in u.stages]

    def require_supported(self, stage: Stage, artifact: Artifact | None = None) -> None:
        """Raise InputError ``file:line: not supported yet: …`` for the first feature that
        stops ``stage`` (and, for a build, for the artifact's builder)."""
        found = self.problems(stage)
        if found:
            raise InputError(f"{self.path}:{found[0].line}: {found[0].message()}")
        if artifact is not None and stage == "build":
            artifact.require_buildable()
