"""Registry credentials: docker config files, pull Secrets, kubelet keyring matching."""

from __future__ import annotations

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

__all__ = [
    "DEFAULT_DOCKER_SERVER",
    "SECRET_TYPE_DOCKERCFG",
    "SECRET_TYPE_DOCKER_CONFIG_JSON",
    "RegistryCredentialInfo",
    "created_message",
    "docker_config_json",
    "docker_registry_secret",
    "inspect_docker_config_secret",
    "to_kubectl_json",
    "to_kubectl_yaml",
]
