"""Move an image under a default repository (``--default-repo``) the way Skaffold does.

Upstream: ``SubstituteDefaultRepoIntoImage`` / ``replace`` in Skaffold's
pkg/skaffold/docker/default_repo.go, documented in docs-v2 "Image Repository Handling":

* an image that already starts with the default repo (a plain string prefix test) is left
  alone;
* registries whose repositories may be nested (GCR ``gcr.io`` and Artifact Registry
  ``*-docker.pkg.dev``, recognised from the default repo's ``domain/project`` prefix) get
  the image appended as is, or, when image and default repo share that ``domain/project``
  prefix, the rest of the image after the prefix;
* for any other registry ``/ . _ : @`` of the image become ``_`` and the result is appended
  as one path component (``repo1/example`` and ``repo2/example`` do not collide);
* the name is cut to 255 characters; a tag or digest the image carried is kept after it.

Two deliberate differences, both only where Skaffold would hand an invalid name to the
registry: separators left dangling at the cut are trimmed, and a result that is still not
a valid repository name is an :class:`~hoist.errors.InputError` here instead of a failed
push later.
"""

from __future__ import annotations

import re

from hoist.core.reference import ANCHORED_DOMAIN_RE, ReferenceError, parse, with_name
from hoist.errors import InputError

MAX_NAME_LENGTH = 255

_ESCAPE = re.compile(r"[/._:@]")
# A GCP project id as the Cloud console accepts it (default_repo.go's gcpProjectIDRegex).
_GCP_PROJECT = r"[a-z][a-z0-9-]{4,28}[a-z0-9]"
# ``domain/project`` at the start of a GCR or Artifact Registry repository; like Go's
# FindString this is a leftmost-first prefix match, the trailing slash taken when present.
_PREFIX = re.compile(rf"(?:{ANCHORED_DOMAIN_RE.pattern})/{_GCP_PROJECT}/?")


def _prefix(name: str) -> str:
    m = _PREFIX.match(name)
    return m.group(0) if m else ""


def supports_multi_level(default_repo: str) -> bool:
    """Whether the default repo's registry nests repositories (``registrySupportsMultiLevelRepos``:
    its ``domain/project`` prefix names ``gcr.io`` or ``-docker.pkg.dev``)."""
    prefix = _prefix(default_repo)
    return "gcr.io" in prefix or "-docker.pkg.dev" in prefix


def _truncate(name: str) -> str:
    if len(name) <= MAX_NAME_LENGTH:
        return name
    # Cutting can leave a separator (or half of "__") at the end, which no repository name
    # may end with; Skaffold keeps it and the push fails.
    return name[:MAX_NAME_LENGTH].rstrip("/._-")


def replace_repository(default_repo: str, name: str, *, multi_level: bool | None = None) -> str:
    """Skaffold's ``replace``: the repository ``name`` (no tag, no digest) moved under
    ``default_repo``. ``multi_level`` overrides the registry-based guess of whether the
    default repo nests repositories."""
    if name.startswith(default_repo):
        return name
    nested = supports_multi_level(default_repo) if multi_level is None else multi_level
    if nested:
        original_prefix, default_prefix = _prefix(name), _prefix(default_repo)
        if original_prefix and original_prefix == default_prefix:
            return _truncate(f"{default_repo}/{name[len(original_prefix):]}")
        return _truncate(f"{default_repo}/{name}")
    return _truncate(f"{default_repo}/{_ESCAPE.sub('_', name)}")


def apply_default_repo(default_repo: str | None, image: str, *,
                       multi_level: bool | None = None) -> str:
    """``image`` (``name[:tag][@digest]``, as written, not normalized) under
    ``default_repo``; unchanged when there is no default repo. Raises InputError when the
    image does not parse or the result is not a valid repository name."""
    if not default_repo:
        return image
    try:
        ref = parse(image)
    except ReferenceError as e:
        raise InputError(f"image {image!r}: {e}") from None
    moved = replace_repository(default_repo, ref.name, multi_level=multi_level)
    try:
        with_name(moved)
    except ReferenceError as e:
        raise InputError(
            f"default repo {default_repo!r} applied to {image!r} gives {moved!r}: {e}"
        ) from None
    return moved + (f":{ref.tag}" if ref.tag else "") + (f"@{ref.digest}" if ref.digest else "")
