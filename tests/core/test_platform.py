"""Platform normalization as containerd's platforms package does it
(github.com/containerd/platforms database.go normalizeOS/normalizeArch; the matcher
compares normalized platforms)."""

from __future__ import annotations

import pytest

from hoist.core.platform import Platform, PlatformError

# --------------------------------------------------------------------------------------
# containerd/platforms database.go normalizeArch / normalizeOS
# (os, arch, variant) → normalized (os, arch, variant)
# --------------------------------------------------------------------------------------
NORMALIZE = [
    (("linux", "i386", ""), ("linux", "386", "")),
    (("linux", "i386", "v5"), ("linux", "386", "")),
    (("linux", "x86_64", ""), ("linux", "amd64", "")),
    (("linux", "x86-64", ""), ("linux", "amd64", "")),
    (("linux", "amd64", "v1"), ("linux", "amd64", "")),
    (("linux", "amd64", "v3"), ("linux", "amd64", "v3")),
    (("linux", "aarch64", ""), ("linux", "arm64", "")),
    (("linux", "arm64", "8"), ("linux", "arm64", "")),
    (("linux", "arm64", "v8"), ("linux", "arm64", "")),
    (("linux", "arm64", "v8.0"), ("linux", "arm64", "")),
    (("linux", "arm64", "v9"), ("linux", "arm64", "v9")),
    (("linux", "armhf", ""), ("linux", "arm", "v7")),
    (("linux", "armhf", "v6"), ("linux", "arm", "v7")),
    (("linux", "armel", ""), ("linux", "arm", "v6")),
    (("linux", "arm", ""), ("linux", "arm", "v7")),
    (("linux", "arm", "7"), ("linux", "arm", "v7")),
    (("linux", "arm", "5"), ("linux", "arm", "v5")),
    (("linux", "arm", "6"), ("linux", "arm", "v6")),
    (("linux", "arm", "8"), ("linux", "arm", "v8")),
    (("linux", "arm", "v6"), ("linux", "arm", "v6")),
    (("linux", "s390x", ""), ("linux", "s390x", "")),
    (("Linux", "X86_64", "V1"), ("linux", "amd64", "")),
    (("macOS", "arm64", ""), ("darwin", "arm64", "")),
    (("Windows", "AMD64", ""), ("windows", "amd64", "")),
]


@pytest.mark.parametrize(("given", "expected"), NORMALIZE, ids=lambda v: "/".join(v))
def test_normalized(given: tuple[str, str, str], expected: tuple[str, str, str]) -> None:
    assert Platform(*given).normalized() == Platform(*expected)


@pytest.mark.parametrize(("given", "expected"), NORMALIZE, ids=lambda v: "/".join(v))
def test_normalized_is_idempotent(
    given: tuple[str, str, str], expected: tuple[str, str, str]
) -> None:
    once = Platform(*given).normalized()
    assert once.normalized() == once


# --------------------------------------------------------------------------------------
# Platform.parse: "os/arch[/variant]", normalized.
# --------------------------------------------------------------------------------------
PARSE = [
    ("linux/amd64", Platform("linux", "amd64"), "linux/amd64"),
    ("linux/arm64/v8", Platform("linux", "arm64"), "linux/arm64"),
    ("linux/arm", Platform("linux", "arm", "v7"), "linux/arm/v7"),
    ("linux/arm/v6", Platform("linux", "arm", "v6"), "linux/arm/v6"),
    ("Linux/x86_64", Platform("linux", "amd64"), "linux/amd64"),
    ("linux/s390x", Platform("linux", "s390x"), "linux/s390x"),
    ("windows/amd64", Platform("windows", "amd64"), "windows/amd64"),
]


@pytest.mark.parametrize(("spec", "platform", "text"), PARSE)
def test_parse(spec: str, platform: Platform, text: str) -> None:
    parsed = Platform.parse(spec)
    assert parsed == platform
    assert str(parsed) == text
    assert Platform.parse(str(parsed)) == parsed  # stable through a round trip


# containerd/platforms platforms_test.go — TestParseSelectorInvalid: "", "/linux/arm",
# "linux/arm/", "linux/arm/foo/bar". Plus two of hoist's own: it wants os/arch at least
# (containerd would default the architecture of "linux") and no empty part.
INVALID = ["", "/linux/arm", "linux/arm/", "linux/arm/foo/bar", "linux", "linux//arm"]


@pytest.mark.parametrize("spec", INVALID)
def test_parse_invalid(spec: str) -> None:
    with pytest.raises(PlatformError) as exc:
        Platform.parse(spec)
    assert str(exc.value).startswith(f"invalid platform {spec!r}: want os/arch[/variant]")


# The two remaining TestParseSelectorInvalid cases: containerd rejects characters outside
# [A-Za-z0-9_.-] in a specifier part; hoist's Platform.parse checks only the shape.
@pytest.mark.parametrize("spec", ["linux /arm", "linux/&arm"])
def test_parse_invalid_characters(spec: str) -> None:
    with pytest.raises(PlatformError):
        Platform.parse(spec)


# --------------------------------------------------------------------------------------
# containerd/platforms platforms_test.go — TestParseSelector "matches": the selector on the
# left must match every platform on the right.
# --------------------------------------------------------------------------------------
MATCHES = [
    (
        "linux/arm64",
        [("linux", "aarch64", ""), ("linux", "aarch64", "v8"), ("linux", "arm64", "v8")],
    ),
    (
        "linux/arm64/v8",
        [("linux", "aarch64", ""), ("linux", "aarch64", "v8"), ("linux", "arm64", "")],
    ),
    ("linux/arm", [("linux", "arm", "v7"), ("linux", "armhf", ""), ("linux", "arm", "7")]),
    ("linux/arm/v6", [("linux", "armel", "")]),
    ("linux/arm/v7", [("linux", "arm", ""), ("linux", "armhf", "")]),
]


@pytest.mark.parametrize(("spec", "others"), MATCHES)
def test_matches(spec: str, others: list[tuple[str, str, str]]) -> None:
    selector = Platform.parse(spec)
    for other in others:
        assert selector.matches(Platform(*other))


NO_MATCH = [
    ("linux/arm/v7", ("linux", "arm", "v6")),
    ("linux/arm/v6", ("linux", "armhf", "")),
    ("linux/amd64", ("linux", "amd64", "v3")),
    ("linux/amd64", ("windows", "amd64", "")),
    ("linux/arm64", ("linux", "arm", "v8")),
]


@pytest.mark.parametrize(("spec", "other"), NO_MATCH)
def test_does_not_match(spec: str, other: tuple[str, str, str]) -> None:
    assert not Platform.parse(spec).matches(Platform(*other))


def test_str_omits_empty_variant() -> None:
    assert str(Platform("linux", "amd64")) == "linux/amd64"
    assert str(Platform("linux", "arm", "v7")) == "linux/arm/v7"
