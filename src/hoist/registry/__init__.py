"""OCI distribution client (and, later, server)."""

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

__all__ = ["Denied", "DigestMismatch", "InvalidContent", "NotFound", "PushedBlob",
           "RegistryClient", "RegistryError", "RetryPolicy", "TooManyRequests",
           "TransferError", "Transport", "Unauthorized", "Unsupported", "new_session"]
