"""hoist.yaml / skaffold.yaml: the artifacts hoist builds, how, and the manifests it deploys.

Two shapes load into one model: the real Skaffold schema (``skaffold/v1*`` … ``v4beta14``,
``build.artifacts`` a list of ``{image: …}``, profiles, several configs in one file) and
the seed's form (``build.artifacts`` a map keyed by artifact name, the image under
``docker.image``). Skaffold has no per-artifact pull policy; hoist reads
``imagePullPolicy: {value, override}`` (or a bare value) per artifact as its own key, and
two more of its own: ``hoist: {builder: native|buildah|podman|docker|auto}`` per artifact
and a top-level ``defaultRepo`` (the default for ``--default-repo``).

Modules: ``model`` (the frozen dataclasses), ``loader`` (load_config), ``schema`` (keys and
types), ``profiles`` (activation and overlay), ``patch`` (JSON patches), ``tree`` (the
line-carrying YAML tree).
"""

from hoist.config.loader import (
    CONFIG_NAMES,
    DEFAULT_V2_MANIFESTS,
    effective_policy,
    find_config,
    load_config,
    parse_config,
)
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
from hoist.config.schema import ARTIFACT, TOP_LEVEL_FIELDS
from hoist.config.tree import FrozenMap

# Key sets of the first loader, kept for importers; the schema module has them all.
TOP_LEVEL_KEYS = frozenset(TOP_LEVEL_FIELDS)
ARTIFACT_KEYS = frozenset(ARTIFACT.fields)
PULL_POLICY_KEYS = frozenset({"value", "override"})

__all__ = [
    "ARTIFACT_KEYS",
    "CONFIG_NAMES",
    "DEFAULT_V2_MANIFESTS",
    "PULL_POLICY_KEYS",
    "TOP_LEVEL_KEYS",
    "Activation",
    "Artifact",
    "ArtifactDependency",
    "Config",
    "ConfigDependency",
    "DockerSecret",
    "DockerSpec",
    "FrozenMap",
    "LocalSpec",
    "Profile",
    "ProfilePatch",
    "Stage",
    "Unsupported",
    "effective_policy",
    "find_config",
    "load_config",
    "parse_config",
]
