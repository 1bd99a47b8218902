"""Image references, parsed and normalized exactly as distribution/reference does.

The grammar, the normalization rules (``splitDockerDomain``) and the error texts follow
github.com/distribution/reference (regexp.go, reference.go, normalize.go, helpers.go);
digests follow github.com/opencontainers/go-digest (digest.go, algorithm.go). The
Kubernetes API server and kubelet parse images through ``ParseNormalizedNamed``
(k8s.io/kubernetes pkg/util/parsers), so that is what ``parse_normalized_named`` mirrors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hoist.core.digest import Digest, DigestError

# Constants from distribution/reference normalize.go and reference.go.
NAME_TOTAL_LENGTH_MAX = 255
DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_REPO_PREFIX = "library/"
LOCALHOST = "localhost"
DEFAULT_TAG = "latest"

# Grammar from distribution/reference regexp.go. Go's RE2 ``\w`` is ASCII-only, hence
# explicit classes here; every match below is a fullmatch, because Python's ``$`` would
# also accept a trailing newline.
_ALPHANUMERIC = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALPHANUMERIC}(?:{_SEPARATOR}{_ALPHANUMERIC})*"
_REMOTE_NAME = rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_DOMAIN_NAME_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_NAME = rf"{_DOMAIN_NAME_COMPONENT}(?:\.{_DOMAIN_NAME_COMPONENT})*"
_IPV6_ADDRESS = r"\[(?:[a-fA-F0-9:]+)\]"
_HOST = rf"(?:{_DOMAIN_NAME}|{_IPV6_ADDRESS})"
_DOMAIN_AND_PORT = rf"{_HOST}(?::[0-9]+)?"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_NAME = rf"(?:{_DOMAIN_AND_PORT}/)?{_REMOTE_NAME}"

REFERENCE_RE = re.compile(rf"({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?")
ANCHORED_NAME_RE = re.compile(rf"(?:({_DOMAIN_AND_PORT})/)?({_REMOTE_NAME})")
ANCHORED_TAG_RE = re.compile(_TAG)
ANCHORED_DIGEST_RE = re.compile(_DIGEST)
ANCHORED_DOMAIN_RE = re.compile(_DOMAIN_AND_PORT)
ANCHORED_IDENTIFIER_RE = re.compile(r"[a-f0-9]{64}")

# Error texts from distribution/reference reference.go.
ERR_REFERENCE_INVALID_FORMAT = "invalid reference format"
ERR_TAG_INVALID_FORMAT = "invalid tag format"
ERR_DIGEST_INVALID_FORMAT = "invalid digest format"
ERR_NAME_CONTAINS_UPPERCASE = "repository name must be lowercase"
ERR_NAME_EMPTY = "repository name must have at least one component"
ERR_NAME_TOO_LONG = f"repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters"
ERR_NAME_NOT_CANONICAL = "repository name must be canonical"


class ReferenceError(ValueError):
    """An image reference that distribution/reference would reject; ``str()`` is its text."""


def _go_lower(s: str) -> str:
    """Go's ``strings.ToLower``: simple (one-to-one) case mapping. Python's ``str.lower``
    applies the full mapping, which differs only for U+0130 (Go: ``i``, Python: ``i`` plus
    U+0307), and that decides whether Parse reports uppercase or an invalid format."""
    return s.replace("\u0130", "i").lower()


@dataclass(frozen=True, slots=True)
class Reference:
    """A parsed reference. ``domain`` is empty only for references parsed without
    normalization whose first component is not a domain; ``path`` is empty only for a
    bare digest reference (``sha256:…`` through :func:`parse_any_reference`)."""

    domain: str = ""
    path: str = ""
    tag: str = ""
    digest: Digest | None = None

    @property
    def name(self) -> str:
        """The repository name: ``domain/path`` (``Named.Name()`` upstream)."""
        return f"{self.domain}/{self.path}" if self.domain else self.path

    @property
    def has_name(self) -> bool:
        return bool(self.path)

    def __str__(self) -> str:
        if not self.path and self.digest is not None:
            # A digestReference's String() is the bare digest (reference.go).
            return str(self.digest)
        return (
            self.name
            + (f":{self.tag}" if self.tag else "")
            + (f"@{self.digest}" if self.digest else "")
        )

    @property
    def familiar_name(self) -> str:
        """The short form users type: ``nginx`` for ``docker.io/library/nginx``."""
        domain, path = self.domain, self.path
        if domain == DEFAULT_DOMAIN:
            domain = ""
            if path.startswith(OFFICIAL_REPO_PREFIX):
                remainder = path[len(OFFICIAL_REPO_PREFIX) :]
                # Only one level under library/ is an official image (normalize.go).
                if "/" not in remainder:
                    path = remainder
        return f"{domain}/{path}" if domain else path

    @property
    def familiar(self) -> str:
        """``FamiliarString``: the familiar name with tag and digest."""
        if not self.path and self.digest is not None:
            return str(self.digest)  # not normalizedNamed: FamiliarString is String()
        return (
            self.familiar_name
            + (f":{self.tag}" if self.tag else "")
            + (f"@{self.digest}" if self.digest else "")
        )

    def with_tag(self, tag: str) -> Reference:
        """``WithTag``: same name with this tag; a digest already there is kept, as
        upstream keeps a canonical reference's digest."""
        if not ANCHORED_TAG_RE.fullmatch(tag):
            raise ReferenceError(ERR_TAG_INVALID_FORMAT)
        return Reference(self.domain, self.path, tag, self.digest)

    def with_digest(self, digest: Digest) -> Reference:
        """``WithDigest``: same name (and tag) with this digest. Like upstream it checks
        only the reference grammar's digest form, not go-digest's algorithm rules."""
        if not ANCHORED_DIGEST_RE.fullmatch(str(digest)):
            raise ReferenceError(ERR_DIGEST_INVALID_FORMAT)
        return Reference(self.domain, self.path, self.tag, digest)

    def trimmed(self) -> Reference:
        """``TrimNamed``: the name alone."""
        return Reference(self.domain, self.path)


def parse(s: str) -> Reference:
    """``reference.Parse``: parse without normalization (``foo/bar`` has domain ``foo``)."""
    m = REFERENCE_RE.fullmatch(s)
    if m is None:
        if s == "":
            raise ReferenceError(ERR_NAME_EMPTY)
        if REFERENCE_RE.fullmatch(_go_lower(s)) is not None:
            raise ReferenceError(ERR_NAME_CONTAINS_UPPERCASE)
        raise ReferenceError(ERR_REFERENCE_INVALID_FORMAT)
    name, tag, digest_text = m.group(1), m.group(2) or "", m.group(3) or ""
    nm = ANCHORED_NAME_RE.fullmatch(name)
    assert nm is not None  # name matched the same sub-grammar above
    domain, path = nm.group(1) or "", nm.group(2)
    # The limit applies to the path alone, not domain + path (distribution/reference
    # v0.6.0, PR #9 "Exclude domain from name length check").
    if len(path) > NAME_TOTAL_LENGTH_MAX:
        raise ReferenceError(ERR_NAME_TOO_LONG)
    digest: Digest | None = None
    if digest_text:
        try:
            digest = Digest.parse(digest_text)
        except DigestError as e:
            raise ReferenceError(str(e)) from None
    return Reference(domain, path, tag, digest)


def split_docker_domain(name: str) -> tuple[str, str]:
    """``splitDockerDomain`` (normalize.go): which part of a name is the registry host."""
    maybe_domain, sep, maybe_remote = name.partition("/")
    if not sep:
        # A single element is a familiar Docker Hub name, never "host:port".
        return DEFAULT_DOMAIN, OFFICIAL_REPO_PREFIX + name
    if maybe_domain == LOCALHOST:
        domain, remote = maybe_domain, maybe_remote
    elif maybe_domain == LEGACY_DEFAULT_DOMAIN:
        domain, remote = DEFAULT_DOMAIN, maybe_remote
    elif "." in maybe_domain or ":" in maybe_domain:
        domain, remote = maybe_domain, maybe_remote
    elif maybe_domain.lower() != maybe_domain:
        # An uppercase first component cannot be a namespace, so it must be a host.
        domain, remote = maybe_domain, maybe_remote
    else:
        domain, remote = DEFAULT_DOMAIN, name
    if domain == DEFAULT_DOMAIN and "/" not in remote:
        remote = OFFICIAL_REPO_PREFIX + remote
    return domain, remote


def parse_normalized_named(s: str) -> Reference:
    """``ParseNormalizedNamed``: what the API server and the kubelet use for images."""
    if ANCHORED_IDENTIFIER_RE.fullmatch(s):
        raise ReferenceError(
            f"invalid repository name ({s}), cannot specify 64-byte hexadecimal strings"
        )
    domain, remainder = split_docker_domain(s)
    colon = remainder.find(":")
    remote_name = remainder[:colon] if colon > -1 else remainder
    if remote_name.lower() != remote_name:
        raise ReferenceError(
            f"invalid reference format: repository name ({remote_name}) must be lowercase"
        )
    ref = parse(f"{domain}/{remainder}")
    if not ref.has_name:  # unreachable through the grammar above, kept as upstream has it
        raise ReferenceError(f"reference {ref} has no name")
    return ref


def parse_docker_ref(s: str) -> Reference:
    """``ParseDockerRef``: normalized, with ``latest`` added when there is neither tag nor
    digest, and the tag dropped when there is a digest (what docker pull resolves)."""
    ref = parse_normalized_named(s)
    if ref.digest is not None:
        return Reference(ref.domain, ref.path, "", ref.digest)
    return tag_name_only(ref)


def tag_name_only(ref: Reference) -> Reference:
    """``TagNameOnly``: add the default tag to a reference that has no tag and no digest."""
    if not ref.tag and ref.digest is None:
        return Reference(ref.domain, ref.path, DEFAULT_TAG, None)
    return ref


def parse_named(s: str) -> Reference:
    """``ParseNamed``: parse a reference that must already be in canonical form."""
    named = parse_normalized_named(s)
    if str(named) != s:
        raise ReferenceError(ERR_NAME_NOT_CANONICAL)
    return named


def parse_any_reference(s: str) -> Reference:
    """``ParseAnyReference``: a 64-hex identifier or a digest alone is a digest reference;
    anything else is parsed normalized."""
    if ANCHORED_IDENTIFIER_RE.fullmatch(s):
        return Reference(digest=Digest.parse(f"sha256:{s}"))
    try:
        return Reference(digest=Digest.parse(s))
    except DigestError:
        pass
    return parse_normalized_named(s)


def with_name(name: str) -> Reference:
    """``WithName``: validate a repository name alone (no tag, no digest)."""
    m = ANCHORED_NAME_RE.fullmatch(name)
    if m is None:
        raise ReferenceError(ERR_REFERENCE_INVALID_FORMAT)
    # Grammar first, then the path-only length limit, as upstream orders them.
    if len(m.group(2)) > NAME_TOTAL_LENGTH_MAX:
        raise ReferenceError(ERR_NAME_TOO_LONG)
    return Reference(m.group(1) or "", m.group(2))


def repository_name(image: str) -> str:
    """The normalized repository of an image as written, or the input itself when it does
    not parse. Used to match manifests' images against artifacts, tag and digest ignored."""
    try:
        return parse_normalized_named(image).name
    except ReferenceError:
        return image
