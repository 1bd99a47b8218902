"""Upstream unit tests of github.com/distribution/reference, ported as data tables.

Each table names the upstream file and test function it comes from. The upstream files are
reference_test.go, normalize_test.go and regexp_test.go of distribution/reference (the module
Kubernetes vendors since v0.6.0; the same tests lived in distribution/distribution under
reference/ before the split, and every case there is either repeated here or superseded, see
``SUPERSEDED_*`` below). Each test checks exactly the fields upstream checks.
"""

from __future__ import annotations

import pytest

from hoist.core.digest import Digest
from hoist.core.reference import (
    ANCHORED_DOMAIN_RE,
    ANCHORED_IDENTIFIER_RE,
    ANCHORED_NAME_RE,
    REFERENCE_RE,
    Reference,
    ReferenceError,
    parse,
    parse_any_reference,
    parse_docker_ref,
    parse_named,
    parse_normalized_named,
    with_name,
)

# Error texts spelled out here (not imported) so the tests pin the upstream strings.
# distribution/reference reference.go
ErrReferenceInvalidFormat = "invalid reference format"
ErrTagInvalidFormat = "invalid tag format"
ErrDigestInvalidFormat = "invalid digest format"
ErrNameContainsUppercase = "repository name must be lowercase"
ErrNameEmpty = "repository name must have at least one component"
ErrNameTooLong = "repository name must not be more than 255 characters"
ErrNameNotCanonical = "repository name must be canonical"
# opencontainers/go-digest digest.go (Parse passes these through)
ErrDigestInvalidLength = "invalid checksum digest length"
ErrDigestUnsupported = "unsupported digest algorithm"

F64 = "f" * 64
F128 = "f" * 128


def _digest_str(ref: Reference) -> str:
    return str(ref.digest) if ref.digest is not None else ""


def _id(value: object) -> str:
    text = str(value)
    return text if len(text) <= 60 else text[:40] + f"...[{len(text)}]"


# --------------------------------------------------------------------------------------
# distribution/reference reference_test.go — TestReferenceParse
# (input, err, repository (Name()), domain, tag, digest)
# --------------------------------------------------------------------------------------
REFERENCE_PARSE = [
    ("test_com", None, "test_com", "", "", ""),
    ("test.com:tag", None, "test.com", "", "tag", ""),
    ("test.com:5000", None, "test.com", "", "5000", ""),
    ("test.com/repo:tag", None, "test.com/repo", "test.com", "tag", ""),
    ("test:5000/repo", None, "test:5000/repo", "test:5000", "", ""),
    ("test:5000/repo:tag", None, "test:5000/repo", "test:5000", "tag", ""),
    (f"test:5000/repo@sha256:{F64}", None, "test:5000/repo", "test:5000", "", f"sha256:{F64}"),
    (
        f"test:5000/repo:tag@sha256:{F64}",
        None,
        "test:5000/repo",
        "test:5000",
        "tag",
        f"sha256:{F64}",
    ),
    ("test:5000/repo", None, "test:5000/repo", "test:5000", "", ""),
    ("", ErrNameEmpty, "", "", "", ""),
    (":justtag", ErrReferenceInvalidFormat, "", "", "", ""),
    (f"@sha256:{F64}", ErrReferenceInvalidFormat, "", "", "", ""),
    ("repo@sha256:" + "f" * 34, ErrDigestInvalidLength, "", "", "", ""),
    (f"validname@invaliddigest:{F64}", ErrDigestUnsupported, "", "", "", ""),
    ("Uppercase:tag", ErrNameContainsUppercase, "", "", "", ""),
    # Upstream keeps "Uppercase/lowercase:tag" commented out (FIXME: parsed as a domain).
    ("test:5000/Uppercase/lowercase:tag", ErrNameContainsUppercase, "", "", "", ""),
    ("lowercase:Uppercase", None, "lowercase", "", "Uppercase", ""),
    ("domain/" + "a" * 256 + ":tag", ErrNameTooLong, "", "", "", ""),
    (
        "a/" * 127 + "a:tag-puts-this-over-max",
        None,
        "a/" * 127 + "a",
        "a",
        "tag-puts-this-over-max",
        "",
    ),
    ("aa/asdf$$^/aa", ErrReferenceInvalidFormat, "", "", "", ""),
    (
        "sub-dom1.foo.com/bar/baz/quux",
        None,
        "sub-dom1.foo.com/bar/baz/quux",
        "sub-dom1.foo.com",
        "",
        "",
    ),
    (
        "sub-dom1.foo.com/bar/baz/quux:some-long-tag",
        None,
        "sub-dom1.foo.com/bar/baz/quux",
        "sub-dom1.foo.com",
        "some-long-tag",
        "",
    ),
    (
        "b.gcr.io/test.example.com/my-app:test.example.com",
        None,
        "b.gcr.io/test.example.com/my-app",
        "b.gcr.io",
        "test.example.com",
        "",
    ),
    (
        "xn--n3h.com/myimage:xn--n3h.com",
        None,
        "xn--n3h.com/myimage",
        "xn--n3h.com",
        "xn--n3h.com",
        "",
    ),
    (
        f"xn--7o8h.com/myimage:xn--7o8h.com@sha512:{F128}",
        None,
        "xn--7o8h.com/myimage",
        "xn--7o8h.com",
        "xn--7o8h.com",
        f"sha512:{F128}",
    ),
    ("foo_bar.com:8080", None, "foo_bar.com", "", "8080", ""),
    ("foo/foo_bar.com:8080", None, "foo/foo_bar.com", "foo", "8080", ""),
    ("192.168.1.1", None, "192.168.1.1", "", "", ""),
    ("192.168.1.1:tag", None, "192.168.1.1", "", "tag", ""),
    ("192.168.1.1:5000", None, "192.168.1.1", "", "5000", ""),
    ("192.168.1.1/repo", None, "192.168.1.1/repo", "192.168.1.1", "", ""),
    ("192.168.1.1:5000/repo", None, "192.168.1.1:5000/repo", "192.168.1.1:5000", "", ""),
    ("192.168.1.1:5000/repo:5050", None, "192.168.1.1:5000/repo", "192.168.1.1:5000", "5050", ""),
    ("[2001:db8::1]", ErrReferenceInvalidFormat, "", "", "", ""),
    ("[2001:db8::1]:5000", ErrReferenceInvalidFormat, "", "", "", ""),
    ("[2001:db8::1]:tag", ErrReferenceInvalidFormat, "", "", "", ""),
    ("[2001:db8::1]/repo", None, "[2001:db8::1]/repo", "[2001:db8::1]", "", ""),
    (
        "[2001:db8:1:2:3:4:5:6]/repo:tag",
        None,
        "[2001:db8:1:2:3:4:5:6]/repo",
        "[2001:db8:1:2:3:4:5:6]",
        "tag",
        "",
    ),
    ("[2001:db8::1]:5000/repo", None, "[2001:db8::1]:5000/repo", "[2001:db8::1]:5000", "", ""),
    (
        "[2001:db8::1]:5000/repo:tag",
        None,
        "[2001:db8::1]:5000/repo",
        "[2001:db8::1]:5000",
        "tag",
        "",
    ),
    (
        f"[2001:db8::1]:5000/repo@sha256:{F64}",
        None,
        "[2001:db8::1]:5000/repo",
        "[2001:db8::1]:5000",
        "",
        f"sha256:{F64}",
    ),
    (
        f"[2001:db8::1]:5000/repo:tag@sha256:{F64}",
        None,
        "[2001:db8::1]:5000/repo",
        "[2001:db8::1]:5000",
        "tag",
        f"sha256:{F64}",
    ),
    ("[2001:db8::]:5000/repo", None, "[2001:db8::]:5000/repo", "[2001:db8::]:5000", "", ""),
    ("[::1]:5000/repo", None, "[::1]:5000/repo", "[::1]:5000", "", ""),
    ("[fe80::1%eth0]:5000/repo", ErrReferenceInvalidFormat, "", "", "", ""),
    ("[fe80::1%@invalidzone]:5000/repo", ErrReferenceInvalidFormat, "", "", "", ""),
    (
        "example.com/" + "a" * 255 + ":tag",
        None,
        "example.com/" + "a" * 255,
        "example.com",
        "tag",
        "",
    ),
]


@pytest.mark.parametrize(
    ("text", "err", "repository", "domain", "tag", "digest"), REFERENCE_PARSE, ids=_id
)
def test_reference_parse(
    text: str, err: str | None, repository: str, domain: str, tag: str, digest: str
) -> None:
    if err is not None:
        with pytest.raises(ReferenceError) as exc:
            parse(text)
        assert str(exc.value) == err
        return
    ref = parse(text)
    assert str(ref) == text
    assert ref.name == repository
    assert ref.domain == domain
    assert ref.tag == tag
    assert _digest_str(ref) == digest


# Before distribution/reference v0.6.0 (PR #9, "Exclude domain from name length check") the
# 255-character limit applied to domain + path; distribution/distribution's
# reference/reference_test.go (TestReferenceParse, TestWithNameFailure) still has the old
# case below. Kubernetes uses v0.6.0, so the path alone counts: this name has a 255-character
# path under domain "a" and is valid now.
SUPERSEDED_NAME_LENGTH = [("a/" * 128 + "a:tag", "a", "a/" * 127 + "a", "tag")]


@pytest.mark.parametrize(("text", "domain", "path", "tag"), SUPERSEDED_NAME_LENGTH, ids=_id)
def test_superseded_name_length_case_is_valid_now(
    text: str, domain: str, path: str, tag: str
) -> None:
    ref = parse(text)
    assert (ref.domain, ref.path, ref.tag) == (domain, path, tag)
    assert len(ref.name) > 255


# --------------------------------------------------------------------------------------
# distribution/reference reference_test.go — TestWithNameFailure (input, err; errors.Is)
# --------------------------------------------------------------------------------------
WITH_NAME_FAILURE = [
    ("", ErrReferenceInvalidFormat),
    (":justtag", ErrReferenceInvalidFormat),
    (f"@sha256:{F64}", ErrReferenceInvalidFormat),
    (f"validname@invaliddigest:{F64}", ErrReferenceInvalidFormat),
    ("example.com/repo:tag", ErrReferenceInvalidFormat),
    ("example.com/" + "a" * 256, ErrNameTooLong),
    ("aa/asdf$$^/aa", ErrReferenceInvalidFormat),
]


@pytest.mark.parametrize(("text", "err"), WITH_NAME_FAILURE, ids=_id)
def test_with_name_failure(text: str, err: str) -> None:
    with pytest.raises(ReferenceError) as exc:
        with_name(text)
    assert str(exc.value) == err


# --------------------------------------------------------------------------------------
# distribution/reference reference_test.go — TestDomainAndPath (WithName; Domain, Path)
# (distribution/distribution's copy is TestSplitHostname with the same six cases)
# --------------------------------------------------------------------------------------
DOMAIN_AND_PATH = [
    ("test.com/foo", "test.com", "foo"),
    ("test_com/foo", "", "test_com/foo"),
    ("test:8080/foo", "test:8080", "foo"),
    ("test.com:8080/foo", "test.com:8080", "foo"),
    ("test-com:8080/foo", "test-com:8080", "foo"),
    ("xn--n3h.com:18080/foo", "xn--n3h.com:18080", "foo"),
]


@pytest.mark.parametrize(("text", "domain", "path"), DOMAIN_AND_PATH)
def test_domain_and_path(text: str, domain: str, path: str) -> None:
    named = with_name(text)
    assert named.domain == domain
    assert named.path == path


# --------------------------------------------------------------------------------------
# distribution/reference reference_test.go — TestSerialization
# Upstream unmarshals JSON through Field (Parse), checks Name/Tag/Digest, and marshals
# back to the same bytes (String()). (description, input, name, tag, digest, err)
# --------------------------------------------------------------------------------------
SERIALIZATION = [
    ("empty value", "", "", "", "", ErrNameEmpty),
    ("just a name", "example.com:8000/named", "example.com:8000/named", "", "", None),
    (
        "name with a tag",
        "example.com:8000/named:tagged",
        "example.com:8000/named",
        "tagged",
        "",
        None,
    ),
    (
        "name with digest",
        "other.com/named@sha256:1234567890098765432112345667890098765432112345667890098765432112",
        "other.com/named",
        "",
        "sha256:1234567890098765432112345667890098765432112345667890098765432112",
        None,
    ),
]


@pytest.mark.parametrize(
    ("description", "text", "name", "tag", "digest", "err"),
    SERIALIZATION,
    ids=[row[0] for row in SERIALIZATION],
)
def test_serialization(
    description: str, text: str, name: str, tag: str, digest: str, err: str | None
) -> None:
    if err is not None:
        with pytest.raises(ReferenceError) as exc:
            parse(text)
        assert str(exc.value) == err
        return
    ref = parse(text)
    assert ref.name == name
    assert ref.tag == tag
    assert _digest_str(ref) == digest
    assert str(ref) == text  # marshalled back to the same text


# --------------------------------------------------------------------------------------
# distribution/reference reference_test.go — TestWithTag (name, digest, tag, combined)
# The digests here are not go-digest-valid (37 hex digits); upstream builds them by type
# conversion, so they are built directly, and WithDigest checks only the grammar.
# --------------------------------------------------------------------------------------
SHORT_DIGEST = "sha256:1234567890098765432112345667890098765"

WITH_TAG = [
    ("test.com/foo", "", "tag", "test.com/foo:tag"),
    ("foo", "", "tag2", "foo:tag2"),
    ("test.com:8000/foo", "", "tag4", "test.com:8000/foo:tag4"),
    ("test.com:8000/foo", "", "TAG5", "test.com:8000/foo:TAG5"),
    ("test.com:8000/foo", SHORT_DIGEST, "TAG5", f"test.com:8000/foo:TAG5@{SHORT_DIGEST}"),
]


def _raw_digest(text: str) -> Digest:
    algorithm, _, encoded = text.partition(":")
    return Digest(algorithm, encoded)


@pytest.mark.parametrize(("name", "digest", "tag", "combined"), WITH_TAG)
def test_with_tag(name: str, digest: str, tag: str, combined: str) -> None:
    named = with_name(name)
    if digest:
        named = named.with_digest(_raw_digest(digest))
    assert str(named.with_tag(tag)) == combined


# distribution/reference reference_test.go — TestWithDigest (name, digest, tag, combined)
WITH_DIGEST = [
    ("test.com/foo", SHORT_DIGEST, "", f"test.com/foo@{SHORT_DIGEST}"),
    ("foo", SHORT_DIGEST, "", f"foo@{SHORT_DIGEST}"),
    ("test.com:8000/foo", SHORT_DIGEST, "", f"test.com:8000/foo@{SHORT_DIGEST}"),
    ("test.com:8000/foo", SHORT_DIGEST, "latest", f"test.com:8000/foo:latest@{SHORT_DIGEST}"),
]


@pytest.mark.parametrize(("name", "digest", "tag", "combined"), WITH_DIGEST)
def test_with_digest(name: str, digest: str, tag: str, combined: str) -> None:
    named = with_name(name)
    if tag:
        named = named.with_tag(tag)
    assert str(named.with_digest(_raw_digest(digest))) == combined


# --------------------------------------------------------------------------------------
# distribution/reference reference_test.go — TestParseNamed (input, domain, path, err)
# --------------------------------------------------------------------------------------
PARSE_NAMED = [
    ("test.com/foo", "test.com", "foo", None),
    ("test:8080/foo", "test:8080", "foo", None),
    ("test_com/foo", "", "", ErrNameNotCanonical),
    ("test.com", "", "", ErrNameNotCanonical),
    ("foo", "", "", ErrNameNotCanonical),
    ("library/foo", "", "", ErrNameNotCanonical),
    ("docker.io/library/foo", "docker.io", "library/foo", None),
    # Ambiguous case, parser will add "library/" to foo
    ("docker.io/foo", "", "", ErrNameNotCanonical),
]


@pytest.mark.parametrize(("text", "domain", "path", "err"), PARSE_NAMED)
def test_parse_named(text: str, domain: str, path: str, err: str | None) -> None:
    if err is not None:
        with pytest.raises(ReferenceError) as exc:
            parse_named(text)
        assert str(exc.value) == err
        return
    named = parse_named(text)
    assert named.domain == domain
    assert named.path == path


# --------------------------------------------------------------------------------------
# distribution/reference normalize_test.go — TestValidateReferenceName
# --------------------------------------------------------------------------------------
VALID_REPO_NAMES = [
    "docker/docker",
    "library/debian",
    "debian",
    "docker.io/docker/docker",
    "docker.io/library/debian",
    "docker.io/debian",
    "index.docker.io/docker/docker",
    "index.docker.io/library/debian",
    "index.docker.io/debian",
    "127.0.0.1:5000/docker/docker",
    "127.0.0.1:5000/library/debian",
    "127.0.0.1:5000/debian",
    "192.168.0.1",
    "192.168.0.1:80",
    "192.168.0.1:8/debian",
    "192.168.0.2:25000/debian",
    "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
    "[fc00::1]:5000/docker",
    "[fc00::1]:5000/docker/docker",
    "[fc00:1:2:3:4:5:6:7]:5000/library/debian",
    # moved from invalid to valid upstream: with a hostname it cannot be an identifier
    "docker.io/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
    "Docker/docker",
    "DOCKER/docker",
]
INVALID_REPO_NAMES = [
    "https://github.com/docker/docker",
    "docker/Docker",
    "-docker",
    "-docker/docker",
    "-docker.io/docker/docker",
    "docker///docker",
    "docker.io/docker/Docker",
    "docker.io/docker///docker",
    "[fc00::1]",
    "[fc00::1]:5000",
    "fc00::1:5000/debian",
    "[fe80::1%eth0]:5000/debian",
    "[2001:db8:3:4::192.0.2.33]:5000/debian",
    "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
]


@pytest.mark.parametrize("name", VALID_REPO_NAMES, ids=_id)
def test_validate_reference_name_valid(name: str) -> None:
    parse_normalized_named(name)


@pytest.mark.parametrize("name", INVALID_REPO_NAMES, ids=_id)
def test_validate_reference_name_invalid(name: str) -> None:
    with pytest.raises(ReferenceError):
        parse_normalized_named(name)


# distribution/distribution reference/normalize_test.go (pre-split) listed IPv6 zone
# identifiers as valid; the grammar dropped zones (regexp.go ipv6address), and current
# upstream lists "[fe80::1%eth0]:5000/debian" as invalid. Kept to pin the current answer.
SUPERSEDED_ZONE_NAMES = [
    "[fc00::1%eth0]:5000/docker/docker",
    "[fc00::1%eth0]:5000/library/debian",
    "[fc00::1%eth0]:5000/debian",
]


@pytest.mark.parametrize("name", SUPERSEDED_ZONE_NAMES)
def test_superseded_zone_names_are_invalid_now(name: str) -> None:
    with pytest.raises(ReferenceError):
        parse_normalized_named(name)


# --------------------------------------------------------------------------------------
# distribution/reference normalize_test.go — TestValidateRemoteName
# --------------------------------------------------------------------------------------
VALID_REMOTE_NAMES = [
    "docker/docker",
    "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
    "docker-rules/docker",
    "docker---rules/docker",
    "doc/docker",
    "d/docker",
    "jess/t",
    "dock__er/docker",
]
INVALID_REMOTE_NAMES = [
    "docker/Docker",
    "docker///docker",
    "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
    "-docker/docker",
    "docker-/docker",
    "-docker-/docker",
    "____/____",
    "_docker/_docker",
    "dock..er/docker",
    "dock_.er/docker",
    "dock-.er/docker",
    "docker/",
    "this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid"
    "_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_"
    "its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greate"
    "r_than_255/docker",
]


@pytest.mark.parametrize("name", VALID_REMOTE_NAMES, ids=_id)
def test_validate_remote_name_valid(name: str) -> None:
    parse_normalized_named(name)


@pytest.mark.parametrize("name", INVALID_REMOTE_NAMES, ids=_id)
def test_validate_remote_name_invalid(name: str) -> None:
    with pytest.raises(ReferenceError):
        parse_normalized_named(name)


# --------------------------------------------------------------------------------------
# distribution/reference normalize_test.go — TestParseRepositoryInfo
# (RemoteName, FamiliarName, FullName, AmbiguousName, Domain); each of the familiar, full
# and ambiguous spellings must give the same FamiliarName, String(), Domain and Path.
# --------------------------------------------------------------------------------------
REPOSITORY_INFO = [
    ("fooo/bar", "fooo/bar", "docker.io/fooo/bar", "index.docker.io/fooo/bar", "docker.io"),
    ("library/ubuntu", "ubuntu", "docker.io/library/ubuntu", "library/ubuntu", "docker.io"),
    ("nonlibrary/ubuntu", "nonlibrary/ubuntu", "docker.io/nonlibrary/ubuntu", "", "docker.io"),
    ("other/library", "other/library", "docker.io/other/library", "", "docker.io"),
    (
        "private/moonbase",
        "127.0.0.1:8000/private/moonbase",
        "127.0.0.1:8000/private/moonbase",
        "",
        "127.0.0.1:8000",
    ),
    (
        "privatebase",
        "127.0.0.1:8000/privatebase",
        "127.0.0.1:8000/privatebase",
        "",
        "127.0.0.1:8000",
    ),
    (
        "private/moonbase",
        "example.com/private/moonbase",
        "example.com/private/moonbase",
        "",
        "example.com",
    ),
    ("privatebase", "example.com/privatebase", "example.com/privatebase", "", "example.com"),
    (
        "private/moonbase",
        "example.com:8000/private/moonbase",
        "example.com:8000/private/moonbase",
        "",
        "example.com:8000",
    ),
    (
        "privatebasee",
        "example.com:8000/privatebasee",
        "example.com:8000/privatebasee",
        "",
        "example.com:8000",
    ),
    (
        "library/ubuntu-12.04-base",
        "ubuntu-12.04-base",
        "docker.io/library/ubuntu-12.04-base",
        "index.docker.io/library/ubuntu-12.04-base",
        "docker.io",
    ),
    ("library/foo", "foo", "docker.io/library/foo", "docker.io/foo", "docker.io"),
    ("library/foo/bar", "library/foo/bar", "docker.io/library/foo/bar", "", "docker.io"),
    ("store/foo/bar", "store/foo/bar", "docker.io/store/foo/bar", "", "docker.io"),
    ("bar", "Foo/bar", "Foo/bar", "", "Foo"),
    ("bar", "FOO/bar", "FOO/bar", "", "FOO"),
]


def _repository_info_cases() -> list[tuple[str, str, str, str, str]]:
    cases = []
    for remote, familiar, full, ambiguous, domain in REPOSITORY_INFO:
        spellings = [familiar, full] + ([ambiguous] if ambiguous else [])
        cases += [(s, remote, familiar, full, domain) for s in spellings]
    return cases


@pytest.mark.parametrize(
    ("text", "remote_name", "familiar_name", "full_name", "domain"), _repository_info_cases()
)
def test_parse_repository_info(
    text: str, remote_name: str, familiar_name: str, full_name: str, domain: str
) -> None:
    named = parse_normalized_named(text)
    assert named.familiar_name == familiar_name
    assert str(named) == full_name
    assert named.domain == domain
    assert named.path == remote_name


# --------------------------------------------------------------------------------------
# distribution/reference normalize_test.go — TestParseReferenceWithTagAndDigest
# --------------------------------------------------------------------------------------
def test_parse_reference_with_tag_and_digest() -> None:
    short_ref = (
        "busybox:latest@sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa"
    )
    ref = parse_normalized_named(short_ref)
    assert str(ref) == "docker.io/library/" + short_ref
    assert ref.tag  # NamedTagged
    assert ref.digest is not None  # Canonical
    assert ref.familiar == short_ref


# --------------------------------------------------------------------------------------
# distribution/reference normalize_test.go — TestInvalidReferenceComponents
# --------------------------------------------------------------------------------------
def test_invalid_reference_components() -> None:
    with pytest.raises(ReferenceError):
        parse_normalized_named("-foo")
    ref = parse_normalized_named("busybox")
    with pytest.raises(ReferenceError) as tag_exc:
        ref.with_tag("-foo")
    assert str(tag_exc.value) == ErrTagInvalidFormat
    # digest.Digest("foo") has no separator; the closest Digest value is "foo:".
    with pytest.raises(ReferenceError) as digest_exc:
        ref.with_digest(Digest("foo", ""))
    assert str(digest_exc.value) == ErrDigestInvalidFormat


# --------------------------------------------------------------------------------------
# distribution/reference normalize_test.go — TestParseAnyReference
# (Reference, Equivalent, Expected digest reference or None → Parse(Equivalent))
# --------------------------------------------------------------------------------------
DBCC = "dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c"

PARSE_ANY_REFERENCE = [
    ("redis", "docker.io/library/redis", None),
    ("redis:latest", "docker.io/library/redis:latest", None),
    ("docker.io/library/redis:latest", "docker.io/library/redis:latest", None),
    (f"redis@sha256:{DBCC}", f"docker.io/library/redis@sha256:{DBCC}", None),
    (f"docker.io/library/redis@sha256:{DBCC}", f"docker.io/library/redis@sha256:{DBCC}", None),
    ("dmcgowan/myapp", "docker.io/dmcgowan/myapp", None),
    ("dmcgowan/myapp:latest", "docker.io/dmcgowan/myapp:latest", None),
    ("docker.io/mcgowan/myapp:latest", "docker.io/mcgowan/myapp:latest", None),
    (f"dmcgowan/myapp@sha256:{DBCC}", f"docker.io/dmcgowan/myapp@sha256:{DBCC}", None),
    (f"docker.io/dmcgowan/myapp@sha256:{DBCC}", f"docker.io/dmcgowan/myapp@sha256:{DBCC}", None),
    (DBCC, f"sha256:{DBCC}", f"sha256:{DBCC}"),
    (f"sha256:{DBCC}", f"sha256:{DBCC}", f"sha256:{DBCC}"),
    (DBCC[:-1], f"docker.io/library/{DBCC[:-1]}", None),
    ("dbcc1", "docker.io/library/dbcc1", None),
]
# Not ported: distribution/distribution's pre-split copy also had ParseAnyReferenceWithSet
# cases (short identifiers resolved through a digestset); that function no longer exists.


@pytest.mark.parametrize(("text", "equivalent", "expected_digest"), PARSE_ANY_REFERENCE, ids=_id)
def test_parse_any_reference(text: str, equivalent: str, expected_digest: str | None) -> None:
    ref = parse_any_reference(text)
    assert str(ref) == equivalent
    if expected_digest is not None:
        expected = Reference(digest=Digest.parse(expected_digest))
    else:
        expected = parse(equivalent)
    assert ref == expected


# --------------------------------------------------------------------------------------
# distribution/reference normalize_test.go — TestNormalizedSplitHostname
# --------------------------------------------------------------------------------------
NORMALIZED_SPLIT_HOSTNAME = [
    ("test.com/foo", "test.com", "foo"),
    ("test_com/foo", "docker.io", "test_com/foo"),
    ("docker/migrator", "docker.io", "docker/migrator"),
    ("test.com:8080/foo", "test.com:8080", "foo"),
    ("test-com:8080/foo", "test-com:8080", "foo"),
    ("foo", "docker.io", "library/foo"),
    ("xn--n3h.com/foo", "xn--n3h.com", "foo"),
    ("xn--n3h.com:18080/foo", "xn--n3h.com:18080", "foo"),
    ("docker.io/foo", "docker.io", "library/foo"),
    ("docker.io/library/foo", "docker.io", "library/foo"),
    ("docker.io/library/foo/bar", "docker.io", "library/foo/bar"),
]


@pytest.mark.parametrize(("text", "domain", "path"), NORMALIZED_SPLIT_HOSTNAME)
def test_normalized_split_hostname(text: str, domain: str, path: str) -> None:
    named = parse_normalized_named(text)
    assert named.domain == domain
    assert named.path == path


# Not ported: normalize_test.go TestMatch (9 cases) and TestMatchError (1): they test
# FamiliarMatch (Go path.Match over the familiar string), which hoist.core does not have.
# The references those tests parse are checked to parse here, nothing more.
MATCH_REFERENCES = ["foo", "foo/any/bat", "foo/a/bar", "foo/b/baz", "foo/c/baz:tag"]


@pytest.mark.parametrize("text", [*MATCH_REFERENCES, "example.com/foo/c/baz:tag"])
def test_match_references_parse(text: str) -> None:
    assert parse_any_reference(text).familiar == text


# --------------------------------------------------------------------------------------
# distribution/reference normalize_test.go — TestParseDockerRef (name, input, expected);
# the output must itself Parse.
# --------------------------------------------------------------------------------------
E669 = "e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582"

PARSE_DOCKER_REF = [
    ("nothing", "busybox", "docker.io/library/busybox:latest"),
    ("tag only", "busybox:latest", "docker.io/library/busybox:latest"),
    ("digest only", f"busybox@sha256:{E669}", f"docker.io/library/busybox@sha256:{E669}"),
    ("path only", "library/busybox", "docker.io/library/busybox:latest"),
    ("hostname only", "docker.io/busybox", "docker.io/library/busybox:latest"),
    ("no tag", "docker.io/library/busybox", "docker.io/library/busybox:latest"),
    ("no path", "docker.io/busybox:latest", "docker.io/library/busybox:latest"),
    ("no hostname", "library/busybox:latest", "docker.io/library/busybox:latest"),
    (
        "full reference with tag",
        "docker.io/library/busybox:latest",
        "docker.io/library/busybox:latest",
    ),
    ("gcr reference without tag", "gcr.io/library/busybox", "gcr.io/library/busybox:latest"),
    (
        "both tag and digest",
        f"gcr.io/library/busybox:latest@sha256:{E669}",
        f"gcr.io/library/busybox@sha256:{E669}",
    ),
]


@pytest.mark.parametrize(
    ("name", "text", "expected"), PARSE_DOCKER_REF, ids=[row[0] for row in PARSE_DOCKER_REF]
)
def test_parse_docker_ref(name: str, text: str, expected: str) -> None:
    output = str(parse_docker_ref(text))
    assert output == expected
    parse(output)


# --------------------------------------------------------------------------------------
# distribution/reference regexp_test.go — TestDomainRegexp (`^` + domainAndPort + `$`)
# --------------------------------------------------------------------------------------
DOMAIN_REGEXP = [
    ("test.com", True),
    ("test.com:10304", True),
    ("test.com:http", False),
    ("localhost", True),
    ("localhost:8080", True),
    ("a", True),
    ("a.b", True),
    ("ab.cd.com", True),
    ("a-b.com", True),
    ("-ab.com", False),
    ("ab-.com", False),
    ("ab.c-om", True),
    ("ab.-com", False),
    ("ab.com-", False),
    ("0101.com", True),
    ("001a.com", True),
    ("b.gbc.io:443", True),
    ("b.gbc.io", True),
    ("xn--n3h.com", True),
    ("Asdf.com", True),
    ("192.168.1.1:75050", True),
    ("192.168.1.1:750050", True),
    ("[fd00:1:2::3]:75050", True),
    ("[fd00:1:2::3]75050", False),
    ("[fd00:1:2::3]::75050", False),
    ("[fd00:1:2::3%eth0]:75050", False),
    ("[fd00123123123]:75050", True),
    ("[2001:0db8:85a3:0000:0000:8a2e:0370:7334]:75050", True),
    ("[2001:0db8:85a3:0000:0000:8a2e:0370:7334]:750505", True),
    ("fd00:1:2::3:75050", False),
]


@pytest.mark.parametrize(("text", "match"), DOMAIN_REGEXP)
def test_domain_regexp(text: str, match: bool) -> None:
    assert (ANCHORED_DOMAIN_RE.fullmatch(text) is not None) is match


def _check_regexp(pattern: object, text: str, match: bool, subs: list[str] | None) -> None:
    """regexp_test.go checkRegexp: FindStringSubmatch over an anchored regexp; Go reports
    an unmatched optional group as ""."""
    import re

    assert isinstance(pattern, re.Pattern)
    m = pattern.fullmatch(text)
    if not match:
        assert m is None
        return
    assert m is not None
    assert m.group(0) == text
    groups = [g or "" for g in m.groups()]
    for i, expected in enumerate(subs or []):
        assert groups[i] == expected


# --------------------------------------------------------------------------------------
# distribution/reference regexp_test.go — TestFullNameRegexp (anchoredNameRegexp)
# --------------------------------------------------------------------------------------
FULL_NAME_REGEXP: list[tuple[str, bool, list[str] | None]] = [
    ("", False, None),
    ("short", True, ["", "short"]),
    ("simple/name", True, ["simple", "name"]),
    ("library/ubuntu", True, ["library", "ubuntu"]),
    ("docker/stevvooe/app", True, ["docker", "stevvooe/app"]),
    (
        "aa/aa/aa/aa/aa/aa/aa/aa/aa/bb/bb/bb/bb/bb/bb",
        True,
        ["aa", "aa/aa/aa/aa/aa/aa/aa/aa/bb/bb/bb/bb/bb/bb"],
    ),
    ("aa/aa/bb/bb/bb", True, ["aa", "aa/bb/bb/bb"]),
    ("a/a/a/a", True, ["a", "a/a/a"]),
    ("a/a/a/a/", False, None),
    ("a//a/a", False, None),
    ("a", True, ["", "a"]),
    ("a/aa", True, ["a", "aa"]),
    ("a/aa/a", True, ["a", "aa/a"]),
    ("foo.com", True, ["", "foo.com"]),
    ("foo.com/", False, None),
    ("foo.com:8080/bar", True, ["foo.com:8080", "bar"]),
    ("foo.com:http/bar", False, None),
    ("foo.com/bar", True, ["foo.com", "bar"]),
    ("foo.com/bar/baz", True, ["foo.com", "bar/baz"]),
    ("localhost:8080/bar", True, ["localhost:8080", "bar"]),
    ("sub-dom1.foo.com/bar/baz/quux", True, ["sub-dom1.foo.com", "bar/baz/quux"]),
    ("blog.foo.com/bar/baz", True, ["blog.foo.com", "bar/baz"]),
    ("a^a", False, None),
    ("aa/asdf$$^/aa", False, None),
    ("asdf$$^/aa", False, None),
    ("aa-a/a", True, ["aa-a", "a"]),
    ("a/" * 128 + "a", True, ["a", "a/" * 127 + "a"]),
    ("a-/a/a/a", False, None),
    ("foo.com/a-/a/a", False, None),
    ("-foo/bar", False, None),
    ("foo/bar-", False, None),
    ("foo-/bar", False, None),
    ("foo/-bar", False, None),
    ("_foo/bar", False, None),
    ("foo_bar", True, ["", "foo_bar"]),
    ("foo_bar.com", True, ["", "foo_bar.com"]),
    ("foo_bar.com:8080", False, None),
    ("foo_bar.com:8080/app", False, None),
    ("foo.com/foo_bar", True, ["foo.com", "foo_bar"]),
    ("____/____", False, None),
    ("_docker/_docker", False, None),
    ("docker_/docker_", False, None),
    ("b.gcr.io/test.example.com/my-app", True, ["b.gcr.io", "test.example.com/my-app"]),
    ("xn--n3h.com/myimage", True, ["xn--n3h.com", "myimage"]),
    ("xn--7o8h.com/myimage", True, ["xn--7o8h.com", "myimage"]),
    ("example.com/xn--7o8h.com/myimage", True, ["example.com", "xn--7o8h.com/myimage"]),
    (
        "example.com/some_separator__underscore/myimage",
        True,
        ["example.com", "some_separator__underscore/myimage"],
    ),
    ("example.com/__underscore/myimage", False, None),
    ("example.com/..dots/myimage", False, None),
    ("example.com/.dots/myimage", False, None),
    ("example.com/nodouble..dots/myimage", False, None),
    ("example.com/nodouble..dots/myimage", False, None),
    ("docker./docker", False, None),
    (".docker/docker", False, None),
    ("docker-/docker", False, None),
    ("-docker/docker", False, None),
    ("do..cker/docker", False, None),
    ("do__cker:8080/docker", False, None),
    ("do__cker/docker", True, ["", "do__cker/docker"]),
    ("b.gcr.io/test.example.com/my-app", True, ["b.gcr.io", "test.example.com/my-app"]),
    (
        "registry.io/foo/project--id.module--name.ver---sion--name",
        True,
        ["registry.io", "foo/project--id.module--name.ver---sion--name"],
    ),
    ("Asdf.com/foo/bar", True, None),
    ("Foo/FarB", False, None),
]


def test_full_name_regexp_has_two_submatches() -> None:
    assert ANCHORED_NAME_RE.groups == 2


@pytest.mark.parametrize(("text", "match", "subs"), FULL_NAME_REGEXP, ids=_id)
def test_full_name_regexp(text: str, match: bool, subs: list[str] | None) -> None:
    _check_regexp(ANCHORED_NAME_RE, text, match, subs)


# --------------------------------------------------------------------------------------
# distribution/reference regexp_test.go — TestReferenceRegexp (referenceRegexp)
# --------------------------------------------------------------------------------------
BE17 = "sha256:be178c0543eb17f5f3043021c9e5fcf30285e557a4fc309cce97ff9ca6182912"

REFERENCE_REGEXP: list[tuple[str, bool, list[str] | None]] = [
    ("registry.com:8080/myapp:tag", True, ["registry.com:8080/myapp", "tag", ""]),
    (f"registry.com:8080/myapp@{BE17}", True, ["registry.com:8080/myapp", "", BE17]),
    (f"registry.com:8080/myapp:tag2@{BE17}", True, ["registry.com:8080/myapp", "tag2", BE17]),
    ("registry.com:8080/myapp@sha256:badbadbadbad", False, None),
    ("registry.com:8080/myapp:invalid~tag", False, None),
    ("bad_hostname.com:8080/myapp:tag", False, None),
    # localhost treated as name, missing tag with 8080 as tag
    (f"localhost:8080@{BE17}", True, ["localhost", "8080", BE17]),
    (f"localhost:8080/name@{BE17}", True, ["localhost:8080/name", "", BE17]),
    (f"localhost:http/name@{BE17}", False, None),
    # localhost will be treated as an image name without a host
    (f"localhost@{BE17}", True, ["localhost", "", BE17]),
    ("registry.com:8080/myapp@bad", False, None),
    ("registry.com:8080/myapp@2bad", False, None),
]


def test_reference_regexp_has_three_submatches() -> None:
    assert REFERENCE_RE.groups == 3


@pytest.mark.parametrize(("text", "match", "subs"), REFERENCE_REGEXP, ids=_id)
def test_reference_regexp(text: str, match: bool, subs: list[str] | None) -> None:
    _check_regexp(REFERENCE_RE, text, match, subs)


# --------------------------------------------------------------------------------------
# distribution/reference regexp_test.go — TestIdentifierRegexp (anchoredIdentifierRegexp)
# --------------------------------------------------------------------------------------
IDENTIFIER_REGEXP = [
    ("da304e823d8ca2b9d863a3c897baeb852ba21ea9a9f1414736394ae7fcaf9821", True),
    ("7EC43B381E5AEFE6E04EFB0B3F0693FF2A4A50652D64AEC573905F2DB5889A1C", False),
    ("da304e823d8ca2b9d863a3c897baeb852ba21ea9a9f1414736394ae7fcaf", False),
    ("sha256:da304e823d8ca2b9d863a3c897baeb852ba21ea9a9f1414736394ae7fcaf9821", False),
    ("da304e823d8ca2b9d863a3c897baeb852ba21ea9a9f1414736394ae7fcaf98218482", False),
]


@pytest.mark.parametrize(("text", "match"), IDENTIFIER_REGEXP, ids=_id)
def test_identifier_regexp(text: str, match: bool) -> None:
    assert (ANCHORED_IDENTIFIER_RE.fullmatch(text) is not None) is match
