"""Turn arbitrary text (a git describe output, a branch name) into a valid image tag.

The rules are Skaffold's ``sanitizeTag`` (pkg/skaffold/tag/git_commit.go): every character
outside ``[a-zA-Z0-9-._]`` becomes ``_``, each leading ``-`` or ``.`` becomes ``_`` (a tag
must start with a word character), and the result is cut to 128 characters, the longest
tag distribution/reference accepts.
"""

from __future__ import annotations

import re

MAX_TAG_LENGTH = 128

# One replacement per character (Go's regexp works on runes, Python's re on code points:
# the same thing for any str), so the length is preserved before truncation.
_DISALLOWED = re.compile(r"[^a-zA-Z0-9\-._]")
_LEADING = re.compile(r"[-.]+")


def sanitize_tag(text: str) -> str:
    """``text`` as a valid tag; ``""`` stays ``""``. Idempotent."""
    sanitized = _DISALLOWED.sub("_", text)
    lead = _LEADING.match(sanitized)
    if lead is not None:
        sanitized = "_" * lead.end() + sanitized[lead.end():]
    return sanitized[:MAX_TAG_LENGTH]
