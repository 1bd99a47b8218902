"""Reading manifest inputs: files, directories (recursively) and stdin, with limits.

Parsing keeps PyYAML's node tree rather than Python objects: nodes carry the exact
character positions that ``render`` needs to rewrite one scalar and leave every other byte
as it was, and that ``explain`` and ``lint`` need to name a line.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from hoist.errors import InputError

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
# One manifest file larger than this is refused: the largest real install manifests are a
# few MB (argo-cd's install.yaml is 1.9 MB), and a parse of 100 MB would take minutes.
MAX_FILE_BYTES = 32 * 1024 * 1024
# Alias expansion guard. go-yaml (which kubectl uses) refuses "excessive aliasing" by
# ratio; we refuse a document whose alias-expanded node count is both large and far above
# the nodes actually written.
MAX_EXPANDED_NODES = 100_000
MAX_EXPANSION_RATIO = 10
# Nesting guard. PyYAML's C composer recurses once per level in C (100k nested `[` is a
# segfault, not a RecursionError) and libyaml's scanner is quadratic in flow depth (100k
# `[`…`]` takes ~30 s), so depth is bounded before composing. Real manifests nest < 100.
MAX_DEPTH = 1000
STDIN_NAME = "-"

try:  # libyaml's parser is ~10x faster; both give the same nodes and marks
    _Loader: type[yaml.SafeLoader] | type[yaml.CSafeLoader] = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _Loader = yaml.SafeLoader


POD_KINDS = ("Pod", "PodTemplate", "Deployment", "ReplicaSet", "ReplicationController",
             "StatefulSet", "DaemonSet", "Job", "CronJob")


# A `kind:` whose value is not a plain word on the same line: a block scalar, a tag, an
# anchor or alias, a quoted string with escapes, or a bare scalar on the next line (not a
# `key:` line, as in the many CRD schemas with a property named kind). The text alone
# cannot tell the kind, so such documents are always parsed.
_UNUSUAL_KIND = re.compile(
    r"""kind["']?[ \t]*:[ \t]*(?:[>|!&*]|"[^"\n]*\\|(?:#[^\n]*)?\r?\n[ \t]*[^\s#:-][^:\n]*$)""",
    re.MULTILINE)


def kind_filter(*extra_kinds: str) -> Callable[[str], bool]:
    """A document filter that keeps documents with a ``kind:`` of a pod-bearing kind (or
    one of ``extra_kinds``) anywhere: block, flow or JSON; the items of a List carry their
    own ``kind:`` lines, so Lists of such objects are kept and a ConfigMapList is not."""
    kinds = "|".join(re.escape(k) for k in (*POD_KINDS, *extra_kinds))
    # Starts with the literal `kind` so the regex engine skips ahead to candidates; a
    # `subkind: Pod` also matches, which only costs a parse.
    pattern = re.compile(
        r"""kind["']?[ \t]*:[ \t]*["']?(?:""" + kinds + r""")["']?(?=[\s,}#]|$)""",
        re.MULTILINE)

    def wanted(piece: str) -> bool:
        return pattern.search(piece) is not None or _UNUSUAL_KIND.search(piece) is not None

    return wanted


@dataclass(frozen=True, slots=True)
class Document:
    """One YAML document of a file: its root node, its 0-based index in the file, and
    where its text starts (node marks are relative to that start: add ``char_offset`` to
    an index and ``line_offset`` to a line to get file positions)."""

    index: int
    root: yaml.Node
    char_offset: int = 0
    line_offset: int = 0

    def line(self, node: yaml.Node) -> int:
        """The 1-based file line a node starts on."""
        return int(node.start_mark.line) + self.line_offset + 1

    def span(self, node: yaml.Node) -> tuple[int, int]:
        """The node's [start, end) character span in the file's text."""
        return node.start_mark.index + self.char_offset, node.end_mark.index + self.char_offset


# A document marker line. Inside any document libyaml accepts, ``---`` at column 0 can
# only start a new document (block content is indented; quoted scalars may not contain
# a document marker), so splitting here gives the same documents the parser would.
_DOC_START = re.compile(r"^---(?=[ \t\r\n]|$)", re.MULTILINE)
DocumentFilter = Callable[[str], bool]


@dataclass(slots=True)
class SourceFile:
    """A manifest file as read: its display name, its text and its documents.

    ``text`` is the decoded content without a byte-order mark (``bom`` keeps it, so that
    writing back is byte-identical); node marks index into ``text``."""

    name: str
    text: str
    documents: list[Document] = field(default_factory=list)
    bom: str = ""
    relpath: str = ""

    def encode(self, text: str | None = None) -> bytes:
        return (self.bom + (self.text if text is None else text)).encode("utf-8")


@dataclass(frozen=True, slots=True)
class SourceProblem:
    """An input that could not be read or parsed; the others go on without it."""

    name: str
    line: int
    message: str

    def __str__(self) -> str:
        where = f"{self.name}:{self.line}" if self.line else self.name
        return f"{where}: {self.message}"


def iter_input_paths(paths: Iterable[str]) -> Iterator[tuple[str, str]]:
    """Expand inputs to (path, path relative to the argument) pairs; directories are
    walked recursively in sorted order, hidden entries skipped, only manifest suffixes."""
    for arg in paths:
        if arg == STDIN_NAME:
            yield STDIN_NAME, STDIN_NAME
            continue
        p = Path(arg)
        if p.is_dir():
            found: list[Path] = []
            for root, dirs, files in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for f in sorted(files):
                    if f.endswith(MANIFEST_SUFFIXES) and not f.startswith("."):
                        found.append(Path(root, f).relative_to(p))
            # In the order `kubectl apply -R` (Go's filepath.Walk) takes them: by name at
            # each level, a directory where its name sorts (os.walk gives a directory's
            # files before its subdirectories: `sub/z.yaml` before `sub/deeper/y.yaml`).
            for rel_path in sorted(found, key=lambda r: r.parts):
                yield str(p / rel_path), str(rel_path)
        elif p.exists():
            yield str(p), p.name
        else:
            raise InputError(f"{arg}: no such file or directory")


def _check_size(size: int) -> None:
    if size > MAX_FILE_BYTES:
        raise _Problem(0, f"{size} bytes is over the {MAX_FILE_BYTES // 2**20} MiB limit for "
                          "one manifest file")


def _decode(data: bytes) -> tuple[str, str]:
    _check_size(len(data))
    if data.startswith(b"\xef\xbb\xbf"):
        bom, data = "\ufeff", data[3:]
    else:
        bom = ""
    try:
        return data.decode("utf-8"), bom
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise _Problem(line, "not UTF-8 text") from None


class _Problem(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def _template_hint(text: str, line: int) -> str:
    """Point at the nearest Go/Helm template braces, which are what usually breaks YAML."""
    lines = text.splitlines()
    candidates = [i + 1 for i, ln in enumerate(lines) if "{{" in ln]
    if not candidates:
        return ""
    nearest = min(candidates, key=lambda n: abs(n - line)) if line else candidates[0]
    return f" (a Go/Helm template: '{{{{' at line {nearest}; render it first)"


def split_documents(text: str) -> Iterator[tuple[int, int, str]]:
    """(char offset, line offset, text) of each ``---``-separated piece of a stream."""
    starts = [m.start() for m in _DOC_START.finditer(text)]
    if not starts or starts[0] != 0:
        starts.insert(0, 0)
    line = 0
    pending: tuple[int, int] | None = None  # a piece of directives only joins the next one
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(text)
        piece = text[start:end]
        if pending is None:
            pending = (start, line)
        line += piece.count("\n")
        if end < len(text) and _directives_only(piece):
            continue
        yield pending[0], pending[1], text[pending[0] : end]
        pending = None


def _directives_only(piece: str) -> bool:
    lines = [ln.strip() for ln in piece.splitlines()]
    content = [ln for ln in lines if ln and not ln.startswith("#") and ln != "---"]
    return bool(content) and all(ln.startswith("%") for ln in content)


def parse_text(name: str, text: str, want: DocumentFilter | None = None) -> list[Document]:
    """Parse the documents of ``text`` (only the pieces ``want`` accepts, when given: a
    manifest's CRDs and dashboards need no parsing to find images); raise _Problem naming
    the file line at fault."""
    docs: list[Document] = []
    for index, (offset, line_offset, piece) in enumerate(split_documents(text)):
        if want is not None and not want(piece):
            continue
        check = _may_alias_or_complex_key(piece)
        for root in _compose(piece, line_offset, text):
            if check:
                _check_expansion(root, line_offset, text)
            docs.append(Document(index, root, offset, line_offset))
    return docs


# Text that a non-string mapping key needs: an explicit `? ` key, a flow collection before
# a `:`, or a flow collection as an entry of a flow mapping (`{{ .Values.x }}`).
_COMPLEX_KEY_HINT = re.compile(r"\?\s|[}\]]\s*:|[{,]\s*[{\[]")


def _may_alias_or_complex_key(piece: str) -> bool:
    """Whether the node walk of _check_expansion can find anything: aliases need both an
    anchor (``&``) and an alias (``*``). Most manifests have neither, and the walk costs as
    much as the parse."""
    return ("&" in piece and "*" in piece) or _COMPLEX_KEY_HINT.search(piece) is not None


def _check_depth(piece: str, line_offset: int) -> None:
    """Refuse nesting deeper than MAX_DEPTH, streaming parser events (cheap, and stopped
    at the limit). Skipped when the text cannot nest that deep: flow levels need a `[` or
    `{` each, and block levels need a column more at least every second level."""
    longest = max(map(len, piece.splitlines()), default=0)
    if piece.count("[") + piece.count("{") + 2 * longest + 4 <= MAX_DEPTH:
        return
    depth = 0
    try:
        for event in yaml.parse(piece, Loader=_Loader):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    mark = event.start_mark
                    raise _Problem((mark.line if mark else 0) + 1 + line_offset,
                                   f"nested more than {MAX_DEPTH} levels deep: not a manifest")
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError:
        return  # composing reports it, at the same place and no deeper than here


def _compose(piece: str, line_offset: int, text: str) -> list[yaml.Node]:
    _check_depth(piece, line_offset)
    try:
        return [r for r in yaml.compose_all(piece, Loader=_Loader) if r is not None]
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 + line_offset if mark is not None else 0
        reason = e.problem or e.context or "invalid YAML"
        raise _Problem(line, f"not valid YAML: {reason}{_template_hint(text, line)}") from None
    except yaml.YAMLError as e:
        raise _Problem(line_offset + 1, f"not valid YAML: {str(e).splitlines()[0]}") from None
    except RecursionError:
        raise _Problem(line_offset + 1, "nesting too deep to be a manifest") from None


def _check_expansion(root: yaml.Node, line_offset: int = 0, text: str = "") -> None:
    """Count nodes as a consumer that expands aliases would see them, without expanding:
    each distinct node once, memoized, iteratively (no recursion on deep input)."""
    size: dict[int, int] = {}
    distinct = 0
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    on_path: set[int] = set()
    bad_key_lines: list[int] = []
    while stack:
        node, done = stack.pop()
        nid = id(node)
        if done:
            on_path.discard(nid)
            total = 1
            for child in _children(node):
                total += size[id(child)]
            size[nid] = total
            continue
        if nid in size:
            continue
        if nid in on_path:
            raise _Problem(node.start_mark.line + 1 + line_offset,
                           "an alias refers to itself (recursive)")
        distinct += 1
        if isinstance(node, yaml.MappingNode):
            # JSON (and so the API) has only string keys. `{{ .Values.x }}` parses as a
            # flow mapping used as a key: the usual sign of a Go template.
            bad_key_lines += [key.start_mark.line + 1 + line_offset for key, _ in node.value
                              if not isinstance(key, yaml.ScalarNode)]
        on_path.add(nid)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in on_path:
                raise _Problem(child.start_mark.line + 1 + line_offset,
                               "an alias refers to itself (recursive)")
            if id(child) not in size:
                stack.append((child, False))
    if bad_key_lines:
        line = min(bad_key_lines)  # the first in the file, not the first the walk met
        raise _Problem(line, "a mapping key that is not a string"
                       + (_template_hint(text, line) if text else ""))
    total = size[id(root)]
    if total > MAX_EXPANDED_NODES and total > MAX_EXPANSION_RATIO * distinct:
        raise _Problem(root.start_mark.line + 1 + line_offset,
                       f"aliases expand this document to {total:,} nodes from {distinct:,} "
                       "written: refused as a YAML alias bomb")


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _load(name: str, data: bytes, relpath: str, want: DocumentFilter | None) -> SourceFile:
    text, bom = _decode(data)
    return SourceFile(name, text, parse_text(name, text, want), bom, relpath or name)


def read_source(
    name: str, data: bytes, relpath: str = "", want: DocumentFilter | None = None
) -> SourceFile:
    """Decode and parse one input; raise InputError naming the file and line."""
    try:
        return _load(name, data, relpath, want)
    except _Problem as p:
        raise InputError(str(SourceProblem(name, p.line, p.message))) from None


def read_sources(
    paths: Iterable[str], stdin: bytes | None = None, want: DocumentFilter | None = None
) -> tuple[list[SourceFile], list[SourceProblem]]:
    """Read every input. A file that cannot be read or parsed becomes a SourceProblem and
    the rest are still read (a Helm template among plain manifests stops nothing)."""
    files: list[SourceFile] = []
    problems: list[SourceProblem] = []
    for path, rel in iter_input_paths(paths):
        try:
            if path == STDIN_NAME:
                data = stdin if stdin is not None else sys.stdin.buffer.read()
            else:
                _check_size(os.path.getsize(path))  # before reading a 100 MB file at all
                with open(path, "rb") as fh:
                    data = fh.read()
            files.append(_load(path, data, rel, want))
        except _Problem as p:
            problems.append(SourceProblem(path, p.line, p.message))
        except OSError as e:
            problems.append(SourceProblem(path, 0, e.strerror or str(e)))
    return files, problems
