"""Malformed manifests, truncated and wrong uploads, hostile repository names: each gets
the spec's error and leaves nothing behind in the store."""

from __future__ import annotations

import http.client
import json
import socket
import time
import urllib.parse
from pathlib import Path

import pytest

from tests.registry_server._helpers import (
    OCI_INDEX,
    OCI_MANIFEST,
    absolute,
    descriptor,
    digest_of,
    error_code,
    image_manifest,
    push_blob,
    put_manifest,
    start_upload,
    store_files,
    unique,
    with_query,
)
from tests.support.registry_http import request
from tests.support.registry_server_fixtures import HoistRegistry


def _pushed_blobs(registry: HoistRegistry, name: str) -> tuple[bytes, bytes]:
    config = json.dumps({"os": "linux", "architecture": "amd64", "n": name}).encode()
    layer = f"layer of {name}".encode()
    push_blob(registry.url, name, config)
    push_blob(registry.url, name, layer)
    return config, layer


def _no_new_files(registry: HoistRegistry, before: dict[str, set[str]]) -> None:
    # a failed request may finish its clean-up just after the answer went out
    deadline = time.monotonic() + 2
    while True:
        after = store_files(registry.store)
        new = {area: after[area] - before[area] for area in after}
        if not any(new.values()) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert new == {"blobs": set(), "uploads": set(), "ingest": set()}


@pytest.mark.parametrize("body, content_type, code", [
    (b"{not json", OCI_MANIFEST, "MANIFEST_INVALID"),
    (b"[1, 2]", OCI_MANIFEST, "MANIFEST_INVALID"),
    (b'{"schemaVersion": 2, "mediaType": "' + OCI_MANIFEST.encode() + b'"}', OCI_MANIFEST,
     "MANIFEST_INVALID"),
    (b'{"schemaVersion": 1, "name": "x", "tag": "y", "fsLayers": []}',
     "application/vnd.docker.distribution.manifest.v1+json", "MANIFEST_INVALID"),
])
def test_malformed_manifests(hoist_registry: HoistRegistry, body: bytes, content_type: str,
                             code: str) -> None:
    name = unique("malformed")
    before = store_files(hoist_registry.store)
    r = put_manifest(hoist_registry.url, name, "v1", body, content_type)
    assert r.status == 400
    assert error_code(r) == code
    _no_new_files(hoist_registry, before)
    assert request(f"{hoist_registry.url}/v2/{name}/manifests/v1").status == 404


def test_wrong_media_types(hoist_registry: HoistRegistry) -> None:
    name = unique("mediatype")
    config, layer = _pushed_blobs(hoist_registry, name)
    manifest = image_manifest(config, [layer])
    before = store_files(hoist_registry.store)
    for content_type in ("application/json", "text/plain",
                         "application/vnd.docker.distribution.manifest.v2+json", OCI_INDEX):
        r = put_manifest(hoist_registry.url, name, "v1", manifest, content_type)
        assert r.status == 400, content_type
        assert error_code(r) == "MANIFEST_INVALID"
    # no mediaType in the document and an unknown Content-Type
    doc = json.loads(manifest)
    del doc["mediaType"]
    r = put_manifest(hoist_registry.url, name, "v1", json.dumps(doc).encode(), "text/plain")
    assert r.status == 400 and error_code(r) == "MANIFEST_INVALID"
    _no_new_files(hoist_registry, before)


def test_manifest_blob_unknown(hoist_registry: HoistRegistry) -> None:
    name = unique("blobunknown")
    config, layer = _pushed_blobs(hoist_registry, name)
    missing = b"never uploaded"
    manifest = image_manifest(config, [layer, missing])
    before = store_files(hoist_registry.store)
    r = put_manifest(hoist_registry.url, name, "v1", manifest)
    assert r.status == 400
    assert error_code(r) == "MANIFEST_BLOB_UNKNOWN"
    assert r.json()["errors"][0]["detail"] == {"digest": digest_of(missing)}
    # an index whose child manifest is not in the repository
    child = image_manifest(config, [layer])
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                        "manifests": [descriptor(OCI_MANIFEST, child)]}).encode()
    r = put_manifest(hoist_registry.url, name, "idx", index, OCI_INDEX)
    assert r.status == 400 and error_code(r) == "MANIFEST_BLOB_UNKNOWN"
    # a blob pushed to another repository does not count
    other = unique("other")
    elsewhere = b"in another repository"
    push_blob(hoist_registry.url, other, elsewhere)
    before = store_files(hoist_registry.store)
    r = put_manifest(hoist_registry.url, name, "v2", image_manifest(config, [elsewhere]))
    assert r.status == 400 and error_code(r) == "MANIFEST_BLOB_UNKNOWN"
    _no_new_files(hoist_registry, before)


def test_manifest_over_the_size_limit_is_413(hoist_registry: HoistRegistry) -> None:
    name = unique("huge")
    config, layer = _pushed_blobs(hoist_registry, name)
    doc = json.loads(image_manifest(config, [layer]))
    doc["annotations"] = {"padding": "x" * (5 * 1024 * 1024)}
    body = json.dumps(doc).encode()
    before = store_files(hoist_registry.store)
    r = put_manifest(hoist_registry.url, name, "v1", body)
    assert r.status == 413
    assert error_code(r) == "SIZE_INVALID"
    # chunked transfer encoding: no Content-Length to refuse up front
    parts = urllib.parse.urlsplit(hoist_registry.url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        conn.request("PUT", f"/v2/{name}/manifests/v1",
                     body=(body[i:i + 65536] for i in range(0, len(body), 65536)),
                     headers={"Content-Type": OCI_MANIFEST}, encode_chunked=True)
        response = conn.getresponse()
        assert response.status == 413
        assert json.loads(response.read())["errors"][0]["code"] == "SIZE_INVALID"
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server may answer and close before the whole body is sent
    finally:
        conn.close()
    _no_new_files(hoist_registry, before)


def test_manifest_digest_reference_must_match(hoist_registry: HoistRegistry) -> None:
    name = unique("digestref")
    config, layer = _pushed_blobs(hoist_registry, name)
    manifest = image_manifest(config, [layer])
    before = store_files(hoist_registry.store)
    r = put_manifest(hoist_registry.url, name, "sha256:" + "0" * 64, manifest)
    assert r.status == 400 and error_code(r) == "DIGEST_INVALID"
    r = put_manifest(hoist_registry.url, name, "sha256:short", manifest)
    assert r.status == 400 and error_code(r) == "DIGEST_INVALID"
    r = put_manifest(hoist_registry.url, name, "-bad-tag", manifest)
    assert r.status == 400
    _no_new_files(hoist_registry, before)


def test_wrong_digest_uploads_leave_nothing(hoist_registry: HoistRegistry) -> None:
    base, name = hoist_registry.url, unique("wrongdigest")
    data = b"some bytes" * 1000
    wrong = digest_of(b"other bytes")
    before = store_files(hoist_registry.store)
    # session then PUT
    location = start_upload(base, name)
    r = request(with_query(location, digest=wrong), "PUT", body=data)
    assert r.status == 400 and error_code(r) == "DIGEST_INVALID"
    assert request(location).status == 404  # the session is gone
    # chunks, then a PUT naming the wrong digest
    location = start_upload(base, name)
    r = request(location, "PATCH", body=data, headers={"Content-Range": f"0-{len(data) - 1}"})
    assert r.status == 202
    r = request(with_query(location, digest=wrong), "PUT", body=b"")
    assert r.status == 400 and error_code(r) == "DIGEST_INVALID"
    # single POST
    r = request(with_query(f"{base}/v2/{name}/blobs/uploads/", digest=wrong), "POST", body=data)
    assert r.status == 400 and error_code(r) == "DIGEST_INVALID"
    # a malformed digest, and none at all
    location = start_upload(base, name)
    r = request(with_query(location, digest="sha256:xyz"), "PUT", body=data)
    assert r.status == 400 and error_code(r) == "DIGEST_INVALID"
    r = request(location, "PUT", body=data)
    assert r.status == 400 and error_code(r) == "DIGEST_INVALID"
    request(location, "DELETE")
    _no_new_files(hoist_registry, before)
    assert request(f"{base}/v2/{name}/blobs/{wrong}").status == 404
    assert request(f"{base}/v2/{name}/blobs/{digest_of(data)}").status == 404


def _send_truncated(url: str, method: str, path: str, announced: int, sent: bytes,
                    headers: dict[str, str] | None = None) -> None:
    parts = urllib.parse.urlsplit(url)
    with socket.create_connection((parts.hostname or "", parts.port or 80), timeout=10) as s:
        head = [f"{method} {path} HTTP/1.1", f"Host: {parts.netloc}",
                f"Content-Length: {announced}", "Content-Type: application/octet-stream"]
        head += [f"{k}: {v}" for k, v in (headers or {}).items()]
        s.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + sent)
        s.shutdown(socket.SHUT_WR)  # the client goes away mid-body
        s.settimeout(5)
        try:
            while s.recv(65536):
                pass
        except OSError:
            pass


def test_truncated_uploads_leave_nothing(hoist_registry: HoistRegistry) -> None:
    base, name = hoist_registry.url, unique("truncated")
    data = bytes(range(256)) * 400
    digest = digest_of(data)
    before = store_files(hoist_registry.store)
    # monolithic PUT cut short: the session and its bytes go away
    location = start_upload(base, name)
    path = urllib.parse.urlsplit(with_query(location, digest=digest))
    _send_truncated(base, "PUT", f"{path.path}?{path.query}", len(data), data[:5000])
    # single POST cut short
    _send_truncated(base, "POST", f"/v2/{name}/blobs/uploads/?digest={digest}", len(data),
                    data[:7000])
    _no_new_files(hoist_registry, before)
    assert request(location).status == 404
    assert request(f"{base}/v2/{name}/blobs/{digest}").status == 404
    # a PATCH cut short rolls the session back to where it was; the upload can go on
    location = start_upload(base, name)
    r = request(location, "PATCH", body=data[:1000], headers={"Content-Range": "0-999"})
    assert r.status == 202
    _send_truncated(base, "PATCH", urllib.parse.urlsplit(location).path, 5000, data[1000:3000],
                    {"Content-Range": "1000-5999"})
    deadline = time.monotonic() + 2
    while request(location).headers.get("Range") != "0-999" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert request(location).headers["Range"] == "0-999"
    r = request(location, "PATCH", body=data[1000:], headers={
        "Content-Range": f"1000-{len(data) - 1}"})
    assert r.status == 202
    r = request(with_query(location, digest=digest), "PUT", body=b"")
    assert r.status == 201
    assert request(f"{base}/v2/{name}/blobs/{digest}").body == data


def test_chunk_length_must_match_its_range(hoist_registry: HoistRegistry) -> None:
    base, name = hoist_registry.url, unique("rangelen")
    location = start_upload(base, name)
    r = request(location, "PATCH", body=b"x" * 10, headers={"Content-Range": "0-19"})
    assert r.status == 416
    r = request(location, "PATCH", body=b"x" * 10, headers={"Content-Range": "garbage"})
    assert r.status == 416
    assert request(location).headers["Range"] == "0-0"


HOSTILE_PATHS = [
    "/v2/../../etc/passwd/manifests/latest",
    "/v2/%2e%2e/%2e%2e/etc/passwd/manifests/latest",
    "/v2/%2E%2E%2F%2E%2E%2Fetc/blobs/uploads/",
    "/v2//etc/passwd/manifests/latest",
    "/v2/%2Fetc/tags/list",
    "/v2/a/../../b/blobs/uploads/",
    "/v2/a/./b/manifests/latest",
    "/v2/UPPER/manifests/latest",
    "/v2/a%00b/manifests/latest",
    "/v2/%ff%fe/manifests/latest",
    "/v2/" + "a" * 256 + "/manifests/latest",
    "/v2/" + "/".join(["abcdefgh"] * 40) + "/tags/list",
]


@pytest.mark.parametrize("path", HOSTILE_PATHS)
@pytest.mark.parametrize("method", ["GET", "PUT", "POST", "DELETE"])
def test_hostile_names_are_name_invalid(hoist_registry: HoistRegistry, path: str,
                                        method: str) -> None:
    parts = urllib.parse.urlsplit(hoist_registry.url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)  # sent exactly as written
        conn.putheader("Content-Length", "2")
        conn.endheaders(b"{}")
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    assert response.status == 400, (path, body)
    assert json.loads(body)["errors"][0]["code"] == "NAME_INVALID"


def test_hostile_names_touch_nothing_outside_the_store(tmp_path: Path,
                                                       hoist_registry_factory: object) -> None:
    registry = hoist_registry_factory(in_thread=True)  # type: ignore[operator]
    outside = sorted(p.name for p in tmp_path.iterdir())
    base = registry.url
    for path in HOSTILE_PATHS:
        for method in ("GET", "PUT", "POST", "PATCH", "DELETE"):
            request(base + path, method, body=b"x")
    assert sorted(p.name for p in tmp_path.iterdir()) == outside
    files = store_files(registry.store)
    assert files["blobs"] == set() and files["uploads"] == set()
    # the name checks come first: nothing was recorded either
    assert request(f"{base}/v2/_catalog").json() == {"repositories": []}
    assert absolute(base, "/v2/") == f"{base}/v2/"
