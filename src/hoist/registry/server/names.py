"""Which endpoint a request path names, and whether its repository name, tag and digest
are valid. Pure: the name never becomes a file path (repository data lives in SQLite),
and a name that fails the grammar is refused before anything else happens."""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass
from typing import Literal

from hoist.core.digest import Digest, DigestError
from hoist.registry.server.errors import ApiError

# distribution-spec spec.md "Pulling manifests": <name> MUST match this grammar.
_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
NAME_RE = re.compile(f"{_COMPONENT}(?:/{_COMPONENT})*")
# distribution/reference: NameTotalLengthMax.
MAX_NAME_LENGTH = 255
# distribution-spec spec.md: a tag is at most 128 characters of this grammar.
TAG_RE = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")
UPLOAD_ID_RE = re.compile(r"[a-f0-9]{32}")

Endpoint = Literal["ping", "catalog", "tags", "manifest", "blob", "upload_start", "upload",
                   "referrers", "token", "metrics"]


@dataclass(frozen=True, slots=True)
class Route:
    endpoint: Endpoint
    name: str = ""
    reference: str = ""  # a tag or digest (manifests), a digest (blobs), an upload id


_PATTERNS: tuple[tuple[Endpoint, re.Pattern[str]], ...] = (
    ("upload", re.compile(r"/v2/(?P<name>.+)/blobs/uploads/(?P<ref>[^/]+)")),
    ("upload_start", re.compile(r"/v2/(?P<name>.+)/blobs/uploads/?")),
    ("blob", re.compile(r"/v2/(?P<name>.+)/blobs/(?P<ref>[^/]+)")),
    ("manifest", re.compile(r"/v2/(?P<name>.+)/manifests/(?P<ref>[^/]+)")),
    ("tags", re.compile(r"/v2/(?P<name>.+)/tags/list")),
    ("referrers", re.compile(r"/v2/(?P<name>.+)/referrers/(?P<ref>[^/]+)")),
)


class NoRoute(ApiError):
    def __init__(self, path: str) -> None:
        super().__init__(404, "UNSUPPORTED", {"path": path[:200]},
                         message="no such endpoint")


def valid_name(name: str) -> bool:
    return len(name) <= MAX_NAME_LENGTH and NAME_RE.fullmatch(name) is not None


def check_name(name: str) -> str:
    if not valid_name(name):
        raise ApiError(400, "NAME_INVALID", {"name": name[:300]})
    return name


def valid_tag(tag: str) -> bool:
    return TAG_RE.fullmatch(tag) is not None


def parse_digest(text: str) -> Digest:
    try:
        return Digest.parse(text)
    except DigestError as e:
        raise ApiError(400, "DIGEST_INVALID", f"{text[:200]!r}: {e}") from None


def route(raw_path: str) -> Route:
    """The endpoint ``raw_path`` (as sent, query removed) names. Percent escapes are
    decoded before matching, so ``%2e%2e`` is ``..`` and fails the name grammar."""
    try:
        path = urllib.parse.unquote(raw_path, errors="strict") if "%" in raw_path else raw_path
    except UnicodeDecodeError:
        raise ApiError(400, "NAME_INVALID", {"path": raw_path[:300]}) from None
    if path in ("/v2", "/v2/"):
        return Route("ping")
    if path == "/v2/_catalog":
        return Route("catalog")
    if path == "/token":
        return Route("token")
    if path == "/metrics":
        return Route("metrics")
    if not path.startswith("/v2/"):
        raise NoRoute(path)
    for endpoint, pattern in _PATTERNS:
        m = pattern.fullmatch(path)
        if m is None:
            continue
        name = check_name(m["name"])
        ref = m.groupdict().get("ref") or ""
        return Route(endpoint, name, ref)
    raise NoRoute(path)
