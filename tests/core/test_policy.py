"""Pull policy defaulting (API server) and the kubelet's per-start decision.

Sources: k8s.io/kubernetes pkg/apis/core/v1/defaults.go (SetDefaults_Container),
pkg/util/parsers/parsers.go (ParseImageName), pkg/kubelet/images/image_manager.go
(applyDefaultImageTag, EnsureImageExists), KEP-2535; /work/shared/facts/kubelet.md.
"""

from __future__ import annotations

import itertools

import pytest

from hoist.core.policy import (
    CredentialVerificationPolicy,
    EffectivePolicy,
    NodeAction,
    ParsedImage,
    PolicySource,
    PullPolicy,
    apply_default_image_tag,
    decide_node_action,
    default_pull_policy,
    default_pull_policy_with_source,
    describe_policy,
    effective_pull_policy,
    image_in_allowlist,
    parse_image_name,
    unsupported_policy_message,
)
from hoist.core.reference import ReferenceError

SHA = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

ALWAYS = PullPolicy.ALWAYS
IF_NOT_PRESENT = PullPolicy.IF_NOT_PRESENT
NEVER = PullPolicy.NEVER

# --------------------------------------------------------------------------------------
# Defaulting (facts/kubelet.md "API defaulting"): only the parsed tag "latest" — written,
# or implied by neither tag nor digest — gives Always. (image, policy, source)
# --------------------------------------------------------------------------------------
DEFAULTING = [
    ("nginx", ALWAYS, PolicySource.DEFAULT_NO_TAG),
    ("nginx:latest", ALWAYS, PolicySource.DEFAULT_LATEST_TAG),
    ("nginx:Latest", IF_NOT_PRESENT, PolicySource.DEFAULT_TAGGED),
    ("nginx:LATEST", IF_NOT_PRESENT, PolicySource.DEFAULT_TAGGED),
    (f"nginx@{SHA}", IF_NOT_PRESENT, PolicySource.DEFAULT_DIGEST),
    (f"nginx:latest@{SHA}", ALWAYS, PolicySource.DEFAULT_LATEST_TAG),
    (f"nginx:1.25@{SHA}", IF_NOT_PRESENT, PolicySource.DEFAULT_TAGGED),
    ("nginx:1.25", IF_NOT_PRESENT, PolicySource.DEFAULT_TAGGED),
    ("docker.io/library/nginx", ALWAYS, PolicySource.DEFAULT_NO_TAG),
    ("localhost:5000/app", ALWAYS, PolicySource.DEFAULT_NO_TAG),
    ("localhost:5000/app:latest", ALWAYS, PolicySource.DEFAULT_LATEST_TAG),
    # a single component never has a port: "5000" is the tag
    ("localhost:5000", IF_NOT_PRESENT, PolicySource.DEFAULT_TAGGED),
    ("[::1]:5000/app:latest-dev", IF_NOT_PRESENT, PolicySource.DEFAULT_TAGGED),
    # unparsable: the API server still defaults (IfNotPresent); validation rejects the pod
    ("Nginx", IF_NOT_PRESENT, PolicySource.DEFAULT_INVALID),
    ("", IF_NOT_PRESENT, PolicySource.DEFAULT_INVALID),
    ("nginx:", IF_NOT_PRESENT, PolicySource.DEFAULT_INVALID),
    ("https://nginx", IF_NOT_PRESENT, PolicySource.DEFAULT_INVALID),
    (SHA[7:], IF_NOT_PRESENT, PolicySource.DEFAULT_INVALID),
]


@pytest.mark.parametrize(("image", "policy", "source"), DEFAULTING)
def test_default_pull_policy(image: str, policy: PullPolicy, source: PolicySource) -> None:
    assert default_pull_policy(image) is policy
    assert default_pull_policy_with_source(image) == (policy, source)


# --------------------------------------------------------------------------------------
# kubernetes/kubernetes pkg/util/parsers/parsers_test.go — TestParseImageName
# (input, repo, tag, digest, expected error substring)
# --------------------------------------------------------------------------------------
E3B0 = SHA
PARSE_IMAGE_NAME = [
    ("root", "docker.io/library/root", "latest", "", ""),
    ("root:tag", "docker.io/library/root", "tag", "", ""),
    (f"root@{E3B0}", "docker.io/library/root", "", E3B0, ""),
    ("user/repo", "docker.io/user/repo", "latest", "", ""),
    ("user/repo:tag", "docker.io/user/repo", "tag", "", ""),
    (f"user/repo@{E3B0}", "docker.io/user/repo", "", E3B0, ""),
    ("url:5000/repo", "url:5000/repo", "latest", "", ""),
    ("url:5000/repo:tag", "url:5000/repo", "tag", "", ""),
    (f"url:5000/repo@{E3B0}", "url:5000/repo", "", E3B0, ""),
    (f"url:5000/repo:latest@{E3B0}", "url:5000/repo", "latest", E3B0, ""),
    ("ROOT", "", "", "", "must be lowercase"),
    ("http://root", "", "", "", "invalid reference format"),
    (E3B0[7:], "", "", "", "cannot specify 64-byte hexadecimal strings"),
]


@pytest.mark.parametrize(("image", "repo", "tag", "digest", "err"), PARSE_IMAGE_NAME)
def test_parse_image_name(image: str, repo: str, tag: str, digest: str, err: str) -> None:
    parsed = parse_image_name(image)
    if err:
        assert err in parsed.error
        assert parsed.error.startswith("couldn't parse image name ")
        assert (parsed.repository, parsed.tag, parsed.digest) == ("", "", "")
        return
    assert parsed == ParsedImage(repo, tag, digest)


def test_parse_image_name_error_quotes_like_go() -> None:
    assert parse_image_name("ROOT").error == (
        'couldn\'t parse image name "ROOT": invalid reference format: '
        "repository name (library/ROOT) must be lowercase"
    )


# --------------------------------------------------------------------------------------
# effective_pull_policy: declared wins over defaulting; an injected policy is written only
# where none is declared, unless override (DESIGN §4).
# (image, declared, injected, override, expected EffectivePolicy)
# --------------------------------------------------------------------------------------
EFFECTIVE = [
    ("app", None, None, False, EffectivePolicy(None, ALWAYS, PolicySource.DEFAULT_NO_TAG)),
    ("app", "", None, False, EffectivePolicy(None, ALWAYS, PolicySource.DEFAULT_NO_TAG)),
    (
        "app:v1",
        None,
        None,
        False,
        EffectivePolicy(None, IF_NOT_PRESENT, PolicySource.DEFAULT_TAGGED),
    ),
    ("app", "Never", None, False, EffectivePolicy("Never", NEVER, PolicySource.MANIFEST)),
    (
        "app:v1",
        "Always",
        None,
        False,
        EffectivePolicy("Always", ALWAYS, PolicySource.MANIFEST),
    ),
    (
        "app",
        "always",
        None,
        False,
        EffectivePolicy("always", None, PolicySource.MANIFEST, invalid_declared=True),
    ),
    # injected where nothing is declared
    ("app", None, NEVER, False, EffectivePolicy(None, NEVER, PolicySource.HOIST_CONFIG)),
    ("app", "", NEVER, False, EffectivePolicy(None, NEVER, PolicySource.HOIST_CONFIG)),
    ("app:v1", None, ALWAYS, True, EffectivePolicy(None, ALWAYS, PolicySource.HOIST_CONFIG)),
    # an explicit declaration is kept unless override
    (
        "app",
        "IfNotPresent",
        NEVER,
        False,
        EffectivePolicy("IfNotPresent", IF_NOT_PRESENT, PolicySource.MANIFEST),
    ),
    (
        "app",
        "IfNotPresent",
        NEVER,
        True,
        EffectivePolicy("IfNotPresent", NEVER, PolicySource.HOIST_CONFIG),
    ),
    (
        "app",
        "Sometimes",
        NEVER,
        False,
        EffectivePolicy("Sometimes", None, PolicySource.MANIFEST, invalid_declared=True),
    ),
    (
        "app",
        "Sometimes",
        IF_NOT_PRESENT,
        True,
        EffectivePolicy("Sometimes", IF_NOT_PRESENT, PolicySource.HOIST_CONFIG),
    ),
    # unparsable image, nothing declared
    ("App", None, None, False, EffectivePolicy(None, IF_NOT_PRESENT, PolicySource.DEFAULT_INVALID)),
]


@pytest.mark.parametrize(("image", "declared", "injected", "override", "expected"), EFFECTIVE)
def test_effective_pull_policy(
    image: str,
    declared: str | None,
    injected: PullPolicy | None,
    override: bool,
    expected: EffectivePolicy,
) -> None:
    assert effective_pull_policy(image, declared, injected, override) == expected


# --------------------------------------------------------------------------------------
# image_manager.go applyDefaultImageTag: ":latest" appended textually (no normalization)
# when there is neither tag nor digest.
# --------------------------------------------------------------------------------------
APPLY_DEFAULT_TAG = [
    ("nginx", "nginx:latest"),
    ("nginx:1.25", "nginx:1.25"),
    ("nginx:latest", "nginx:latest"),
    (f"nginx@{SHA}", f"nginx@{SHA}"),
    (f"nginx:v1@{SHA}", f"nginx:v1@{SHA}"),
    ("docker.io/library/nginx", "docker.io/library/nginx:latest"),
    ("localhost:5000/app", "localhost:5000/app:latest"),
    ("localhost:5000", "localhost:5000"),
    ("[::1]:5000/app", "[::1]:5000/app:latest"),
]


@pytest.mark.parametrize(("image", "expected"), APPLY_DEFAULT_TAG)
def test_apply_default_image_tag(image: str, expected: str) -> None:
    assert apply_default_image_tag(image) == expected


@pytest.mark.parametrize("image", ["Nginx", "", "nginx:", "a//b", SHA[7:]])
def test_apply_default_image_tag_invalid(image: str) -> None:
    with pytest.raises(ReferenceError):
        apply_default_image_tag(image)


# --------------------------------------------------------------------------------------
# EnsureImageExists decision, every policy × present × credentials_verified.
# Always never checks presence; Never never pulls and does not reveal presence when the
# credentials do not verify (KEP-2535).
# --------------------------------------------------------------------------------------
NODE_ACTIONS = {
    (ALWAYS, False, False): NodeAction.PULL,
    (ALWAYS, False, True): NodeAction.PULL,
    (ALWAYS, True, False): NodeAction.PULL,
    (ALWAYS, True, True): NodeAction.PULL,
    (IF_NOT_PRESENT, False, False): NodeAction.PULL,
    (IF_NOT_PRESENT, False, True): NodeAction.PULL,
    (IF_NOT_PRESENT, True, False): NodeAction.VERIFY_CREDENTIALS,
    (IF_NOT_PRESENT, True, True): NodeAction.USE_LOCAL,
    (NEVER, False, False): NodeAction.FAIL_NEVER_PULL,
    (NEVER, False, True): NodeAction.FAIL_NEVER_PULL,
    (NEVER, True, False): NodeAction.FAIL_NEVER_PULL,
    (NEVER, True, True): NodeAction.USE_LOCAL,
}


def test_node_action_table_is_complete() -> None:
    combos = set(itertools.product(PullPolicy, [False, True], [False, True]))
    assert set(NODE_ACTIONS) == combos


@pytest.mark.parametrize(
    ("policy", "present", "verified", "action"),
    [(*key, action) for key, action in NODE_ACTIONS.items()],
)
def test_decide_node_action(
    policy: PullPolicy, present: bool, verified: bool, action: NodeAction
) -> None:
    assert decide_node_action(policy, present, verified) is action


def test_decide_node_action_defaults_to_verified() -> None:
    assert decide_node_action(IF_NOT_PRESENT, True) is NodeAction.USE_LOCAL
    assert decide_node_action(NEVER, True) is NodeAction.USE_LOCAL


# --------------------------------------------------------------------------------------
# KEP-2535 allowlist: exact repository, or a prefix entry ending in "/*".
# --------------------------------------------------------------------------------------
ALLOWLIST = [
    ("registry.k8s.io/pause", ["registry.k8s.io/pause"], True),
    ("registry.k8s.io/pause", ["registry.k8s.io/*"], True),
    ("registry.k8s.io/sig/pause", ["registry.k8s.io/*"], True),
    ("registry.k8s.io/pause", ["registry.k8s.io/pau"], False),
    ("registry.k8s.io/pause", ["registry.k8s.io"], False),
    ("registry.k8s.io/pause-extra", ["registry.k8s.io/pause"], False),
    ("registry.k8s.iox/pause", ["registry.k8s.io/*"], False),  # "/*" keeps the slash
    ("registry.k8s.io", ["registry.k8s.io/*"], False),
    ("docker.io/library/nginx", ["quay.io/*", "docker.io/library/nginx"], True),
    ("docker.io/library/nginx", [], False),
    ("docker.io/library/nginx", ["docker.io/library/ng*"], False),  # only "/*" is a glob
]


@pytest.mark.parametrize(("repo", "allowlist", "expected"), ALLOWLIST)
def test_image_in_allowlist(repo: str, allowlist: list[str], expected: bool) -> None:
    assert image_in_allowlist(repo, allowlist) is expected


# --------------------------------------------------------------------------------------
# PullPolicy.parse: the three API spellings; anything else gets field.NotSupported's text.
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["Always", "IfNotPresent", "Never"])
def test_pull_policy_parse(value: str) -> None:
    assert PullPolicy.parse(value).value == value


SUPPORTED = 'supported values: "Always", "IfNotPresent", "Never"'


@pytest.mark.parametrize("value", ["always", "", "IfNotPresent ", "Sometimes", "NEVER"])
def test_pull_policy_parse_error(value: str) -> None:
    with pytest.raises(ValueError) as exc:
        PullPolicy.parse(value)
    assert str(exc.value) == f'Unsupported value: "{value}": {SUPPORTED}'
    assert unsupported_policy_message(value) == str(exc.value)


def test_describe_policy_covers_every_policy() -> None:
    assert describe_policy(ALWAYS) == "pulls on every container start"
    assert describe_policy(IF_NOT_PRESENT) == "pulls only when absent"
    assert describe_policy(NEVER) == "never pulls; fails with ErrImageNeverPull when absent"


def test_credential_verification_policy_values() -> None:
    assert [p.value for p in CredentialVerificationPolicy] == [
        "NeverVerify",
        "NeverVerifyPreloadedImages",
        "NeverVerifyAllowlistedImages",
        "AlwaysVerify",
    ]


# policy_traps: the one place explain's notes and lint's rules come from.
_D = "sha256:" + "e" * 64


@pytest.mark.parametrize(("image", "policy", "declared", "expected"), [
    ("nginx", "Always", False, {"latest-tag"}),
    ("nginx:latest", "IfNotPresent", True, {"latest-tag", "latest-if-not-present"}),
    ("nginx:1.25", "IfNotPresent", False, {"mutable-tag-if-not-present"}),
    ("nginx:1.25", "Always", True, set()),
    (f"nginx@{_D}", "IfNotPresent", False, set()),
    (f"nginx@{_D}", "Always", True, {"always-on-digest"}),
    (f"nginx:latest@{_D}", "Always", False, {"always-on-digest",
                                             "latest-digest-defaults-always"}),
    (f"nginx:latest@{_D}", "Always", True, {"always-on-digest"}),
    ("nginx:1.25", "Never", True, {"never"}),
    (f"nginx@{_D}", "Never", True, {"never"}),
    ("nginx:1.25", None, True, set()),  # a policy the API rejects: no trap to describe
])
def test_policy_traps(image: str, policy: str | None, declared: bool,
                      expected: set[str]) -> None:
    from hoist.core import PullPolicy, parse_normalized_named, policy_traps

    got = policy_traps(parse_normalized_named(image),
                       PullPolicy(policy) if policy else None, declared)
    assert {t.value for t in got} == expected
