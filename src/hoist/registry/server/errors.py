"""Error answers of the distribution API: the spec's codes, status and body shape."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

# Codes and messages of the error code table in opencontainers/distribution-spec spec.md
# ("Error Codes"); TAG_INVALID is Distribution's (registry/api/v2/errors.go).
MESSAGES: dict[str, str] = {
    "BLOB_UNKNOWN": "blob unknown to registry",
    "BLOB_UPLOAD_INVALID": "blob upload invalid",
    "BLOB_UPLOAD_UNKNOWN": "blob upload unknown to registry",
    "DIGEST_INVALID": "provided digest did not match uploaded content",
    "MANIFEST_BLOB_UNKNOWN": "manifest references a manifest or blob unknown to registry",
    "MANIFEST_INVALID": "manifest invalid",
    "MANIFEST_UNKNOWN": "manifest unknown to registry",
    "NAME_INVALID": "invalid repository name",
    "NAME_UNKNOWN": "repository name not known to registry",
    "SIZE_INVALID": "provided length did not match content length",
    "TAG_INVALID": "manifest tag did not match URI",
    "UNAUTHORIZED": "authentication required",
    "DENIED": "requested access to the resource is denied",
    "UNSUPPORTED": "the operation is unsupported",
    "TOOMANYREQUESTS": "too many requests",
    "RANGE_INVALID": "invalid content range",
    "PAGINATION_NUMBER_INVALID": "invalid number of results requested",
}


class ApiError(Exception):
    """An error answer: HTTP ``status`` with one spec error (``code``, message, detail)."""

    def __init__(self, status: int, code: str, detail: Any = None, *,
                 message: str | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        self.status = status
        self.code = code
        self.message = message or MESSAGES.get(code, code.lower().replace("_", " "))
        self.detail = detail
        self.headers = dict(headers or {})
        super().__init__(f"{status} {code}: {self.message}")

    def body(self) -> bytes:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.detail is not None:
            error["detail"] = self.detail
        return json.dumps({"errors": [error]}).encode()


def blob_unknown(digest: str) -> ApiError:
    return ApiError(404, "BLOB_UNKNOWN", {"digest": digest})


def manifest_unknown(reference: str) -> ApiError:
    return ApiError(404, "MANIFEST_UNKNOWN", {"reference": reference})


def upload_unknown(upload_id: str) -> ApiError:
    return ApiError(404, "BLOB_UPLOAD_UNKNOWN", {"id": upload_id})


def name_unknown(name: str) -> ApiError:
    return ApiError(404, "NAME_UNKNOWN", {"name": name})


def digest_invalid(detail: str) -> ApiError:
    return ApiError(400, "DIGEST_INVALID", detail)


def manifest_invalid(detail: str) -> ApiError:
    return ApiError(400, "MANIFEST_INVALID", detail)


def unsupported(detail: str, status: int = 405) -> ApiError:
    return ApiError(status, "UNSUPPORTED", detail)
