"""The embedded single-node cluster's control plane: object store, admission,
validation, the Deployment controller and kubectl-shaped printing.

Names load on first use, so that ``hoist.cluster.printers`` alone does not open SQLite."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hoist.cluster.admission import AdmissionConfig
    from hoist.cluster.store import Cluster, default_cluster_dir
    from hoist.cluster.validation import (
        AlreadyExistsError,
        ApiError,
        BadRequestError,
        ForbiddenError,
        InvalidError,
        NotFoundError,
    )

_WHERE = {
    "AdmissionConfig": "admission",
    "Cluster": "store",
    "default_cluster_dir": "store",
    **{name: "validation" for name in (
        "AlreadyExistsError", "ApiError", "BadRequestError", "ForbiddenError", "InvalidError",
        "NotFoundError")},
}

__all__ = [
    "AdmissionConfig",
    "AlreadyExistsError",
    "ApiError",
    "BadRequestError",
    "Cluster",
    "ForbiddenError",
    "InvalidError",
    "NotFoundError",
    "default_cluster_dir",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'hoist.cluster' has no attribute {name!r}")
    return getattr(importlib.import_module(f"hoist.cluster.{module}"), name)
