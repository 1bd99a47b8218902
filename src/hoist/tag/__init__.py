"""Image tags: Skaffold's tag policies, hoist's default policy, and ``--default-repo``.

* :mod:`hoist.tag.policies`: the taggers, :func:`tagger_from_config` for ``build.tagPolicy``
  and :func:`generate_tag` (the tag plus why a fall-back was used, if it was);
  :mod:`hoist.tag.skaffold` holds Skaffold's own policies;
* :mod:`hoist.tag.git`: what git says about an artifact's context;
* :mod:`hoist.tag.sanitize`: text to a valid tag;
* :mod:`hoist.tag.defaultrepo`: an image moved under a default repository;
* :mod:`hoist.tag.golayout`: Go's time layouts (``dateTime``);
* :mod:`hoist.tag.template`: the Go text/template subset (``envTemplate``,
  ``customTemplate``, build args).

The names below load on first use: a build with the default policy needs neither the
template language nor Go's time layouts.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hoist.tag.defaultrepo import apply_default_repo
    from hoist.tag.git import GitInfo, git_info
    from hoist.tag.golayout import go_format
    from hoist.tag.policies import (
        CustomTemplateTagger,
        DateTimeTagger,
        EnvTemplateTagger,
        GitCommitTagger,
        HoistDefaultTagger,
        InputDigestTagger,
        Sha256Tagger,
        TagContext,
        TagError,
        Tagger,
        TagResult,
        current_user,
        generate_tag,
        tagger_from_config,
    )
    from hoist.tag.sanitize import sanitize_tag
    from hoist.tag.template import render_template

_HOME = {
    "apply_default_repo": "defaultrepo", "GitInfo": "git", "git_info": "git",
    "go_format": "golayout", "sanitize_tag": "sanitize", "render_template": "template",
    **{name: "policies" for name in (
        "CustomTemplateTagger", "DateTimeTagger", "EnvTemplateTagger", "GitCommitTagger",
        "HoistDefaultTagger", "InputDigestTagger", "Sha256Tagger", "TagContext", "TagError",
        "Tagger", "TagResult", "current_user", "generate_tag", "tagger_from_config")},
}

__all__ = [
    "CustomTemplateTagger",
    "DateTimeTagger",
    "EnvTemplateTagger",
    "GitCommitTagger",
    "GitInfo",
    "HoistDefaultTagger",
    "InputDigestTagger",
    "Sha256Tagger",
    "TagContext",
    "TagError",
    "TagResult",
    "Tagger",
    "apply_default_repo",
    "current_user",
    "generate_tag",
    "git_info",
    "go_format",
    "render_template",
    "sanitize_tag",
    "tagger_from_config",
]


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'hoist.tag' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"hoist.tag.{module}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
