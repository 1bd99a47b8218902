"""``.dockerignore`` as BuildKit applies it to a build context.

Reading follows moby/patternmatcher ``ignorefile.ReadAll`` (comments, ``!`` exceptions,
``filepath.Clean``, a leading ``/`` dropped); matching follows patternmatcher's
``Pattern.compile``/``match`` and ``MatchesUsingParentResults``, which is what
tonistiigi/fsutil's walker calls for every path while it sends the context (each path is
judged with its parent directory's per-pattern results). Go's ``path/filepath.Match``
is here too: patternmatcher uses it to reject malformed patterns.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from hoist.errors import InputError

IGNORE_FILE = ".dockerignore"
ERR_BAD_PATTERN = "syntax error in pattern"  # Go's filepath.ErrBadPattern

# Go's unicode.IsSpace, for strings.TrimSpace.
_GO_SPACE = ("\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
             "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")


def go_clean(path: str) -> str:
    """Go's ``path.Clean`` (``filepath.Clean`` on Unix)."""
    rooted = path.startswith("/")
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append("..")
            continue
        parts.append(part)
    joined = "/".join(parts)
    if rooted:
        return "/" + joined
    return joined or "."


def go_dir(path: str) -> str:
    """Go's ``filepath.Dir``: everything before the last ``/``, cleaned."""
    return go_clean(path[:path.rfind("/") + 1])


# --------------------------------------------------------------------------- filepath.Match


def go_path_match(pattern: str, name: str) -> bool:
    """Go's ``path/filepath.Match`` on Unix: ``*`` and ``?`` never match ``/``,
    ``[a-z]`` ``[^a-z]`` classes, ``\\`` escapes. ValueError ("syntax error in pattern")
    for a malformed pattern, even when the name fails to match earlier. Compares
    characters where Go compares bytes, which only differs on invalid UTF-8."""
    while pattern:
        star, chunk, pattern = _scan_chunk(pattern)
        if star and chunk == "":
            # a trailing * matches the rest of the name unless it holds a /
            return "/" not in name
        rest, ok = _match_chunk(chunk, name)
        # the last chunk must use up the name, or a star could still match more
        if ok and (rest == "" or pattern):
            name = rest
            continue
        if star:
            found = False
            i = 0
            while i < len(name) and name[i] != "/":
                rest, ok = _match_chunk(chunk, name[i + 1:])
                if ok and not (pattern == "" and rest):
                    name, found = rest, True
                    break
                i += 1
            if found:
                continue
        # not a match; the rest of the pattern must still be well formed
        while pattern:
            _star, chunk, pattern = _scan_chunk(pattern)
            _match_chunk(chunk, "")
        return False
    return name == ""


def _scan_chunk(pattern: str) -> tuple[bool, str, str]:
    star = False
    while pattern.startswith("*"):
        pattern = pattern[1:]
        star = True
    in_range = False
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            if i + 1 < len(pattern):
                i += 1
        elif ch == "[":
            in_range = True
        elif ch == "]":
            in_range = False
        elif ch == "*" and not in_range:
            break
        i += 1
    return star, pattern[:i], pattern[i:]


def _match_chunk(chunk: str, s: str) -> tuple[str, bool]:
    # Once the match has failed the chunk is still read to the end, so that a malformed
    # pattern is reported whatever the name.
    failed = False
    while chunk:
        if not failed and not s:
            failed = True
        ch = chunk[0]
        if ch == "[":
            r = ""
            if not failed:
                r, s = s[0], s[1:]
            chunk = chunk[1:]
            negated = chunk.startswith("^")
            if negated:
                chunk = chunk[1:]
            matched = False
            ranges = 0
            while True:
                if chunk.startswith("]") and ranges > 0:
                    chunk = chunk[1:]
                    break
                lo, chunk = _get_esc(chunk)
                hi = lo
                if chunk[0] == "-":
                    hi, chunk = _get_esc(chunk[1:])
                if not failed and lo <= r <= hi:
                    matched = True
                ranges += 1
            if matched == negated:
                failed = True
            continue
        if ch == "?":
            if not failed:
                if s[0] == "/":
                    failed = True
                s = s[1:]
            chunk = chunk[1:]
            continue
        if ch == "\\":
            chunk = chunk[1:]
            if not chunk:
                raise ValueError(ERR_BAD_PATTERN)
        if not failed:
            if chunk[0] != s[0]:
                failed = True
            s = s[1:]
        chunk = chunk[1:]
    if failed:
        return "", False
    return s, True


def _get_esc(chunk: str) -> tuple[str, str]:
    if not chunk or chunk[0] in "-]":
        raise ValueError(ERR_BAD_PATTERN)
    if chunk[0] == "\\":
        chunk = chunk[1:]
        if not chunk:
            raise ValueError(ERR_BAD_PATTERN)
    ch, rest = chunk[0], chunk[1:]
    if not rest:
        raise ValueError(ERR_BAD_PATTERN)
    return ch, rest


# --------------------------------------------------------------------------- patterns

# Characters patternmatcher escapes when it builds a regexp (they mean nothing to
# filepath.Match); '[' ']' and '^' pass through, so classes work as in Match.
_ESCAPED = frozenset(".+()|{}$")
# A backslash before a letter or digit reaches Go's regexp engine as an RE2 escape; the
# ones with a Python equivalent are mapped, others make the pattern unusable.
_RE2_ESCAPES = {"d": "[0-9]", "D": "[^0-9]", "s": "[\\t\\n\\f\\r ]", "S": "[^\\t\\n\\f\\r ]",
                "w": "[0-9A-Za-z_]", "W": "[^0-9A-Za-z_]", "b": "\\b", "B": "\\B", "A": "\\A",
                "z": "\\Z", "a": "\\a", "f": "\\f", "t": "\\t", "n": "\\n", "r": "\\r",
                "v": "\\v"}


@dataclass(frozen=True, slots=True)
class _Pattern:
    """One line of a .dockerignore, compiled."""

    text: str  # cleaned, without the '!'
    exclusion: bool  # a '!' exception
    kind: str  # exact, prefix, suffix or regexp (patternmatcher's matchType)
    regex: re.Pattern[str] | None
    line: int

    def match(self, path: str) -> bool:
        if self.kind == "exact":
            return path == self.text
        if self.kind == "prefix":
            return path.startswith(self.text[:-2])  # the pattern ends in **
        if self.kind == "suffix":
            suffix = self.text[2:]  # the pattern starts with **
            return path.endswith(suffix) or (suffix.startswith("/") and path == suffix[1:])
        assert self.regex is not None
        return self.regex.match(path) is not None

    def could_match_under(self, directory: str) -> bool:
        """Could this pattern match some path strictly inside ``directory``? False only
        when that is certain."""
        below = directory + "/"
        if self.kind == "exact":
            return self.text.startswith(below)
        if self.kind == "prefix":
            prefix = self.text[:-2]
            return prefix.startswith(below) or below.startswith(prefix)
        if self.kind == "suffix" or "**" in self.text or "[" in self.text or "\\" in self.text:
            return True
        # only literals, * and ?, none of which matches a '/': component by component
        parts = self.text.split("/")
        dirs = directory.split("/")
        if len(parts) <= len(dirs):
            return False
        return all(_component_regex(p).fullmatch(d) for p, d in zip(parts, dirs, strict=False))


def _component_regex(part: str) -> re.Pattern[str]:
    out = []
    for ch in part:
        out.append("[^/]*" if ch == "*" else "[^/]" if ch == "?" else re.escape(ch))
    return re.compile("".join(out))


def _compile(text: str, exclusion: bool, line: int) -> _Pattern:
    """patternmatcher Pattern.compile with '/' as the separator."""
    out = ["^"]
    kind = "exact"
    pos, n = 0, len(text)
    first = True
    while pos < n:
        ch = text[pos]
        pos += 1
        if ch == "*":
            if pos < n and text[pos] == "*":
                pos += 1
                if pos < n and text[pos] == "/":
                    pos += 1  # **/ is treated as **
                if pos >= n:
                    # a trailing ** matches everything from here, as .gitignore does
                    if kind == "exact":
                        kind = "prefix"
                    else:
                        out.append(".*")
                        kind = "regexp"
                else:
                    out.append("(.*/)?")  # any number of directories, even none
                    kind = "regexp"
                if first:
                    kind = "suffix"
            else:
                out.append("[^/]*")
                kind = "regexp"
        elif ch == "?":
            out.append("[^/]")
            kind = "regexp"
        elif ch in _ESCAPED:
            out.append("\\" + ch)
        elif ch == "\\":
            if pos < n:
                nxt = text[pos]
                pos += 1
                if nxt.isascii() and nxt.isalnum():
                    if nxt not in _RE2_ESCAPES:
                        raise ValueError(f"invalid escape sequence: \\{nxt}")
                    out.append(_RE2_ESCAPES[nxt])
                else:
                    out.append(re.escape(nxt))
                kind = "regexp"
            else:
                out.append("\\\\")
        elif ch in "[]":
            out.append(ch)
            kind = "regexp"
        else:
            out.append(ch)
        first = False
    regex = None
    if kind == "regexp":
        out.append("\\Z")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "possible nested set" and the like
            try:
                regex = re.compile("".join(out))
            except re.error as e:
                raise ValueError(str(e)) from None
    return _Pattern(text, exclusion, kind, regex, line)


# --------------------------------------------------------------------------- the matcher

MatchInfo = tuple[bool, ...]


class IgnoreMatcher:
    """Decides which context paths a ``.dockerignore`` excludes. Paths are posix,
    relative to the context. Last match wins; a pattern that matches a directory
    excludes what is under it; ``!`` patterns re-include."""

    def __init__(self, patterns: Sequence[_Pattern] = (), source: str = "") -> None:
        self._patterns = tuple(patterns)
        self._exceptions = tuple(p for p in self._patterns if p.exclusion)
        self.source = source
        self._dirs: dict[str, MatchInfo] = {}

    @property
    def patterns(self) -> tuple[str, ...]:
        """The cleaned patterns, exceptions with their ``!``."""
        return tuple(("!" if p.exclusion else "") + p.text for p in self._patterns)

    @classmethod
    def from_lines(cls, lines: Iterable[str], source: str = IGNORE_FILE) -> IgnoreMatcher:
        """Patterns from the lines of an ignore file; InputError
        ``<source>:<line>: bad pattern …`` for one patternmatcher rejects."""
        patterns: list[_Pattern] = []
        for number, raw in enumerate(lines, 1):
            text = raw.removesuffix("\n").removesuffix("\r")
            if number == 1:
                text = text.removeprefix("\ufeff")
            pattern = _read_line(text)
            if pattern is None:
                continue
            patterns.append(_new_pattern(pattern, source, number))
        return cls(patterns, source)

    @classmethod
    def for_context(cls, context: Path, dockerfile: Path | None = None) -> IgnoreMatcher:
        """The ignore file BuildKit uses: ``<Dockerfile>.dockerignore`` next to the
        Dockerfile, else ``<context>/.dockerignore``, else nothing is excluded."""
        candidates = []
        if dockerfile is not None:
            candidates.append(Path(f"{dockerfile}{IGNORE_FILE}"))
        candidates.append(Path(context) / IGNORE_FILE)
        for path in candidates:
            try:
                data = path.read_bytes()
            except (FileNotFoundError, NotADirectoryError):
                continue
            except OSError as e:
                raise InputError(f"{path}: cannot read the ignore file: "
                                 f"{e.strerror or e}") from None
            text = data.decode("utf-8", "surrogateescape")
            return cls.from_lines(text.split("\n"), str(path))
        return cls()

    # -- matching

    def excluded(self, rel_path: str) -> bool:
        """Whether the context path is left out of the build context."""
        if not self._patterns or rel_path in ("", "."):
            return False
        parent = go_dir(rel_path)
        info = None if parent == "." else self._dir_info(parent)
        return self._evaluate(rel_path, info)[0]

    def may_include_under(self, rel_dir: str) -> bool:
        """False only when the directory is excluded and no exception can re-include
        anything below it, so a walker may skip it unread. (A path below an excluded
        directory is re-included only by an exception that matches that path itself.)"""
        if not self.excluded(rel_dir):
            return True
        return any(p.could_match_under(rel_dir) for p in self._exceptions)

    def _dir_info(self, directory: str) -> MatchInfo:
        cached = self._dirs.get(directory)
        if cached is not None:
            return cached
        info: MatchInfo | None = None
        prefix = ""
        for i, part in enumerate(directory.split("/")):
            prefix = part if i == 0 else f"{prefix}/{part}"
            known = self._dirs.get(prefix)
            if known is None:
                known = self._evaluate(prefix, info)[1]
                self._dirs[prefix] = known
            info = known
        assert info is not None
        return info

    def _evaluate(self, path: str, parent: MatchInfo | None) -> tuple[bool, MatchInfo]:
        """patternmatcher MatchesUsingParentResults. A pattern the parent matched matches
        here too; others are tried on this path (and, with no parent results, on its
        parents). A pattern that cannot change the verdict is not tried, so its result
        stays False for the children, as upstream."""
        matched = False
        info: list[bool] = []
        for pattern in self._patterns:
            match = parent[len(info)] if parent else False
            if not match:
                if pattern.exclusion != matched:
                    info.append(False)
                    continue
                match = pattern.match(path)
                if not match and parent is None:
                    match = _parent_matches(pattern, path)
            info.append(match)
            if match:
                matched = not pattern.exclusion
        return matched, tuple(info)


def _parent_matches(pattern: _Pattern, path: str) -> bool:
    parent = go_dir(path)
    if parent == ".":
        return False
    prefix = ""
    for i, part in enumerate(parent.split("/")):
        prefix = part if i == 0 else f"{prefix}/{part}"
        if pattern.match(prefix):
            return True
    return False


def _read_line(line: str) -> str | None:
    """ignorefile.ReadAll for one line: None for a comment or a blank line."""
    if line.startswith("#"):
        return None
    pattern = line.strip(_GO_SPACE)
    if not pattern:
        return None
    invert = pattern.startswith("!")
    if invert:
        pattern = pattern[1:].strip(_GO_SPACE)
    if pattern:
        pattern = go_clean(pattern)
        if len(pattern) > 1 and pattern.startswith("/"):
            pattern = pattern[1:]  # the context root is /
    return "!" + pattern if invert else pattern


def _new_pattern(text: str, source: str, line: int) -> _Pattern:
    """NewPatternMatcher for one pattern."""
    text = go_clean(text.strip(_GO_SPACE))
    exclusion = text.startswith("!")
    if exclusion:
        if len(text) == 1:
            raise InputError(f'{source}:{line}: illegal exclusion pattern: "!"')
        text = text[1:]
    try:
        go_path_match(text, ".")
        return _compile(text, exclusion, line)
    except ValueError as e:
        raise InputError(f"{source}:{line}: bad pattern {text!r}: {e}") from None
