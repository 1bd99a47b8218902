"""Image pull policies: the API server's defaulting and the kubelet's per-start decision.

Defaulting follows k8s.io/kubernetes pkg/apis/core/v1/defaults.go (SetDefaults_Container),
which parses the image with pkg/util/parsers.ParseImageName: only the tag ``latest``
(case-sensitive), or no tag and no digest, gives Always — and ``name:latest@sha256:…`` does
too, because the parsed tag is still ``latest``. The decision mirrors
pkg/kubelet/images/image_manager.go (EnsureImageExists) with the pulled-image credential
verification of KEP-2535.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from hoist.core.reference import DEFAULT_TAG, Reference, ReferenceError, parse_normalized_named


class PullPolicy(StrEnum):
    ALWAYS = "Always"
    IF_NOT_PRESENT = "IfNotPresent"
    NEVER = "Never"

    @classmethod
    def parse(cls, value: str) -> PullPolicy:
        """Exactly one of the three spellings the API accepts; anything else is an error
        with the API server's validation text."""
        try:
            return cls(value)
        except ValueError:
            raise ValueError(unsupported_policy_message(value)) from None


def unsupported_policy_message(value: str) -> str:
    # apimachinery field.NotSupported, as validation.go reports a bad imagePullPolicy.
    supported = ", ".join(f'"{p.value}"' for p in PullPolicy)
    return f'Unsupported value: "{value}": supported values: {supported}'


class PolicySource(StrEnum):
    """Where an effective policy came from."""

    MANIFEST = "manifest"
    DEFAULT_LATEST_TAG = "default:latest-tag"
    DEFAULT_NO_TAG = "default:no-tag"
    DEFAULT_TAGGED = "default:tagged"
    DEFAULT_DIGEST = "default:digest"
    # The API server still defaults an image it cannot parse (to IfNotPresent); validation
    # then rejects the pod. Named apart so nobody mistakes it for a tagged image.
    DEFAULT_INVALID = "default:invalid-image"
    HOIST_CONFIG = "hoist-config"


@dataclass(frozen=True, slots=True)
class ParsedImage:
    """``ParseImageName``'s answer: repository, tag (``latest`` when neither tag nor digest
    was written) and digest; ``error`` set and the rest empty when the name is invalid."""

    repository: str
    tag: str
    digest: str
    error: str = ""


def parse_image_name(image: str) -> ParsedImage:
    """k8s pkg/util/parsers.ParseImageName."""
    try:
        ref = parse_normalized_named(image)
    except ReferenceError as e:
        return ParsedImage("", "", "", f"couldn't parse image name {go_quote(image)}: {e}")
    digest = str(ref.digest) if ref.digest else ""
    tag = ref.tag or ("" if digest else DEFAULT_TAG)
    return ParsedImage(ref.name, tag, digest)


def go_quote(s: str) -> str:
    """Go's ``%q`` (strconv.Quote) for the texts Kubernetes formats with it: double quotes,
    backslash escapes, printable characters kept as they are."""
    out = ['"']
    for ch in s:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch in _GO_SHORT_ESCAPES:
            out.append(_GO_SHORT_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) <= 0xFFFF:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


_GO_SHORT_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r",
                     "\t": "\\t", "\v": "\\v"}


def default_pull_policy_with_source(image: str) -> tuple[PullPolicy, PolicySource]:
    """The policy the API server stores for a container without one, and why."""
    parsed = parse_image_name(image)
    if parsed.error:
        return PullPolicy.IF_NOT_PRESENT, PolicySource.DEFAULT_INVALID
    if parsed.tag == DEFAULT_TAG:
        try:
            written_tag = parse_normalized_named(image).tag
        except ReferenceError:  # pragma: no cover - parse_image_name already succeeded
            written_tag = ""
        source = PolicySource.DEFAULT_LATEST_TAG if written_tag else PolicySource.DEFAULT_NO_TAG
        return PullPolicy.ALWAYS, source
    if parsed.digest and not parsed.tag:
        return PullPolicy.IF_NOT_PRESENT, PolicySource.DEFAULT_DIGEST
    return PullPolicy.IF_NOT_PRESENT, PolicySource.DEFAULT_TAGGED


def default_pull_policy(image: str) -> PullPolicy:
    """SetDefaults_Container for an empty ``imagePullPolicy``."""
    return default_pull_policy_with_source(image)[0]


@dataclass(frozen=True, slots=True)
class EffectivePolicy:
    """What the API server stores (or hoist injects), and where it came from. ``policy`` is
    None only when the declared value is not one the API accepts (the pod is rejected)."""

    declared: str | None
    policy: PullPolicy | None
    source: PolicySource
    invalid_declared: bool = False


def effective_pull_policy(
    image: str, declared: str | None, injected: PullPolicy | None = None, override: bool = False
) -> EffectivePolicy:
    """Combine the manifest's declared policy, a dev-tool injected one and API defaulting.

    An injected policy is written only where the manifest declares none, unless
    ``override`` asks to replace an explicit one (DESIGN §4)."""
    if injected is not None and (not declared or override):
        return EffectivePolicy(declared or None, injected, PolicySource.HOIST_CONFIG)
    if declared:
        try:
            return EffectivePolicy(declared, PullPolicy(declared), PolicySource.MANIFEST)
        except ValueError:
            return EffectivePolicy(declared, None, PolicySource.MANIFEST, invalid_declared=True)
    policy, source = default_pull_policy_with_source(image)
    return EffectivePolicy(None, policy, source)


class PolicyTrap(StrEnum):
    """Pull-policy combinations that surprise users (kubernetes #8841, #47775, #72401):
    ``explain`` words them as notes, ``lint`` reports them as rules."""

    LATEST_TAG = "latest-tag"  # no tag, or the tag latest, and no digest
    LATEST_IF_NOT_PRESENT = "latest-if-not-present"
    MUTABLE_TAG_IF_NOT_PRESENT = "mutable-tag-if-not-present"
    ALWAYS_ON_DIGEST = "always-on-digest"
    NEVER = "never"
    # name:latest@sha256 with no declared policy: defaulted to Always by the tag.
    LATEST_DIGEST_DEFAULTS_ALWAYS = "latest-digest-defaults-always"


def policy_traps(ref: Reference, policy: PullPolicy | None, declared: bool) -> list[PolicyTrap]:
    """The traps a container with image ``ref`` and effective ``policy`` falls into;
    ``declared`` says whether the manifest wrote the policy itself."""
    traps: list[PolicyTrap] = []
    latest = not ref.tag or ref.tag == DEFAULT_TAG
    if ref.digest is None:
        if latest:
            traps.append(PolicyTrap.LATEST_TAG)
        if policy is PullPolicy.IF_NOT_PRESENT:
            traps.append(PolicyTrap.LATEST_IF_NOT_PRESENT if latest
                         else PolicyTrap.MUTABLE_TAG_IF_NOT_PRESENT)
    elif policy is PullPolicy.ALWAYS:
        traps.append(PolicyTrap.ALWAYS_ON_DIGEST)
        if not declared and ref.tag == DEFAULT_TAG:
            traps.append(PolicyTrap.LATEST_DIGEST_DEFAULTS_ALWAYS)
    if policy is PullPolicy.NEVER:
        traps.append(PolicyTrap.NEVER)
    return traps


def apply_default_image_tag(image: str) -> str:
    """The kubelet's applyDefaultImageTag: append ``:latest`` textually when the image has
    neither tag nor digest. Raises ReferenceError for an invalid name (InvalidImageName)."""
    ref = parse_normalized_named(image)
    if ref.digest is None and not ref.tag and not image.endswith(":latest"):
        return image + ":latest"
    return image


class NodeAction(StrEnum):
    """What the kubelet does for one container start."""

    PULL = "pull"
    USE_LOCAL = "use-local"
    FAIL_NEVER_PULL = "fail-never-pull"
    # Present, but pulled with other credentials: pulled again to prove this pod may use it.
    VERIFY_CREDENTIALS = "verify-credentials"


def decide_node_action(
    policy: PullPolicy, present: bool, credentials_verified: bool = True
) -> NodeAction:
    """EnsureImageExists' decision. ``credentials_verified`` is False when KEP-2535's pull
    manager says the present image must be re-checked against this pod's credentials."""
    if policy is PullPolicy.ALWAYS:
        return NodeAction.PULL  # no presence check at all since ~1.32
    if not present:
        return NodeAction.FAIL_NEVER_PULL if policy is PullPolicy.NEVER else NodeAction.PULL
    if credentials_verified:
        return NodeAction.USE_LOCAL
    # Never must not reveal that the image is present: same failure as when absent.
    if policy is PullPolicy.NEVER:
        return NodeAction.FAIL_NEVER_PULL
    return NodeAction.VERIFY_CREDENTIALS


def describe_policy(policy: PullPolicy) -> str:
    """The node's behaviour under a policy, in words, as ``hoist explain`` prints it."""
    return {
        PullPolicy.ALWAYS: "pulls on every container start",
        PullPolicy.IF_NOT_PRESENT: "pulls only when absent",
        PullPolicy.NEVER: "never pulls; fails with ErrImageNeverPull when absent",
    }[policy]


class CredentialVerificationPolicy(StrEnum):
    """KEP-2535 ``imagePullCredentialsVerificationPolicy`` values."""

    NEVER_VERIFY = "NeverVerify"
    NEVER_VERIFY_PRELOADED = "NeverVerifyPreloadedImages"
    NEVER_VERIFY_ALLOWLISTED = "NeverVerifyAllowlistedImages"
    ALWAYS_VERIFY = "AlwaysVerify"


def image_in_allowlist(image_repo: str, allowlist: list[str]) -> bool:
    """KEP-2535 allowlist entries: an exact repository, or a prefix ending in ``/*``."""
    for entry in allowlist:
        if entry.endswith("/*"):
            if image_repo.startswith(entry[:-1]):
                return True
        elif image_repo == entry:
            return True
    return False


def allowlist_pattern(pattern: str) -> tuple[str, bool]:
    """Validate one ``preloadedImagesVerificationAllowlist`` entry the way the kubelet does
    (pkg/kubelet/images/pullmanager/image_pull_policies.go, getAllowlistImagePattern) and
    return ``(normalized pattern, is_prefix)``. A prefix entry ends in ``/*`` and keeps its
    slash; any other entry must be a fully normalized repository without tag or digest
    (``nginx`` is refused: its normalized name is ``docker.io/library/nginx``). Raises
    ValueError with the kubelet's text."""
    if pattern != pattern.strip():
        raise ValueError(f"leading/trailing spaces are not allowed: {pattern}")
    trimmed = pattern
    is_prefix = pattern.endswith("/*")
    if is_prefix:
        trimmed = pattern[:-1]
    if not trimmed:
        raise ValueError(f"the supplied pattern is too short: {pattern}")
    if "*" in trimmed:
        raise ValueError("not a valid wildcard pattern, only patterns ending with '/*' are "
                         f"allowed: {pattern}")
    if is_prefix:
        if len(trimmed) == 1:
            raise ValueError("at least registry hostname is required")
        return trimmed, True
    try:
        ref = parse_normalized_named(trimmed)
    except ReferenceError as e:
        raise ValueError(f"failed to parse as an image name: {e}") from None
    if trimmed != ref.name:
        raise ValueError(f"neither tag nor digest is accepted in an image reference: {pattern}")
    return trimmed, False


def image_matches_allowlist(image: str, allowlist: list[str]) -> bool:
    """Whether the container image (as written in the pod) is exempt from credential
    verification under NeverVerifyAllowlistedImages: its normalized repository, without
    tag or digest, equals an entry or starts with a ``/*`` entry's prefix. An image that
    does not parse matches nothing (the kubelet logs it and verifies). Entries are as
    written in the configuration, already accepted by ``allowlist_pattern``."""
    try:
        repo = parse_normalized_named(image).name
    except ReferenceError:
        return False
    return image_in_allowlist(repo, allowlist)


def credential_verification_required(
    policy: CredentialVerificationPolicy, image: str, pulled_by_kubelet: bool,
    allowlist: list[str] | None = None,
) -> bool:
    """KEP-2535's ``RequireCredentialVerificationForImage``: does this policy make a present
    image's credentials be checked? ``pulled_by_kubelet`` is True when a pulled record or a
    pull intent exists for it (an image without either was preloaded behind the node's
    back)."""
    if policy is CredentialVerificationPolicy.NEVER_VERIFY:
        return False
    if policy is CredentialVerificationPolicy.NEVER_VERIFY_PRELOADED:
        return pulled_by_kubelet
    if policy is CredentialVerificationPolicy.NEVER_VERIFY_ALLOWLISTED:
        return not image_matches_allowlist(image, allowlist or [])
    return True
