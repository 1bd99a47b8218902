"""decode_error: distribution-spec error bodies (docs/spec/api.md "Errors") become typed
exceptions whose one-line message names the registry, repository and reference."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hoist.errors import OperationError
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
    decode_error,
)

DIGEST = "sha256:" + "ab" * 32


def body(code: str, message: str = "", detail: Any = None) -> bytes:
    err: dict[str, Any] = {"code": code, "message": message}
    if detail is not None:
        err["detail"] = detail
    return json.dumps({"errors": [err]}).encode()


@pytest.mark.parametrize(
    ("status", "code", "message", "cls"),
    [
        (404, "MANIFEST_UNKNOWN", "manifest unknown", NotFound),
        (404, "BLOB_UNKNOWN", "blob unknown to registry", NotFound),
        (404, "NAME_UNKNOWN", "repository name not known to registry", NotFound),
        (404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry", NotFound),
        (401, "UNAUTHORIZED", "authentication required", Unauthorized),
        (403, "DENIED", "requested access to the resource is denied", Denied),
        (429, "TOOMANYREQUESTS", "You have reached your pull rate limit.", TooManyRequests),
        (405, "UNSUPPORTED", "The operation is unsupported.", Unsupported),
        (400, "DIGEST_INVALID", "provided digest did not match uploaded content",
         InvalidContent),
        (400, "MANIFEST_INVALID", "manifest invalid", InvalidContent),
        (400, "MANIFEST_BLOB_UNKNOWN", "blob unknown to registry", InvalidContent),
        (400, "NAME_INVALID", "invalid repository name", InvalidContent),
        (400, "SIZE_INVALID", "provided length did not match content length", InvalidContent),
        (400, "TAG_INVALID", "manifest tag did not match URI", InvalidContent),
        (400, "BLOB_UPLOAD_INVALID", "blob upload invalid", InvalidContent),
        (400, "PAGINATION_NUMBER_INVALID", "invalid number of results requested",
         InvalidContent),
        (416, "RANGE_INVALID", "invalid content range", InvalidContent),
        # the code decides, whatever the status
        (400, "MANIFEST_UNKNOWN", "manifest unknown", NotFound),
        (503, "TOOMANYREQUESTS", "slow down", TooManyRequests),
    ],
)
def test_spec_codes_map_to_types(status: int, code: str, message: str,
                                 cls: type[RegistryError]) -> None:
    err = decode_error(status, body(code, message), registry="registry.example",
                       repository="team/app", reference="v1")
    assert type(err) is cls
    assert isinstance(err, OperationError)
    assert err.code == code
    assert err.status == status
    assert str(err) == f"registry.example/team/app:v1: {code} {message}"


def test_manifest_unknown_names_repository_and_tag() -> None:
    raw = body("MANIFEST_UNKNOWN", "manifest unknown", {"Tag": "nope"})
    err = decode_error(404, raw, registry="docker.io", repository="library/nginx",
                       reference="nope", action="get manifest")
    assert isinstance(err, NotFound)
    assert str(err) == ("docker.io/library/nginx:nope: get manifest: "
                        "MANIFEST_UNKNOWN manifest unknown")
    assert err.detail == {"Tag": "nope"}
    assert (err.registry, err.repository, err.reference) == ("docker.io", "library/nginx", "nope")


@pytest.mark.parametrize("alg", ["sha256", "sha384", "sha512"])
def test_digest_reference_uses_at(alg: str) -> None:
    ref = f"{alg}:" + "0" * 8
    err = decode_error(404, body("BLOB_UNKNOWN", "blob unknown to registry"),
                       registry="ghcr.io", repository="o/r", reference=ref)
    assert str(err).startswith(f"ghcr.io/o/r@{ref}: BLOB_UNKNOWN")


def test_where_without_registry_or_repository() -> None:
    assert str(decode_error(404, b"", registry="", repository="r", reference="t")) == \
        "r:t: HTTP 404"
    assert str(decode_error(404, b"", registry="reg")) == "reg: HTTP 404"
    assert str(decode_error(404, b"", registry="")) == "HTTP 404"


@pytest.mark.parametrize(
    ("status", "cls", "code"),
    [
        (401, Unauthorized, "UNAUTHORIZED"),
        (403, Denied, "DENIED"),
        (404, NotFound, "NOT_FOUND"),
        (405, Unsupported, "UNSUPPORTED"),
        (429, TooManyRequests, "TOOMANYREQUESTS"),
        (500, TransferError, "TRANSFER_FAILED"),
        (502, TransferError, "TRANSFER_FAILED"),
        (503, TransferError, "TRANSFER_FAILED"),
        (504, TransferError, "TRANSFER_FAILED"),
        (400, RegistryError, "UNKNOWN"),
        (409, RegistryError, "UNKNOWN"),
    ],
)
@pytest.mark.parametrize("raw", [b"", b"<html><body>502 Bad Gateway</body></html>",
                                 b"\xff\xfe not utf-8", b"null", b"[]", b'{"errors": []}',
                                 b'{"errors": "x"}', b'{"errors": ["x"]}', b'{"detail": 1}'])
def test_bodies_without_a_code_fall_back_to_status(status: int, cls: type[RegistryError],
                                                   code: str, raw: bytes) -> None:
    err = decode_error(status, raw, registry="r.example", repository="a/b", reference="t")
    assert type(err) is cls
    assert err.code == code
    assert str(err) == f"r.example/a/b:t: HTTP {status}"
    assert b"html" not in str(err).encode()


def test_5xx_with_a_code_keeps_it() -> None:
    # A server failure whatever code it carries (Distribution sends UNKNOWN with its 500s).
    err = decode_error(500, body("UNKNOWN", "unknown error"), registry="r")
    assert type(err) is TransferError
    assert err.code == "UNKNOWN"
    assert str(err) == "r: UNKNOWN unknown error"


def test_code_without_message_shows_status() -> None:
    err = decode_error(404, json.dumps({"errors": [{"code": "NAME_UNKNOWN"}]}).encode(),
                       registry="r", repository="x")
    assert isinstance(err, NotFound)
    assert str(err) == "r/x: NAME_UNKNOWN (HTTP 404)"


def test_message_without_code() -> None:
    err = decode_error(403, json.dumps({"errors": [{"message": "go away"}]}).encode(),
                       registry="r")
    assert isinstance(err, Denied)
    assert str(err) == "r: go away"


def test_unknown_code_uses_status_class() -> None:
    err = decode_error(403, body("QUOTA_EXCEEDED", "storage quota exceeded"), registry="r")
    assert isinstance(err, Denied)
    assert err.code == "QUOTA_EXCEEDED"
    assert str(err) == "r: QUOTA_EXCEEDED storage quota exceeded"


def test_only_the_first_error_counts() -> None:
    raw = json.dumps({"errors": [{"code": "DENIED", "message": "no"},
                                 {"code": "MANIFEST_UNKNOWN", "message": "gone"}]}).encode()
    err = decode_error(403, raw, registry="r")
    assert isinstance(err, Denied) and "gone" not in str(err)


def test_message_is_one_line_and_bounded() -> None:
    long = "line one\nline two\t" + "x" * 5000
    err = decode_error(400, body("MANIFEST_INVALID", long, detail="y" * 5000), registry="r")
    text = str(err)
    assert "\n" not in text and "\t" not in text
    assert "line one line two" in text
    assert len(text) < 300
    assert text.endswith("…")
    assert "y" * 50 not in text  # detail is kept on the exception, not echoed


def test_long_code_is_not_echoed_whole() -> None:
    raw = body("X" * 5000 + "\nsecond line", "m")
    err = decode_error(400, raw, registry="r")
    assert len(str(err)) < 300
    assert "\n" not in str(err)


@pytest.mark.parametrize("raw", [b"[" * 100_000, b'{"errors":[{"code":' + b"1" * 5000 + b"}]}"])
def test_pathological_json_is_just_a_bad_body(raw: bytes) -> None:
    err = decode_error(502, raw, registry="r")
    assert isinstance(err, TransferError)
    assert str(err) == "r: HTTP 502"


@settings(max_examples=200, deadline=None)
@given(st.integers(100, 599), st.binary(max_size=2000) | st.text(max_size=2000).map(str.encode))
def test_never_more_than_about_200_characters_of_any_body(status: int, raw: bytes) -> None:
    err = decode_error(status, raw, registry="reg", repository="repo", reference="tag")
    assert isinstance(err, RegistryError)
    assert len(str(err)) <= len("reg/repo:tag: ") + 260
    assert "\n" not in str(err)


@settings(max_examples=200, deadline=None)
@given(st.integers(100, 599), st.text(max_size=600), st.text(max_size=600))
def test_never_more_than_about_200_characters_of_any_json_error(status: int, code: str,
                                                                message: str) -> None:
    err = decode_error(status, body(code, message), registry="reg")
    assert len(str(err)) <= len("reg: ") + 260
    assert "\n" not in str(err)


def test_digest_mismatch_is_a_registry_error() -> None:
    err = DigestMismatch("content hashes to sha256:00", registry="r", repository="a",
                         reference=DIGEST)
    assert err.code == "DIGEST_MISMATCH"
    assert str(err) == f"r/a@{DIGEST}: content hashes to sha256:00"


def test_explicit_code_overrides_class_code_only_on_that_instance() -> None:
    err = NotFound("x", code="MANIFEST_UNKNOWN")
    assert err.code == "MANIFEST_UNKNOWN"
    assert NotFound("y").code == "NOT_FOUND"
