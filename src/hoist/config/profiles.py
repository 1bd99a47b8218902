"""Profiles: which are active, and how one is laid over a config document's tree.

Semantics follow Skaffold's ``pkg/skaffold/schema/profiles.go`` (applyProfile,
overlayProfileField): a profile's pipeline sections are laid over the config field by
field, not swapped whole. A mapping section (``build``, ``deploy``, ``manifests``, …) is
merged key by key; a list (``artifacts``, ``rawYaml``, ``test``) or a nested object
(``deploy.kubectl``, ``build.local``) replaces the config's when the profile gives a
non-empty one; a scalar replaces it when not zero/empty. Where Skaffold has a one-of
(``local``/``googleCloudBuild``/``cluster``; the tag policies) the profile's choice
replaces the whole group. Then the profile's ``patches`` apply, in order, to the result.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from hoist.config.patch import PatchError, apply_op
from hoist.config.schema import BUILD_ENVIRONMENTS, TAGGERS, Context
from hoist.config.tree import YMap, YNode, YScalar, YSeq, is_null


@dataclass(frozen=True, slots=True)
class _Replace:
    """The profile's value wins when it is not empty (a Go pointer, slice or scalar)."""


@dataclass(frozen=True, slots=True)
class _Struct:
    """Merged key by key; keys not listed are replaced as _Replace."""

    fields: Mapping[str, _Spec] = field(default_factory=dict)
    one_of: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True, slots=True)
class _OneOf:
    """A struct that is itself a one-of (TagPolicy): the profile's choice replaces it."""

    keys: tuple[str, ...]


_Spec = _Replace | _Struct | _OneOf
R = _Replace()
_HOOKS = _Struct({"before": R, "after": R})
OVERLAY: dict[str, _Spec] = {
    "build": _Struct({"artifacts": R, "insecureRegistries": R, "tagPolicy": _OneOf(TAGGERS),
                      "platforms": R, "hooks": _HOOKS}, one_of=(BUILD_ENVIRONMENTS,)),
    "test": R,
    "manifests": _Struct({"hooks": _HOOKS}),
    "deploy": _Struct({"logs": _Struct({"jsonParse": _Struct()})}),
    "portForward": R,
    "resourceSelector": _Struct(),
    "verify": R,
    "customActions": R,
}


def _empty(node: YNode | None) -> bool:
    """Go's zero value as the overlay sees it: nil, an empty list, "", 0, false."""
    if node is None or is_null(node):
        return True
    if isinstance(node, YSeq):
        return not node.items
    if isinstance(node, YScalar):
        text = node.text or ""
        if node.tag == "str":
            return text == ""
        if node.tag in ("int", "float"):
            try:
                return float(text.replace("_", "")) == 0
            except ValueError:
                return False
        if node.tag == "bool":
            return text.lower() == "false"
    return False


def overlay(base: YNode | None, prof: YNode | None, spec: _Spec) -> YNode | None:
    """``prof`` laid over ``base``; neither is changed (the result shares no nodes)."""
    if isinstance(spec, _Replace):
        if prof is not None and not _empty(prof):
            return prof.clone()
        return base.clone() if base else None
    if isinstance(spec, _OneOf):
        if isinstance(prof, YMap):
            for key in spec.keys:
                chosen = prof.get(key)
                if not is_null(chosen):
                    assert chosen is not None
                    k = prof.key_node(key)
                    return YMap([(YScalar(key, "str", k.line if k else prof.line),
                                  chosen.clone())], prof.line)
        return base.clone() if base else None
    if not isinstance(prof, YMap):
        return base.clone() if base else None
    result = base.clone() if isinstance(base, YMap) else YMap([], prof.line)
    grouped = {k for group in spec.one_of for k in group}
    for group in spec.one_of:
        for key in group:
            chosen = prof.get(key)
            if not is_null(chosen):
                assert chosen is not None
                for other in group:
                    result.remove(other)
                key_node = prof.key_node(key)
                result.put(key, chosen.clone(), key_node.line if key_node else prof.line)
                break
    for k, pv in prof.entries:
        key = k.text or ""
        if key in grouped:
            continue
        sub = spec.fields.get(key, R)
        merged = overlay(result.get(key), pv, sub)
        if merged is None:
            continue
        if isinstance(sub, _Struct) or _empty(pv):
            result.set(key, merged, k.line)  # merged, or the config's kept
        else:
            result.put(key, merged, k.line)  # the profile's value replaced the config's
    return result


# ---- activation ---------------------------------------------------------------------------

def regex_equal(expected: str, actual: str) -> bool:
    """Skaffold's activation match (pkg/skaffold/util RegexEqual): equal, or the regex is
    found in the value; a leading ``!`` negates; an invalid regex matches only itself."""
    if expected.startswith("!"):
        return not _regex_match(expected[1:], actual)
    return _regex_match(expected, actual)


def _regex_match(expected: str, actual: str) -> bool:
    if expected == actual:
        return True
    try:
        return re.search(expected, actual) is not None
    except re.error:
        return False


def env_matches(spec: str, environ: Mapping[str, str]) -> bool | None:
    """``KEY=pattern`` against the environment; None when ``spec`` has no ``=``."""
    key, sep, pattern = spec.partition("=")
    if not sep:
        return None
    value = environ.get(key, "")
    if pattern == "":  # an empty pattern means "unset or empty", not "matches anything"
        return value == ""
    return regex_equal(pattern, value)


@dataclass(frozen=True, slots=True)
class ActivationResult:
    active: bool
    note: str | None = None  # why hoist could not decide (kubeContext)


def condition_active(cond: YMap, command: str, environ: Mapping[str, str], where: str,
                     ctx: Context) -> ActivationResult:
    """One activation entry: all of env, kubeContext and command must hold."""
    env = cond.get("env")
    if isinstance(env, YScalar) and env.text is not None:
        matched = env_matches(env.text, environ)
        if matched is None:
            raise ctx.fail(env.line, f"{where}.env must be KEY=VALUE, not {env.text!r}")
        if not matched:
            return ActivationResult(False)
    cmd = cond.get("command")
    if isinstance(cmd, YScalar) and cmd.text and not regex_equal(cmd.text, command):
        return ActivationResult(False)
    kube = cond.get("kubeContext")
    if isinstance(kube, YScalar) and kube.text:
        return ActivationResult(False, f"{where}.kubeContext: activation by kubeContext is "
                                       "not supported yet; not auto-activated")
    return ActivationResult(True)


def auto_active(profile: YMap, command: str, environ: Mapping[str, str], where: str,
                ctx: Context) -> tuple[bool, list[str]]:
    """Whether a profile activates itself, and notes on conditions hoist cannot decide."""
    conds = profile.get("activation")
    if not isinstance(conds, YSeq) or not conds.items:
        return False, []
    require_all = profile.get("requiresAllActivations")
    every = isinstance(require_all, YScalar) and (require_all.text or "").lower() == "true"
    notes: list[str] = []
    results: list[bool] = []
    for i, cond in enumerate(conds.items):
        if not isinstance(cond, YMap):
            continue
        r = condition_active(cond, command, environ, f"{where}.activation[{i}]", ctx)
        if r.note:
            notes.append(r.note)
        results.append(r.active)
    if not results:
        return False, notes
    return (all(results) if every else any(results)), notes


def select_profiles(available: Sequence[str], auto: Sequence[str],
                    requested: Sequence[str]) -> list[str]:
    """The profiles to apply, in order: auto-activated ones, then ``-p`` ones in the order
    given (``-p -NAME`` deactivates NAME). Names not in ``available`` are skipped: the
    caller checks unknown names across all documents."""
    chosen = list(auto)
    for name in requested:
        if name.startswith("-"):
            chosen = [c for c in chosen if c != name[1:]]
        elif name not in chosen:
            chosen.append(name)
    return [c for c in chosen if c in available]


def split_requested(requested: Sequence[str]) -> list[str]:
    """``-p a,b -p c`` → [a, b, c]."""
    return [p.strip() for item in requested for p in item.split(",") if p.strip()]


# ---- applying -----------------------------------------------------------------------------

def apply_profile(doc: YMap, profile: YMap, where: str, ctx: Context) -> YMap:
    """A new document: ``doc`` with ``profile``'s sections laid over it, then its patches
    applied. ``doc`` must carry no ``profiles`` key (patches cannot reach them)."""
    out = doc.clone()
    for k, pv in profile.entries:
        key = k.text or ""
        spec = OVERLAY.get(key)
        if spec is None:
            continue
        merged = overlay(out.get(key), pv, spec)
        if merged is None:
            continue
        if isinstance(spec, _Struct) or _empty(pv):
            out.set(key, merged, k.line)
        else:
            out.put(key, merged, k.line)
    patches = profile.get("patches")
    for i, patch in enumerate(patches.items if isinstance(patches, YSeq) else []):
        if not isinstance(patch, YMap):
            continue
        op_node, path_node = patch.get("op"), patch.get("path")
        from_node, value = patch.get("from"), patch.get("value")
        op = op_node.text if isinstance(op_node, YScalar) and op_node.text else "replace"
        path = path_node.text if isinstance(path_node, YScalar) else None
        line = path_node.line if path_node is not None else patch.line
        if not path:
            raise ctx.fail(patch.line, f"{where}.patches[{i}] has no 'path'")
        try:
            apply_op(out, op, path,
                     None if is_null(value) and op != "test" else value,
                     from_node.text if isinstance(from_node, YScalar) else None)
        except PatchError as e:
            raise ctx.fail(line, f"{where}.patches[{i}] ({op} {path}): {e}") from None
    return out
