"""A config document as a small tree whose every node knows its file line.

PyYAML's nodes carry marks relative to the document they were parsed from and share
objects where the YAML used aliases. Profiles rewrite the tree (overlays, JSON patches)
before it becomes the model, and every error after that must still name the line the
user wrote, so the tree is copied into these plain nodes first: file-absolute 1-based
lines, merge keys (``<<``) resolved, aliases expanded into separate copies.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hoist.errors import InputError

if TYPE_CHECKING:
    import yaml  # imported where a tree is made: a model unpickled from the cache needs none

# The PyYAML resolver's tags, shortened; anything else (a custom !tag) keeps its text.
_SHORT_TAGS = {
    "tag:yaml.org,2002:str": "str",
    "tag:yaml.org,2002:int": "int",
    "tag:yaml.org,2002:float": "float",
    "tag:yaml.org,2002:bool": "bool",
    "tag:yaml.org,2002:null": "null",
    "tag:yaml.org,2002:timestamp": "str",  # Go's YAML decoders give these as strings
    "tag:yaml.org,2002:binary": "str",
}


@dataclass(slots=True, eq=False)
class YScalar:
    """A scalar (None for null), its short YAML tag and its line in the file."""

    text: str | None  # None for YAML null
    tag: str  # "str", "int", "float", "bool", "null" or the tag as written
    line: int

    def clone(self) -> YScalar:
        return YScalar(self.text, self.tag, self.line)


@dataclass(slots=True, eq=False)
class YSeq:
    """A sequence and the line it starts on."""

    items: list[YNode]
    line: int

    def clone(self) -> YSeq:
        return YSeq([i.clone() for i in self.items], self.line)


@dataclass(slots=True, eq=False)
class YMap:
    """A mapping, entries in file order, and the line it starts on."""

    entries: list[tuple[YScalar, YNode]] = field(default_factory=list)
    line: int = 0

    def clone(self) -> YMap:
        return YMap([(k.clone(), v.clone()) for k, v in self.entries], self.line)

    def keys(self) -> list[str]:
        return [k.text or "" for k, _ in self.entries]

    def get(self, key: str) -> YNode | None:
        for k, v in self.entries:
            if k.text == key:
                return v
        return None

    def key_node(self, key: str) -> YScalar | None:
        for k, _ in self.entries:
            if k.text == key:
                return k
        return None

    def set(self, key: str, value: YNode, line: int | None = None) -> None:
        """Replace the value of ``key`` in place, or append it (keyed at ``line``)."""
        for i, (k, _) in enumerate(self.entries):
            if k.text == key:
                self.entries[i] = (k, value)
                return
        self.entries.append((YScalar(key, "str", value.line if line is None else line), value))

    def put(self, key: str, value: YNode, line: int) -> None:
        """Like set, but the key is recorded as written at ``line`` (a value laid over the
        one here by a profile is reported where the profile wrote it)."""
        for i, (k, _) in enumerate(self.entries):
            if k.text == key:
                self.entries[i] = (YScalar(key, "str", line), value)
                return
        self.entries.append((YScalar(key, "str", line), value))

    def remove(self, key: str) -> bool:
        before = len(self.entries)
        self.entries = [(k, v) for k, v in self.entries if k.text != key]
        return len(self.entries) != before

    def __iter__(self) -> Iterator[tuple[YScalar, YNode]]:
        return iter(self.entries)


YNode = YScalar | YSeq | YMap


def is_null(node: YNode | None) -> bool:
    return node is None or (isinstance(node, YScalar) and node.text is None)


def from_yaml(node: yaml.Node, line_offset: int, name: str) -> YNode:
    """Copy a composed PyYAML node (of a document starting ``line_offset`` lines into the
    file ``name``) into the tree. Duplicate keys are an error, as in Go's YAML decoder."""
    try:
        return _convert(node, line_offset, name)
    except RecursionError:
        raise InputError(f"{name}:{node.start_mark.line + 1 + line_offset}: nesting too deep "
                         "to be a config") from None


def _convert(node: yaml.Node, off: int, name: str) -> YNode:
    import yaml

    line = node.start_mark.line + 1 + off
    if isinstance(node, yaml.ScalarNode):
        tag = _SHORT_TAGS.get(node.tag, node.tag)
        return YScalar(None if tag == "null" else str(node.value), tag, line)
    if isinstance(node, yaml.SequenceNode):
        return YSeq([_convert(i, off, name) for i in node.value], line)
    assert isinstance(node, yaml.MappingNode)
    out = YMap([], line)
    seen: dict[str, int] = {}
    merges: list[yaml.Node] = []
    for k, v in node.value:
        if not isinstance(k, yaml.ScalarNode):  # read_source refuses these before we get here
            raise InputError(f"{name}:{k.start_mark.line + 1 + off}: a mapping key that is "
                             "not a string")
        if k.value == "<<" and k.tag.endswith(":merge"):
            merges.append(v)
            continue
        key_line = k.start_mark.line + 1 + off
        if k.value in seen:
            raise InputError(f"{name}:{key_line}: key {k.value!r} appears twice in one mapping "
                             f"(first at line {seen[k.value]})")
        seen[k.value] = key_line
        out.entries.append((YScalar(str(k.value), "str", key_line), _convert(v, off, name)))
    # Merged keys come after the explicit ones and never override them; of several merged
    # mappings the first one given wins (YAML's merge key rules).
    for m in merges:
        for src in (m.value if isinstance(m, yaml.SequenceNode) else [m]):
            merged = _convert(src, off, name)
            if not isinstance(merged, YMap):
                raise InputError(f"{name}:{src.start_mark.line + 1 + off}: a merge key ('<<') "
                                 "needs a mapping")
            for mk, mv in merged.entries:
                if mk.text is not None and mk.text not in seen:
                    seen[mk.text] = mk.line
                    out.entries.append((mk, mv))
    return out


def scalar_value(node: YScalar) -> Any:
    """The Python value of a scalar as YAML's core schema types it."""
    text, tag = node.text, node.tag
    if text is None:
        return None
    if tag == "bool":
        return text.lower() in ("true", "yes", "on", "y")
    if tag == "int":
        parsed = parse_int(text)
        return text if parsed is None else parsed
    if tag == "float":
        try:
            return float(text.replace("_", ""))
        except ValueError:
            return text
    return text


def parse_int(text: str) -> int | None:
    cleaned = text.replace("_", "")
    for base in (10, 0):
        try:
            return int(cleaned, base)
        except ValueError:
            continue
    return None


def to_python(node: YNode) -> Any:
    """Plain immutable data: mappings as FrozenMap, sequences as tuples."""
    if isinstance(node, YScalar):
        return scalar_value(node)
    if isinstance(node, YSeq):
        return tuple(to_python(i) for i in node.items)
    return FrozenMap({k.text or "": to_python(v) for k, v in node.entries})


def same(a: YNode | None, b: YNode | None) -> bool:
    """Structural equality of two trees (lines ignored): the JSON patch ``test`` op."""
    if a is None or b is None:
        return a is b
    if isinstance(a, YScalar) and isinstance(b, YScalar):
        return bool(scalar_value(a) == scalar_value(b))
    if isinstance(a, YSeq) and isinstance(b, YSeq):
        return len(a.items) == len(b.items) and all(
            same(x, y) for x, y in zip(a.items, b.items, strict=True))
    if isinstance(a, YMap) and isinstance(b, YMap):
        return sorted(a.keys()) == sorted(b.keys()) and all(
            same(v, b.get(k.text or "")) for k, v in a.entries)
    return False


class FrozenMap(Mapping[str, Any]):
    """A read-only, hashable mapping (the model's dataclasses are frozen and hashable)."""

    __slots__ = ("_data", "_hash")

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        self._data: dict[str, Any] = dict(data or {})
        self._hash: int | None = None

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(frozenset(self._data.items()))
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return dict(self._data) == dict(other)
        return NotImplemented

    def __repr__(self) -> str:
        return f"FrozenMap({self._data!r})"
