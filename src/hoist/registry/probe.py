"""Anonymous, synchronous registry calls without the full client.

The dev loop asks "does the registry serve this tag as this digest?" after every build and
pushes one small new layer after most; on a local registry that must cost milliseconds,
not the import of an HTTP stack and its TLS set-up. A registry that wants credentials,
redirects, or answers anything unexpected gets :class:`ProbeUnavailable`, and the caller
goes again with the full client (which authenticates, retries and streams).
"""

from __future__ import annotations

import ipaddress

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


class QuickSession:
    """A few anonymous requests to one registry over one kept-alive connection: manifest
    HEADs and a monolithic push of blobs and a manifest (distribution spec: POST an upload,
    PUT it with ``?digest=``; blobs the repository already has are skipped after a HEAD).
    Any answer the anonymous path cannot take raises :class:`ProbeUnavailable`."""

    def __init__(self, registry: str, *, insecure: bool = False, timeout: float = 30.0) -> None:
        import http.client

        self.registry = registry
        if insecure or is_local_host(registry):
            self._conn: http.client.HTTPConnection = http.client.HTTPConnection(
                registry, timeout=timeout)
        else:
            self._conn = http.client.HTTPSConnection(registry, timeout=timeout)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> QuickSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(self, method: str, path: str, body: bytes | None = None,
                 headers: dict[str, str] | None = None) -> tuple[int, dict[str, str]]:
        import http.client

        all_headers = {"User-Agent": "hoist", **(headers or {})}
        if body is not None:
            all_headers["Content-Length"] = str(len(body))
        try:
            self._conn.request(method, path, body=body, headers=all_headers)
            resp = self._conn.getresponse()
            resp.read()
        except (OSError, http.client.HTTPException) as e:
            raise ProbeUnavailable(str(e)) from None
        if resp.status in (401, 403) or 300 <= resp.status < 400:
            raise ProbeUnavailable(f"HTTP {resp.status} for {method} {path}")
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}

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
