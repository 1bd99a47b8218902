"""The lint rules: stable IDs, names, severities and why each exists.

IDs never change meaning and are never reused; names are for people and may be used in
suppressions too (``hoist.dev/ignore: HOIST001`` or ``hoist.dev/ignore: latest-tag``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    name: str
    severity: Severity
    summary: str
    rationale: str


LATEST_TAG = Rule(
    "HOIST001", "latest-tag", Severity.WARNING,
    "Image has no tag or the tag 'latest'",
    "A missing tag means ':latest', a tag that moves: two nodes can run different code under "
    "one name, and a rollback cannot name what ran before. The API server defaults such "
    "containers to Always, so every start also depends on the registry. Pin a version tag, "
    "or better a digest.",
)
MUTABLE_TAG_IF_NOT_PRESENT = Rule(
    "HOIST002", "mutable-tag-if-not-present", Severity.WARNING,
    "Mutable tag with IfNotPresent (declared or defaulted)",
    "With IfNotPresent the kubelet uses any image already on the node under that exact name "
    "(kubernetes#72401). If the tag is pushed again, nodes that have the old image keep "
    "running it while new nodes run the new one: stale code that no manifest shows. Use a "
    "unique tag per build or pin the digest (name:tag@sha256:...).",
)
ALWAYS_ON_DIGEST = Rule(
    "HOIST003", "always-on-digest", Severity.WARNING,
    "Always on a digest-pinned image",
    "A digest names exactly one image, so Always cannot change what runs; it only adds a "
    "registry round trip to every container start and makes starts fail while the registry "
    "is down or rate-limiting. Note that 'name:latest@sha256:...' defaults to Always because "
    "the API server looks at the tag. Use IfNotPresent with digests.",
)
NEVER_OUTSIDE_LOCAL = Rule(
    "HOIST004", "never-outside-local-cluster", Severity.WARNING,
    "Never outside a local-cluster context",
    "With Never the kubelet fails with ErrImageNeverPull unless the image was loaded onto "
    "that very node beforehand. That suits a local single-node cluster fed by the dev loop; "
    "on a shared cluster any rescheduling to another node breaks the pod. Pass "
    "--local-cluster when the manifests target a local cluster.",
)
PULL_SECRET_INVALID = Rule(
    "HOIST005", "pull-secret-invalid", Severity.ERROR,
    "imagePullSecrets names a Secret that cannot serve as a pull secret",
    "The kubelet only reads Secrets of type kubernetes.io/dockerconfigjson (key "
    ".dockerconfigjson) or kubernetes.io/dockercfg (key .dockercfg) holding valid JSON. Any "
    "other Secret is skipped silently and the pull goes anonymous, which surfaces later as "
    "an ErrImagePull that looks like a registry problem.",
)
PULL_SECRET_NAME = Rule(
    "HOIST006", "pull-secret-name", Severity.WARNING,
    "Duplicate or empty imagePullSecrets name",
    "An empty name refers to no Secret and a duplicate is tried twice; since Kubernetes 1.29 "
    "the API server warns about both. Usually a templating slip that hides a missing "
    "credential.",
)
INVALID_IMAGE = Rule(
    "HOIST007", "invalid-image", Severity.ERROR,
    "Image reference is missing or invalid",
    "The API server rejects an empty image or one with surrounding whitespace; any other "
    "name that does not parse as a reference makes the kubelet fail the container with "
    "InvalidImageName, after the pod was accepted and scheduled.",
)
INVALID_PULL_POLICY = Rule(
    "HOIST008", "invalid-pull-policy", Severity.ERROR,
    "imagePullPolicy is not Always, IfNotPresent or Never",
    "The values are case-sensitive; the API server rejects anything else with 'Unsupported "
    "value', so the whole object is refused at apply time.",
)

RULES: tuple[Rule, ...] = (
    LATEST_TAG, MUTABLE_TAG_IF_NOT_PRESENT, ALWAYS_ON_DIGEST, NEVER_OUTSIDE_LOCAL,
    PULL_SECRET_INVALID, PULL_SECRET_NAME, INVALID_IMAGE, INVALID_PULL_POLICY,
)
RULES_BY_KEY: dict[str, Rule] = {r.id: r for r in RULES} | {r.name: r for r in RULES}
