"""sanitize_tag against Skaffold's TestSanitizeTag (pkg/skaffold/tag/git_commit_test.go),
and its properties."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hoist.core.reference import ANCHORED_TAG_RE
from hoist.tag.sanitize import sanitize_tag

TAG = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")


@pytest.mark.parametrize("tag", [
    "abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789-_.", "_v1",
])
def test_valid_tags_are_kept(tag: str) -> None:
    assert sanitize_tag(tag) == tag


@pytest.mark.parametrize(("raw", "expected"), [
    ("v/1", "v_1"),
    ("v%$@!1", "v____1"),
    ("--v1", "__v1"),
    ("..v1", "__v1"),
    ("-.-v1-", "___v1-"),       # only the leading run is replaced
    ("héllo wörld", "h_llo_w_rld"),  # one underscore per character, not per byte
    ("", ""),
])
def test_sanitized_tags(raw: str, expected: str) -> None:
    assert sanitize_tag(raw) == expected


def test_truncated_to_128() -> None:
    assert len(sanitize_tag("0123456789" * 20)) == 128
    assert sanitize_tag("0123456789" * 20) == ("0123456789" * 20)[:128]


@settings(deadline=None)
@given(st.text(min_size=1))
def test_output_is_a_valid_tag(text: str) -> None:
    out = sanitize_tag(text)
    assert TAG.fullmatch(out)
    assert ANCHORED_TAG_RE.fullmatch(out)  # the reference grammar agrees


@settings(deadline=None)
@given(st.text())
def test_idempotent(text: str) -> None:
    once = sanitize_tag(text)
    assert sanitize_tag(once) == once
    assert len(once) == min(len(text), 128)
