"""Rewriting images and injecting pull policies while leaving every other byte alone.

Edits are character spans of the original text: a rewritten image replaces exactly its
scalar (in the quoting style it was written in); an injected policy is a new line after the
image line, at the image key's indentation (or a new pair in a flow mapping). Comments,
key order, quoting, indentation and document separators are never touched, so rendering
with nothing to rewrite is the identity.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import yaml

from hoist.core.policy import PullPolicy
from hoist.core.reference import repository_name
from hoist.manifests.source import SourceFile
from hoist.manifests.workloads import ImageSite, Resource, get, iter_image_sites

_PLAIN_SAFE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_./:@+-]*")


@dataclass(frozen=True, slots=True)
class ImageRule:
    """Rewrite containers whose image's repository is ``repository`` (tag and digest
    ignored) to ``new_image``; inject ``policy`` where none is declared (everywhere with
    ``override``)."""

    repository: str
    new_image: str
    policy: PullPolicy | None = None
    override: bool = False
    artifact: str = ""
    # where the built image came from (git commit, dirty, tag, digest…): recorded in the
    # resource's ORIGIN_ANNOTATION when set, as kbld records its kbld.k14s.io/images
    origin: Mapping[str, object] | None = None


# One annotation per rewritten resource: a JSON list, one entry per rewritten image.
ORIGIN_ANNOTATION = "hoist.dev/images"


@dataclass(frozen=True, slots=True)
class Edit:
    start: int
    end: int
    text: str


@dataclass(frozen=True, slots=True)
class Change:
    site: ImageSite
    old_image: str
    new_image: str
    policy_written: PullPolicy | None
    policy_replaced: bool


@dataclass(slots=True)
class RenderedFile:
    source: SourceFile
    text: str
    changes: list[Change] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.text != self.source.text

    def encode(self) -> bytes:
        return self.source.encode(self.text)


def match_rule(image: str, rules: Mapping[str, ImageRule]) -> ImageRule | None:
    """The rule for an image as written, by normalized repository (Skaffold matches the
    repository and ignores tag and digest)."""
    return rules.get(repository_name(image))


def rules_by_repository(rules: Iterable[ImageRule]) -> dict[str, ImageRule]:
    return {repository_name(r.repository): r for r in rules}


def format_scalar(value: str, like: yaml.Node, written: str) -> str:
    """``value`` as a YAML scalar in the style ``like`` (whose text is ``written``) was
    written in."""
    style = getattr(like, "style", None)
    if style == "'":
        return "'" + value.replace("'", "''") + "'"
    if style == '"':
        return json.dumps(value, ensure_ascii=False)
    if style in ("|", ">"):
        trail = written[len(written.rstrip("\r\n")) :]
        # The header line's comment (`image: >- # pinned`) is kept too.
        header = re.match(r"[|>][0-9+-]*([ \t]+#[^\r\n]*)?", written)
        comment = (header.group(1) or "") if header else ""
        return json.dumps(value, ensure_ascii=False) + comment + trail
    if _PLAIN_SAFE.fullmatch(value) and yaml.safe_load(value) == value:
        return value
    return json.dumps(value, ensure_ascii=False)


def _newline_of(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"


# A node's start mark is at its properties (``&anchor``, ``!!tag``), not at its text.
_PROPERTIES = re.compile(r"(?:[&!]\S*\s+(?:#[^\n]*\n\s*)*)*")


def _value_span(site: ImageSite, node: yaml.Node, text: str) -> tuple[int, int]:
    """The span of a scalar's own text: an anchor or tag before it is kept, or the file's
    aliases of that anchor would dangle after the rewrite."""
    start, end = site.pod.resource.doc.span(node)
    m = _PROPERTIES.match(text, start, end)
    return (m.end() if m else start), end


def _written_here(key: yaml.Node, value: yaml.Node) -> bool:
    """Whether ``value`` is written after ``key`` rather than reached through an alias
    (an alias's node is its anchor's, always written earlier in the document)."""
    return bool(value.start_mark.index > key.start_mark.index)


# ``*name`` after a key's ``:`` (comments and line breaks allowed in between).
_ALIAS_VALUE = re.compile(r"\s*:(?:\s|#[^\n]*)*\*[^\s,\[\]{}]+")


def _policy_edit(site: ImageSite, policy: PullPolicy, text: str) -> Edit | None:
    """A new ``imagePullPolicy`` pair placed right after the image pair. When the image
    comes from a ``<<:`` merge key, after the last scalar pair written in the mapping;
    None when there is none."""
    assert site.image_node is not None
    owner, value_node = site.owner, site.image_node
    doc = site.pod.resource.doc
    # Was `next(k for k, v in owner.value if v is value_node)` and the value node's span:
    # StopIteration for an image from a merge key, and for `image: *alias` the node's span
    # is its anchor's, in another container, which then got the policy (twice when two
    # aliases matched).
    end = -1
    key_node: yaml.Node | None = None
    for k, v in owner.value:
        if v is value_node and isinstance(k, yaml.ScalarNode) and k.value == site.image_key:
            key_node = k
    if key_node is not None:
        if _written_here(key_node, value_node):
            end = doc.span(value_node)[1]
        else:  # `image: *alias`: the pair ends where the alias does
            m = _ALIAS_VALUE.match(text, doc.span(key_node)[1])
            end = m.end() if m else -1
    if end < 0:
        written = [(k, v) for k, v in owner.value
                   if isinstance(v, yaml.ScalarNode) and _written_here(k, v)]
        if not written:
            return None
        key_node, value_node = written[-1]
        end = doc.span(value_node)[1]
    assert key_node is not None
    json_style = getattr(key_node, "style", None) == '"'
    key = f'"{site.policy_key}"' if json_style else site.policy_key
    val = f'"{policy.value}"' if json_style else policy.value
    if owner.flow_style:
        if key_node.start_mark.line != owner.start_mark.line:
            # A multi-line flow mapping (pretty-printed JSON): a new line, same indent.
            indent = " " * key_node.start_mark.column
            return Edit(end, end, f",{_newline_of(text)}{indent}{key}: {val}")
        return Edit(end, end, f", {key}: {val}")
    nl = _newline_of(text)
    line = " " * key_node.start_mark.column + f"{key}: {val}"
    if end > 0 and text[end - 1] == "\n":  # a block scalar's span already ends the line
        return Edit(end, end, line + nl)
    eol = text.find("\n", end)
    if eol == -1:
        return Edit(len(text), len(text), nl + line)
    return Edit(eol + 1, eol + 1, line + nl)


def _origin_edit(resource: Resource, entries: list[Mapping[str, object]], text: str
                 ) -> Edit | None:
    """The origin annotation on the resource's metadata: its value replaced when present,
    else a new first pair of ``metadata.annotations`` (created when absent), at the
    indentation of the pairs around it. Flow-style metadata (JSON) is left alone."""
    value = "'" + json.dumps(entries, separators=(",", ":")).replace("'", "''") + "'"
    meta = get(resource.node, "metadata")
    if not isinstance(meta, yaml.MappingNode) or meta.flow_style or not meta.value:
        return None
    doc = resource.doc
    nl = _newline_of(text)
    annotations = get(meta, "annotations")
    if isinstance(annotations, yaml.MappingNode) and annotations.value:
        if annotations.flow_style:
            return None
        for k, v in annotations.value:
            if isinstance(k, yaml.ScalarNode) and k.value == ORIGIN_ANNOTATION:
                start, end = doc.span(v)
                return Edit(start, end, value)
        first = annotations.value[0][0]
        start = doc.span(first)[0]
        indent = " " * first.start_mark.column
        return Edit(start, start, f"{ORIGIN_ANNOTATION}: {value}{nl}{indent}")
    if annotations is not None:
        return None  # `annotations: {}` or null: not worth a rewrite of the pair
    first = meta.value[0][0]
    start = doc.span(first)[0]
    indent = " " * first.start_mark.column
    return Edit(start, start, f"annotations:{nl}{indent}  {ORIGIN_ANNOTATION}: {value}{nl}"
                              f"{indent}")


def plan(source: SourceFile, rules: Mapping[str, ImageRule]) -> tuple[list[Edit], list[Change]]:
    edits: list[Edit] = []
    changes: list[Change] = []
    origins: dict[int, tuple[Resource, list[Mapping[str, object]]]] = {}
    for site in iter_image_sites([source]):
        image = site.image
        if image is None or site.image_node is None:
            continue
        rule = match_rule(image, rules)
        if rule is None:
            continue
        node = site.image_node
        if image != rule.new_image:
            start, end = _value_span(site, node, source.text)
            edits.append(Edit(start, end,
                              format_scalar(rule.new_image, node, source.text[start:end])))
        written: PullPolicy | None = None
        replaced = False
        if rule.policy is not None:
            declared = site.policy_node
            if declared is None:
                edit = _policy_edit(site, rule.policy, source.text)
                if edit is not None:
                    edits.append(edit)
                    written = rule.policy
            elif rule.override and site.declared_policy != rule.policy.value:
                start, end = _value_span(site, declared, source.text)
                edits.append(Edit(start, end, format_scalar(
                    rule.policy.value, declared, source.text[start:end])))
                written, replaced = rule.policy, True
        changes.append(Change(site, image, rule.new_image, written, replaced))
        if rule.origin is not None:
            resource = site.pod.resource
            entry = {"image": rule.new_image, **rule.origin}
            listed = origins.setdefault(id(resource.node), (resource, []))[1]
            if entry not in listed:
                listed.append(entry)
    for resource, entries in origins.values():
        edit = _origin_edit(resource, entries, source.text)
        if edit is not None:
            edits.append(edit)
    return edits, changes


def apply_edits(text: str, edits: list[Edit]) -> str:
    """Apply edits; insertions at one point keep their given order. A replacement that
    overlaps an earlier one is dropped: an anchored scalar that several containers reach
    through aliases is one piece of text, rewritten once (it was written twice over)."""
    if not edits:
        return text
    out: list[str] = []
    pos = 0
    for e in sorted(edits, key=lambda e: (e.start, e.end)):
        if e.start < pos:
            continue
        out.append(text[pos : e.start])
        out.append(e.text)
        pos = max(pos, e.end)
    out.append(text[pos:])
    return "".join(out)


def render_file(source: SourceFile, rules: Mapping[str, ImageRule]) -> RenderedFile:
    edits, changes = plan(source, rules)
    return RenderedFile(source, apply_edits(source.text, edits), changes)
