"""Registry credentials: docker config files, pull Secrets, kubelet keyring matching.

Names load on first use: a registry client needs only ``Credential``, and should not pay
for the kubectl-exact YAML emitter or the keyring at start-up."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hoist.auth.credential import ANONYMOUS, Credential
    from hoist.auth.credhelper import CredentialHelper
    from hoist.auth.dockerconfig import DockerConfig, config_key
    from hoist.auth.k8s_secret import (
        DEFAULT_DOCKER_SERVER,
        SECRET_TYPE_DOCKER_CONFIG_JSON,
        SECRET_TYPE_DOCKERCFG,
        RegistryCredentialInfo,
        created_message,
        docker_config_json,
        docker_registry_secret,
        inspect_docker_config_secret,
        to_kubectl_json,
        to_kubectl_yaml,
    )
    from hoist.auth.keyring import Keyring

_WHERE = {
    "ANONYMOUS": "credential", "Credential": "credential",
    "CredentialHelper": "credhelper",
    "DockerConfig": "dockerconfig", "config_key": "dockerconfig",
    "Keyring": "keyring",
    **{name: "k8s_secret" for name in (
        "DEFAULT_DOCKER_SERVER", "SECRET_TYPE_DOCKER_CONFIG_JSON", "SECRET_TYPE_DOCKERCFG",
        "RegistryCredentialInfo", "created_message", "docker_config_json",
        "docker_registry_secret", "inspect_docker_config_secret", "to_kubectl_json",
        "to_kubectl_yaml")},
}

__all__ = [
    "ANONYMOUS",
    "DEFAULT_DOCKER_SERVER",
    "SECRET_TYPE_DOCKERCFG",
    "SECRET_TYPE_DOCKER_CONFIG_JSON",
    "Credential",
    "CredentialHelper",
    "DockerConfig",
    "Keyring",
    "RegistryCredentialInfo",
    "config_key",
    "created_message",
    "docker_config_json",
    "docker_registry_secret",
    "inspect_docker_config_secret",
    "to_kubectl_json",
    "to_kubectl_yaml",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'hoist.auth' has no attribute {name!r}")
    return getattr(importlib.import_module(f"hoist.auth.{module}"), name)
