"""hoist.yaml / skaffold.yaml: the artifacts hoist builds, how, and the manifests it deploys.

Two shapes load into one model: the real Skaffold schema (``skaffold/v1*`` … ``v4beta14``,
``build.artifacts`` a list of ``{image: …}``, profiles, several configs in one file) and
the seed's form (``build.artifacts`` a map keyed by artifact name, the image under
``docker.image``). Skaffold has no per-artifact pull policy; hoist reads
``imagePullPolicy: {value, override}`` (or a bare value) per artifact as its own key, and
two more of its own: ``hoist: {builder: native|buildah|podman|docker|auto}`` per artifact
and a top-level ``defaultRepo`` (the default for ``--default-repo``).

Modules: ``model`` (the frozen dataclasses), ``load`` (find_config, load_config and the
cache of loaded models), ``loader`` (the parser: parse_config), ``schema`` (keys and
types), ``profiles`` (activation and overlay), ``patch`` (JSON patches), ``tree`` (the
line-carrying YAML tree).

The names below load on first use: a config served from the cache needs only the model,
not the parser and PyYAML behind it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hoist.config.load import CONFIG_NAMES, find_config, load_config
    from hoist.config.loader import DEFAULT_V2_MANIFESTS, effective_policy, parse_config
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
    from hoist.config.tree import FrozenMap

    TOP_LEVEL_KEYS: frozenset[str]
    ARTIFACT_KEYS: frozenset[str]
    PULL_POLICY_KEYS: frozenset[str]

_HOME = {
    "CONFIG_NAMES": "load", "find_config": "load", "load_config": "load",
    "DEFAULT_V2_MANIFESTS": "loader", "effective_policy": "loader", "parse_config": "loader",
    **{name: "model" for name in (
        "Activation", "Artifact", "ArtifactDependency", "Config", "ConfigDependency",
        "DockerSecret", "DockerSpec", "LocalSpec", "Profile", "ProfilePatch", "Stage",
        "Unsupported")},
    "FrozenMap": "tree",
}

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


def _key_sets() -> dict[str, frozenset[str]]:
    from hoist.config.schema import ARTIFACT, TOP_LEVEL_FIELDS

    # Key sets of the first loader, kept for importers; the schema module has them all.
    return {"TOP_LEVEL_KEYS": frozenset(TOP_LEVEL_FIELDS),
            "ARTIFACT_KEYS": frozenset(ARTIFACT.fields),
            "PULL_POLICY_KEYS": frozenset({"value", "override"})}


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is not None:
        value = getattr(importlib.import_module(f"hoist.config.{module}"), name)
    elif name in ("TOP_LEVEL_KEYS", "ARTIFACT_KEYS", "PULL_POLICY_KEYS"):
        value = _key_sets()[name]
    else:
        raise AttributeError(f"module 'hoist.config' has no attribute {name!r}")
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
