"""Media types: OCI image-spec and Docker image manifest v2 schema 2 strings."""

from __future__ import annotations

import pytest

from hoist.core import mediatypes as mt

# image-spec specs-go/v1/mediatype.go; distribution manifest/schema2 and manifestlist.
VALUES = [
    (mt.OCI_MANIFEST, "application/vnd.oci.image.manifest.v1+json"),
    (mt.OCI_INDEX, "application/vnd.oci.image.index.v1+json"),
    (mt.OCI_CONFIG, "application/vnd.oci.image.config.v1+json"),
    (mt.OCI_LAYER, "application/vnd.oci.image.layer.v1.tar"),
    (mt.OCI_LAYER_GZIP, "application/vnd.oci.image.layer.v1.tar+gzip"),
    (mt.OCI_LAYER_ZSTD, "application/vnd.oci.image.layer.v1.tar+zstd"),
    (mt.OCI_EMPTY, "application/vnd.oci.empty.v1+json"),
    (mt.DOCKER_MANIFEST, "application/vnd.docker.distribution.manifest.v2+json"),
    (mt.DOCKER_MANIFEST_LIST, "application/vnd.docker.distribution.manifest.list.v2+json"),
    (mt.DOCKER_CONFIG, "application/vnd.docker.container.image.v1+json"),
    (mt.DOCKER_LAYER_GZIP, "application/vnd.docker.image.rootfs.diff.tar.gzip"),
    (mt.DOCKER_FOREIGN_LAYER, "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"),
]


@pytest.mark.parametrize(("constant", "value"), VALUES)
def test_values(constant: str, value: str) -> None:
    assert constant == value


CLASSIFY = [
    (mt.OCI_MANIFEST, True, False),
    (mt.DOCKER_MANIFEST, True, False),
    (mt.OCI_INDEX, False, True),
    (mt.DOCKER_MANIFEST_LIST, False, True),
    (mt.OCI_CONFIG, False, False),
    (mt.OCI_LAYER_GZIP, False, False),
    ("application/json", False, False),
    ("", False, False),
]


@pytest.mark.parametrize(("media_type", "manifest", "index"), CLASSIFY)
def test_classify(media_type: str, manifest: bool, index: bool) -> None:
    assert mt.is_manifest(media_type) is manifest
    assert mt.is_index(media_type) is index


def test_manifest_accept_covers_every_manifest_and_index_type() -> None:
    assert set(mt.MANIFEST_ACCEPT) == mt.MANIFEST_TYPES | mt.INDEX_TYPES
    assert mt.MANIFEST_ACCEPT[0] == mt.DOCKER_MANIFEST
