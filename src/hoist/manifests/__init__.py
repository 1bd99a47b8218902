"""Kubernetes manifests: reading with positions, walking workloads, rewriting images."""

from hoist.manifests.rewrite import ImageRule, RenderedFile, render_file, rules_by_repository
from hoist.manifests.source import SourceFile, SourceProblem, read_source, read_sources
from hoist.manifests.workloads import (
    ContainerType,
    ImageSite,
    PodSpecSite,
    Resource,
    iter_image_sites,
    iter_pod_specs,
    iter_resources,
)

__all__ = [
    "ContainerType",
    "ImageRule",
    "ImageSite",
    "PodSpecSite",
    "RenderedFile",
    "Resource",
    "SourceFile",
    "SourceProblem",
    "iter_image_sites",
    "iter_pod_specs",
    "iter_resources",
    "read_source",
    "read_sources",
    "render_file",
    "rules_by_repository",
]
