"""Upstream unit tests of github.com/opencontainers/go-digest, ported as data tables.

Kubernetes vendors go-digest v1.0.0, where sha256, sha384 and sha512 are the algorithms
(algorithm.go) and a wrong encoded length is ErrDigestInvalidLength (digest.go).
"""

from __future__ import annotations

import hashlib
import os

import pytest

from hoist.core.digest import Digest, DigestError

# opencontainers/go-digest digest.go
ErrDigestInvalidFormat = "invalid checksum digest format"
ErrDigestInvalidLength = "invalid checksum digest length"
ErrDigestUnsupported = "unsupported digest algorithm"

D3FC = (
    "d3fc7881460b7e22e3d172954463dddd7866d17597e7248453c48b3e9d26d9596bf9c4a9cf8072c9d5bad76e"
    "19af801d"
)

# --------------------------------------------------------------------------------------
# opencontainers/go-digest digest_test.go — TestParseDigest
# (input, err, algorithm, encoded); upstream stops at the error when one is expected.
# --------------------------------------------------------------------------------------
PARSE_DIGEST = [
    (
        "sha256:e58fcf7418d4390dec8e8fb69d88c06ec07039d651fedd3aa72af9972e7d046b",
        None,
        "sha256",
        "e58fcf7418d4390dec8e8fb69d88c06ec07039d651fedd3aa72af9972e7d046b",
    ),
    (f"sha384:{D3FC}", None, "sha384", D3FC),
    ("", ErrDigestInvalidFormat, "", ""),  # empty
    ("     ", ErrDigestInvalidFormat, "", ""),  # whitespace only
    ("sha256:", ErrDigestInvalidFormat, "", ""),  # empty hex
    ("sha256:" + " " * 64, ErrDigestInvalidFormat, "", ""),  # right length, whitespace
    (":", ErrDigestInvalidFormat, "", ""),  # empty hex
    ("d41d8cd98f00b204e9800998ecf8427e", ErrDigestInvalidFormat, "", ""),  # just hex
    ("sha256:d41d8cd98f00b204e9800m98ecf8427e", ErrDigestInvalidLength, "", ""),  # not hex
    ("sha256:abcdef0123456789", ErrDigestInvalidLength, "", ""),  # too short
    (
        "sha512:abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789",
        ErrDigestInvalidLength,
        "",
        "",
    ),  # too short (from different algorithm)
    ("foo:d41d8cd98f00b204e9800998ecf8427e", ErrDigestUnsupported, "", ""),
    (f"sha384__foo+bar:{D3FC}", ErrDigestInvalidFormat, "", ""),  # repeated separators
    # parses, but the algorithm is not supported
    (f"sha384.foo+bar:{D3FC}", ErrDigestUnsupported, "sha384.foo+bar", D3FC),
    (f"sha384_foo+bar:{D3FC}", ErrDigestUnsupported, "sha384_foo+bar", D3FC),
    (
        "sha256+b64:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564",
        ErrDigestUnsupported,
        "sha256+b64",
        "LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564",
    ),
    (
        "sha256:E58FCF7418D4390DEC8E8FB69D88C06EC07039D651FEDD3AA72AF9972E7D046B",
        ErrDigestInvalidFormat,
        "",
        "",
    ),
]


def _id(value: object) -> str:
    text = str(value)
    return text if len(text) <= 50 else text[:40] + f"...[{len(text)}]"


@pytest.mark.parametrize(("text", "err", "algorithm", "encoded"), PARSE_DIGEST, ids=_id)
def test_parse_digest(text: str, err: str | None, algorithm: str, encoded: str) -> None:
    if err is not None:
        with pytest.raises(DigestError) as exc:
            Digest.parse(text)
        assert str(exc.value) == err
        return
    digest = Digest.parse(text)
    assert digest.algorithm == algorithm
    assert digest.encoded == encoded
    # Parse the String() again and check equality
    reparsed = Digest.parse(str(digest))
    assert reparsed == digest
    # NewDigestFromEncoded(alg, encoded) gives the same digest
    assert Digest(reparsed.algorithm, reparsed.encoded) == digest
    assert str(digest) == text


# go-digest's main branch (after v1.0.0) adds these two cases to TestParseDigest: they
# expect blake3, which is registered only by importing go-digest/blake3. Kubernetes uses
# v1.0.0, so hoist (like the kubelet) reports blake3 as unsupported.
BLAKE3_CASES = [
    "blake3:af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262",
    "blake3:abcdef0123456789abcdef0123456789abcdef01234",
]


@pytest.mark.parametrize("text", BLAKE3_CASES, ids=_id)
def test_blake3_is_not_registered(text: str) -> None:
    with pytest.raises(DigestError) as exc:
        Digest.parse(text)
    assert str(exc.value) == ErrDigestUnsupported


# --------------------------------------------------------------------------------------
# opencontainers/go-digest algorithm_test.go — TestFroms: FromBytes of each registered
# algorithm equals "<alg>:<hex of the hash>".
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("algorithm", ["sha256", "sha384", "sha512"])
def test_froms(algorithm: str) -> None:
    p = os.urandom(1 << 16)
    expected = f"{algorithm}:{hashlib.new(algorithm, p).hexdigest()}"
    assert str(Digest.from_bytes(p, algorithm)) == expected
    assert Digest.parse(expected) == Digest.from_bytes(p, algorithm)


def test_from_bytes_defaults_to_canonical_sha256() -> None:
    assert Digest.from_bytes(b"").algorithm == "sha256"
    assert str(Digest.from_bytes(b"")) == (
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )


# opencontainers/go-digest algorithm_test.go — TestFlagInterface, "Invalid" case: an
# unknown algorithm ("bean") is ErrDigestUnsupported.
def test_unknown_algorithm_is_unsupported() -> None:
    with pytest.raises(DigestError) as exc:
        Digest.from_bytes(b"x", "bean")
    assert str(exc.value) == ErrDigestUnsupported


# --------------------------------------------------------------------------------------
# Not upstream tables: byte-level behaviour of go-digest's Validate the port must keep.
# --------------------------------------------------------------------------------------
VALIDATE_EDGES = [
    # Go's len() counts bytes: 63 hex digits plus a two-byte character is 65 bytes.
    ("sha256:" + "a" * 63 + "é", ErrDigestInvalidLength),
    # 62 hex digits plus a two-byte character is 64 bytes: the length passes, the hex fails.
    ("sha256:" + "a" * 62 + "é", ErrDigestInvalidFormat),
    ("sha256:" + "a" * 63 + "\ud800", ErrDigestInvalidLength),  # lone surrogate: no crash
    (":" + "a" * 64, ErrDigestInvalidFormat),  # empty algorithm
    ("SHA256:" + "a" * 64, ErrDigestInvalidFormat),  # unknown and not the digest grammar
    ("sha256:" + "a" * 64 + "\n", ErrDigestInvalidLength),
]


@pytest.mark.parametrize(("text", "err"), VALIDATE_EDGES, ids=_id)
def test_validate_edges(text: str, err: str) -> None:
    with pytest.raises(DigestError) as exc:
        Digest.parse(text)
    assert str(exc.value) == err


def test_short_and_ordering() -> None:
    a = Digest.parse("sha256:" + "a" * 64)
    b = Digest.parse("sha256:" + "b" * 64)
    assert a.short == "a" * 12
    assert a < b
    assert sorted([b, a]) == [a, b]
