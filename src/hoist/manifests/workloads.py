"""Finding every pod spec and every image in parsed manifests.

Pod-bearing kinds and where their pod spec lives follow the Kubernetes API: Pod
(``spec``), PodTemplate (``template.spec``), the workload controllers
(``spec.template.spec``) and CronJob (``spec.jobTemplate.spec.template.spec``). Items of
``kind: List`` (and ``*List`` kinds) are looked into.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

import yaml

from hoist.manifests.source import Document, SourceFile

POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
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
# Where the pod's own metadata (labels, annotations) lives, for suppression annotations.
POD_META_PATHS: dict[str, tuple[str, ...]] = {
    kind: (*path[:-1], "metadata") for kind, path in POD_SPEC_PATHS.items()
}


# What kubectl uses when neither the object nor the context names a namespace.
DEFAULT_NAMESPACE = "default"


class ContainerType(StrEnum):
    INIT = "init"
    REGULAR = "regular"
    EPHEMERAL = "ephemeral"
    IMAGE_VOLUME = "image-volume"


CONTAINER_LISTS = (
    ("initContainers", ContainerType.INIT),
    ("containers", ContainerType.REGULAR),
    ("ephemeralContainers", ContainerType.EPHEMERAL),
)


# ---- node helpers -------------------------------------------------------------------------

def get(node: yaml.Node | None, key: str) -> yaml.Node | None:
    """The value node of ``key`` in a mapping node (the last one wins, as in Go's YAML
    decoders); merge keys (``<<``) are followed when the key is not set directly."""
    if not isinstance(node, yaml.MappingNode):
        return None
    found: yaml.Node | None = None
    merges: list[yaml.Node] = []
    for k, v in node.value:
        if isinstance(k, yaml.ScalarNode):
            if k.value == key:
                found = v
            elif k.value == "<<" and k.tag.endswith(":merge"):
                merges.append(v)
    if found is not None:
        return found
    for m in merges:
        sources = m.value if isinstance(m, yaml.SequenceNode) else [m]
        for src in sources:
            hit = get(src, key)
            if hit is not None:
                return hit
    return None


def get_path(node: yaml.Node | None, path: tuple[str, ...]) -> yaml.Node | None:
    for key in path:
        node = get(node, key)
        if node is None:
            return None
    return node


def scalar(node: yaml.Node | None) -> str | None:
    """The text of a scalar node; None for anything else. YAML ``null`` is None too."""
    if isinstance(node, yaml.ScalarNode):
        if node.tag.endswith(":null"):
            return None
        return str(node.value)
    return None


def items(node: yaml.Node | None) -> list[yaml.Node]:
    return list(node.value) if isinstance(node, yaml.SequenceNode) else []


# ---- the walk -------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Resource:
    """One Kubernetes object in a file (an item of a List is its own resource)."""

    source: SourceFile
    doc: Document
    node: yaml.MappingNode
    kind: str
    api_version: str
    name: str
    namespace: str
    line: int

    def line_of(self, node: yaml.Node) -> int:
        return self.doc.line(node)

    @property
    def effective_namespace(self) -> str:
        return self.namespace or DEFAULT_NAMESPACE

    @property
    def display(self) -> str:
        return f"{self.kind}/{self.name}" if self.name else self.kind

    def annotation(self, key: str) -> str | None:
        return scalar(get(get_path(self.node, ("metadata", "annotations")), key))


@dataclass(frozen=True, slots=True)
class PodSpecSite:
    resource: Resource
    spec: yaml.MappingNode
    pod_meta: yaml.Node | None


@dataclass(frozen=True, slots=True)
class ImageSite:
    """One image a pod will need: a container (init, regular, ephemeral) or an image
    volume. ``image_node`` and ``policy_node`` are the value nodes as written (None when
    absent); ``owner`` is the mapping that holds them, where a policy would be inserted."""

    pod: PodSpecSite
    container_type: ContainerType
    index: int
    name: str
    owner: yaml.MappingNode
    image_node: yaml.Node | None
    policy_node: yaml.Node | None
    image_key: str
    policy_key: str

    @property
    def image(self) -> str | None:
        return scalar(self.image_node)

    @property
    def declared_policy(self) -> str | None:
        return scalar(self.policy_node)

    @property
    def line(self) -> int:
        node = self.image_node if self.image_node is not None else self.owner
        return self.pod.resource.line_of(node)

    @property
    def field_path(self) -> str:
        """The API field path, as validation messages name it (``spec.containers[0]``)."""
        if self.container_type is ContainerType.IMAGE_VOLUME:
            return f"spec.volumes[{self.index}].image"
        list_name = {ContainerType.INIT: "initContainers", ContainerType.REGULAR: "containers",
                     ContainerType.EPHEMERAL: "ephemeralContainers"}[self.container_type]
        return f"spec.{list_name}[{self.index}]"


def iter_resources(source: SourceFile) -> Iterator[Resource]:
    for doc in source.documents:
        yield from _resources_in(source, doc, doc.root, depth=0)


def _resources_in(
    source: SourceFile, doc: Document, node: yaml.Node, depth: int
) -> Iterator[Resource]:
    if not isinstance(node, yaml.MappingNode):
        return
    kind = scalar(get(node, "kind")) or ""
    if kind.endswith("List") and depth < 4 and isinstance(get(node, "items"), yaml.SequenceNode):
        for item in items(get(node, "items")):
            yield from _resources_in(source, doc, item, depth + 1)
        return
    meta = get(node, "metadata")
    yield Resource(
        source=source,
        doc=doc,
        node=node,
        kind=kind,
        api_version=scalar(get(node, "apiVersion")) or "",
        name=scalar(get(meta, "name")) or scalar(get(meta, "generateName")) or "",
        namespace=scalar(get(meta, "namespace")) or "",
        line=doc.line(node),
    )


def pod_spec_of(resource: Resource) -> PodSpecSite | None:
    path = POD_SPEC_PATHS.get(resource.kind)
    if path is None:
        return None
    spec = get_path(resource.node, path)
    if not isinstance(spec, yaml.MappingNode):
        return None
    return PodSpecSite(resource, spec, get_path(resource.node, POD_META_PATHS[resource.kind]))


def iter_images(pod: PodSpecSite) -> Iterator[ImageSite]:
    for list_key, ctype in CONTAINER_LISTS:
        for i, c in enumerate(items(get(pod.spec, list_key))):
            if not isinstance(c, yaml.MappingNode):
                continue
            yield ImageSite(
                pod=pod, container_type=ctype, index=i, name=scalar(get(c, "name")) or "",
                owner=c, image_node=get(c, "image"), policy_node=get(c, "imagePullPolicy"),
                image_key="image", policy_key="imagePullPolicy",
            )
    for i, v in enumerate(items(get(pod.spec, "volumes"))):
        image = get(v, "image")
        if isinstance(image, yaml.MappingNode):
            yield ImageSite(
                pod=pod, container_type=ContainerType.IMAGE_VOLUME, index=i,
                name=scalar(get(v, "name")) or "", owner=image,
                image_node=get(image, "reference"), policy_node=get(image, "pullPolicy"),
                image_key="reference", policy_key="pullPolicy",
            )


def iter_pod_specs(sources: list[SourceFile]) -> Iterator[PodSpecSite]:
    for source in sources:
        for resource in iter_resources(source):
            pod = pod_spec_of(resource)
            if pod is not None:
                yield pod


def iter_image_sites(sources: list[SourceFile]) -> Iterator[ImageSite]:
    for pod in iter_pod_specs(sources):
        yield from iter_images(pod)
