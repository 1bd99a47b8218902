"""hoist.store.layout.OciLayout: oci-layout, index.json entries and tags as skopeo's
``oci:DIR:TAG`` reads and writes them (image-spec image-layout.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hoist.core import mediatypes as mt
from hoist.core.digest import Digest
from hoist.core.manifest import Descriptor
from hoist.errors import InputError
from hoist.store.layout import INGEST_DIR, REF_NAME, OciLayout


def desc(seed: str, media_type: str = mt.OCI_MANIFEST, size: int = 100) -> Descriptor:
    return Descriptor(media_type, Digest.from_bytes(seed.encode()), size)


A, B, C = desc("a"), desc("b"), desc("c", mt.OCI_INDEX, 300)


@pytest.fixture
def layout(tmp_path: Path) -> OciLayout:
    return OciLayout(tmp_path / "oci")


def index_json(layout: OciLayout) -> dict:  # type: ignore[type-arg]
    return json.loads((layout.root / "index.json").read_bytes())  # type: ignore[no-any-return]


# --------------------------------------------------------------------------------------
# init
# --------------------------------------------------------------------------------------
def test_init_writes_oci_layout_and_an_empty_index(layout: OciLayout) -> None:
    assert not layout.exists()
    layout.init()
    assert layout.exists()
    assert json.loads((layout.root / "oci-layout").read_bytes()) == {
        "imageLayoutVersion": "1.0.0"}
    assert index_json(layout) == {"schemaVersion": 2, "mediaType": mt.OCI_INDEX,
                                  "manifests": []}
    assert layout.entries() == [] and layout.tags() == []
    assert sorted(p.name for p in layout.root.iterdir()) == ["index.json", "oci-layout"]


def test_init_keeps_an_existing_index(layout: OciLayout) -> None:
    layout.add(A, "v1")
    layout.init()
    assert layout.tags() == ["v1"]


def test_blobs_live_under_the_layout(layout: OciLayout) -> None:
    d = layout.blobs.put(b"{}")
    assert (layout.root / "blobs" / "sha256" / d.encoded).read_bytes() == b"{}"
    assert layout.blobs.ingest_root == layout.root / INGEST_DIR


# --------------------------------------------------------------------------------------
# add
# --------------------------------------------------------------------------------------
def test_add_with_tag_writes_a_ref_name_annotation(layout: OciLayout) -> None:
    layout.add(A, "v1")
    assert index_json(layout)["manifests"] == [{
        "mediaType": mt.OCI_MANIFEST, "digest": str(A.digest), "size": 100,
        "annotations": {REF_NAME: "v1"}}]
    assert REF_NAME == "org.opencontainers.image.ref.name"
    assert layout.entries() == [Descriptor(A.media_type, A.digest, A.size,
                                           annotations={REF_NAME: "v1"})]


def test_add_same_tag_replaces_the_entry(layout: OciLayout) -> None:
    layout.add(A, "v1")
    layout.add(B, "v2")
    layout.add(C, "v1")
    entries = layout.entries()
    assert [(e.digest, e.annotations.get(REF_NAME)) for e in entries] == [
        (B.digest, "v2"), (C.digest, "v1")]
    assert entries[1].media_type == mt.OCI_INDEX and entries[1].size == 300
    assert layout.resolve("v1").digest == C.digest


def test_add_same_digest_under_two_tags(layout: OciLayout) -> None:
    layout.add(A, "v1")
    layout.add(A, "latest")
    assert layout.tags() == ["v1", "latest"]


def test_add_untagged_is_idempotent_per_digest(layout: OciLayout) -> None:
    layout.add(A, None)
    layout.add(A, None)
    assert layout.entries() == [Descriptor(A.media_type, A.digest, A.size)]
    layout.add(B, "")
    assert [e.digest for e in layout.entries()] == [A.digest, B.digest]
    assert layout.tags() == []


def test_untagged_add_does_not_remove_a_tagged_entry(layout: OciLayout) -> None:
    layout.add(A, "v1")
    layout.add(A, None)
    assert [e.annotations for e in layout.entries()] == [{REF_NAME: "v1"}, {}]


def test_add_keeps_foreign_index_fields_and_entries(layout: OciLayout) -> None:
    layout.init()
    foreign = {
        "schemaVersion": 2,
        "annotations": {"created-by": "skopeo"},
        "manifests": [{**B.to_json(), "platform": {"os": "linux", "architecture": "amd64"},
                       "annotations": {REF_NAME: "other", "x": "y"}}],
    }
    (layout.root / "index.json").write_text(json.dumps(foreign))
    layout.add(A, "v1")
    doc = index_json(layout)
    assert doc["annotations"] == {"created-by": "skopeo"}
    assert doc["manifests"][0] == foreign["manifests"][0]
    assert layout.tags() == ["other", "v1"]


def test_add_creates_the_layout(tmp_path: Path) -> None:
    layout = OciLayout(tmp_path / "new" / "dir")
    layout.add(A, "v1")
    assert layout.exists() and layout.tags() == ["v1"]


def test_add_leaves_no_temporary_files(layout: OciLayout) -> None:
    for i in range(3):
        layout.add(desc(str(i)), f"t{i}")
    assert sorted(p.name for p in layout.root.iterdir()) == ["index.json", "oci-layout"]


def test_add_tidies_an_empty_ingest_dir_but_keeps_partial_writes(layout: OciLayout) -> None:
    d = Digest.from_bytes(b"layer")
    with layout.blobs.ingest(d) as ing:
        ing.write(b"lay")
    layout.add(A, "v1")
    assert (layout.root / INGEST_DIR).is_dir()  # a partial write is kept for a resume
    with layout.blobs.ingest(d) as ing:
        ing.write(b"er")
        ing.commit()
    layout.add(A, "v1")
    assert not (layout.root / INGEST_DIR).exists()


# --------------------------------------------------------------------------------------
# resolve
# --------------------------------------------------------------------------------------
def test_resolve_by_tag(layout: OciLayout) -> None:
    layout.add(A, "v1")
    layout.add(B, "v2")
    assert layout.resolve("v2").digest == B.digest
    assert layout.resolve("v1").digest == A.digest


def test_resolve_single_untagged(layout: OciLayout) -> None:
    layout.add(A, None)
    assert layout.resolve(None).digest == A.digest
    assert layout.resolve("").digest == A.digest


def test_resolve_single_tagged_without_a_tag(layout: OciLayout) -> None:
    layout.add(A, "v1")
    assert layout.resolve(None).digest == A.digest


def test_resolve_unknown_tag_names_path_and_tags(layout: OciLayout) -> None:
    layout.add(A, "v1")
    layout.add(B, "v2")
    with pytest.raises(InputError) as e:
        layout.resolve("v3")
    assert str(e.value) == f"oci:{layout.root}:v3: no image with that tag (tags: v1, v2)"


def test_resolve_unknown_tag_in_an_empty_layout(layout: OciLayout) -> None:
    layout.init()
    with pytest.raises(InputError, match=r"no image with that tag \(tags: none\)"):
        layout.resolve("v1")


@pytest.mark.parametrize("tags", [["v1", None], [None, None], ["v1", "v2"]])
def test_resolve_without_tag_among_several_images(layout: OciLayout,
                                                  tags: list[str | None]) -> None:
    layout.add(A, tags[0])
    layout.add(B, tags[1])
    with pytest.raises(InputError) as e:
        layout.resolve(None)
    assert str(e.value) == (f"oci:{layout.root}: holds 2 images; name one with "
                            f"oci:{layout.root}:TAG")


def test_resolve_without_tag_in_an_empty_layout(layout: OciLayout) -> None:
    layout.init()
    with pytest.raises(InputError, match="holds 0 images"):
        layout.resolve(None)


# --------------------------------------------------------------------------------------
# broken layouts: the error names the path
# --------------------------------------------------------------------------------------
def test_missing_oci_layout_file(layout: OciLayout) -> None:
    layout.root.mkdir()
    (layout.root / "index.json").write_text('{"manifests": []}')
    with pytest.raises(InputError) as e:
        layout.entries()
    assert str(e.value) == f"{layout.root}: not an OCI image layout (no oci-layout file)"


def test_missing_directory(layout: OciLayout) -> None:
    with pytest.raises(InputError, match=f"^{layout.root}: not an OCI image layout"):
        layout.resolve("v1")


def test_missing_index_json(layout: OciLayout) -> None:
    layout.init()
    (layout.root / "index.json").unlink()
    with pytest.raises(InputError) as e:
        layout.entries()
    assert str(e.value) == f"{layout.root / 'index.json'}: missing"


@pytest.mark.parametrize("raw", [b"{not json", b"\xff\xfe", b""])
def test_bad_json(layout: OciLayout, raw: bytes) -> None:
    layout.init()
    (layout.root / "index.json").write_bytes(raw)
    with pytest.raises(InputError) as e:
        layout.tags()
    assert str(e.value).startswith(f"{layout.root / 'index.json'}: not valid JSON (")


@pytest.mark.parametrize("doc", [[], "x", 3, {"manifests": {}}, {"manifests": "a"}])
def test_not_an_index(layout: OciLayout, doc: object) -> None:
    layout.init()
    (layout.root / "index.json").write_text(json.dumps(doc))
    with pytest.raises(InputError) as e:
        layout.entries()
    assert str(e.value) == f"{layout.root / 'index.json'}: not an OCI index"


def test_index_without_manifests_is_empty(layout: OciLayout) -> None:
    layout.init()
    (layout.root / "index.json").write_text('{"schemaVersion": 2}')
    assert layout.entries() == []


@pytest.mark.parametrize(
    "bad",
    [
        "sha256:abc",
        {"mediaType": mt.OCI_MANIFEST, "size": 1},
        {"mediaType": mt.OCI_MANIFEST, "digest": "sha256:abc", "size": 1},
        {"mediaType": mt.OCI_MANIFEST, "digest": str(A.digest), "size": "big"},
        {"digest": str(A.digest), "size": 1},
    ],
)
def test_bad_entry_is_named(layout: OciLayout, bad: object) -> None:
    layout.init()
    (layout.root / "index.json").write_text(json.dumps({"manifests": [A.to_json(), bad]}))
    with pytest.raises(InputError) as e:
        layout.entries()
    assert str(e.value).startswith(f"{layout.root}/index.json: manifests[1] is not a descriptor")

