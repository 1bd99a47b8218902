"""A real Docker-style token server that Distribution's ``auth.token`` accepts.

Distribution 2.8 (registry/auth/token/token.go, libtrust era) verifies a JWT like this:

* ``iss`` must equal the configured ``issuer`` and ``aud`` the configured ``service``;
  ``aud`` is a plain JSON *string* there (a list is accepted from Distribution 3 on, so
  this server sends a string unless told otherwise);
* ``exp``/``nbf`` are checked with 60 s of leeway, so a token only counts as expired a
  minute after its ``exp``;
* the signing key comes from the header: ``x5c`` (a chain that must verify up to a cert in
  ``rootcertbundle``; any key usage), else ``jwk``, else ``kid``, which must be the
  *libtrust fingerprint* of the public key of one of the root certs themselves (so ``kid``
  tokens have to be signed by the root key, not by a leaf);
* libtrust checks that ``alg`` matches the key: RS256/384/512 for RSA, ES256 for P-256
  (signature is raw r||s, 64 bytes, not DER).

Both header styles are implemented (``key_reference="x5c"|"kid"``), with RSA or P-256
keys. Keys and certificates are made once per test process and cached.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
    from cryptography.x509 import Certificate

KeyType = Literal["rsa", "ec"]
KeyReference = Literal["x5c", "kid"]
# A policy maps (subject or None for anonymous, resource type, name, requested actions)
# to the actions granted.
Policy = Callable[[str | None, str, str, Sequence[str]], Sequence[str]]

MISSING_CRYPTOGRAPHY = "cryptography not installed (pip install -e '.[dev]')"
DEFAULT_SERVICE = "hoist-test-registry"
DEFAULT_ISSUER = "hoist-test-token-issuer"
#: Actions an authenticated user gets by default when asking for them.
ALL_ACTIONS = ("pull", "push", "delete", "*")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def decode_jwt(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(header, claims) of a compact JWT, without verifying it: for assertions in tests."""
    header, claims, _signature = token.split(".")
    return json.loads(b64url_decode(header)), json.loads(b64url_decode(claims))


def libtrust_key_id(public_key: Any) -> str:
    """The ``kid`` Distribution 2.8 computes for a key (libtrust ``keyIDFromCryptoKey``).

    sha256 of the DER SubjectPublicKeyInfo, first 240 bits, base32 without padding, in
    twelve colon-separated groups of four.
    """
    from cryptography.hazmat.primitives import serialization

    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    b32 = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode("ascii").rstrip("=")
    return ":".join(b32[i : i + 4] for i in range(0, len(b32), 4))


@dataclass(frozen=True)
class SigningMaterial:
    """A root CA (written as Distribution's rootcertbundle) and a leaf cert it signed."""

    key_type: KeyType
    ca_key: CertificateIssuerPrivateKeyTypes = field(repr=False)
    ca_cert: Certificate = field(repr=False)
    leaf_key: CertificateIssuerPrivateKeyTypes = field(repr=False)
    leaf_cert: Certificate = field(repr=False)

    @property
    def algorithm(self) -> str:
        return "RS256" if self.key_type == "rsa" else "ES256"

    @property
    def ca_pem(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return self.ca_cert.public_bytes(serialization.Encoding.PEM)

    def header(self, key_reference: KeyReference) -> dict[str, Any]:
        from cryptography.hazmat.primitives import serialization

        header: dict[str, Any] = {"typ": "JWT", "alg": self.algorithm}
        if key_reference == "x5c":
            # Standard (not url-safe) base64 of the DER, as RFC 7515 §4.1.6 says.
            der = self.leaf_cert.public_bytes(serialization.Encoding.DER)
            header["x5c"] = [base64.b64encode(der).decode("ascii")]
        else:
            header["kid"] = libtrust_key_id(self.ca_cert.public_key())
        return header

    def sign(self, signing_input: bytes, key_reference: KeyReference) -> bytes:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

        # x5c names the leaf; kid can only name a root key (see the module docstring).
        key = self.leaf_key if key_reference == "x5c" else self.ca_key
        if isinstance(key, rsa.RSAPrivateKey):
            return key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")


_MATERIAL: dict[KeyType, SigningMaterial] = {}
_MATERIAL_LOCK = threading.Lock()


def signing_material(key_type: KeyType = "rsa") -> SigningMaterial:
    """Keys and certs for ``key_type``, made on first use and kept for the test session."""
    with _MATERIAL_LOCK:
        if key_type not in _MATERIAL:
            _MATERIAL[key_type] = _make_material(key_type)
        return _MATERIAL[key_type]


def _make_material(key_type: KeyType) -> SigningMaterial:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import NameOID

    def new_key() -> CertificateIssuerPrivateKeyTypes:
        if key_type == "rsa":
            return rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return ec.generate_private_key(ec.SECP256R1())

    now = datetime.now(UTC)
    # Back-dated so a clock a little behind ours (or Go's verification) still accepts it.
    not_before, not_after = now - timedelta(hours=1), now + timedelta(days=2)
    ca_key, leaf_key = new_key(), new_key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hoist test token CA")])
    leaf_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hoist test token signer")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    leaf_cert = (
        x509.CertificateBuilder()
        .subject_name(leaf_name)
        .issuer_name(ca_name)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    return SigningMaterial(key_type, ca_key, ca_cert, leaf_key, leaf_cert)


@dataclass(frozen=True)
class TokenRequest:
    """One request the token server answered. Holds no password and no token."""

    method: str
    path: str
    query: dict[str, list[str]]
    scopes: tuple[str, ...]
    authorization: bool  # an Authorization header was present
    grant: str  # anonymous | basic | password | refresh_token | <other grant_type>
    username: str | None
    status: int
    access: tuple[dict[str, Any], ...] = ()  # what the issued token grants
    refresh_token_issued: bool = False


def parse_scope(scope: str) -> tuple[str, str, list[str]]:
    """``repository:library/app:pull,push`` → (type, name, actions).

    The name sits between the first and the last colon, so a name with a colon in it
    (``repository:host:5000/app:pull`` as some clients send) survives.
    """
    type_, _, rest = scope.partition(":")
    name, _, actions = rest.rpartition(":")
    return type_, name, [a for a in actions.split(",") if a]


class TokenServer:
    """An HTTP token endpoint on 127.0.0.1 in a background thread.

    * ``GET /token?service=&scope=…`` with optional Basic auth;
    * ``POST /token`` form with ``grant_type=password`` (username/password) or
      ``grant_type=refresh_token``.

    Authenticated users get every requested action in ``ALL_ACTIONS`` unless ``policy``
    says otherwise; anonymous callers get ``pull`` on repositories matching
    ``public_repos`` (fnmatch patterns) and nothing else, or a 401 when
    ``anonymous=False``. The answer carries the fields in ``token_fields``, ``expires_in``
    (omitted when None, the token then lives the spec's default 60 s), ``issued_at`` and a
    ``refresh_token`` for password grants and for ``offline_token=true``.
    ``token_lifetime`` overrides the real ``exp`` (negative: already expired) independent
    of the advertised ``expires_in``. Settings are plain attributes read per request, so a
    test that owns the server may change them between requests.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        users: dict[str, str] | None = None,
        service: str = DEFAULT_SERVICE,
        issuer: str = DEFAULT_ISSUER,
        public_repos: Iterable[str] = (),
        anonymous: bool = True,
        expires_in: int | None = 300,
        token_lifetime: int | None = None,
        token_fields: Sequence[str] = ("token", "access_token"),
        key_type: KeyType = "rsa",
        key_reference: KeyReference = "x5c",
        audience_as_list: bool = False,
        policy: Policy | None = None,
    ) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.users: dict[str, str] = dict(users or {})
        self.service = service
        self.issuer = issuer
        self.public_repos = list(public_repos)
        self.anonymous = anonymous
        self.expires_in = expires_in
        self.token_lifetime = token_lifetime
        self.token_fields = tuple(token_fields)
        self.key_reference: KeyReference = key_reference
        self.audience_as_list = audience_as_list
        self.policy = policy
        self.material = signing_material(key_type)
        self.rootcertbundle = self.workdir / "token-ca.pem"
        self.rootcertbundle.write_bytes(self.material.ca_pem)

        self._lock = threading.Lock()
        self._requests: list[TokenRequest] = []
        self._refresh_tokens: dict[str, str] = {}  # refresh token → subject

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._httpd.daemon_threads = True
        self.port: int = self._httpd.server_address[1]
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.host}"
        self.realm = f"{self.url}/token"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},  # stop() waits up to one poll interval
            name=f"token-server-{self.port}",
            daemon=True,
        )
        self._thread.start()

    def __repr__(self) -> str:
        return f"TokenServer(realm={self.realm!r}, service={self.service!r})"

    # -- lifecycle ---------------------------------------------------------------------

    def stop(self) -> None:
        if self._thread.is_alive():
            self._httpd.shutdown()
            self._thread.join(timeout=5)
        self._httpd.server_close()

    def __enter__(self) -> TokenServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what happened -----------------------------------------------------------------

    @property
    def requests(self) -> list[TokenRequest]:
        with self._lock:
            return list(self._requests)

    def count(self, *, grant: str | None = None, status: int | None = None) -> int:
        """How many token requests arrived (optionally of one grant or with one status)."""
        return sum(
            1
            for r in self.requests
            if (grant is None or r.grant == grant) and (status is None or r.status == status)
        )

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()

    def revoke_refresh_tokens(self) -> None:
        with self._lock:
            self._refresh_tokens.clear()

    # -- tokens ------------------------------------------------------------------------

    def grant(self, subject: str | None, scopes: Iterable[str]) -> list[dict[str, Any]]:
        """The ``access`` claim for ``subject`` (None: anonymous) asking for ``scopes``."""
        access: list[dict[str, Any]] = []
        for scope in scopes:
            type_, name, actions = parse_scope(scope)
            if self.policy is not None:
                granted = list(self.policy(subject, type_, name, actions))
            elif subject is not None:
                granted = [a for a in actions if a in ALL_ACTIONS]
            elif type_ == "repository" and any(
                fnmatchcase(name, pattern) for pattern in self.public_repos
            ):
                granted = [a for a in actions if a == "pull"]
            else:
                granted = []
            if granted:
                access.append({"type": type_, "name": name, "actions": granted})
        return access

    def issue(self, subject: str | None, access: list[dict[str, Any]]) -> str:
        """A signed JWT for ``subject`` with the given ``access`` claim."""
        now = int(time.time())
        if self.token_lifetime is not None:
            lifetime = self.token_lifetime
        else:
            lifetime = self.expires_in if self.expires_in is not None else 60
        claims = {
            "iss": self.issuer,
            "sub": subject or "",
            "aud": [self.service] if self.audience_as_list else self.service,
            "exp": now + lifetime,
            "nbf": now - 1,
            "iat": now,
            "jti": secrets.token_hex(16),
            "access": access,
        }
        header = self.material.header(self.key_reference)
        signing_input = (
            _b64url(json.dumps(header, separators=(",", ":")).encode())
            + "."
            + _b64url(json.dumps(claims, separators=(",", ":")).encode())
        )
        signature = self.material.sign(signing_input.encode("ascii"), self.key_reference)
        return signing_input + "." + _b64url(signature)

    def _new_refresh_token(self, subject: str) -> str:
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._refresh_tokens[token] = subject
        return token

    def _subject_for_refresh(self, token: str) -> str | None:
        with self._lock:
            return self._refresh_tokens.get(token)

    def _check_password(self, username: str, password: str) -> bool:
        expected = self.users.get(username)
        return expected is not None and secrets.compare_digest(expected.encode(), password.encode())

    def _record(self, request: TokenRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _answer(
        self, subject: str | None, scopes: Sequence[str], *, refresh: str | None
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        access = self.grant(subject, scopes)
        token = self.issue(subject, access)
        body: dict[str, Any] = {field_name: token for field_name in self.token_fields}
        if self.expires_in is not None:
            body["expires_in"] = self.expires_in
        body["issued_at"] = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        if refresh is not None:
            body["refresh_token"] = refresh
        return body, access


def _split_scopes(values: Iterable[str]) -> list[str]:
    # The scope parameter may repeat and each value may hold several space-separated scopes.
    return [s for value in values for s in value.split(" ") if s]


def _make_handler(server: TokenServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as registry clients expect
        server_version = "hoist-test-token-server"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # request lines go to TokenServer.requests, not stderr

        def _send_json(
            self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
        ) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        def _unauthorized(self, record: TokenRequest) -> None:
            server._record(record)
            self._send_json(
                HTTPStatus.UNAUTHORIZED,
                {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]},
                {"WWW-Authenticate": f'Basic realm="{server.realm}"'},
            )

        def _basic_credentials(self) -> tuple[str, str] | None:
            header = self.headers.get("Authorization", "")
            scheme, _, value = header.partition(" ")
            if scheme.lower() != "basic":
                return None
            try:
                username, _, password = base64.b64decode(value).decode().partition(":")
            except ValueError:
                return None
            return username, password

        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
            if url.path != "/token":
                self._send_json(HTTPStatus.NOT_FOUND, {"error": "not found"})
                return
            scopes = _split_scopes(query.get("scope", []))
            authorization = "Authorization" in self.headers
            creds = self._basic_credentials()
            base = TokenRequest(
                method="GET",
                path=url.path,
                query=query,
                scopes=tuple(scopes),
                authorization=authorization,
                grant="anonymous",
                username=None,
                status=0,
            )
            if creds is None:
                if authorization or not server.anonymous:
                    # A non-Basic Authorization header is as good as a wrong password.
                    self._unauthorized(replace(base, status=401))
                    return
                body, access = server._answer(None, scopes, refresh=None)
                server._record(replace(base, status=200, access=tuple(access)))
                self._send_json(HTTPStatus.OK, body)
                return
            username, password = creds
            base = replace(base, grant="basic", username=username)
            if not server._check_password(username, password):
                self._unauthorized(replace(base, status=401))
                return
            offline = query.get("offline_token", [""])[0].lower() == "true"
            refresh = server._new_refresh_token(username) if offline else None
            body, access = server._answer(username, scopes, refresh=refresh)
            server._record(
                replace(
                    base,
                    status=200,
                    access=tuple(access),
                    refresh_token_issued=refresh is not None,
                )
            )
            self._send_json(HTTPStatus.OK, body)

        def do_POST(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            form = urllib.parse.parse_qs(
                self.rfile.read(length).decode("utf-8", "replace"), keep_blank_values=True
            )
            if url.path != "/token":
                self._send_json(HTTPStatus.NOT_FOUND, {"error": "not found"})
                return

            def first(name: str) -> str:
                return form.get(name, [""])[0]

            grant_type = first("grant_type")
            scopes = _split_scopes(form.get("scope", []))
            # Only non-secret form fields are kept in the record.
            safe_query = {k: v for k, v in form.items() if k not in {"password", "refresh_token"}}
            base = TokenRequest(
                method="POST",
                path=url.path,
                query=safe_query,
                scopes=tuple(scopes),
                authorization="Authorization" in self.headers,
                grant=grant_type,
                username=None,
                status=0,
            )
            if grant_type == "password":
                username = first("username")
                base = replace(base, username=username)
                if not server._check_password(username, first("password")):
                    self._unauthorized(replace(base, status=401))
                    return
                subject = username
                refresh = server._new_refresh_token(subject)
            elif grant_type == "refresh_token":
                found = server._subject_for_refresh(first("refresh_token"))
                if found is None:
                    self._unauthorized(replace(base, status=401))
                    return
                subject = found
                refresh = first("refresh_token")
            else:
                server._record(replace(base, status=400))
                self._send_json(
                    HTTPStatus.BAD_REQUEST,
                    {"error": "unsupported_grant_type", "grant_type": grant_type},
                )
                return
            body, access = server._answer(subject, scopes, refresh=refresh)
            server._record(
                replace(
                    base,
                    username=subject,
                    status=200,
                    access=tuple(access),
                    refresh_token_issued=True,
                )
            )
            self._send_json(HTTPStatus.OK, body)

    return Handler
