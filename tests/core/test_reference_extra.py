"""hoist.core.reference behaviour beyond the upstream tables: exact error texts of
ParseNormalizedNamed, the digest-only reference, helpers hoist adds."""

from __future__ import annotations

import pytest

from hoist.core.digest import Digest
from hoist.core.reference import (
    DEFAULT_DOMAIN,
    Reference,
    ReferenceError,
    parse,
    parse_any_reference,
    parse_normalized_named,
    repository_name,
    split_docker_domain,
    tag_name_only,
)

DBCC = "dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c"

# distribution/reference normalize.go ParseNormalizedNamed: the formatted error texts.
NORMALIZED_ERRORS = [
    (DBCC, f"invalid repository name ({DBCC}), cannot specify 64-byte hexadecimal strings"),
    ("Nginx", "invalid reference format: repository name (library/Nginx) must be lowercase"),
    (
        "docker.io/Team/app:v1",
        "invalid reference format: repository name (Team/app) must be lowercase",
    ),
    ("example.com/App:Tag", "invalid reference format: repository name (App) must be lowercase"),
    ("", "invalid reference format"),  # Parse("docker.io/library/") fails on the grammar
    ("nginx:", "invalid reference format"),
    ("nginx@sha256:abc", "invalid reference format"),
    (f"nginx@sha256:{DBCC.upper()}", "invalid checksum digest format"),
    ("nginx@md5:" + "a" * 32, "unsupported digest algorithm"),
    ("a/" + "b" * 254, "repository name must not be more than 255 characters"),
]


@pytest.mark.parametrize(("text", "err"), NORMALIZED_ERRORS, ids=lambda v: str(v)[:40])
def test_parse_normalized_named_error_texts(text: str, err: str) -> None:
    with pytest.raises(ReferenceError) as exc:
        parse_normalized_named(text)
    assert str(exc.value) == err


# normalize.go splitDockerDomain
SPLIT_DOCKER_DOMAIN = [
    ("nginx", DEFAULT_DOMAIN, "library/nginx"),
    ("nginx:1.25", DEFAULT_DOMAIN, "library/nginx:1.25"),
    ("localhost/app", "localhost", "app"),
    ("localhost:5000/app", "localhost:5000", "app"),
    ("index.docker.io/nginx", DEFAULT_DOMAIN, "library/nginx"),
    ("index.docker.io/team/app", DEFAULT_DOMAIN, "team/app"),
    ("docker.io/nginx", DEFAULT_DOMAIN, "library/nginx"),
    ("quay.io/app", "quay.io", "app"),
    ("registry:5000/app", "registry:5000", "app"),
    ("Registry/app", "Registry", "app"),
    ("team/app", DEFAULT_DOMAIN, "team/app"),
    ("team/sub/app", DEFAULT_DOMAIN, "team/sub/app"),
]


@pytest.mark.parametrize(("text", "domain", "remainder"), SPLIT_DOCKER_DOMAIN)
def test_split_docker_domain(text: str, domain: str, remainder: str) -> None:
    assert split_docker_domain(text) == (domain, remainder)


def test_digest_only_reference_strings() -> None:
    # reference.go digestReference: String() is the digest; it is not Named, so
    # FamiliarString is String() too.
    ref = parse_any_reference(DBCC)
    assert not ref.has_name
    assert ref.name == ""
    assert str(ref) == f"sha256:{DBCC}"
    assert ref.familiar == f"sha256:{DBCC}"


def test_uppercase_detection_uses_go_simple_case_mapping() -> None:
    # Go's strings.ToLower maps U+0130 to "i", so Parse reports an uppercase name, not an
    # invalid format (Python's str.lower gives "i" + U+0307).
    with pytest.raises(ReferenceError) as exc:
        parse("\u0130mage:tag")
    assert str(exc.value) == "repository name must be lowercase"
    with pytest.raises(ReferenceError) as exc2:
        parse("\u00c9mage:tag")  # lowercases to non-ASCII: still not the grammar
    assert str(exc2.value) == "invalid reference format"


def test_familiar_name_keeps_nested_library_path() -> None:
    ref = parse_normalized_named("docker.io/library/team/app:v1")
    assert ref.familiar_name == "library/team/app"
    assert ref.familiar == "library/team/app:v1"


def test_trimmed_and_tag_name_only() -> None:
    ref = parse_normalized_named(f"app:v1@sha256:{DBCC}")
    assert ref.trimmed() == Reference("docker.io", "library/app")
    assert tag_name_only(ref.trimmed()) == Reference("docker.io", "library/app", "latest")
    assert tag_name_only(ref) is ref
    digested = Reference("docker.io", "library/app", digest=Digest.parse(f"sha256:{DBCC}"))
    assert tag_name_only(digested) is digested


def test_with_tag_rejects_bad_tags() -> None:
    ref = parse_normalized_named("app")
    for bad in ["", "-x", ".x", "a" * 129, "a b", "a:b"]:
        with pytest.raises(ReferenceError) as exc:
            ref.with_tag(bad)
        assert str(exc.value) == "invalid tag format"
    assert ref.with_tag("a" * 128).tag == "a" * 128


@pytest.mark.parametrize(
    ("image", "repo"),
    [
        ("nginx", "docker.io/library/nginx"),
        ("nginx:1.25", "docker.io/library/nginx"),
        (f"reg:5000/team/app:v1@sha256:{DBCC}", "reg:5000/team/app"),
        ("Not A Reference", "Not A Reference"),
        ("", ""),
    ],
)
def test_repository_name(image: str, repo: str) -> None:
    assert repository_name(image) == repo
