"""One anonymous manifest HEAD without the full client.

The dev loop asks "does the registry still serve this tag as this digest?" after every
no-change build; the answer must cost milliseconds, not the import of an HTTP stack and its
TLS set-up. A registry that wants credentials, redirects, or answers anything unexpected
gets :class:`ProbeUnavailable`, and the caller asks again with the full client (which
authenticates).
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


def manifest_digest(registry: str, repository: str, reference: str, *,
                    insecure: bool = False, timeout: float = 5.0) -> str | None:
    """The ``Docker-Content-Digest`` a registry answers for a manifest HEAD, or None when
    it says 404. Raises :class:`ProbeUnavailable` for anything the full client must
    handle (401/403, redirects, other statuses, no digest header, network errors)."""
    import http.client

    plain = insecure or is_local_host(registry)
    conn: http.client.HTTPConnection
    try:
        if plain:
            conn = http.client.HTTPConnection(registry, timeout=timeout)
        else:
            conn = http.client.HTTPSConnection(registry, timeout=timeout)
        try:
            conn.request("HEAD", f"/v2/{repository}/manifests/{reference}",
                         headers={"Accept": ", ".join(MANIFEST_ACCEPT),
                                  "User-Agent": "hoist"})
            resp = conn.getresponse()
            resp.read()
        finally:
            conn.close()
    except (OSError, http.client.HTTPException) as e:
        raise ProbeUnavailable(str(e)) from None
    if resp.status == 404:
        return None
    digest = resp.getheader("Docker-Content-Digest")
    if resp.status != 200 or not digest:
        raise ProbeUnavailable(f"HTTP {resp.status}")
    return digest
