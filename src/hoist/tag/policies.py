"""Tag policies: Skaffold's ``build.tagPolicy`` taggers and hoist's own default.

Each policy computes a tag for one artifact from a :class:`TagContext`. The Skaffold
policies (in :mod:`hoist.tag.skaffold`, importable from here as well) produce what
Skaffold's pkg/skaffold/tag taggers produce; the details that are easy to get wrong are
noted where they are implemented.

Failure and fallback, as Skaffold does it: a tagger that cannot compute a tag (gitCommit
outside a git work tree or before the first commit, envTemplate with a variable unset)
fails, and Skaffold's runner (pkg/skaffold/runner/build.go, ``imageTags``) then tags the
artifact with the sha256 tagger instead, that is ``latest``, printing only "Some taggers
failed". ``Tagger.tag`` returns that same final tag; :func:`generate_tag` returns it along
with the reason, so a caller can say why an artifact ended up as ``latest``.

hoist's default (:class:`HoistDefaultTagger`) never falls back: outside git it tags by
developer and content.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from hashlib import sha256
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from hoist.core.reference import ANCHORED_TAG_RE
from hoist.errors import InputError, OperationError
from hoist.tag.git import GitInfo, git_info
from hoist.tag.sanitize import sanitize_tag

if TYPE_CHECKING:
    from hoist.tag.skaffold import CustomTemplateTagger as CustomTemplateTagger
    from hoist.tag.skaffold import DateTimeTagger as DateTimeTagger
    from hoist.tag.skaffold import EnvTemplateTagger as EnvTemplateTagger
    from hoist.tag.skaffold import GitCommitTagger as GitCommitTagger
    from hoist.tag.skaffold import InputDigestTagger as InputDigestTagger
    from hoist.tag.skaffold import Sha256Tagger as Sha256Tagger

# Skaffold's own policies live in hoist.tag.skaffold, loaded when a config names one (or
# an importer asks for one of them here): hoist's default needs none of them.
_SKAFFOLD = frozenset({"CustomTemplateTagger", "DateTimeTagger", "EnvTemplateTagger",
                       "GitCommitTagger", "InputDigestTagger", "Sha256Tagger"})

FALLBACK_TAG = "latest"  # the sha256 tagger's tag, Skaffold's fall-back
DEFAULT_DATETIME_FORMAT = "2006-01-02_15-04-05.999_MST"  # date_time.go tagTime
DEFAULT_TIMEZONE = "Local"
WHERE = "build.tagPolicy"


class TagError(OperationError):
    """A policy could not compute a tag (Skaffold's tagger error, before its fall-back)."""


@dataclass(frozen=True, slots=True)
class TagContext:
    """What a tag policy may look at for one artifact."""

    image: str                        # the artifact's repository (no tag), after default-repo
    context: Path                     # the artifact's context directory
    input_digest: Callable[[], str]   # sha256 hex of the artifact's inputs; call when needed
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    now: datetime = field(default_factory=lambda: datetime.now().astimezone())
    user: str = ""                    # developer name; see current_user()
    # git_info(context) when the caller has it already (a build records it in the image's
    # origin): the policies then ask git no second time. None: they ask.
    git: Callable[[], GitInfo | None] | None = field(default=None, compare=False, repr=False)
    # Files the image takes from the context that git does not track (ignored or new):
    # hoist's default tag then treats the tree as dirty, since no commit holds them.
    untracked_inputs: Callable[[], bool] | None = field(default=None, compare=False,
                                                        repr=False)

    def git_info(self) -> GitInfo | None:
        return self.git() if self.git is not None else git_info(self.context)


@runtime_checkable
class Tagger(Protocol):
    def tag(self, ctx: TagContext) -> str: ...

    def describe(self) -> str: ...


@dataclass(frozen=True, slots=True)
class TagResult:
    """The tag a policy gave, and why the fall-back was used if it was."""

    tag: str
    policy: str            # the tagger's describe()
    fallback: str | None   # why the fall-back tag was used instead of the policy's, if it was


def current_user(env: Mapping[str, str] | None = None) -> str:
    """The developer's name: ``USER``, then ``LOGNAME``, then the password database."""
    env = os.environ if env is None else env
    for key in ("USER", "LOGNAME"):
        if env.get(key):
            return env[key]
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError, OSError):
        return ""


def digest_hex(ctx: TagContext) -> str:
    value = ctx.input_digest()
    return value.split(":", 1)[1] if value.startswith("sha256:") else value


def generate_tag(tagger: Tagger, ctx: TagContext) -> TagResult:
    """The tag ``tagger`` gives for ``ctx``, with Skaffold's fall-back to ``latest`` when it
    fails. An empty tag means an image named without a tag, i.e. ``latest``. A tag that is
    not a valid image tag (a template producing ``a b``) is an InputError."""
    policy = tagger.describe()
    generate = getattr(tagger, "generate", None)
    try:
        tag = generate(ctx) if callable(generate) else tagger.tag(ctx)
    except TagError as e:
        return TagResult(FALLBACK_TAG, policy, str(e))
    if not isinstance(tag, str):
        raise TypeError(f"{policy} returned {tag!r}, not a string")
    if tag == "":
        return TagResult(FALLBACK_TAG, policy,
                         "the policy gave an empty tag: the image is named without one")
    if not ANCHORED_TAG_RE.fullmatch(tag):
        raise InputError(f"{WHERE}: {policy} gave {tag!r}, which is not a valid image tag "
                         "(up to 128 of [A-Za-z0-9_.-], not starting with '.' or '-')")
    return TagResult(tag, policy, None)


class Policy(ABC):
    """A tag policy: ``generate`` is the policy's own computation (raises TagError);
    ``tag`` adds the fall-back and validation of :func:`generate_tag`."""

    __slots__ = ()

    @abstractmethod
    def generate(self, ctx: TagContext) -> str: ...

    @abstractmethod
    def describe(self) -> str: ...

    def tag(self, ctx: TagContext) -> str:
        return generate_tag(self, ctx).tag



# -- hoist's default --------------------------------------------------------------------------

_PLAIN_USER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}")


def user_label(user: str) -> str:
    """The developer's name as a tag fragment that keeps names apart: a plain short name
    is used as is; anything that sanitizing would change or cut (so that two names could
    meet) is shortened and followed by a hash of the full name."""
    if _PLAIN_USER.fullmatch(user):
        return user
    head = sanitize_tag(user)[:16] or "user"
    return f"{head}-{sha256(user.encode('utf-8', 'surrogatepass')).hexdigest()[:10]}"


def hoist_default_tag(info: GitInfo | None, user: str, digest_hex: str) -> str:
    """hoist's default tag from the git facts, the developer and the input digest (unused
    for a clean tree): see :class:`HoistDefaultTagger`."""
    if info is not None and not info.dirty:
        return sanitize_tag(info.abbrev_commit)
    label = user_label(user)
    if info is None:
        return sanitize_tag(f"{label}-{digest_hex[:12]}")
    return sanitize_tag(f"{info.abbrev_commit}-dirty-{label}-{digest_hex[:8]}")


@dataclass(frozen=True, slots=True)
class HoistDefaultTagger(Policy):
    """hoist's default: a tag that differs whenever the content or the developer differs.

    * clean git tree under the context: ``<abbrev commit>`` (same commit, same tag);
    * dirty tree: ``<abbrev commit>-dirty-<user>-<8 hex of the input digest>``, so two
      developers, or two different edits on one commit, never share a tag (Skaffold gives
      both ``<commit>-dirty``: issues #7822, #4771);
    * no git (or no commit yet): ``<user>-<12 hex of the input digest>``.

    The user part is :func:`user_label`; the result is always a valid tag of at most 88
    characters, so nothing is cut off the digest.
    """

    def describe(self) -> str:
        return "hoist"

    def generate(self, ctx: TagContext) -> str:
        info = ctx.git_info()
        if info is not None and not info.dirty and ctx.untracked_inputs is not None and \
                ctx.untracked_inputs():
            info = dataclasses.replace(info, dirty=True)
        clean = info is not None and not info.dirty
        return hoist_default_tag(info, ctx.user, "" if clean else digest_hex(ctx))


# -- from configuration -----------------------------------------------------------------------


def tagger_from_config(policy: Mapping[str, Any] | None) -> Tagger:
    """The tagger for a ``build.tagPolicy`` mapping as loaded from YAML. None or ``{}``
    gives hoist's default. Errors are InputErrors starting with ``build.tagPolicy``."""
    if policy is None:
        return HoistDefaultTagger()
    from hoist.tag.skaffold import tagger_from_mapping

    return tagger_from_mapping(policy)


def __getattr__(name: str) -> Any:
    if name not in _SKAFFOLD:
        raise AttributeError(f"module 'hoist.tag.policies' has no attribute {name!r}")
    value = getattr(importlib.import_module("hoist.tag.skaffold"), name)
    globals()[name] = value  # later look-ups skip this function
    return value
