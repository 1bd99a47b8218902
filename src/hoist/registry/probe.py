"""Anonymous, synchronous registry calls without the full client.

The dev loop asks "does the registry serve this tag as this digest?" after every build and
pushes one small new layer after most; on a local registry that must cost milliseconds,
not the import of an HTTP stack and its TLS set-up. A registry that wants credentials,
redirects, or answers anything unexpected gets :class:`ProbeUnavailable`, and the caller
goes again with the full client (which authenticates, retries and streams).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from hoist.core.mediatypes import MANIFEST_ACCEPT


class ProbeUnavailable(Exception):
    """The quick probe cannot answer; use the full client."""


def is_local_host(host: str) -> bool:
    """localhost and loopback addresses, which containerd reaches over plain HTTP."""
    if host.startswith("["):  # [v6] or [v6]:port
        name = host[1:].split("]", 1)[0]
    else:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


# Response headers beyond this many bytes in all are not a registry's: the probe gives up.
_MAX_HEADER_BYTES = 64 << 10


class _PlainHTTP:
    """HTTP/1.1 over one kept-alive TCP connection, just what the probe's requests need:
    a request goes out in one write, a response is read by Content-Length or chunked
    transfer coding (or to the close). http.client would do the same, but its import (the
    email package and ssl come with it) takes about as long as the dev loop's whole push
    to a local registry."""

    def __init__(self, registry: str, timeout: float) -> None:
        self.registry = registry
        self.timeout = timeout
        self._sock: Any = None
        self._reader: Any = None

    def _connect(self) -> None:
        import socket

        host, port = split_host_port(self.registry)
        # An ASCII name as bytes: a str would be IDNA-encoded, importing that codec.
        name: str | bytes = host.encode("ascii") if host.isascii() else host
        error: OSError = ConnectionError(f"no address for {host}")
        for family, kind, proto, _, address in socket.getaddrinfo(
                name, port, type=socket.SOCK_STREAM):
            sock = socket.socket(family, kind, proto)
            try:
                sock.settimeout(self.timeout)
                sock.connect(address)
            except OSError as e:
                sock.close()
                error = e
                continue
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sock = sock
            break
        else:
            raise error
        self._reader = self._sock.makefile("rb")

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
        if self._sock is not None:
            self._sock.close()
        self._sock = self._reader = None

    def exchange(self, method: str, path: str, body: bytes | None,
                 headers: dict[str, str]) -> tuple[int, dict[str, str]]:
        """Send one request, read its whole response: (status, lower-cased headers).
        OSError (ConnectionError when the server closed the connection) on failure."""
        if self._sock is None:
            self._connect()
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.registry}",
                 *(f"{k}: {v}" for k, v in headers.items()), "", ""]
        try:
            self._sock.sendall("\r\n".join(lines).encode("latin-1") + (body or b""))
            status, got = self._read_head()
            while 100 <= status < 200:  # interim responses (100 Continue) carry no body
                status, got = self._read_head()
            keep = self._read_body(method, status, got)
        except BaseException:
            self.close()
            raise
        if not keep:
            self.close()
        return status, got

    def _readline(self) -> bytes:
        line: bytes = self._reader.readline(_MAX_HEADER_BYTES + 1)
        if not line:
            raise ConnectionError("the registry closed the connection")
        if len(line) > _MAX_HEADER_BYTES:
            raise ConnectionError("response header line too long")
        return line

    def _read_head(self) -> tuple[int, dict[str, str]]:
        version, _, rest = self._readline().decode("latin-1").partition(" ")
        code = rest[:3]
        if not version.startswith("HTTP/1.") or not code.isdigit():
            raise ConnectionError(f"not an HTTP/1.x status line: {version} {rest}"[:200])
        got: dict[str, str] = {}
        total = 0
        while True:
            line = self._readline()
            total += len(line)
            if total > _MAX_HEADER_BYTES:
                raise ConnectionError("response headers too long")
            if line in (b"\r\n", b"\n"):
                return int(code), got
            key, sep, value = line.decode("latin-1").partition(":")
            if not sep:
                raise ConnectionError(f"malformed response header {line[:80]!r}")
            got[key.strip().lower()] = value.strip()

    def _read_body(self, method: str, status: int, got: dict[str, str]) -> bool:
        """Read (and drop) the body; whether the connection can take another request."""
        keep = "close" not in got.get("connection", "").lower()
        if method == "HEAD" or status in (204, 304):
            return keep
        if "chunked" in got.get("transfer-encoding", "").lower():
            while True:
                size = int(self._readline().split(b";", 1)[0].strip() or b"x", 16)
                if size == 0:
                    while self._readline() not in (b"\r\n", b"\n"):
                        pass  # trailers
                    return keep
                self._read_exactly(size + 2)  # the chunk and its CRLF
        length = got.get("content-length")
        if length is None:
            self._reader.read()  # the body runs to the end of the connection
            return False
        if not length.isdigit():
            raise ConnectionError(f"bad Content-Length {length!r}")
        self._read_exactly(int(length))
        return keep

    def _read_exactly(self, size: int) -> None:
        while size > 0:
            chunk = self._reader.read(min(size, 1 << 16))
            if not chunk:
                raise ConnectionError("the registry closed the connection mid-body")
            size -= len(chunk)


class _TLS:
    """The same exchange over TLS, through http.client (certificates, SNI)."""

    def __init__(self, registry: str, timeout: float) -> None:
        import http.client

        self._conn = http.client.HTTPSConnection(registry, timeout=timeout)

    def close(self) -> None:
        self._conn.close()

    def exchange(self, method: str, path: str, body: bytes | None,
                 headers: dict[str, str]) -> tuple[int, dict[str, str]]:
        import http.client

        try:
            self._conn.request(method, path, body=body, headers=headers)
            resp = self._conn.getresponse()
            resp.read()
        except http.client.HTTPException as e:
            raise ConnectionError(str(e)) from None
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}


def split_host_port(registry: str) -> tuple[str, int]:
    """``host[:port]`` or ``[v6][:port]`` → (host, port); port 80 when none is given."""
    if registry.startswith("["):
        host, _, rest = registry[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif registry.count(":") == 1:
        host, _, port = registry.partition(":")
    else:
        host, port = registry, ""
    if port and not port.isdigit():
        raise ProbeUnavailable(f"bad port in {registry!r}")
    return host, int(port) if port else 80


class QuickSession:
    """A few anonymous requests to one registry over one kept-alive connection: manifest
    HEADs and a monolithic push of blobs and a manifest (distribution spec: POST an upload,
    PUT it with ``?digest=``; blobs the repository already has are skipped after a HEAD).
    Any answer the anonymous path cannot take raises :class:`ProbeUnavailable`."""

    def __init__(self, registry: str, *, insecure: bool = False, timeout: float = 30.0) -> None:
        self.registry = registry
        self._conn: _PlainHTTP | _TLS
        if insecure or is_local_host(registry):
            self._conn = _PlainHTTP(registry, timeout)
        else:
            self._conn = _TLS(registry, timeout)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> QuickSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(self, method: str, path: str, body: bytes | None = None,
                 headers: dict[str, str] | None = None) -> tuple[int, dict[str, str]]:
        all_headers = {"User-Agent": "hoist", **(headers or {})}
        if body is not None:
            all_headers["Content-Length"] = str(len(body))
        try:
            status, got = self._conn.exchange(method, path, body, all_headers)
        except (OSError, ValueError) as e:
            raise ProbeUnavailable(str(e)) from None
        if status in (401, 403) or 300 <= status < 400:
            raise ProbeUnavailable(f"HTTP {status} for {method} {path}")
        return status, got

    def manifest_digest(self, repository: str, reference: str) -> str | None:
        status, headers = self._request("HEAD", f"/v2/{repository}/manifests/{reference}",
                                        headers={"Accept": ", ".join(MANIFEST_ACCEPT)})
        if status == 404:
            return None
        digest = headers.get("docker-content-digest")
        if status != 200 or not digest:
            raise ProbeUnavailable(f"HTTP {status} for the manifest HEAD")
        return digest

    def has_blob(self, repository: str, digest: str) -> bool:
        status, _ = self._request("HEAD", f"/v2/{repository}/blobs/{digest}")
        if status not in (200, 404):
            raise ProbeUnavailable(f"HTTP {status} for a blob HEAD")
        return status == 200

    def put_blob(self, repository: str, digest: str, data: bytes) -> None:
        from urllib.parse import quote, urlsplit

        status, headers = self._request("POST", f"/v2/{repository}/blobs/uploads/", b"")
        location = headers.get("location", "")
        if status != 202 or not location:
            raise ProbeUnavailable(f"HTTP {status} starting an upload")
        url = urlsplit(location)
        if url.netloc and url.netloc != self.registry:
            raise ProbeUnavailable("the upload continues on another host")
        sep = "&" if url.query else "?"
        target = f"{url.path}{'?' + url.query if url.query else ''}{sep}digest={quote(digest)}"
        status, _ = self._request("PUT", target, data,
                                  {"Content-Type": "application/octet-stream"})
        if status != 201:
            raise ProbeUnavailable(f"HTTP {status} finishing an upload")

    def put_manifest(self, repository: str, reference: str, media_type: str,
                     raw: bytes) -> str:
        status, headers = self._request("PUT", f"/v2/{repository}/manifests/{reference}",
                                        raw, {"Content-Type": media_type})
        if status != 201:
            raise ProbeUnavailable(f"HTTP {status} for the manifest PUT")
        return headers.get("docker-content-digest", "")
