"""Small raw-HTTP helpers for the registry server tests (kept independent of hoist's
client, which some tests exercise on its own)."""

from __future__ import annotations

import hashlib
import json
import secrets
import urllib.parse
from pathlib import Path
from typing import Any

from tests.support.registry_http import Response, request

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def unique(prefix: str = "t") -> str:
    return f"{prefix}/r{secrets.token_hex(4)}"


def absolute(base_url: str, location: str) -> str:
    return urllib.parse.urljoin(f"{base_url}/", location)


def start_upload(base: str, name: str, headers: dict[str, str] | None = None) -> str:
    r = request(f"{base}/v2/{name}/blobs/uploads/", "POST", body=b"", headers=headers)
    assert r.status == 202, r.body
    return absolute(base, r.headers["Location"])


def with_query(url: str, **params: str) -> str:
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}{urllib.parse.urlencode(params)}"


def push_blob(base: str, name: str, data: bytes,
              headers: dict[str, str] | None = None) -> str:
    digest = digest_of(data)
    location = start_upload(base, name, headers)
    r = request(with_query(location, digest=digest), "PUT", body=data,
                headers={**(headers or {}), "Content-Type": "application/octet-stream"})
    assert r.status == 201, r.body
    return digest


def descriptor(media_type: str, data: bytes, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": digest_of(data), "size": len(data), **extra}


def image_manifest(config: bytes, layers: list[bytes], *, media_type: str = OCI_MANIFEST,
                   config_type: str = OCI_CONFIG, **extra: Any) -> bytes:
    doc: dict[str, Any] = {"schemaVersion": 2, "mediaType": media_type,
                           "config": descriptor(config_type, config),
                           "layers": [descriptor(OCI_LAYER, layer) for layer in layers],
                           **extra}
    return json.dumps(doc).encode()


def push_image(base: str, name: str, tag: str, *, seed: str = "",
               headers: dict[str, str] | None = None) -> tuple[bytes, list[bytes]]:
    """A small OCI image (config and one layer) pushed by raw HTTP; (manifest, blobs)."""
    seed = seed or secrets.token_hex(8)
    config = json.dumps({"architecture": "amd64", "os": "linux", "seed": seed}).encode()
    layer = f"layer {seed}".encode() * 100
    for blob in (config, layer):
        push_blob(base, name, blob, headers)
    manifest = image_manifest(config, [layer])
    r = put_manifest(base, name, tag, manifest, headers=headers)
    assert r.status == 201, r.body
    return manifest, [config, layer]


def put_manifest(base: str, name: str, reference: str, body: bytes,
                 content_type: str = OCI_MANIFEST,
                 headers: dict[str, str] | None = None) -> Response:
    return request(f"{base}/v2/{name}/manifests/{reference}", "PUT", body=body,
                   headers={**(headers or {}), "Content-Type": content_type})


def error_code(r: Response) -> str:
    return str(r.json()["errors"][0]["code"])


def store_files(store: Path) -> dict[str, set[str]]:
    """Files under the store's blob and upload areas (for residue checks)."""
    out: dict[str, set[str]] = {"blobs": set(), "uploads": set(), "ingest": set()}
    for area in out:
        root = store / area
        if root.is_dir():
            out[area] = {str(p.relative_to(root)) for p in root.rglob("*")
                         if p.is_file() and p.name != ".lock"}
    return out
