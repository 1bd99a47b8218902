"""Moving images between registries, OCI layouts and the store."""

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

__all__ = ["CopyResult", "ImageName", "Options", "Progress", "Session", "copy", "copy_image",
           "parse_image_name", "parse_reference", "pull", "push"]
