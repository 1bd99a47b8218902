"""Registry authentication: WWW-Authenticate challenges, token requests and the token cache.

The protocol is the distribution token spec (docs/spec/auth/token.md) as docker and
containerd speak it: a 401 names a scheme; Basic gets the credential as is; Bearer sends
us to a realm for a token scoped to the repositories and actions we need."""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from hoist.auth.credential import Credential

# The token spec: a token without expires_in lives 60 seconds.
DEFAULT_TOKEN_LIFETIME = 60.0
# Refresh a little before the registry would refuse the token.
EXPIRY_MARGIN = 5.0

_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_PARAM_RE = re.compile(rf"\s*({_TOKEN})\s*=\s*(\"(?:[^\"\\]|\\.)*\"|{_TOKEN})\s*(,|$)")
# A scheme ends at whitespace, at the end, or at the comma after a parameterless one
# ("Negotiate, Basic realm=x").
_SCHEME_RE = re.compile(rf"\s*({_TOKEN})(?:\s+|(?=,)|$)")


@dataclass(frozen=True, slots=True)
class Challenge:
    """One challenge of a ``WWW-Authenticate`` header; ``scheme`` is lower-cased."""

    scheme: str
    params: dict[str, str] = field(default_factory=dict)

    @property
    def realm(self) -> str:
        return self.params.get("realm", "")

    @property
    def service(self) -> str:
        return self.params.get("service", "")

    @property
    def scopes(self) -> tuple[str, ...]:
        scope = self.params.get("scope", "")
        return tuple(scope.split()) if scope else ()


def parse_challenges(header: str) -> list[Challenge]:
    """Parse ``WWW-Authenticate`` (RFC 7235): ``Scheme k=v, k="v", Scheme2 …``.

    Unparsable tails are ignored rather than raised: a registry's odd header must not hide
    the 401 itself, which the caller reports."""
    out: list[Challenge] = []
    pos = 0
    while pos < len(header):
        m = _SCHEME_RE.match(header, pos)
        if not m:
            break
        scheme = m.group(1).lower()
        pos = m.end()
        params: dict[str, str] = {}
        while pos < len(header):
            pm = _PARAM_RE.match(header, pos)
            if not pm:
                break
            key, value = pm.group(1).lower(), pm.group(2)
            if value.startswith('"'):
                value = re.sub(r"\\(.)", r"\1", value[1:-1])
            params[key] = value
            pos = pm.end()
            if pm.group(3) == "":
                break
            # A following "Scheme k=v" starts the next challenge.
            nxt = _SCHEME_RE.match(header, pos)
            if nxt and not _PARAM_RE.match(header, pos):
                break
        out.append(Challenge(scheme, params))
        while pos < len(header) and header[pos] in ", ":
            pos += 1
    return out


def repository_scope(repository: str, actions: Iterable[str]) -> str:
    """``repository:NAME:pull,push`` — the scope string the token spec defines."""
    return f"repository:{repository}:{','.join(sorted(set(actions), key=_action_order))}"


def _action_order(action: str) -> tuple[int, str]:
    return ({"pull": 0, "push": 1, "delete": 2}.get(action, 3), action)


def basic_header(credential: Credential) -> str:
    raw = f"{credential.username}:{credential.password}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


@dataclass(slots=True)
class _Token:
    value: str
    expires_at: float


class TokenCache:
    """Bearer tokens per (realm, service, scopes), dropped when they expire.

    Time comes from ``clock`` so tests can move it."""

    def __init__(self, clock: object = time.monotonic) -> None:
        self._tokens: dict[tuple[str, str, tuple[str, ...]], _Token] = {}
        self._clock = clock

    def _now(self) -> float:
        clock = self._clock
        assert callable(clock)
        value = clock()
        assert isinstance(value, (int, float))
        return float(value)

    def get(self, realm: str, service: str, scopes: tuple[str, ...]) -> str | None:
        token = self._tokens.get((realm, service, scopes))
        if token is None:
            return None
        if token.expires_at <= self._now():
            del self._tokens[(realm, service, scopes)]
            return None
        return token.value

    def put(
        self, realm: str, service: str, scopes: tuple[str, ...], value: str,
        expires_in: float | None,
    ) -> None:
        lifetime = DEFAULT_TOKEN_LIFETIME if not expires_in or expires_in <= 0 else expires_in
        margin = min(EXPIRY_MARGIN, lifetime / 2)
        self._tokens[(realm, service, scopes)] = _Token(value, self._now() + lifetime - margin)

    def drop(self, realm: str, service: str, scopes: tuple[str, ...]) -> None:
        self._tokens.pop((realm, service, scopes), None)

    def __len__(self) -> int:
        return len(self._tokens)
