"""Image tags: Skaffold's tag policies, hoist's default policy, and ``--default-repo``.

* :mod:`hoist.tag.policies`: the taggers, :func:`tagger_from_config` for ``build.tagPolicy``
  and :func:`generate_tag` (the tag plus why a fall-back was used, if it was);
* :mod:`hoist.tag.git`: what git says about an artifact's context;
* :mod:`hoist.tag.sanitize`: text to a valid tag;
* :mod:`hoist.tag.defaultrepo`: an image moved under a default repository;
* :mod:`hoist.tag.golayout`: Go's time layouts (``dateTime``);
* :mod:`hoist.tag.template`: the Go text/template subset (``envTemplate``,
  ``customTemplate``, build args).
"""

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
