"""Plain http.client helpers for talking to the test registries directly.

Kept independent of hoist's own client on purpose: a fixture test (or a test seeding a
registry) must not depend on the code under test.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import re
import urllib.parse
from dataclasses import dataclass
from typing import Any

MANIFEST_ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
)


@dataclass(frozen=True)
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def request(
    url: str,
    method: str = "GET",
    *,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    timeout: float = 10.0,
) -> Response:
    """One request on a fresh connection; redirects are *not* followed."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "http" or parts.hostname is None:
        raise ValueError(f"plain-HTTP loopback URLs only: {url!r}")
    conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
    try:
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        conn.request(method, target or "/", body=body, headers=headers or {})
        response = conn.getresponse()
        return Response(response.status, response.headers, response.read())
    finally:
        conn.close()


def basic_auth(username: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def bearer_auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """``Bearer realm="…",service="…"`` → ("bearer", {"realm": …, "service": …})."""
    scheme, _, rest = header.partition(" ")
    return scheme.lower(), dict(_CHALLENGE_PARAM.findall(rest))


def fetch_token(
    realm: str,
    service: str,
    scopes: list[str],
    *,
    credentials: tuple[str, str] | None = None,
) -> Response:
    """``GET realm?service=&scope=…`` with optional Basic credentials."""
    query = urllib.parse.urlencode([("service", service), *(("scope", s) for s in scopes)])
    headers = basic_auth(*credentials) if credentials else {}
    return request(f"{realm}?{query}", headers=headers)


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def push_blob(
    base_url: str, repository: str, data: bytes, *, headers: dict[str, str] | None = None
) -> str:
    """Monolithic upload (POST, then PUT ?digest=); returns the digest."""
    digest = sha256_digest(data)
    started = request(
        f"{base_url}/v2/{repository}/blobs/uploads/", "POST", headers=headers, body=b""
    )
    if started.status != 202:
        raise RuntimeError(f"upload start answered {started.status}: {started.body[:200]!r}")
    # Location may be relative or absolute; resolve it against the URL we used.
    location = urllib.parse.urljoin(f"{base_url}/", started.headers["Location"])
    separator = "&" if "?" in location else "?"
    done = request(
        f"{location}{separator}digest={digest}",
        "PUT",
        headers={**(headers or {}), "Content-Type": "application/octet-stream"},
        body=data,
    )
    if done.status != 201:
        raise RuntimeError(f"upload PUT answered {done.status}: {done.body[:200]!r}")
    return digest
