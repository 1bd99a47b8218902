"""Kubernetes manifests: reading with positions, walking workloads, rewriting images.

The names below load on first use: the config loader needs only ``source`` (the YAML
reader), and a build must not pay for the workload walkers and the image rewriter.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hoist.manifests.rewrite import (
        ImageRule,
        RenderedFile,
        render_file,
        rules_by_repository,
    )
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

_HOME = {
    "ImageRule": "rewrite", "RenderedFile": "rewrite", "render_file": "rewrite",
    "rules_by_repository": "rewrite",
    "SourceFile": "source", "SourceProblem": "source", "read_source": "source",
    "read_sources": "source",
    "ContainerType": "workloads", "ImageSite": "workloads", "PodSpecSite": "workloads",
    "Resource": "workloads", "iter_image_sites": "workloads", "iter_pod_specs": "workloads",
    "iter_resources": "workloads",
}

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


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'hoist.manifests' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"hoist.manifests.{module}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
