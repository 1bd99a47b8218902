"""Finding every pod spec and every image site: kinds, lists, container types, lines."""

from __future__ import annotations

import textwrap

import pytest

from hoist.manifests import (
    ContainerType,
    ImageSite,
    SourceFile,
    iter_image_sites,
    iter_pod_specs,
    iter_resources,
    read_source,
)


def src(text: str, name: str = "w.yaml") -> SourceFile:
    return read_source(name, textwrap.dedent(text).encode())


def sites(text: str) -> list[ImageSite]:
    return list(iter_image_sites([src(text)]))


def line_of(text: str, needle: str) -> int:
    text = textwrap.dedent(text)
    assert text.count(needle) == 1, needle
    return text[: text.index(needle)].count("\n") + 1


def indent(block: str, n: int) -> str:
    return textwrap.indent(textwrap.dedent(block), " " * n)


CONTAINERS = """\
containers:
- name: main
  image: registry.example/app:{tag}
"""


def with_pod_spec_at(kind: str, path: tuple[str, ...], tag: str) -> str:
    """A manifest of ``kind`` whose pod spec is at ``path``."""
    out = f"apiVersion: x/v1\nkind: {kind}\nmetadata:\n  name: {kind.lower()}\n"
    for depth, key in enumerate(path):
        out += " " * (2 * depth) + f"{key}:\n"
    return out + indent(CONTAINERS.format(tag=tag), 2 * len(path))


POD_SPEC_AT = {
    "Pod": ("spec",),
    "PodTemplate": ("template", "spec"),
    "Deployment": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}


@pytest.mark.parametrize("kind", sorted(POD_SPEC_AT))
def test_every_pod_bearing_kind_where_its_spec_lives(kind: str) -> None:
    text = with_pod_spec_at(kind, POD_SPEC_AT[kind], kind.lower())
    found = sites(text)
    assert [(s.name, s.image, s.container_type) for s in found] == [
        ("main", f"registry.example/app:{kind.lower()}", ContainerType.REGULAR)]
    site = found[0]
    assert site.pod.resource.kind == kind
    assert site.pod.resource.name == kind.lower()
    assert site.line == line_of(text, "image:")


@pytest.mark.parametrize("kind,wrong_path", [
    ("Deployment", ("spec",)),              # a Deployment's pod spec is spec.template.spec
    ("Pod", ("spec", "template", "spec")),
    ("CronJob", ("spec", "template", "spec")),
    ("Job", ("spec", "jobTemplate", "spec", "template", "spec")),
    ("ConfigMap", ("spec",)),                # not pod-bearing at all
    ("Widget", ("spec", "template", "spec")),  # a custom resource
])
def test_containers_elsewhere_are_not_pod_specs(kind: str, wrong_path: tuple[str, ...]) -> None:
    assert sites(with_pod_spec_at(kind, wrong_path, "x")) == []


def test_all_kinds_in_one_multi_document_file_with_lines() -> None:
    text = "---\n".join(with_pod_spec_at(k, p, k.lower()) for k, p in POD_SPEC_AT.items())
    found = sites(text)
    assert [s.pod.resource.kind for s in found] == list(POD_SPEC_AT)
    for s in found:
        assert s.line == line_of(text, f"app:{s.pod.resource.kind.lower()}\n")
        # A resource's line is where its mapping starts.
        kind = s.pod.resource.kind
        assert s.pod.resource.line == line_of(text, f"apiVersion: x/v1\nkind: {kind}\n")


LIST = """\
apiVersion: v1
kind: {kind}
metadata: {{}}
items:
- apiVersion: v1
  kind: Pod
  metadata:
    name: first
    namespace: ns1
  spec:
    containers:
    - name: a
      image: img-first
- apiVersion: v1
  kind: ConfigMap
  metadata:
    name: cm
- apiVersion: apps/v1
  kind: Deployment
  metadata:
    name: second
  spec:
    template:
      spec:
        containers:
        - name: b
          image: img-second
"""


@pytest.mark.parametrize("kind", ["List", "DeploymentList", "PodList"])
def test_list_items_are_resources(kind: str) -> None:
    text = LIST.format(kind=kind)
    source = src(text)
    resources = list(iter_resources(source))
    assert [(r.kind, r.name, r.namespace) for r in resources] == [
        ("Pod", "first", "ns1"), ("ConfigMap", "cm", ""), ("Deployment", "second", "")]
    assert resources[0].line == 5
    found = list(iter_image_sites([source]))
    assert [(s.pod.resource.display, s.image, s.line) for s in found] == [
        ("Pod/first", "img-first", line_of(text, "img-first")),
        ("Deployment/second", "img-second", line_of(text, "img-second")),
    ]


def test_list_in_json() -> None:
    text = (
        '{"apiVersion": "v1", "kind": "List", "items": [\n'
        '  {"kind": "Pod", "metadata": {"name": "j"},\n'
        '   "spec": {"containers": [{"name": "c", "image": "json-img"}]}}\n'
        "]}\n"
    )
    found = sites(text)
    assert [(s.name, s.image, s.line) for s in found] == [("c", "json-img", 3)]


POD_ALL = """\
apiVersion: v1
kind: Pod
metadata:
  name: everything
  namespace: prod
spec:
  initContainers:
  - name: init-a
    image: init-image:1
    imagePullPolicy: Always
  - image: init-image:2
    name: init-b
  containers:
  - name: app
    image: "app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    imagePullPolicy: IfNotPresent
  - {name: side, image: 'side:latest', imagePullPolicy: Never}
  ephemeralContainers:
  - name: debug
    image: >-
      busybox:1.36
  volumes:
  - name: data
    emptyDir: {}
  - name: model
    image:
      reference: quay.io/models/m:v2
      pullPolicy: IfNotPresent
  - name: weights
    image: {reference: weights}
"""


def test_container_types_names_images_policies_and_lines() -> None:
    found = sites(POD_ALL)
    got = [(s.container_type, s.name, s.image, s.declared_policy, s.line, s.index, s.field_path)
           for s in found]
    ln = lambda needle: line_of(POD_ALL, needle)  # noqa: E731
    assert got == [
        (ContainerType.INIT, "init-a", "init-image:1", "Always", ln("init-image:1"), 0,
         "spec.initContainers[0]"),
        (ContainerType.INIT, "init-b", "init-image:2", None, ln("init-image:2"), 1,
         "spec.initContainers[1]"),
        (ContainerType.REGULAR, "app", "app@sha256:" + "0123456789abcdef" * 4, "IfNotPresent",
         ln('"app@'), 0, "spec.containers[0]"),
        (ContainerType.REGULAR, "side", "side:latest", "Never", ln("side:latest"), 1,
         "spec.containers[1]"),
        # A block scalar starts on the line of its indicator.
        (ContainerType.EPHEMERAL, "debug", "busybox:1.36", None, ln(">-"), 0,
         "spec.ephemeralContainers[0]"),
        (ContainerType.IMAGE_VOLUME, "model", "quay.io/models/m:v2", "IfNotPresent",
         ln("quay.io/models"), 1, "spec.volumes[1].image"),
        (ContainerType.IMAGE_VOLUME, "weights", "weights", None, ln("{reference: weights}"), 2,
         "spec.volumes[2].image"),
    ]
    assert {s.pod.resource.namespace for s in found} == {"prod"}
    assert [s.image_key for s in found][-1] == "reference"
    assert [s.policy_key for s in found][-1] == "pullPolicy"


def test_container_without_image_is_a_site_on_its_own_line() -> None:
    text = """\
    kind: Pod
    spec:
      containers:
      - name: noimage
        args: [x]
      - name: null-image
        image: null
    """
    found = sites(text)
    assert [(s.name, s.image) for s in found] == [("noimage", None), ("null-image", None)]
    assert found[0].line == line_of(text, "name: noimage")


def test_lines_with_bom_crlf_and_a_directive() -> None:
    text = "%YAML 1.1\r\n---\r\n# c\r\n" + textwrap.dedent("""\
        kind: Pod
        spec:
          containers:
          - name: a
            image: img-a
        """).replace("\n", "\r\n") + "---\r\nkind: Pod\r\nspec:\r\n  containers:\r\n" \
        "  - {name: b, image: img-b}\r\n"
    source = read_source("c.yaml", b"\xef\xbb\xbf" + text.encode())
    found = list(iter_image_sites([source]))
    assert [(s.image, s.line) for s in found] == [("img-a", 8), ("img-b", 13)]


def test_merge_keys_in_a_container() -> None:
    text = """\
    kind: Deployment
    metadata: {name: d}
    spec:
      template:
        spec:
          initContainers:
          - &defaults
            name: base
            image: base-image:1
            imagePullPolicy: Always
          containers:
          - <<: *defaults
            name: merged
          - <<: *defaults
            name: overridden
            image: own-image:2
          - <<: [{image: from-list:3}, *defaults]
            name: listed
    """
    found = sites(text)
    assert [(s.container_type, s.name, s.image, s.declared_policy) for s in found] == [
        (ContainerType.INIT, "base", "base-image:1", "Always"),
        (ContainerType.REGULAR, "merged", "base-image:1", "Always"),
        (ContainerType.REGULAR, "overridden", "own-image:2", "Always"),
        (ContainerType.REGULAR, "listed", "from-list:3", "Always"),
    ]
    # The image of a merged container is written at the anchor.
    assert found[1].line == line_of(text, "base-image:1")
    assert found[2].line == line_of(text, "own-image:2")


def test_alias_as_image_value() -> None:
    text = """\
    kind: Pod
    spec:
      containers:
      - name: a
        image: &img shared:1
      - name: b
        image: *img
    """
    assert [(s.name, s.image) for s in sites(text)] == [("a", "shared:1"), ("b", "shared:1")]


def test_last_duplicate_key_wins() -> None:
    text = """\
    kind: Pod
    spec:
      containers:
      - name: a
        image: first
        image: second
    """
    assert [s.image for s in sites(text)] == ["second"]


@pytest.mark.parametrize("text", [
    "just a string\n",
    "- a\n- b\n",
    "42\n",
    "kind: Pod\n",
    "kind: Pod\nspec: 5\n",
    "kind: Pod\nspec: [1, 2]\n",
    "kind: Pod\nspec:\n  containers: nginx\n",
    "kind: Pod\nspec:\n  containers: {name: a, image: b}\n",
    "kind: Pod\nspec:\n  containers: [1, null, 'x', [a], {}]\n",
    "kind: Pod\nspec:\n  volumes: [1, {image: str}, {image: [x]}, {name: v, image: {}}]\n"
    "  containers: []\n",
    "kind: Pod\nspec:\n  containers:\n  - name: [a, b]\n    image: {x: 1}\n"
    "    imagePullPolicy: [Always]\n",
    "kind: [Pod]\nspec: {containers: [{image: x}]}\n",
    "kind: 5\n",
    "kind: null\nmetadata: [a]\n",
    "kind: List\nitems: 7\n",
    "kind: List\nitems: [1, 'two', [3], {kind: Pod, spec: {containers: [{image: ok}]}}]\n",
    "kind: Deployment\nspec:\n  template: null\n",
    "kind: CronJob\nspec:\n  jobTemplate:\n    spec:\n      template: [x]\n",
    "metadata:\n  name: [x]\n  namespace: {a: b}\nkind: Pod\nspec: {containers: []}\n",
    "kind: Pod\nspec:\n  containers:\n  - <<: 5\n    image: x\n  - <<: [1, {image: y}]\n",
    "---\n---\n",
    "",
], ids=lambda t: repr(t[:30]))
def test_non_mapping_junk_does_not_crash(text: str) -> None:
    source = read_source("junk.yaml", text.encode())
    resources = list(iter_resources(source))
    pods = list(iter_pod_specs([source]))
    found = list(iter_image_sites([source]))
    for r in resources:
        assert isinstance(r.kind, str) and isinstance(r.name, str)
    for s in found:
        assert s.image is None or isinstance(s.image, str)
        assert s.declared_policy is None or isinstance(s.declared_policy, str)
        assert isinstance(s.line, int) and s.line >= 1
        assert isinstance(s.name, str)
    assert len(pods) <= len(resources)


def test_junk_items_do_not_hide_good_ones() -> None:
    text = "kind: List\nitems: [1, 'two', [3], {kind: Pod, spec: {containers: [{image: ok}]}}]\n"
    assert [s.image for s in sites(text)] == ["ok"]
    text = "kind: Pod\nspec:\n  containers: [1, null, {name: c, image: good}, 'x']\n"
    found = sites(text)
    assert [(s.name, s.image, s.index) for s in found] == [("c", "good", 2)]
    assert found[0].field_path == "spec.containers[2]"
