"""Registry credentials: docker config files, pull Secrets, kubelet keyring matching."""

from __future__ import annotations

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
