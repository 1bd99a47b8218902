"""hoist.core.manifest: descriptors, manifest/index parsing, platform selection, building.

Documents are shaped like what Docker Hub, Distribution and containerd exchange (OCI image
spec manifest.md / image-index.md / descriptor.md, Docker image manifest v2 schema 2)."""

from __future__ import annotations

import hashlib
import json
import string
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hoist.core import mediatypes as mt
from hoist.core.digest import Digest
from hoist.core.manifest import (
    MAX_MANIFEST_SIZE,
    Descriptor,
    Manifest,
    ManifestError,
    build_index,
    build_manifest,
    parse_manifest,
    select_platform,
)
from hoist.core.platform import Platform


def dg(seed: str) -> Digest:
    return Digest.from_bytes(seed.encode())


CONFIG = Descriptor(mt.OCI_CONFIG, dg("config"), 1469)
LAYER1 = Descriptor(mt.OCI_LAYER_GZIP, dg("layer1"), 3_623_807)
LAYER2 = Descriptor(mt.OCI_LAYER_GZIP, dg("layer2"), 32)


def dumps(doc: Any) -> bytes:
    return json.dumps(doc).encode()


def image_doc(**extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": CONFIG.to_json(),
        "layers": [LAYER1.to_json(), LAYER2.to_json()],
    }
    doc.update(extra)
    return doc


def entry(arch: str, os_name: str = "linux", variant: str = "", seed: str = "") -> dict[str, Any]:
    p = {"architecture": arch, "os": os_name}
    if variant:
        p["variant"] = variant
    d = Descriptor(mt.OCI_MANIFEST, dg(seed or f"{os_name}/{arch}/{variant}"), 1000)
    return {**d.to_json(), "platform": p}


# --------------------------------------------------------------------------------------
# Descriptor.to_json
# --------------------------------------------------------------------------------------
def test_descriptor_to_json_minimal_has_only_the_three_required_fields() -> None:
    assert CONFIG.to_json() == {
        "mediaType": mt.OCI_CONFIG, "digest": str(dg("config")), "size": 1469}


def test_descriptor_to_json_full() -> None:
    d = Descriptor(mt.OCI_MANIFEST, dg("m"), 7, Platform("linux", "arm", "v7"),
                   {"org.opencontainers.image.ref.name": "v1"}, "application/x-sbom")
    assert d.to_json() == {
        "mediaType": mt.OCI_MANIFEST,
        "digest": str(dg("m")),
        "size": 7,
        "platform": {"architecture": "arm", "os": "linux", "variant": "v7"},
        "annotations": {"org.opencontainers.image.ref.name": "v1"},
        "artifactType": "application/x-sbom",
    }


def test_descriptor_to_json_platform_without_variant_omits_it() -> None:
    d = Descriptor(mt.OCI_MANIFEST, dg("m"), 7, Platform("linux", "amd64"))
    assert d.to_json()["platform"] == {"architecture": "amd64", "os": "linux"}


# --------------------------------------------------------------------------------------
# parse_manifest: image manifests
# --------------------------------------------------------------------------------------
def test_parse_oci_image_manifest() -> None:
    raw = dumps(image_doc(annotations={"a": "b"}))
    m = parse_manifest(raw)
    assert m.media_type == mt.OCI_MANIFEST
    assert not m.is_index
    assert m.digest == Digest("sha256", hashlib.sha256(raw).hexdigest())
    assert m.raw == raw
    assert m.size == len(raw)
    assert m.config == CONFIG
    assert m.layers == (LAYER1, LAYER2)
    assert m.manifests == ()
    assert m.subject is None
    assert m.blobs() == (CONFIG, LAYER1, LAYER2)
    assert m.descriptor == Descriptor(mt.OCI_MANIFEST, m.digest, len(raw))


def test_parse_docker_schema2_manifest() -> None:
    doc = {
        "schemaVersion": 2,
        "mediaType": mt.DOCKER_MANIFEST,
        "config": {"mediaType": mt.DOCKER_CONFIG, "size": 7023,
                   "digest": str(dg("docker-config"))},
        "layers": [{"mediaType": mt.DOCKER_LAYER_GZIP, "size": 32654,
                    "digest": str(dg("docker-layer"))}],
    }
    m = parse_manifest(dumps(doc), mt.OCI_MANIFEST)  # the document's own type wins
    assert m.media_type == mt.DOCKER_MANIFEST
    assert m.config is not None and m.config.media_type == mt.DOCKER_CONFIG
    assert [d.size for d in m.layers] == [32654]


def test_manifest_without_layers_key_has_no_layers() -> None:
    doc = image_doc()
    del doc["layers"]
    m = parse_manifest(dumps(doc))
    assert m.layers == ()
    assert m.blobs() == (CONFIG,)


def test_blobs_of_an_index_is_empty() -> None:
    m = parse_manifest(dumps({"schemaVersion": 2, "mediaType": mt.OCI_INDEX,
                              "manifests": [entry("amd64")]}))
    assert m.blobs() == ()


def test_descriptor_fields_parsed() -> None:
    layer = {**LAYER1.to_json(), "annotations": {"k": "v"}, "artifactType": "x/y",
             "platform": {"architecture": "arm64", "os": "linux", "variant": None}}
    m = parse_manifest(dumps(image_doc(layers=[layer])))
    (d,) = m.layers
    assert d.annotations == {"k": "v"}
    assert d.artifact_type == "x/y"
    assert d.platform == Platform("linux", "arm64", "")


def test_descriptor_without_media_type_gets_empty_string() -> None:
    cfg = CONFIG.to_json()
    del cfg["mediaType"]
    m = parse_manifest(dumps(image_doc(config=cfg)))
    assert m.config is not None and m.config.media_type == ""


def test_subject_is_parsed() -> None:
    subject = Descriptor(mt.OCI_MANIFEST, dg("subject"), 500).to_json()
    m = parse_manifest(dumps(image_doc(subject=subject)))
    assert m.subject == Descriptor(mt.OCI_MANIFEST, dg("subject"), 500)


def test_zero_size_descriptor_is_allowed() -> None:
    empty = {"mediaType": mt.OCI_EMPTY, "digest": str(Digest.from_bytes(b"{}")), "size": 0}
    m = parse_manifest(dumps(image_doc(config=empty, layers=[])))
    assert m.config is not None and m.config.size == 0


# --------------------------------------------------------------------------------------
# parse_manifest: indexes
# --------------------------------------------------------------------------------------
def test_parse_oci_index() -> None:
    doc = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX,
           "manifests": [entry("amd64"), entry("arm64", variant="v8")]}
    m = parse_manifest(dumps(doc))
    assert m.is_index
    assert m.config is None and m.layers == ()
    assert [d.platform for d in m.manifests] == [
        Platform("linux", "amd64"), Platform("linux", "arm64", "v8")]


def test_parse_docker_manifest_list() -> None:
    doc = {"schemaVersion": 2, "mediaType": mt.DOCKER_MANIFEST_LIST,
           "manifests": [entry("amd64")]}
    m = parse_manifest(dumps(doc))
    assert m.is_index and m.media_type == mt.DOCKER_MANIFEST_LIST


def test_empty_index_is_valid() -> None:
    m = parse_manifest(dumps({"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": []}))
    assert m.is_index and m.manifests == ()


def test_index_subject() -> None:
    subject = Descriptor(mt.OCI_INDEX, dg("s"), 9).to_json()
    m = parse_manifest(dumps({"mediaType": mt.OCI_INDEX, "manifests": [], "subject": subject}))
    assert m.subject is not None and m.subject.digest == dg("s")


@pytest.mark.parametrize("manifests", [None, {}, "x", 3])
def test_index_without_manifests_list(manifests: Any) -> None:
    doc: dict[str, Any] = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX}
    if manifests is not None:
        doc["manifests"] = manifests
    with pytest.raises(ManifestError, match="index has no manifests list"):
        parse_manifest(dumps(doc))


# --------------------------------------------------------------------------------------
# media type: document, Content-Type, shape
# --------------------------------------------------------------------------------------
def test_content_type_hint_used_when_document_has_no_media_type() -> None:
    doc = image_doc()
    del doc["mediaType"]
    m = parse_manifest(dumps(doc), f"{mt.DOCKER_MANIFEST}; charset=utf-8")
    assert m.media_type == mt.DOCKER_MANIFEST


def test_content_type_hint_for_index() -> None:
    doc = {"schemaVersion": 2, "manifests": [entry("amd64")]}
    m = parse_manifest(dumps(doc), mt.DOCKER_MANIFEST_LIST)
    assert m.media_type == mt.DOCKER_MANIFEST_LIST


def test_document_media_type_wins_over_content_type() -> None:
    doc = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": []}
    assert parse_manifest(dumps(doc), mt.DOCKER_MANIFEST).media_type == mt.OCI_INDEX


def test_shape_decides_index_without_any_media_type() -> None:
    m = parse_manifest(dumps({"schemaVersion": 2, "manifests": [entry("amd64")]}),
                       "application/json")
    assert m.media_type == mt.OCI_INDEX


def test_shape_decides_manifest_without_any_media_type() -> None:
    doc = image_doc()
    del doc["mediaType"]
    assert parse_manifest(dumps(doc)).media_type == mt.OCI_MANIFEST


def test_unknown_declared_media_type_falls_back_to_hint_or_shape() -> None:
    doc = image_doc(mediaType="application/vnd.example+json")
    assert parse_manifest(dumps(doc)).media_type == mt.OCI_MANIFEST


def test_schema1_is_refused() -> None:
    doc = {"schemaVersion": 1, "name": "library/nginx", "tag": "latest", "fsLayers": []}
    with pytest.raises(ManifestError, match="schema 1 manifests are not supported"):
        parse_manifest(dumps(doc), "application/vnd.docker.distribution.manifest.v1+prettyjws")


@pytest.mark.parametrize(
    ("doc", "hint", "named"),
    [
        ({"mediaType": "application/vnd.oci.artifact.manifest.v1+json"}, "",
         "'application/vnd.oci.artifact.manifest.v1+json'"),
        ({}, "text/plain", "'text/plain'"),
        ({"schemaVersion": 2}, "", "'(none)'"),
    ],
)
def test_unknown_media_type_named(doc: dict[str, Any], hint: str, named: str) -> None:
    with pytest.raises(ManifestError, match="unknown manifest media type") as e:
        parse_manifest(dumps(doc), hint)
    assert named in str(e.value)


# --------------------------------------------------------------------------------------
# parse_manifest: refusals
# --------------------------------------------------------------------------------------
def test_size_limit_is_containerds() -> None:
    assert MAX_MANIFEST_SIZE == 4 * 1048 * 1048


def test_manifest_at_the_size_limit_is_parsed_and_one_byte_over_is_refused() -> None:
    body = dumps(image_doc())
    at_limit = body + b" " * (MAX_MANIFEST_SIZE - len(body))
    assert len(at_limit) == MAX_MANIFEST_SIZE
    assert parse_manifest(at_limit).config == CONFIG
    with pytest.raises(ManifestError, match=f"{MAX_MANIFEST_SIZE + 1} bytes, over the"):
        parse_manifest(at_limit + b" ")


@pytest.mark.parametrize("raw", [b"", b"{", b"not json", b"\xff\xfe\xfa", b"{'a': 1}"])
def test_not_json(raw: bytes) -> None:
    with pytest.raises(ManifestError, match="manifest is not JSON"):
        parse_manifest(raw)


@pytest.mark.parametrize("raw", [b"[]", b"null", b"1", b'"manifest"', b"true"])
def test_not_an_object(raw: bytes) -> None:
    with pytest.raises(ManifestError, match="manifest is not a JSON object"):
        parse_manifest(raw)


def test_deeply_nested_json_is_a_manifest_error() -> None:
    # Well under the size limit; json's recursion limit must not escape as RecursionError.
    with pytest.raises(ManifestError):
        parse_manifest(b"[" * 200_000)


def test_overlong_integer_is_a_manifest_error() -> None:
    # Python refuses int literals over 4300 digits with a plain ValueError.
    with pytest.raises(ManifestError):
        parse_manifest(b'{"schemaVersion":' + b"9" * 5000 + b"}")


@pytest.mark.parametrize("declared", [2, ["x"], {"a": 1}, True])
def test_media_type_not_a_string(declared: Any) -> None:
    with pytest.raises(ManifestError, match=r"^mediaType is not a string$"):
        parse_manifest(dumps(image_doc(mediaType=declared)))


def test_layers_not_a_list() -> None:
    with pytest.raises(ManifestError, match="layers is not a list"):
        parse_manifest(dumps(image_doc(layers={"0": LAYER1.to_json()})))


def test_missing_config_in_a_declared_manifest() -> None:
    doc = image_doc()
    del doc["config"]
    with pytest.raises(ManifestError, match=r"^config is not an object$"):
        parse_manifest(dumps(doc))


GOOD = LAYER1.to_json()


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        ("sha256:abc", "layers[0] is not an object"),
        ({**GOOD, "mediaType": 5}, "layers[0]: mediaType is not a string"),
        ({k: v for k, v in GOOD.items() if k != "digest"}, "layers[0]: digest is missing"),
        ({**GOOD, "digest": 12}, "layers[0]: digest is missing"),
        ({**GOOD, "digest": "sha256:abc"},
         "layers[0]: digest 'sha256:abc': invalid checksum digest length"),
        ({**GOOD, "digest": "md5:" + "0" * 32},
         "layers[0]: digest 'md5:" + "0" * 32 + "': unsupported digest algorithm"),
        ({**GOOD, "digest": "sha256:" + "A" * 64}, "invalid checksum digest format"),
        ({k: v for k, v in GOOD.items() if k != "size"},
         "layers[0]: size is not a non-negative integer"),
        ({**GOOD, "size": -1}, "size is not a non-negative integer"),
        ({**GOOD, "size": 1.5}, "size is not a non-negative integer"),
        ({**GOOD, "size": "12"}, "size is not a non-negative integer"),
        ({**GOOD, "size": True}, "size is not a non-negative integer"),
        ({**GOOD, "platform": "linux/amd64"}, "layers[0]: platform is not an object"),
        ({**GOOD, "platform": {"os": "linux", "architecture": 64}},
         "layers[0]: platform fields are not strings"),
        ({**GOOD, "platform": {"os": "linux", "architecture": "arm", "variant": 7}},
         "platform fields are not strings"),
        ({**GOOD, "annotations": ["a", "b"]}, "layers[0]: annotations is not a map of strings"),
        ({**GOOD, "annotations": {"a": 1}}, "annotations is not a map of strings"),
        ({**GOOD, "artifactType": 1}, "layers[0]: artifactType is not a string"),
    ],
)
def test_bad_descriptor_is_named(layer: Any, message: str) -> None:
    with pytest.raises(ManifestError) as e:
        parse_manifest(dumps(image_doc(layers=[layer])))
    assert message in str(e.value)


def test_bad_descriptor_position_is_named() -> None:
    with pytest.raises(ManifestError, match=r"^layers\[1\]: size"):
        parse_manifest(dumps(image_doc(layers=[GOOD, {**GOOD, "size": -5}])))
    with pytest.raises(ManifestError, match=r"^manifests\[2\] is not an object"):
        parse_manifest(dumps({"mediaType": mt.OCI_INDEX,
                              "manifests": [entry("amd64"), entry("arm64"), None]}))
    with pytest.raises(ManifestError, match=r"^subject is not an object"):
        parse_manifest(dumps(image_doc(subject="sha256:x")))


# --------------------------------------------------------------------------------------
# platform selection
# --------------------------------------------------------------------------------------
MULTI = {
    "schemaVersion": 2,
    "mediaType": mt.OCI_INDEX,
    "manifests": [
        # attestation manifests (BuildKit) carry unknown/unknown or no platform
        {**Descriptor(mt.OCI_MANIFEST, dg("attest"), 840).to_json(),
         "annotations": {"vnd.docker.reference.type": "attestation-manifest"}},
        entry("unknown", "unknown", seed="unknown"),
        entry("amd64", seed="amd64"),
        entry("arm", variant="v6", seed="armv6"),
        entry("arm", variant="v7", seed="armv7"),
        entry("arm64", variant="v8", seed="arm64"),
        entry("386", seed="386"),
        entry("ppc64le", seed="ppc64le"),
        entry("amd64", "windows", seed="windows"),
    ],
}


@pytest.mark.parametrize(
    ("wanted", "seed"),
    [
        (Platform("linux", "amd64"), "amd64"),
        (Platform("linux", "x86_64"), "amd64"),
        (Platform("linux", "amd64", "v1"), "amd64"),
        (Platform("linux", "arm64"), "arm64"),
        (Platform("linux", "aarch64"), "arm64"),
        (Platform("linux", "arm64", "v8"), "arm64"),
        (Platform("linux", "arm64", "8"), "arm64"),
        (Platform("Linux", "ARM64"), "arm64"),
        (Platform("linux", "arm"), "armv7"),
        (Platform("linux", "armhf"), "armv7"),
        (Platform("linux", "arm", "7"), "armv7"),
        (Platform("linux", "armel"), "armv6"),
        (Platform("linux", "arm", "6"), "armv6"),
        (Platform("linux", "i386"), "386"),
        (Platform("windows", "amd64"), "windows"),
    ],
)
def test_select_follows_containerd_normalisation(wanted: Platform, seed: str) -> None:
    index = parse_manifest(dumps(MULTI))
    assert index.select(wanted).digest == dg(seed)


def test_select_normalises_the_index_side_too() -> None:
    # An index that spells its entries the uname way still serves the canonical platform.
    doc = {"mediaType": mt.OCI_INDEX, "manifests": [
        entry("aarch64", seed="a"), entry("x86_64", seed="x"), entry("armhf", seed="h"),
        entry("amd64", variant="v1", seed="v1")]}
    index = parse_manifest(dumps(doc))
    assert index.select(Platform("linux", "arm64", "v8")).digest == dg("a")
    assert index.select(Platform("linux", "amd64")).digest == dg("x")
    assert index.select(Platform("linux", "arm", "v7")).digest == dg("h")


def test_select_first_match_wins() -> None:
    doc = {"mediaType": mt.OCI_INDEX, "manifests": [
        entry("amd64", seed="first"), entry("amd64", variant="v1", seed="second")]}
    assert parse_manifest(dumps(doc)).select(Platform("linux", "amd64")).digest == dg("first")


def test_select_does_not_match_other_variants() -> None:
    doc = {"mediaType": mt.OCI_INDEX, "manifests": [
        entry("amd64", variant="v3", seed="v3"), entry("arm", variant="v5", seed="v5")]}
    index = parse_manifest(dumps(doc))
    with pytest.raises(ManifestError) as e:
        index.select(Platform("linux", "amd64"))
    msg = str(e.value)
    assert msg == (f"index {index.digest} has no image for linux/amd64 "
                   "(it has linux/amd64/v3, linux/arm/v5)")
    with pytest.raises(ManifestError, match="no image for linux/arm/v7"):
        index.select(Platform("linux", "arm"))


def test_select_skips_entries_without_platform() -> None:
    d = Descriptor(mt.OCI_MANIFEST, dg("noplat"), 10)
    with pytest.raises(ManifestError) as e:
        select_platform([d], Platform("linux", "amd64"))
    assert str(e.value) == "index has no image for linux/amd64 (it has no platforms)"


def test_select_on_empty_index_names_digest() -> None:
    with pytest.raises(ManifestError, match=f"index {dg('i')} has no image for linux/s390x"):
        select_platform([], Platform("linux", "s390x"), dg("i"))


# --------------------------------------------------------------------------------------
# building
# --------------------------------------------------------------------------------------
def test_build_manifest_is_compact_json_in_registry_key_order() -> None:
    raw = build_manifest(CONFIG, [LAYER1])
    assert b" " not in raw
    doc = json.loads(raw)
    assert list(doc) == ["schemaVersion", "mediaType", "config", "layers"]
    assert doc["schemaVersion"] == 2
    assert doc["mediaType"] == mt.OCI_MANIFEST
    assert doc["layers"] == [LAYER1.to_json()]


def test_build_manifest_annotations_and_docker_type() -> None:
    raw = build_manifest(CONFIG, [], mt.DOCKER_MANIFEST, {"created": "now"})
    doc = json.loads(raw)
    assert doc["annotations"] == {"created": "now"}
    assert doc["mediaType"] == mt.DOCKER_MANIFEST
    assert "annotations" not in json.loads(build_manifest(CONFIG, [], annotations={}))


def test_build_index() -> None:
    d = Descriptor(mt.OCI_MANIFEST, dg("x"), 3, Platform("linux", "amd64"))
    raw = build_index([d], mt.DOCKER_MANIFEST_LIST)
    doc = json.loads(raw)
    assert list(doc) == ["schemaVersion", "mediaType", "manifests"]
    assert doc["mediaType"] == mt.DOCKER_MANIFEST_LIST
    m = parse_manifest(raw)
    assert m.is_index and m.manifests == (d,)


# --------------------------------------------------------------------------------------
# properties
# --------------------------------------------------------------------------------------
HEX = "0123456789abcdef"
digests = st.one_of(
    st.text(HEX, min_size=64, max_size=64).map(lambda h: Digest("sha256", h)),
    st.text(HEX, min_size=128, max_size=128).map(lambda h: Digest("sha512", h)),
)
short_text = st.text(string.ascii_letters + string.digits + "./+-_", min_size=1, max_size=20)
platforms = st.builds(Platform, short_text, short_text, st.just("") | short_text)
annotations = st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=3)


def descriptors(with_platform: bool) -> st.SearchStrategy[Descriptor]:
    return st.builds(
        Descriptor,
        st.sampled_from([mt.OCI_MANIFEST, mt.OCI_LAYER_GZIP, mt.DOCKER_LAYER_GZIP, "x/y", ""]),
        digests,
        st.integers(0, 2**53),
        platforms if with_platform else st.none(),
        annotations,
        st.just("") | short_text,
    )


@settings(max_examples=50, deadline=None)
@given(descriptors(False), st.lists(descriptors(False), max_size=5),
       st.sampled_from(sorted(mt.MANIFEST_TYPES)), annotations)
def test_build_manifest_round_trips(config: Descriptor, layers: list[Descriptor],
                                    media_type: str, ann: dict[str, str]) -> None:
    raw = build_manifest(config, layers, media_type, ann)
    m = parse_manifest(raw)
    assert m.media_type == media_type
    assert m.config == config
    assert m.layers == tuple(layers)
    assert m.digest == Digest("sha256", hashlib.sha256(raw).hexdigest())
    assert m.raw == raw and not m.is_index


@settings(max_examples=50, deadline=None)
@given(st.lists(descriptors(True) | descriptors(False), max_size=6),
       st.sampled_from(sorted(mt.INDEX_TYPES)))
def test_build_index_round_trips(children: list[Descriptor], media_type: str) -> None:
    raw = build_index(children, media_type)
    m = parse_manifest(raw)
    assert m.media_type == media_type and m.is_index
    assert m.manifests == tuple(children)
    assert m.digest == Digest.from_bytes(raw)
    assert m.descriptor.size == len(raw)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_parse_manifest_only_raises_manifest_error_on_bytes(raw: bytes) -> None:
    try:
        m = parse_manifest(raw, "")
    except ManifestError:
        return
    assert m.raw == raw and m.digest == Digest.from_bytes(raw)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=3),
    max_leaves=10,
)
# Documents that look like manifests, with any field possibly of the wrong type.
manifest_like = st.fixed_dictionaries(
    {},
    optional={
        "schemaVersion": st.sampled_from([1, 2]) | json_values,
        "mediaType": st.sampled_from(sorted(mt.MANIFEST_TYPES | mt.INDEX_TYPES)) | json_values,
        "config": st.builds(Descriptor.to_json, descriptors(False)) | json_values,
        "layers": st.lists(st.builds(Descriptor.to_json, descriptors(False)) | json_values,
                           max_size=3) | json_values,
        "manifests": st.lists(st.builds(Descriptor.to_json, descriptors(True)) | json_values,
                              max_size=3) | json_values,
        "subject": st.builds(Descriptor.to_json, descriptors(False)) | json_values,
    },
)


@settings(max_examples=100, deadline=None)
@given(manifest_like | json_values, st.sampled_from(["", mt.OCI_INDEX, mt.DOCKER_MANIFEST,
                                                     "text/plain"]))
def test_parse_manifest_only_raises_manifest_error_on_json(doc: Any, hint: str) -> None:
    raw = dumps(doc)
    try:
        m = parse_manifest(raw, hint)
    except ManifestError:
        return
    assert isinstance(m, Manifest)
    assert m.digest == Digest.from_bytes(raw)
    assert m.is_index == (not m.config)
