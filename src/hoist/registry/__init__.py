"""OCI distribution client and server.

The names below load on first use: ``hoist.registry.probe`` (one quick HEAD, used on the
dev loop's no-change path) must not pay for the HTTP client's import.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hoist.registry.client import PushedBlob, RegistryClient, new_session
    from hoist.registry.errors import (
        Denied,
        DigestMismatch,
        InvalidContent,
        NotFound,
        RegistryError,
        TooManyRequests,
        TransferError,
        Unauthorized,
        Unsupported,
    )
    from hoist.registry.transport import RetryPolicy, Transport

_HOME = {"PushedBlob": "client", "RegistryClient": "client", "new_session": "client",
         "RetryPolicy": "transport", "Transport": "transport",
         **{name: "errors" for name in ("Denied", "DigestMismatch", "InvalidContent",
                                        "NotFound", "RegistryError", "TooManyRequests",
                                        "TransferError", "Unauthorized", "Unsupported")}}

__all__ = ["Denied", "DigestMismatch", "InvalidContent", "NotFound", "PushedBlob",
           "RegistryClient", "RegistryError", "RetryPolicy", "TooManyRequests",
           "TransferError", "Transport", "Unauthorized", "Unsupported", "new_session"]


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'hoist.registry' has no attribute {name!r}")
    return getattr(importlib.import_module(f"hoist.registry.{module}"), name)
