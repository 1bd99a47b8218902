"""The pure core: references, digests, media types, platforms and pull policies.

Imports nothing else of hoist's and does no I/O; everything above builds on it."""

from hoist.core.digest import Digest, DigestError
from hoist.core.platform import Platform, PlatformError
from hoist.core.policy import (
    CredentialVerificationPolicy,
    EffectivePolicy,
    NodeAction,
    PolicySource,
    PolicyTrap,
    PullPolicy,
    apply_default_image_tag,
    decide_node_action,
    default_pull_policy,
    default_pull_policy_with_source,
    describe_policy,
    effective_pull_policy,
    parse_image_name,
    policy_traps,
)
from hoist.core.reference import (
    Reference,
    ReferenceError,
    parse,
    parse_any_reference,
    parse_docker_ref,
    parse_named,
    parse_normalized_named,
    repository_name,
)

__all__ = [
    "CredentialVerificationPolicy",
    "Digest",
    "DigestError",
    "EffectivePolicy",
    "NodeAction",
    "Platform",
    "PlatformError",
    "PolicySource",
    "PolicyTrap",
    "PullPolicy",
    "Reference",
    "ReferenceError",
    "apply_default_image_tag",
    "decide_node_action",
    "default_pull_policy",
    "default_pull_policy_with_source",
    "describe_policy",
    "effective_pull_policy",
    "parse",
    "parse_any_reference",
    "parse_docker_ref",
    "parse_image_name",
    "parse_named",
    "parse_normalized_named",
    "policy_traps",
    "repository_name",
]
