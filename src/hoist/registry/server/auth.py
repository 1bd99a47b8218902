"""Who may do what: htpasswd (bcrypt) Basic authentication, and Bearer tokens this server
issues itself at ``/token`` (the docker token protocol: distribution/distribution
docs/spec/auth/token.md), scoped ``repository:NAME:ACTIONS``.

Tokens are HMAC-SHA256-signed JWTs with a key made when the server starts, so they die
with the server; nobody else needs to verify them."""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hoist.errors import InputError

SERVICE = "hoist-registry"
REALM = "hoist-registry"
TOKEN_SECONDS = 300  # Distribution's token spec: expires_in defaults to 60 s; we give 300


class HtpasswdError(InputError):
    pass


@dataclass(frozen=True, slots=True)
class Scope:
    """``type:name:actions`` as the token spec writes it (``repository:app:pull,push``)."""

    type: str
    name: str
    actions: frozenset[str]

    def __str__(self) -> str:
        return f"{self.type}:{self.name}:{','.join(sorted(self.actions))}"


def parse_scope(text: str) -> Scope | None:
    """One scope; None when it is not ``type:name:actions`` (the name may hold a port
    colon, so the type is before the first colon and the actions after the last)."""
    first, last = text.find(":"), text.rfind(":")
    if first <= 0 or last == first:
        return None
    actions = frozenset(a for a in text[last + 1 :].split(",") if a)
    return Scope(text[:first], text[first + 1 : last], actions)


def parse_scopes(values: Iterable[str]) -> list[Scope]:
    """Scopes from ``scope`` parameters; one parameter may hold several, space-separated."""
    out = []
    for value in values:
        for part in value.split():
            scope = parse_scope(part)
            if scope is not None:
                out.append(scope)
    return out


def grant(requested: Sequence[Scope]) -> list[Scope]:
    """What an authenticated user gets: every repository action asked for among pull,
    push and delete, and the catalog. There are no per-repository rules."""
    out = []
    for scope in requested:
        if scope.type == "repository":
            actions = scope.actions & {"pull", "push", "delete"}
            if "*" in scope.actions:
                actions = frozenset({"pull", "push", "delete"})
        elif scope.type == "registry" and scope.name == "catalog":
            actions = scope.actions & {"*"}
        else:
            continue
        if actions:
            out.append(Scope(scope.type, scope.name, frozenset(actions)))
    return out


def allows(granted: Iterable[Scope], needed: Scope) -> bool:
    have: set[str] = set()
    for scope in granted:
        if scope.type == needed.type and scope.name == needed.name:
            have |= scope.actions
    return needed.actions <= have


def parse_basic(header: str) -> tuple[str, str] | None:
    """``Basic base64(user:password)`` → (user, password); None when malformed."""
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep and user else None


class Htpasswd:
    """An htpasswd file of bcrypt entries (the only kind Distribution accepts, too),
    re-read when it changes. Successful checks are remembered per process, keyed by a
    keyed hash of the password, so bcrypt's cost is paid once per user, not per request."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._stamp: tuple[float, int] | None = None
        self._entries: dict[str, bytes] = {}
        self._key = secrets.token_bytes(32)
        self._good: set[tuple[str, bytes, bytes]] = set()
        self._load()

    def __repr__(self) -> str:
        return f"Htpasswd({str(self.path)!r}, users={len(self._entries)})"

    def _load(self) -> None:
        try:
            st = os.stat(self.path)
            text = self.path.read_text()
        except OSError as e:
            raise HtpasswdError(f"--htpasswd {self.path}: {e.strerror}") from None
        entries: dict[str, bytes] = {}
        for number, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            user, sep, hashed = line.partition(":")
            if not sep or not user:
                raise HtpasswdError(f"--htpasswd {self.path} line {number}: not user:hash")
            if not hashed.startswith(("$2a$", "$2b$", "$2y$")):
                raise HtpasswdError(f"--htpasswd {self.path} line {number}: user {user!r} "
                                    "has no bcrypt hash (make entries with htpasswd -B)")
            entries[user] = hashed.encode()
        self._entries = entries
        self._stamp = (st.st_mtime, st.st_size)

    def _refresh(self) -> None:
        try:
            st = os.stat(self.path)
        except OSError:
            return  # keep the last good entries while the file is being replaced
        if (st.st_mtime, st.st_size) != self._stamp:
            with contextlib.suppress(HtpasswdError):
                self._load()

    def check(self, user: str, password: str) -> bool:
        """Blocking (bcrypt): call it off the event loop."""
        import bcrypt

        self._refresh()
        hashed = self._entries.get(user)
        if hashed is None:
            return False
        mark = hmac.new(self._key, password.encode(), hashlib.sha256).digest()
        if (user, hashed, mark) in self._good:
            return True
        try:
            ok = bcrypt.checkpw(password.encode(), hashed)
        except ValueError:
            return False
        if ok:
            self._good.add((user, hashed, mark))
        return ok


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenIssuer:
    """Signs and checks this server's tokens (HS256 JWTs)."""

    def __init__(self, service: str = SERVICE, seconds: int = TOKEN_SECONDS) -> None:
        self.service = service
        self.seconds = seconds
        self._key = secrets.token_bytes(32)

    def __repr__(self) -> str:
        return f"TokenIssuer(service={self.service!r})"

    def _sign(self, claims: dict[str, Any]) -> str:
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        body = _b64(json.dumps(claims, separators=(",", ":")).encode())
        mac = hmac.new(self._key, f"{header}.{body}".encode(), hashlib.sha256).digest()
        return f"{header}.{body}.{_b64(mac)}"

    def _claims(self, token: str) -> dict[str, Any] | None:
        parts = token.split(".")
        if len(parts) != 3:
            return None
        mac = hmac.new(self._key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
        try:
            if not hmac.compare_digest(mac, _unb64(parts[2])):
                return None
            claims = json.loads(_unb64(parts[1]))
        except (ValueError, binascii.Error):
            return None
        return claims if isinstance(claims, dict) else None

    def issue(self, subject: str, scopes: Sequence[Scope], now: float | None = None) -> str:
        now = time.time() if now is None else now
        return self._sign({
            "iss": self.service, "sub": subject, "aud": self.service, "iat": int(now),
            "exp": int(now) + self.seconds, "jti": secrets.token_hex(8),
            "access": [{"type": s.type, "name": s.name, "actions": sorted(s.actions)}
                       for s in scopes]})

    def issue_refresh(self, subject: str) -> str:
        return self._sign({"iss": self.service, "sub": subject, "typ": "refresh",
                           "jti": secrets.token_hex(8)})

    def refresh_subject(self, token: str) -> str | None:
        claims = self._claims(token)
        if not claims or claims.get("typ") != "refresh":
            return None
        sub = claims.get("sub")
        return sub if isinstance(sub, str) else None

    def verify(self, token: str, now: float | None = None) -> tuple[str, list[Scope]] | None:
        """(subject, granted scopes) of a valid, unexpired access token; else None."""
        claims = self._claims(token)
        now = time.time() if now is None else now
        if (not claims or claims.get("typ") == "refresh" or claims.get("aud") != self.service
                or not isinstance(claims.get("exp"), int) or claims["exp"] < now):
            return None
        scopes = []
        for entry in claims.get("access") or []:
            if isinstance(entry, dict):
                scopes.append(Scope(str(entry.get("type", "")), str(entry.get("name", "")),
                                    frozenset(str(a) for a in entry.get("actions") or [])))
        return str(claims.get("sub", "")), scopes
