"""Content digests as opencontainers/go-digest defines them (digest.go, algorithm.go)."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Error texts from go-digest digest.go.
ERR_DIGEST_INVALID_FORMAT = "invalid checksum digest format"
ERR_DIGEST_INVALID_LENGTH = "invalid checksum digest length"
ERR_DIGEST_UNSUPPORTED = "unsupported digest algorithm"

# Registered algorithms and their hex lengths (go-digest algorithm.go: SHA256, SHA384, SHA512).
ALGORITHM_HEX_LENGTH = {"sha256": 64, "sha384": 96, "sha512": 128}
_ENCODED_RE = {alg: re.compile(f"[a-f0-9]{{{n}}}") for alg, n in ALGORITHM_HEX_LENGTH.items()}
# DigestRegexp from go-digest digest.go.
DIGEST_RE = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")


class DigestError(ValueError):
    """A digest string that go-digest would reject; ``str()`` is its error text."""


@dataclass(frozen=True, slots=True, order=True)
class Digest:
    algorithm: str
    encoded: str

    @classmethod
    def parse(cls, s: str) -> Digest:
        """``digest.Parse``: validate ``algorithm:encoded``."""
        i = s.find(":")
        if i <= 0 or i + 1 == len(s):
            raise DigestError(ERR_DIGEST_INVALID_FORMAT)
        algorithm, encoded = s[:i], s[i + 1 :]
        expected = ALGORITHM_HEX_LENGTH.get(algorithm)
        if expected is None:
            if not DIGEST_RE.fullmatch(s):
                raise DigestError(ERR_DIGEST_INVALID_FORMAT)
            raise DigestError(ERR_DIGEST_UNSUPPORTED)
        # Go's len() counts UTF-8 bytes, so non-ASCII input reports a length error there.
        if len(encoded.encode("utf-8", "surrogatepass")) != expected:
            raise DigestError(ERR_DIGEST_INVALID_LENGTH)
        if not _ENCODED_RE[algorithm].fullmatch(encoded):
            raise DigestError(ERR_DIGEST_INVALID_FORMAT)
        return cls(algorithm, encoded)

    @classmethod
    def from_bytes(cls, data: bytes, algorithm: str = "sha256") -> Digest:
        if algorithm not in ALGORITHM_HEX_LENGTH:
            raise DigestError(ERR_DIGEST_UNSUPPORTED)
        import hashlib  # not at import time: most callers only parse digests

        return cls(algorithm, hashlib.new(algorithm, data).hexdigest())

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.encoded}"

    @property
    def short(self) -> str:
        """The first 12 hex characters, as ``docker images`` shows an image ID."""
        return self.encoded[:12]
