"""What the OCI distribution-spec conformance suite (conformance/01_pull_test.go,
02_push_test.go, 03_discovery_test.go, 04_management_test.go) checks, against hoist's
server, by raw HTTP."""

from __future__ import annotations

import json
import re

from tests.registry_server._helpers import (
    OCI_CONFIG,
    OCI_EMPTY,
    OCI_INDEX,
    OCI_LAYER,
    OCI_MANIFEST,
    absolute,
    descriptor,
    digest_of,
    error_code,
    image_manifest,
    push_blob,
    push_image,
    put_manifest,
    start_upload,
    unique,
    with_query,
)
from tests.support.registry_http import request
from tests.support.registry_server_fixtures import HoistRegistry

SPEC_CODES = {"BLOB_UNKNOWN", "BLOB_UPLOAD_INVALID", "BLOB_UPLOAD_UNKNOWN", "DIGEST_INVALID",
              "MANIFEST_BLOB_UNKNOWN", "MANIFEST_INVALID", "MANIFEST_UNKNOWN", "NAME_INVALID",
              "NAME_UNKNOWN", "SIZE_INVALID", "UNAUTHORIZED", "DENIED", "UNSUPPORTED",
              "TOOMANYREQUESTS"}
DUMMY = "sha256:" + "ab" * 32


# ------------------------------------------------------------------ 01 pull

def test_pull_manifest_and_blobs_by_tag_and_digest(hoist_registry: HoistRegistry) -> None:
    base, name = hoist_registry.url, unique("pull")
    manifest, blobs = push_image(base, name, "tagtest0")
    digest = digest_of(manifest)
    for ref in ("tagtest0", digest):
        head = request(f"{base}/v2/{name}/manifests/{ref}", "HEAD",
                       headers={"Accept": OCI_MANIFEST})
        assert head.status == 200
        assert head.headers["Docker-Content-Digest"] == digest
        assert int(head.headers["Content-Length"]) == len(manifest)
        assert head.body == b""
        got = request(f"{base}/v2/{name}/manifests/{ref}", headers={"Accept": OCI_MANIFEST})
        assert got.status == 200
        assert got.body == manifest
        assert got.headers["Content-Type"] == OCI_MANIFEST
        assert got.headers["Docker-Content-Digest"] == digest
    for blob in blobs:
        head = request(f"{base}/v2/{name}/blobs/{digest_of(blob)}", "HEAD")
        assert head.status == 200
        assert int(head.headers["Content-Length"]) == len(blob)
        assert head.headers["Docker-Content-Digest"] == digest_of(blob)
        got = request(f"{base}/v2/{name}/blobs/{digest_of(blob)}")
        assert got.status == 200 and got.body == blob


def test_pull_blob_range_gives_206(hoist_registry: HoistRegistry) -> None:
    base, name = hoist_registry.url, unique("range")
    data = bytes(range(256)) * 40
    digest = push_blob(base, name, data)
    r = request(f"{base}/v2/{name}/blobs/{digest}", headers={"Range": "bytes=100-"})
    assert r.status == 206
    assert r.body == data[100:]
    assert r.headers["Content-Range"] == f"bytes 100-{len(data) - 1}/{len(data)}"
    r = request(f"{base}/v2/{name}/blobs/{digest}", headers={"Range": "bytes=10-19"})
    assert r.status == 206 and r.body == data[10:20]


def test_pull_nonexistent_things_are_404_with_spec_codes(hoist_registry: HoistRegistry) -> None:
    base, name = hoist_registry.url, unique("missing")
    push_image(base, name, "present")
    cases = [
        (f"/v2/{name}/manifests/nonexistent", "MANIFEST_UNKNOWN"),
        (f"/v2/{name}/manifests/{DUMMY}", "MANIFEST_UNKNOWN"),
        (f"/v2/{name}/blobs/{DUMMY}", "BLOB_UNKNOWN"),
        ("/v2/no/such/repo/manifests/latest", "MANIFEST_UNKNOWN"),
        ("/v2/no/such/repo/tags/list", "NAME_UNKNOWN"),
    ]
    for path, code in cases:
        r = request(f"{base}{path}")
        assert r.status == 404, path
        assert error_code(r) == code
        assert code in SPEC_CODES
        assert isinstance(r.json()["errors"][0]["message"], str)
        if "/tags/" not in path:
            head = request(f"{base}{path}", "HEAD")
            assert head.status == 404 and head.body == b""


def test_ping(hoist_registry: HoistRegistry) -> None:
    r = request(f"{hoist_registry.url}/v2/")
    assert r.status == 200
    assert r.headers["Docker-Distribution-API-Version"] == "registry/2.0"


# ------------------------------------------------------------------ 02 push

def test_push_streamed_patch_then_put(hoist_registry: HoistRegistry) -> None:
    base, name = hoist_registry.url, unique("streamed")
    blob = b"streamed blob A" * 1000
    location = start_upload(base, name)
    r = request(location, "PATCH", body=blob,
                headers={"Content-Type": "application/octet-stream"})
    assert r.status == 202
    assert r.headers["Range"] == f"0-{len(blob) - 1}"
    r = request(with_query(absolute(base, r.headers["Location"]), digest=digest_of(blob)),
                "PUT", body=b"", headers={"Content-Length": "0"})
    assert r.status == 201
    assert r.headers["Location"]
    assert request(f"{base}/v2/{name}/blobs/{digest_of(blob)}").body == blob


def test_push_monolithic(hoist_registry: HoistRegistry) -> None:
    base, name = hoist_registry.url, unique("mono")
    assert request(f"{base}/v2/{name}/blobs/{DUMMY}").status == 404
    config = b'{"architecture":"amd64","os":"linux","mono":1}'
    # POST with digest and body: a single request (201)
    r = request(with_query(f"{base}/v2/{name}/blobs/uploads/", digest=digest_of(config)),
                "POST", body=config, headers={"Content-Type": "application/octet-stream"})
    assert r.status == 201
    assert r.headers["Location"] == f"/v2/{name}/blobs/{digest_of(config)}"
    assert request(f"{base}/v2/{name}/blobs/{digest_of(config)}").status == 200
    # POST for a session, PUT with the whole body
    layer = b"\x00layer" * 5000
    location = start_upload(base, name)
    r = request(with_query(location, digest=digest_of(layer)), "PUT", body=layer,
                headers={"Content-Type": "application/octet-stream"})
    assert r.status == 201 and r.headers["Location"]
    assert request(f"{base}/v2/{name}/blobs/{digest_of(layer)}").body == layer


def test_push_chunked_out_of_order_416_and_resume(hoist_registry: HoistRegistry) -> None:
    base, name = hoist_registry.url, unique("chunked")
    blob = bytes(range(256)) * 20
    chunk1, chunk2 = blob[:2000], blob[2000:]
    range1, range2 = f"0-{len(chunk1) - 1}", f"{len(chunk1)}-{len(blob) - 1}"
    octet = {"Content-Type": "application/octet-stream"}
    # the second chunk first: 416 (Distribution 2.8 ignores Content-Range and says 202)
    location = start_upload(base, name)
    r = request(location, "PATCH", body=chunk2, headers={**octet, "Content-Range": range2})
    assert r.status == 416
    # first chunk: 202, Range echoes what is there
    location = start_upload(base, name)
    r = request(location, "PATCH", body=chunk1, headers={**octet, "Content-Range": range1})
    assert r.status == 202
    assert r.headers["Range"] == range1
    # retrying the first chunk is out of order now
    r = request(location, "PATCH", body=chunk1, headers={**octet, "Content-Range": range1})
    assert r.status == 416
    assert r.headers["Range"] == range1
    # GET on the (earlier) session URL: 204 with Range and Location
    status = request(location)
    assert status.status == 204
    assert status.headers["Range"] == range1
    assert status.headers["Location"]
    r = request(absolute(base, status.headers["Location"]), "PATCH", body=chunk2,
                headers={**octet, "Content-Range": range2})
    assert r.status == 202 and r.headers["Location"]
    assert r.headers["Range"] == f"0-{len(blob) - 1}"
    r = request(with_query(absolute(base, r.headers["Location"]), digest=digest_of(blob)),
                "PUT", body=b"", headers={**octet, "Content-Length": "0"})
    assert r.status == 201 and r.headers["Location"]
    assert request(f"{base}/v2/{name}/blobs/{digest_of(blob)}").body == blob


def test_push_last_chunk_in_the_put(hoist_registry: HoistRegistry) -> None:
    base, name = hoist_registry.url, unique("lastchunk")
    blob = b"0123456789" * 300
    location = start_upload(base, name)
    r = request(location, "PATCH", body=blob[:1000],
                headers={"Content-Range": "0-999", "Content-Type": "application/octet-stream"})
    assert r.status == 202
    r = request(with_query(absolute(base, r.headers["Location"]), digest=digest_of(blob)),
                "PUT", body=blob[1000:], headers={"Content-Range": f"1000-{len(blob) - 1}"})
    assert r.status == 201
    assert request(f"{base}/v2/{name}/blobs/{digest_of(blob)}").body == blob


def test_cancel_upload_and_unknown_session(hoist_registry: HoistRegistry) -> None:
    base, name = hoist_registry.url, unique("cancel")
    location = start_upload(base, name)
    assert request(location, "PATCH", body=b"abc").status == 202
    assert request(location, "DELETE").status == 204
    r = request(location)
    assert r.status == 404 and error_code(r) == "BLOB_UPLOAD_UNKNOWN"
    r = request(location, "PATCH", body=b"more")
    assert r.status == 404 and error_code(r) == "BLOB_UPLOAD_UNKNOWN"
    # a session belongs to its repository
    other = start_upload(base, name)
    r = request(other.replace(f"/v2/{name}/", f"/v2/{name}x/"))
    assert r.status == 404 and error_code(r) == "BLOB_UPLOAD_UNKNOWN"


def test_cross_repository_mount(hoist_registry: HoistRegistry) -> None:
    base, source, target = hoist_registry.url, unique("mountsrc"), unique("mountdst")
    blob = b"blob to mount" * 50
    digest = push_blob(base, source, blob)
    # without from: a session (202) with a Location
    r = request(with_query(f"{base}/v2/{target}/blobs/uploads/", mount=DUMMY), "POST", body=b"")
    assert r.status == 202 and r.headers["Location"]
    # from a repository holding it: 201 and the blob's own URL
    r = request(with_query(f"{base}/v2/{target}/blobs/uploads/", mount=digest, **{"from": source}),
                "POST", body=b"")
    assert r.status == 201
    assert r.headers["Location"] == f"/v2/{target}/blobs/{digest}"
    assert request(absolute(base, r.headers["Location"])).body == blob
    # a blob the source does not hold: a session in the target
    r = request(with_query(f"{base}/v2/{target}/blobs/uploads/", mount=DUMMY, **{"from": source}),
                "POST", body=b"")
    assert r.status == 202
    assert r.headers["Location"].startswith(f"/v2/{target}/blobs/uploads/")


def test_blob_of_one_repository_is_not_served_from_another(
        hoist_registry: HoistRegistry) -> None:
    base, one, two = hoist_registry.url, unique("one"), unique("two")
    digest = push_blob(base, one, b"private to one")
    assert request(f"{base}/v2/{two}/blobs/{digest}").status == 404


def test_manifest_upload(hoist_registry: HoistRegistry) -> None:
    base, name = hoist_registry.url, unique("mput")
    assert request(f"{base}/v2/{name}/manifests/nonexistent").status == 404
    config = b'{"architecture":"amd64","os":"linux","put":1}'
    layer = b"manifest upload layer" * 10
    push_blob(base, name, config)
    push_blob(base, name, layer)
    manifest = image_manifest(config, [layer])
    for i in range(4):
        r = put_manifest(base, name, f"test{i}", manifest)
        assert r.status == 201
        assert r.headers["Location"] == f"/v2/{name}/manifests/{digest_of(manifest)}"
        assert r.headers["Docker-Content-Digest"] == digest_of(manifest)
    # no layers at all
    empty = image_manifest(config, [])
    r = put_manifest(base, name, "emptylayer", empty)
    assert r.status == 201
    r = request(f"{base}/v2/{name}/manifests/{digest_of(manifest)}",
                headers={"Accept": OCI_MANIFEST})
    assert r.status == 200 and r.body == manifest
    # by digest
    r = put_manifest(base, name, digest_of(empty), empty)
    assert r.status == 201
    # teardown as the suite does it: manifest, then blobs
    assert request(f"{base}/v2/{name}/manifests/{digest_of(manifest)}", "DELETE").status == 202
    assert request(f"{base}/v2/{name}/blobs/{digest_of(config)}", "DELETE").status == 202
    assert request(f"{base}/v2/{name}/blobs/{digest_of(layer)}", "DELETE").status == 202


# ------------------------------------------------------------------ 03 discovery

def test_tag_listing_with_n_last_and_link(hoist_registry: HoistRegistry) -> None:
    base, name = hoist_registry.url, unique("tags")
    manifest, _ = push_image(base, name, "test0")
    for tag in ("test1", "test3", "test2", "A-upper", "z"):
        assert put_manifest(base, name, tag, manifest).status == 201
    r = request(f"{base}/v2/{name}/tags/list")
    assert r.status == 200
    assert r.json() == {"name": name, "tags": ["A-upper", "test0", "test1", "test2", "test3",
                                               "z"]}
    assert "Link" not in r.headers
    r = request(f"{base}/v2/{name}/tags/list?n=3")
    assert r.json()["tags"] == ["A-upper", "test0", "test1"]
    link = r.headers["Link"]
    m = re.fullmatch(r'<([^>]+)>; rel="next"', link)
    assert m is not None
    r = request(absolute(base, m[1]))
    assert r.json()["tags"] == ["test2", "test3", "z"]
    r = request(f"{base}/v2/{name}/tags/list?n=2&last=test1")
    assert r.json()["tags"] == ["test2", "test3"]
    assert request(f"{base}/v2/{name}/tags/list?n=0").json()["tags"] == []
    r = request(f"{base}/v2/{name}/tags/list?n=-1")
    assert r.status == 400


def test_referrers(hoist_registry: HoistRegistry) -> None:
    base, name = hoist_registry.url, unique("refs")
    empty = b"{}"
    assert digest_of(empty) == (
        "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a")
    push_blob(base, name, empty)
    subject_manifest, _ = push_image(base, name, "tagtest0")
    subject = {"mediaType": OCI_MANIFEST, "digest": digest_of(subject_manifest),
               "size": len(subject_manifest)}
    key = "org.opencontainers.conformance.test"
    ref_blob = b"reference blob a"
    push_blob(base, name, ref_blob)
    expected: dict[str, str] = {}
    # config.mediaType as the artifact type
    art_config = b'{"config-artifact":"a"}'
    push_blob(base, name, art_config)
    a = image_manifest(art_config, [ref_blob], config_type="application/vnd.test.a",
                       subject=subject, annotations={key: "config artifact a"})
    # artifactType with the empty config
    b = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                    "artifactType": "application/vnd.test.b",
                    "config": descriptor(OCI_EMPTY, empty),
                    "layers": [descriptor(OCI_LAYER, ref_blob)], "subject": subject,
                    "annotations": {key: "layer artifact b"}}).encode()
    # an index with a subject
    c = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                    "artifactType": "application/vnd.test.a",
                    "manifests": [descriptor(OCI_MANIFEST, a)], "subject": subject,
                    "annotations": {key: "index artifact c"}}).encode()
    for body, media_type, text in ((a, OCI_MANIFEST, "config artifact a"),
                                   (b, OCI_MANIFEST, "layer artifact b"),
                                   (c, OCI_INDEX, "index artifact c")):
        r = put_manifest(base, name, digest_of(body), body, media_type)
        assert r.status == 201, r.body
        assert r.headers["OCI-Subject"] == subject["digest"]
        expected[digest_of(body)] = text
    # a referrer to a subject that does not exist is accepted
    missing_subject = {"mediaType": OCI_MANIFEST, "digest": DUMMY, "size": 10}
    d = image_manifest(empty, [ref_blob], config_type=OCI_EMPTY, subject=missing_subject,
                       artifactType="application/vnd.test.d")
    r = put_manifest(base, name, digest_of(d), d)
    assert r.status == 201 and r.headers["OCI-Subject"] == DUMMY

    r = request(f"{base}/v2/{name}/referrers/{subject['digest']}")
    assert r.status == 200
    assert r.headers["Content-Type"] == OCI_INDEX
    index = r.json()
    assert {m["digest"] for m in index["manifests"]} == set(expected)
    for m in index["manifests"]:
        assert m["annotations"] == {key: expected[m["digest"]]}
    by_digest = {m["digest"]: m for m in index["manifests"]}
    assert by_digest[digest_of(a)]["artifactType"] == "application/vnd.test.a"
    assert by_digest[digest_of(b)]["artifactType"] == "application/vnd.test.b"
    assert by_digest[digest_of(c)]["mediaType"] == OCI_INDEX

    r = request(f"{base}/v2/{name}/referrers/{subject['digest']}"
                "?artifactType=application/vnd.test.a")
    assert r.status == 200
    assert r.headers["OCI-Filters-Applied"] == "artifactType"
    assert {m["digest"] for m in r.json()["manifests"]} == {digest_of(a), digest_of(c)}

    r = request(f"{base}/v2/{name}/referrers/{DUMMY}")
    assert r.status == 200
    assert [m["digest"] for m in r.json()["manifests"]] == [digest_of(d)]
    r = request(f"{base}/v2/{name}/referrers/sha256:{'cd' * 32}")
    assert r.status == 200 and r.json()["manifests"] == []
    assert r.headers["Content-Type"] == OCI_INDEX
    assert request(f"{base}/v2/{name}/referrers/notadigest").status == 400


def test_catalog_pagination(hoist_registry_factory: object) -> None:
    registry = hoist_registry_factory(in_thread=True)  # type: ignore[operator]
    base = registry.url
    names = ["a/one", "b/two", "c/three"]
    for name in names:
        push_image(base, name, "v1")
    assert request(f"{base}/v2/_catalog").json() == {"repositories": names}
    r = request(f"{base}/v2/_catalog?n=2")
    assert r.json()["repositories"] == names[:2]
    m = re.fullmatch(r'<([^>]+)>; rel="next"', r.headers["Link"])
    assert m is not None
    assert request(absolute(base, m[1])).json()["repositories"] == names[2:]


# ------------------------------------------------------------------ 04 management

def test_delete_tag_manifest_and_blobs(hoist_registry: HoistRegistry) -> None:
    base, name = hoist_registry.url, unique("manage")
    manifest, blobs = push_image(base, name, "tagtest0")
    digest = digest_of(manifest)
    assert put_manifest(base, name, "tagtest1", manifest).status == 201
    # delete a tag: 202, gone, the other tag and the digest stay
    assert request(f"{base}/v2/{name}/manifests/tagtest0", "DELETE").status == 202
    assert request(f"{base}/v2/{name}/manifests/tagtest0").status == 404
    assert request(f"{base}/v2/{name}/manifests/tagtest1").status == 200
    assert request(f"{base}/v2/{name}/tags/list").json()["tags"] == ["tagtest1"]
    # delete the manifest: 202, and its remaining tags go with it
    assert request(f"{base}/v2/{name}/manifests/{digest}", "DELETE").status == 202
    r = request(f"{base}/v2/{name}/manifests/{digest}")
    assert r.status == 404 and error_code(r) == "MANIFEST_UNKNOWN"
    assert request(f"{base}/v2/{name}/manifests/tagtest1").status == 404
    tags = request(f"{base}/v2/{name}/tags/list")
    assert tags.status == 404 or tags.json()["tags"] == []
    r = request(f"{base}/v2/{name}/manifests/{digest}", "DELETE")
    assert r.status == 404 and error_code(r) == "MANIFEST_UNKNOWN"
    for blob in blobs:
        url = f"{base}/v2/{name}/blobs/{digest_of(blob)}"
        assert request(url, "DELETE").status == 202
        r = request(url)
        assert r.status == 404 and error_code(r) == "BLOB_UNKNOWN"
        assert request(url, "DELETE").status == 404


def test_docker_media_types_and_accept_negotiation(hoist_registry: HoistRegistry) -> None:
    base, name = hoist_registry.url, unique("docker")
    config = b'{"architecture":"amd64","os":"linux","docker":1}'
    layer = b"docker layer"
    push_blob(base, name, config)
    push_blob(base, name, layer)
    docker = image_manifest(config, [layer], media_type=(
        "application/vnd.docker.distribution.manifest.v2+json"),
        config_type="application/vnd.docker.container.image.v1+json")
    r = put_manifest(base, name, "d", docker,
                     "application/vnd.docker.distribution.manifest.v2+json")
    assert r.status == 201
    oci = image_manifest(config, [layer])
    assert put_manifest(base, name, "o", oci).status == 201
    # an OCI manifest is served to clients that accept it, and not to one that lists
    # only Docker types (as Distribution does)
    assert request(f"{base}/v2/{name}/manifests/o",
                   headers={"Accept": OCI_MANIFEST}).status == 200
    r = request(f"{base}/v2/{name}/manifests/o", headers={
        "Accept": "application/vnd.docker.distribution.manifest.v2+json"})
    assert r.status == 404 and error_code(r) == "MANIFEST_UNKNOWN"
    r = request(f"{base}/v2/{name}/manifests/d", headers={"Accept": "*/*"})
    assert r.status == 200
    assert r.headers["Content-Type"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert request(f"{base}/v2/{name}/manifests/d").body == docker
    assert OCI_CONFIG  # the default config type of image_manifest
