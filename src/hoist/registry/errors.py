"""Registry errors: the distribution spec's error codes as exception types.

Every message is one line naming the registry, the repository and the reference at fault;
none ever contains a credential."""

from __future__ import annotations

import json
from typing import Any

from hoist.errors import OperationError


class RegistryError(OperationError):
    """A registry operation failed. ``code`` is the spec's error code when the registry sent
    one (``MANIFEST_UNKNOWN``), else a short word for what happened."""

    code = "UNKNOWN"
    # Seconds a 429 or 503 asked to wait (its Retry-After), when it named a wait.
    retry_after: float | None = None

    def __init__(
        self,
        message: str,
        *,
        registry: str = "",
        repository: str = "",
        reference: str = "",
        status: int = 0,
        code: str = "",
        detail: Any = None,
    ) -> None:
        self.registry = registry
        self.repository = repository
        self.reference = reference
        self.status = status
        if code:
            self.code = code
        self.detail = detail
        where = registry
        if repository:
            where = f"{registry}/{repository}" if registry else repository
        if reference:
            sep = "@" if ":" in reference and reference.split(":")[0] in (
                "sha256", "sha384", "sha512") else ":"
            where = f"{where}{sep}{reference}"
        super().__init__(f"{where}: {message}" if where else message)


class NotFound(RegistryError):
    """MANIFEST_UNKNOWN, BLOB_UNKNOWN, NAME_UNKNOWN, or a plain 404."""

    code = "NOT_FOUND"


class Unauthorized(RegistryError):
    """UNAUTHORIZED: the credentials were refused or are missing."""

    code = "UNAUTHORIZED"


class Denied(RegistryError):
    """DENIED: authenticated, but not allowed."""

    code = "DENIED"


class TooManyRequests(RegistryError):
    code = "TOOMANYREQUESTS"


class InvalidContent(RegistryError):
    """The registry refused what we sent (DIGEST_INVALID, MANIFEST_INVALID, …)."""

    code = "INVALID"


class Unsupported(RegistryError):
    code = "UNSUPPORTED"


class DigestMismatch(RegistryError):
    """Bytes that do not hash to the digest they were asked for."""

    code = "DIGEST_MISMATCH"


class TransferError(RegistryError):
    """The connection broke or the server failed, after the retries were spent."""

    code = "TRANSFER_FAILED"


_BY_CODE: dict[str, type[RegistryError]] = {
    "BLOB_UNKNOWN": NotFound,
    "MANIFEST_UNKNOWN": NotFound,
    "NAME_UNKNOWN": NotFound,
    "BLOB_UPLOAD_UNKNOWN": NotFound,
    "UNAUTHORIZED": Unauthorized,
    "DENIED": Denied,
    "TOOMANYREQUESTS": TooManyRequests,
    "UNSUPPORTED": Unsupported,
    "DIGEST_INVALID": InvalidContent,
    "MANIFEST_INVALID": InvalidContent,
    "MANIFEST_BLOB_UNKNOWN": InvalidContent,
    "NAME_INVALID": InvalidContent,
    "SIZE_INVALID": InvalidContent,
    "TAG_INVALID": InvalidContent,
    "BLOB_UPLOAD_INVALID": InvalidContent,
    "PAGINATION_NUMBER_INVALID": InvalidContent,
    "RANGE_INVALID": InvalidContent,
}
_BY_STATUS: dict[int, type[RegistryError]] = {
    401: Unauthorized,
    403: Denied,
    404: NotFound,
    405: Unsupported,
    429: TooManyRequests,
}


def _clean(text: str, limit: int = 200) -> str:
    one = " ".join(text.split())
    return one if len(one) <= limit else one[: limit - 1] + "…"


def decode_error(
    status: int,
    body: bytes,
    *,
    registry: str,
    repository: str = "",
    reference: str = "",
    action: str = "",
) -> RegistryError:
    """Turn an error response into the typed exception for its first error code."""
    code, message, detail = "", "", None
    try:
        doc = json.loads(body.decode("utf-8")) if body else None
    except (ValueError, RecursionError):  # also over-long ints and over-deep nesting
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("errors"), list) and doc["errors"]:
        first = doc["errors"][0]
        if isinstance(first, dict):
            code = _clean(str(first.get("code", "")), 64)  # echoed: one short line
            message = str(first.get("message", ""))
            detail = first.get("detail")
    cls = _BY_CODE.get(code) or _BY_STATUS.get(status) or RegistryError
    if status >= 500 and cls is RegistryError:
        cls = TransferError  # a server failure (Distribution sends UNKNOWN with its 500s)
    text = f"{code} " if code else ""
    # The registry's words, code included, stay within about 200 characters.
    text = _clean(text + message) if message else text + f"HTTP {status}"
    if code and message == "":
        text = f"{code} (HTTP {status})"
    if action:
        text = f"{action}: {text}"
    return cls(text, registry=registry, repository=repository, reference=reference,
               status=status, code=code or cls.code, detail=detail)
