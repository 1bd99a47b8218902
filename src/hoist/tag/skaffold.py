"""Skaffold's tag policies: gitCommit, sha256, inputDigest, dateTime, envTemplate and
customTemplate, and reading ``build.tagPolicy`` into one of them.

They produce what Skaffold's pkg/skaffold/tag taggers produce; the details that are easy
to get wrong are noted where they are implemented. :mod:`hoist.tag.policies` holds the
shared part (contexts, results, the fall-back) and hoist's own default, and gives these
names too; this module loads only for a config that sets ``build.tagPolicy``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hoist.errors import InputError
from hoist.tag.git import current_branch, git_executable, is_dirty
from hoist.tag.policies import (
    DEFAULT_DATETIME_FORMAT,
    DEFAULT_TIMEZONE,
    FALLBACK_TAG,
    WHERE,
    HoistDefaultTagger,
    Policy,
    TagContext,
    TagError,
    Tagger,
    digest_hex,
)
from hoist.tag.sanitize import sanitize_tag

if TYPE_CHECKING:
    # The template language, Go's time layouts and the zone database load with the
    # policies that use them, when they are used.
    from hoist.tag.template import Template


# -- gitCommit --------------------------------------------------------------------------------

# Skaffold matches variants case-insensitively (strings.ToLower in NewGitCommit). Branches
# is in Skaffold's v2 test table (git_commit_test.go) though not in its schema comment.
_VARIANTS = {v.lower(): v for v in
             ("Tags", "CommitSha", "AbbrevCommitSha", "TreeSha", "AbbrevTreeSha", "Branches")}


def _no_commit(path: Path) -> TagError:
    if git_executable() is None:
        return TagError(f"unable to find git commit: git is not installed (Debian package "
                        f"git), so {path} cannot be described")
    return TagError(f"unable to find git commit: {path} is not in a git work tree with a "
                    "commit")


@dataclass(frozen=True, slots=True)
class GitCommitTagger(Policy):
    """Skaffold's ``gitCommit``: the describe output, a commit or a tree sha of the context
    (sanitized), behind ``prefix`` (not sanitized, as upstream), with ``-dirty`` appended
    when anything under the context differs from HEAD unless ``ignore_changes``."""

    variant: str = "Tags"
    prefix: str = ""
    ignore_changes: bool = False

    def __post_init__(self) -> None:
        canonical = _VARIANTS.get((self.variant or "tags").lower())
        if canonical is None:
            raise InputError(f'{WHERE}.gitCommit.variant: "{self.variant}" is not a valid git '
                             f"tagger variant (one of {', '.join(_VARIANTS.values())})")
        object.__setattr__(self, "variant", canonical)

    def describe(self) -> str:
        extra = (f", prefix={self.prefix!r}" if self.prefix else "") + \
            (", ignoreChanges=true" if self.ignore_changes else "")
        return f"gitCommit(variant={self.variant}{extra})"

    def generate(self, ctx: TagContext) -> str:
        if self.variant == "Branches":
            branch = current_branch(ctx.context)
            if branch is None:
                raise TagError(f"unable to find git branch: {ctx.context} is not on a branch "
                               "of a git work tree")
            ref, dirty = branch, bool(is_dirty(ctx.context))
        else:
            info = ctx.git_info()
            if info is None:
                raise _no_commit(ctx.context)
            found = {"Tags": info.describe, "CommitSha": info.commit,
                     "AbbrevCommitSha": info.abbrev_commit, "TreeSha": info.path_tree,
                     "AbbrevTreeSha": info.abbrev_path_tree}[self.variant]
            if found is None:
                raise TagError(f"unable to find git commit: {ctx.context} is not in the tree "
                               "of HEAD")
            ref, dirty = found, info.dirty
        ref = sanitize_tag(ref)
        if dirty and not self.ignore_changes:
            return f"{self.prefix}{ref}-dirty"
        return self.prefix + ref


# -- sha256, inputDigest ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sha256Tagger(Policy):
    """Skaffold's ``sha256`` (ChecksumTagger): ``latest``; the digest added at deploy time
    is what identifies the image."""

    def describe(self) -> str:
        return "sha256"

    def generate(self, ctx: TagContext) -> str:
        return FALLBACK_TAG


@dataclass(frozen=True, slots=True)
class InputDigestTagger(Policy):
    """Skaffold's ``inputDigest``: the full sha256 hex of the artifact's inputs (Skaffold's
    input_digest.go hex-encodes the whole sha256 sum, 64 characters)."""

    def describe(self) -> str:
        return "inputDigest"

    def generate(self, ctx: TagContext) -> str:
        digest = digest_hex(ctx)
        if not digest:
            raise TagError(f"no input digest for {ctx.image}")
        return digest


# -- dateTime ---------------------------------------------------------------------------------


def _location(name: str) -> tzinfo | None:
    """Go's time.LoadLocation: "" and "UTC" are UTC, "Local" the system's zone (None here),
    anything else an IANA zone name."""
    if name in ("", "UTC"):
        return UTC
    if name == "Local":
        return None
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InputError(f"{WHERE}.dateTime.timezone: bad timezone provided: {name!r} (an "
                         "IANA zone name such as Europe/Berlin, UTC or Local)") from None


@dataclass(frozen=True, slots=True)
class DateTimeTagger(Policy):
    """Skaffold's ``dateTime``: the build time formatted by a Go layout, in a time zone.
    An unknown zone is an InputError here, when the policy is built (Skaffold reports it
    at tagging time and falls back to ``latest``)."""

    format: str = DEFAULT_DATETIME_FORMAT
    timezone: str = DEFAULT_TIMEZONE
    _location: tzinfo | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        # Skaffold treats an empty format or zone as the default one.
        object.__setattr__(self, "format", self.format or DEFAULT_DATETIME_FORMAT)
        object.__setattr__(self, "timezone", self.timezone or DEFAULT_TIMEZONE)
        object.__setattr__(self, "_location", _location(self.timezone))

    def describe(self) -> str:
        return f"dateTime(format={self.format!r}, timezone={self.timezone})"

    def generate(self, ctx: TagContext) -> str:
        from hoist.tag.golayout import go_format

        moment = ctx.now.astimezone(self._location)
        return go_format(moment, self.format)


# -- envTemplate ------------------------------------------------------------------------------


def _parse(template: str, where: str, funcs: frozenset[str] = frozenset()) -> Template:
    from hoist.tag.template import TemplateError, parse_template

    if not isinstance(template, str):
        raise InputError(f"{where}: must be a string, got {type(template).__name__}")
    try:
        return parse_template(template, funcs)
    except TemplateError as e:
        raise InputError(f"{where}: {e}") from None


@dataclass(frozen=True, slots=True)
class EnvTemplateTagger(Policy):
    """Skaffold's ``envTemplate``: a Go template over the environment plus ``IMAGE_NAME``
    (the artifact's image, overriding an environment variable of that name). A variable
    that is not set prints Go's ``<no value>``, which Skaffold then rejects: "environment
    variables missing for template keys" (env_template.go), and the runner falls back."""

    template: str
    _parsed: Template = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        from hoist.tag.template import ENV_FUNCTIONS

        object.__setattr__(self, "_parsed",
                           _parse(self.template, f"{WHERE}.envTemplate.template", ENV_FUNCTIONS))

    def describe(self) -> str:
        return f"envTemplate(template={self.template!r})"

    def generate(self, ctx: TagContext) -> str:
        from hoist.tag.template import NO_VALUE

        data = {**ctx.env, "IMAGE_NAME": ctx.image}
        out = self._parsed.execute(data, "invalid")
        if NO_VALUE in out:
            unset = [f for f in self._parsed.fields if f not in data]
            raise TagError("environment variables missing for template keys" +
                           (f": {', '.join(unset)}" if unset else ""))
        return out


# -- customTemplate ---------------------------------------------------------------------------


def _builtin_git(ctx: TagContext) -> str:
    return GitCommitTagger().generate(ctx)


def _builtin_date(ctx: TagContext) -> str:
    return DateTimeTagger().generate(ctx)


def _builtin_sha(ctx: TagContext) -> str:
    return FALLBACK_TAG


def _builtin_input_digest(ctx: TagContext) -> str:
    return InputDigestTagger().generate(ctx)


# GIT, DATE, SHA and INPUT_DIGEST are the default gitCommit, dateTime, sha256 and inputDigest
# taggers (docs-v2 taggers.md). Upstream ignores their errors (custom_template.go: "tag, _ :=
# v.GenerateTag"), so a failing built-in reads as "".
_BUILTINS: dict[str, Callable[[TagContext], str]] = {
    "GIT": _builtin_git, "DATE": _builtin_date, "SHA": _builtin_sha,
    "INPUT_DIGEST": _builtin_input_digest,
}


def _run_component(tagger: Tagger, ctx: TagContext) -> str:
    generate = getattr(tagger, "generate", None)
    return generate(ctx) if callable(generate) else tagger.tag(ctx)


@dataclass(frozen=True, slots=True)
class CustomTemplateTagger(Policy):
    """Skaffold's ``customTemplate``: a Go template over named component taggers plus the
    built-ins GIT, DATE, SHA and INPUT_DIGEST (a component of the same name wins). Only
    the components the template names are evaluated; a failing component fails the tag;
    a name that is neither a component nor a built-in is an error (``missingkey=error``)."""

    template: str
    components: Mapping[str, Tagger] = field(default_factory=dict)
    _parsed: Template = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_parsed",
                           _parse(self.template, f"{WHERE}.customTemplate.template"))
        object.__setattr__(self, "components", dict(self.components))
        for name, component in self.components.items():
            if isinstance(component, CustomTemplateTagger):
                raise InputError(f"{WHERE}.customTemplate.components: nested customTemplate "
                                 f"components are not supported ({name})")

    def describe(self) -> str:
        parts = ", ".join(f"{k}={v.describe()}" for k, v in self.components.items())
        return f"customTemplate(template={self.template!r}" + \
            (f", components=[{parts}])" if parts else ")")

    def generate(self, ctx: TagContext) -> str:
        from hoist.tag.template import TemplateExecError

        values: dict[str, str] = {}
        for name in self._parsed.fields:
            component = self.components.get(name)
            if component is not None:
                try:
                    values[name] = _run_component(component, ctx)
                except TagError as e:
                    raise TagError(f"evaluating custom template component {name}: {e}") from e
            elif name in _BUILTINS:
                try:
                    values[name] = _BUILTINS[name](ctx)
                except TagError:
                    values[name] = ""
        try:
            return self._parsed.execute(values, "error")
        except TemplateExecError as e:
            raise TagError(f"executing template: {e}") from e



# -- from configuration -----------------------------------------------------------------------


def _body(value: Any, where: str, allowed: frozenset[str]) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InputError(f"{where}: must be a mapping, got {type(value).__name__}")
    for key in value:
        if key not in allowed:
            hint = f" (expected {', '.join(sorted(allowed))})" if allowed else \
                " (this policy takes no options)"
            raise InputError(f"{where}: unknown key {key!r}{hint}")
    return value


def _string(body: Mapping[str, Any], key: str, where: str, *, required: bool = False) -> str:
    value = body.get(key)
    if value is None:
        if required:
            raise InputError(f"{where}: {key} is required")
        return ""
    if not isinstance(value, str):
        raise InputError(f"{where}.{key}: must be a string, got {type(value).__name__}")
    return value


def _git_from(value: Any, where: str) -> Tagger:
    body = _body(value, where, frozenset({"variant", "prefix", "ignoreChanges"}))
    ignore = body.get("ignoreChanges", False)
    if ignore is None:
        ignore = False
    if not isinstance(ignore, bool):
        raise InputError(f"{where}.ignoreChanges: must be true or false, got {ignore!r}")
    variant = _string(body, "variant", where) or "Tags"
    if variant.lower() not in _VARIANTS:
        raise InputError(f'{where}.variant: "{variant}" is not a valid git tagger variant '
                         f"(one of {', '.join(_VARIANTS.values())})")
    return GitCommitTagger(variant, _string(body, "prefix", where), ignore)


def _sha_from(value: Any, where: str) -> Tagger:
    _body(value, where, frozenset())
    return Sha256Tagger()


def _digest_from(value: Any, where: str) -> Tagger:
    _body(value, where, frozenset())
    return InputDigestTagger()


def _hoist_from(value: Any, where: str) -> Tagger:
    _body(value, where, frozenset())
    return HoistDefaultTagger()


def _date_from(value: Any, where: str) -> Tagger:
    body = _body(value, where, frozenset({"format", "timezone"}))
    fmt, zone = _string(body, "format", where), _string(body, "timezone", where)
    try:
        return DateTimeTagger(fmt, zone)
    except InputError as e:
        raise InputError(str(e).replace(f"{WHERE}.dateTime", where, 1)) from None


def _env_from(value: Any, where: str) -> Tagger:
    body = _body(value, where, frozenset({"template"}))
    template = _string(body, "template", where, required=True)
    try:
        return EnvTemplateTagger(template)
    except InputError as e:
        raise InputError(str(e).replace(f"{WHERE}.envTemplate", where, 1)) from None


def _custom_from(value: Any, where: str) -> Tagger:
    body = _body(value, where, frozenset({"template", "components"}))
    template = _string(body, "template", where, required=True)
    raw = body.get("components")
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise InputError(f"{where}.components: must be a list, got {type(raw).__name__}")
    components: dict[str, Tagger] = {}
    for i, item in enumerate(raw):
        at = f"{where}.components[{i}]"
        if not isinstance(item, Mapping):
            raise InputError(f"{at}: must be a mapping, got {type(item).__name__}")
        name = item.get("name")
        if not isinstance(name, str) or not name:
            raise InputError(f"{at}: name is required")
        kinds = [k for k in item if k != "name"]
        for k in kinds:
            if k not in _FROM_CONFIG:
                raise InputError(f"{at}: unknown tag policy {k!r} (expected one of "
                                 f"{', '.join(_FROM_CONFIG)})")
        if len(kinds) != 1:
            raise InputError(f"{at}: a component names exactly one tag policy, found "
                             f"{', '.join(kinds) or 'none'}")
        if kinds[0] == "customTemplate":
            raise InputError(f"{at}: nested customTemplate components are not supported "
                             f"({name})")
        if name in components:
            raise InputError(f"{at}: multiple components with name {name}")
        components[name] = _FROM_CONFIG[kinds[0]](item[kinds[0]], f"{at}.{kinds[0]}")
    try:
        return CustomTemplateTagger(template, components)
    except InputError as e:
        raise InputError(str(e).replace(f"{WHERE}.customTemplate", where, 1)) from None


_FROM_CONFIG: dict[str, Callable[[Any, str], Tagger]] = {
    "gitCommit": _git_from,
    "sha256": _sha_from,
    "dateTime": _date_from,
    "envTemplate": _env_from,
    "customTemplate": _custom_from,
    "inputDigest": _digest_from,
    "hoist": _hoist_from,  # hoist's extension: its default, spelled out
}



def tagger_from_mapping(policy: Any) -> Tagger:
    """:func:`hoist.tag.policies.tagger_from_config` for a policy that is not None."""
    if not isinstance(policy, Mapping):
        raise InputError(f"{WHERE}: must be a mapping, got {type(policy).__name__}")
    kinds = list(policy)
    for kind in kinds:
        if kind not in _FROM_CONFIG:
            raise InputError(f"{WHERE}: unknown tag policy {kind!r} (expected one of "
                             f"{', '.join(_FROM_CONFIG)})")
    if not kinds:
        return HoistDefaultTagger()
    if len(kinds) > 1:
        raise InputError(f"{WHERE}: only one tag policy may be set, found {', '.join(kinds)}")
    return _FROM_CONFIG[kinds[0]](policy[kinds[0]], f"{WHERE}.{kinds[0]}")
