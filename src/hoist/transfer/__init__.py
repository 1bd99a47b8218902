"""Moving images between registries, OCI layouts and the store.

Names load on first use, so ``hoist.transfer.names`` (image names and transports) costs
nothing of the HTTP stack that copying needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hoist.transfer.copy import (
        CopyResult,
        Options,
        Progress,
        Session,
        copy,
        copy_image,
        pull,
        push,
    )
    from hoist.transfer.names import ImageName, parse_image_name, parse_reference

_HOME = {**{n: "copy" for n in ("CopyResult", "Options", "Progress", "Session", "copy",
                                 "copy_image", "pull", "push")},
         **{n: "names" for n in ("ImageName", "parse_image_name", "parse_reference")}}

__all__ = ["CopyResult", "ImageName", "Options", "Progress", "Session", "copy", "copy_image",
           "parse_image_name", "parse_reference", "pull", "push"]


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'hoist.transfer' has no attribute {name!r}")
    return getattr(importlib.import_module(f"hoist.transfer.{module}"), name)
