"""Dockerfiles as BuildKit's Dockerfile frontend reads them.

Parsing follows moby/buildkit ``frontend/dockerfile/parser`` (line joining, parser
directives, flag extraction, JSON versus shell form, per-instruction argument rules) and
``instructions/parse.go`` (argument checks, stage names); expansion follows the shell
lexer ``frontend/dockerfile/shell/lex.go``. Error texts are BuildKit's where it has one,
so a user can search for them.

Arguments stay raw in the parsed form: an instruction is expanded when a builder
dispatches it, with the ARG and ENV values in scope at that point (``expand_word``,
``expand_words``, ``parse_key_values``).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hoist.errors import InputError

DEFAULT_ESCAPE = "\\"
DEFAULT_SHELL = ("/bin/sh", "-c")

# BuildKit frontend/dockerfile/command/command.go: the instructions it knows.
INSTRUCTIONS = frozenset({
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK",
    "LABEL", "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME",
    "WORKDIR",
})
# Instructions whose arguments go through the shell lexer when dispatched (ONBUILD's
# trigger is expanded only when a child image runs it).
EXPANDING_INSTRUCTIONS = frozenset({
    "ADD", "ARG", "COPY", "ENV", "EXPOSE", "FROM", "LABEL", "STOPSIGNAL", "USER", "VOLUME",
    "WORKDIR",
})

# Parser directives BuildKit recognises (parser.go validDirectives; ``check`` since 1.8).
_DIRECTIVES = frozenset({"escape", "syntax", "check"})
# reDirectives from parser.go; Go's \s is ASCII-only, spelled out here.
_DIRECTIVE_RE = re.compile(
    r"#[\t\n\f\r ]*([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*(.+?)[\t\n\f\r ]*\Z")
# reWhitespace from parser.go: what separates the keyword and whitespace-delimited args.
_WHITESPACE_RE = re.compile(r"[\t\v\f\r ]+")
# parser.go reHeredoc (Go's \d is ASCII).
_HEREDOC_RE = re.compile(r"([0-9]*)<<(-?)([^<]*)\Z")
# instructions/parse.go parseBuildStageName.
_STAGE_NAME_RE = re.compile(r"[a-z][a-z0-9_.\-]*\Z")
_GO_INT_RE = re.compile(r"[+-]?[0-9]+\Z")

# Flags each instruction accepts (instructions/parse.go, BFlags): kind is "string",
# "bool" or "list" (a list flag may repeat).
_FLAG_KINDS: dict[str, dict[str, str]] = {
    "ADD": {"chown": "string", "chmod": "string", "link": "bool", "keep-git-dir": "bool",
            "checksum": "string", "exclude": "list", "unpack": "bool"},
    "COPY": {"chown": "string", "from": "string", "chmod": "string", "link": "bool",
             "parents": "bool", "exclude": "list"},
    "FROM": {"platform": "string"},
    "RUN": {"mount": "list", "network": "string", "security": "string", "device": "list"},
    "HEALTHCHECK": {"interval": "string", "timeout": "string", "start-period": "string",
                    "start-interval": "string", "retries": "string"},
}
# parseArg and parseStopSignal never call BFlags.Parse, so BuildKit ignores their flags.
_FLAGS_UNCHECKED = frozenset({"ARG", "STOPSIGNAL"})

# Go's unicode.IsSpace: the Latin-1 spaces plus the White_Space property beyond it.
_GO_SPACE = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
_GO_SPACE_CHARS = "".join(sorted(_GO_SPACE))


def _is_space(ch: str) -> bool:
    return ch in _GO_SPACE


def _trim_space(s: str) -> str:
    return s.strip(_GO_SPACE_CHARS)


def _is_letter(ch: str) -> bool:
    return unicodedata.category(ch).startswith("L")


def _is_digit(ch: str) -> bool:
    return unicodedata.category(ch) == "Nd"


def _go_quote(s: str) -> str:
    """Go's ``%q`` of a string, for error texts that quote user input."""
    out = ['"']
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
               "\v": "\\v"}


# --------------------------------------------------------------------------- the model


class DockerfileError(InputError):
    """A Dockerfile BuildKit would refuse; ``str()`` is ``<path>:<line>: <message>``
    (``<path>: <message>`` when no single line is at fault)."""

    def __init__(self, path: str, line: int | None, message: str) -> None:
        self.path = path
        self.line = line
        self.message = message
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True, slots=True)
class Instruction:
    """One instruction, raw (nothing expanded).

    ``args`` are BuildKit's parse-time arguments: the array elements in JSON form;
    otherwise ADD, COPY, VOLUME, EXPOSE and FROM split at whitespace, ENV, LABEL and ARG
    split into shell words (quotes and escapes kept as written), HEALTHCHECK its type then
    its command, ONBUILD the trigger's keyword then its arguments, and every other
    instruction (RUN, CMD, ENTRYPOINT, SHELL, WORKDIR, USER, STOPSIGNAL, MAINTAINER) the
    whole ``text`` as one argument.
    """

    line: int  # 1-based line of the instruction's first line
    end_line: int
    keyword: str  # upper-case
    flags: tuple[tuple[str, str | None], ...]  # ("from", "build"); ("link", None) when bare
    args: tuple[str, ...]
    json_form: bool
    text: str  # arguments after keyword and flags, continuation lines joined
    original: str  # the source lines of the instruction, as written

    def flag(self, name: str) -> str | None:
        """The last value given for flag ``name`` (``"true"`` for a bare flag), or None."""
        value: str | None = None
        for key, given in self.flags:
            if key == name:
                value = given if given is not None else "true"
        return value


@dataclass(frozen=True, slots=True)
class Stage:
    """One FROM stage: its base, name, platform and instructions, all as written."""

    index: int
    name: str | None  # the AS name, lower-cased as BuildKit does
    base: str  # raw, unexpanded
    platform: str | None  # raw --platform value
    line: int
    instructions: tuple[Instruction, ...] = ()
    from_instruction: Instruction | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Dockerfile:
    """A parsed Dockerfile: the global ARGs, the stages and the parser directives."""

    path: str
    global_args: tuple[Instruction, ...]  # ARG instructions before the first FROM
    stages: tuple[Stage, ...]
    escape: str = DEFAULT_ESCAPE  # from the ``# escape=`` parser directive
    syntax: str | None = None  # from the ``# syntax=`` parser directive


# --------------------------------------------------------------------------- reading lines


@dataclass(slots=True)
class _Directives:
    """The parser directives read so far at the top of a Dockerfile."""

    escape: str = DEFAULT_ESCAPE
    syntax: str | None = None
    done: bool = False
    seen: set[str] = field(default_factory=set)
    continuation: re.Pattern[str] = field(default_factory=lambda: _continuation_re("\\"))

    def look(self, line: str, path: str, lineno: int) -> None:
        """parser.go possibleParserDirective: directives only until the first line that
        is not one (a blank line, another comment, an instruction)."""
        if self.done:
            return
        m = _DIRECTIVE_RE.match(line)
        if m is None:
            self.done = True
            return
        key = m.group(1).lower()
        if key not in _DIRECTIVES:
            self.done = True
            return
        if key in self.seen:
            raise DockerfileError(path, lineno, f"only one {key} parser directive can be used")
        self.seen.add(key)
        value = m.group(2)
        if key == "escape":
            if value not in ("`", "\\"):
                raise DockerfileError(
                    path, lineno, f"invalid escape token '{value}' does not match ` or \\")
            self.escape = value
            self.continuation = _continuation_re(value)
        elif key == "syntax":
            self.syntax = value


def _continuation_re(escape: str) -> re.Pattern[str]:
    # parser.go setEscapeToken: the escape token ends a line (trailing blanks allowed)
    # unless another escape token precedes it.
    e = re.escape(escape)
    return re.compile(f"([^{e}]){e}[ \\t]*\\Z|^{e}[ \\t]*\\Z")


def _trim_continuation(line: str, d: _Directives) -> tuple[str, bool]:
    m = d.continuation.search(line)
    if m is None:
        return line, True
    return line[:m.start()] + (m.group(1) or ""), False


def _is_comment(raw: str) -> bool:
    return raw.rstrip("\r\n").lstrip(_GO_SPACE_CHARS).startswith("#")


def _strip_comment(token: str) -> str:
    # parser.go trimComments: a line that starts with '#' is dropped whole
    return "" if token.startswith("#") else token


@dataclass(frozen=True, slots=True)
class _Logical:
    """One logical line (continuations joined) and the physical lines it spans."""

    start: int
    end: int
    line: str


def _logical_lines(text: str, path: str, d: _Directives) -> list[_Logical]:
    """parser.go Parse: physical lines into instructions. Comment lines inside a
    continuation are dropped; blank ones too (BuildKit warns about them); continuation
    lines keep their leading whitespace."""
    raw_lines = text.split("\n")
    if text.endswith("\n"):
        raw_lines.pop()
    if raw_lines and raw_lines[0].startswith("\ufeff"):
        raw_lines[0] = raw_lines[0][1:]
    out: list[_Logical] = []
    i, n = 0, len(raw_lines)
    while i < n:
        raw = raw_lines[i].rstrip("\r\n")
        token = raw.lstrip(_GO_SPACE_CHARS)
        d.look(token, path, i + 1)
        token = _strip_comment(token)
        i += 1
        start = i
        line, end_of_line = _trim_continuation(token, d)
        if end_of_line and line == "":
            continue
        while not end_of_line and i < n:
            raw = raw_lines[i].rstrip("\r\n")
            d.look(raw, path, i + 1)
            i += 1
            if _is_comment(raw):
                continue
            token = _strip_comment(raw)
            if not token.lstrip(_GO_SPACE_CHARS):
                continue  # an empty continuation line
            more, end_of_line = _trim_continuation(token, d)
            line += more
        out.append(_Logical(start, i, line))
    return out


# --------------------------------------------------------------------------- one instruction


def _split_command(line: str) -> tuple[str, list[str], str]:
    """split_command.go: keyword, ``--flag`` words, the rest."""
    parts = _WHITESPACE_RE.split(_trim_space(line), maxsplit=1)
    rest, flags = ("", []) if len(parts) < 2 else _extract_flags(parts[1])
    return parts[0], flags, _trim_space(rest)


def _extract_flags(line: str) -> tuple[str, list[str]]:
    """split_command.go extractBuilderFlags: leading words that start with ``--`` (quotes
    removed, backslash escapes applied), up to the first other word or a bare ``--``."""
    words: list[str] = []
    word: list[str] = []
    phase = "spaces"
    quote = ""
    blank_ok = False
    pos, n = 0, len(line)
    while pos <= n:
        ch = line[pos] if pos < n else ""
        if phase == "spaces":
            if pos == n:
                break
            if _is_space(ch):
                pos += 1
                continue
            if ch != "-" or pos + 1 == n or line[pos + 1] != "-":
                return line[pos:], words
            phase = "word"
        if pos == n:
            w = "".join(word)
            if w != "--" and (blank_ok or w):
                words.append(w)
            break
        if phase == "word":
            if _is_space(ch):
                phase = "spaces"
                w = "".join(word)
                if w == "--":
                    return line[pos:], words
                if blank_ok or w:
                    words.append(w)
                word, blank_ok = [], False
                pos += 1
                continue
            if ch in "'\"":
                quote, blank_ok, phase = ch, True, "quote"
                pos += 1
                continue
            if ch == "\\":
                if pos + 1 == n:
                    pos += 1
                    continue
                pos += 1
                ch = line[pos]
            word.append(ch)
            pos += 1
            continue
        if ch == quote:
            phase = "word"
            pos += 1
            continue
        if ch == "\\":
            if pos + 1 == n:
                phase = "word"
                pos += 1
                continue
            pos += 1
            ch = line[pos]
        word.append(ch)
        pos += 1
    return "", words


def _parse_flags(keyword: str, words: Sequence[str]) -> tuple[tuple[str, str | None], ...]:
    """BFlags.Parse: ``--name=value`` or a bare ``--name``; unknown flags, repeats of a
    single-valued flag and malformed values are errors (raised as ValueError)."""
    kinds = _FLAG_KINDS.get(keyword, {})
    seen: set[str] = set()
    out: list[tuple[str, str | None]] = []
    for w in words:
        arg = w[2:]
        name, eq, value = arg.partition("=")
        given = value if eq else None
        out.append((name, given))
        if keyword in _FLAGS_UNCHECKED:
            continue
        kind = kinds.get(name)
        if kind is None:
            raise ValueError(f"unknown flag: {name}")
        if kind != "list" and name in seen:
            raise ValueError(f"duplicate flag specified: {name}")
        seen.add(name)
        if kind == "bool":
            if given is not None and given.lower() not in ("true", "false"):
                raise ValueError(f"expecting boolean value for flag {name}, not: {given}")
        elif given is None:
            raise ValueError(f"missing a value on flag: {name}")
    return tuple(out)


class _NotStrings(ValueError):
    pass


def _maybe_json(rest: str) -> list[str] | None:
    """line_parsers.go parseJSON: a JSON array of strings, or None when ``rest`` is not
    JSON (then BuildKit takes the shell form)."""
    s = rest.lstrip(_GO_SPACE_CHARS)
    if not s.startswith("["):
        return None
    try:
        value = json.loads(s, parse_constant=_reject_constant)
    except ValueError:
        return None
    if not isinstance(value, list):
        return None
    if not all(isinstance(v, str) for v in value):
        raise _NotStrings(
            "when using JSON array syntax, arrays must be comprised of strings only")
    return value


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")  # Go's decoder knows no NaN/Infinity


def _split_ws(rest: str) -> list[str]:
    return _WHITESPACE_RE.split(rest) if rest else []


def _parse_words(rest: str, escape: str) -> list[str]:
    """line_parsers.go parseWords: split at whitespace outside quotes, keeping quotes and
    escape tokens as written (the lexer removes them when the word is expanded)."""
    words: list[str] = []
    word: list[str] = []
    phase = "spaces"
    quote = ""
    blank_ok = False
    pos, n = 0, len(rest)
    while pos <= n:
        ch = rest[pos] if pos < n else ""
        if phase == "spaces":
            if pos == n:
                break
            if _is_space(ch):
                pos += 1
                continue
            phase = "word"
        if pos == n:
            if blank_ok or word:
                words.append("".join(word))
            break
        if phase == "word":
            if _is_space(ch):
                phase = "spaces"
                if blank_ok or word:
                    words.append("".join(word))
                word, blank_ok = [], False
                pos += 1
                continue
            if ch in "'\"":
                quote, blank_ok, phase = ch, True, "quote"
            if ch == escape:
                if pos + 1 == n:
                    pos += 1
                    continue  # an escape token at the very end is dropped
                word.append(ch)
                pos += 1
                ch = rest[pos]
            word.append(ch)
            pos += 1
            continue
        if ch == quote:
            phase = "word"
        if ch == escape and quote != "'":
            if pos + 1 == n:
                phase = "word"
                pos += 1
                continue
            word.append(ch)
            pos += 1
            ch = rest[pos]
        word.append(ch)
        pos += 1
    return words


def _node_args(keyword: str, rest: str, escape: str) -> tuple[list[str], bool]:
    """The per-instruction line parsers of parser.go's dispatch table."""
    if keyword in ("ADD", "COPY", "VOLUME"):
        array = _maybe_json(rest)
        return (array, True) if array is not None else (_split_ws(rest), False)
    if keyword in ("CMD", "ENTRYPOINT", "RUN", "SHELL"):
        if rest == "":
            return [], False
        array = _maybe_json(rest)
        return (array, True) if array is not None else ([rest], False)
    if keyword in ("ENV", "LABEL", "ARG"):
        return _parse_words(rest, escape), False
    if keyword in ("EXPOSE", "FROM"):
        return _split_ws(rest), False
    if keyword == "HEALTHCHECK":
        return _healthcheck_args(rest)
    if keyword == "ONBUILD":
        if rest == "":
            return [], False
        trigger, _flags, trigger_rest = _split_command(rest)
        upper = trigger.upper()
        sub = _node_args(upper, trigger_rest, escape)[0] if upper in INSTRUCTIONS else []
        return [trigger, *sub], False
    return ([rest] if rest else []), False  # MAINTAINER STOPSIGNAL USER WORKDIR


def _healthcheck_args(rest: str) -> tuple[list[str], bool]:
    sep = 0
    while sep < len(rest) and not _is_space(rest[sep]):
        sep += 1
    if sep == 0:
        return [], False
    nxt = sep
    while nxt < len(rest) and _is_space(rest[nxt]):
        nxt += 1
    cmd = rest[nxt:]
    if cmd == "":
        return [rest[:sep]], False
    array = _maybe_json(cmd)
    if array is not None:
        return [rest[:sep], *array], True
    return [rest[:sep], cmd], False


def _check_args(keyword: str, args: Sequence[str], json_form: bool, rest: str) -> None:
    """instructions/parse.go: argument counts and shapes (ValueError with BuildKit's text)."""
    if keyword in ("ENV", "LABEL"):
        _raw_key_values(keyword, args, rest)
    elif keyword == "ARG":
        _raw_args(args)
    elif keyword in ("ADD", "COPY"):
        if len(args) < 2:
            raise ValueError(f"{keyword} requires at least two arguments, but only one was "
                             "provided. Destination could not be determined")
    elif keyword == "FROM":
        _stage_name(args)
    elif keyword in ("MAINTAINER", "WORKDIR", "USER", "STOPSIGNAL"):
        if len(args) != 1:
            raise ValueError(f"{keyword} requires exactly one argument")
    elif keyword in ("EXPOSE", "VOLUME", "ONBUILD", "HEALTHCHECK") and not args:
        raise ValueError(f"{keyword} requires at least one argument")
    elif keyword == "SHELL":
        if not args:
            raise ValueError("SHELL requires at least one argument")
        if not json_form:
            raise ValueError("SHELL requires the arguments to be in JSON form")
    if keyword == "VOLUME" and any(not _trim_space(a) for a in args):
        raise ValueError("VOLUME specified can not be an empty string")
    if keyword == "ONBUILD":
        trigger = _trim_space(args[0]).upper()
        if trigger == "ONBUILD":
            raise ValueError("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
        if trigger in ("MAINTAINER", "FROM"):
            raise ValueError(f"{trigger} isn't allowed as an ONBUILD trigger")
    if keyword == "HEALTHCHECK":
        kind = args[0].upper()
        if kind == "NONE":
            if len(args) > 1:
                raise ValueError("HEALTHCHECK NONE takes no arguments")
        elif kind == "CMD":
            if len(args) < 2 or (not json_form and not args[1]):
                raise ValueError("Missing command after HEALTHCHECK CMD")
        else:
            raise ValueError(f"Unknown type {_go_quote(kind)} in HEALTHCHECK (try CMD)")


def _stage_name(args: Sequence[str]) -> str | None:
    if len(args) == 3 and args[1].lower() == "as":
        name = args[2].lower()
        if not _STAGE_NAME_RE.match(name):
            raise ValueError(f"invalid name for build stage: {_go_quote(args[2])}, name can't "
                             "start with a number or contain symbols")
        return name
    if len(args) != 1:
        raise ValueError("FROM requires either one or three arguments")
    return None


def _heredoc_words(line: str) -> list[str]:
    """parser.go heredocsFromLine: the words of the whole line, quotes and escapes kept,
    unset variables left as written; a line the lexer rejects has none."""
    try:
        return _Lexer(line, {}, "\\", raw_quotes=True, raw_escapes=True,
                      skip_unset=True).words()
    except ValueError:
        return []


def _has_heredoc(line: str) -> bool:
    for word in _heredoc_words(line):
        m = _HEREDOC_RE.match(word)
        if m is None or m.group(3) == "":
            continue
        try:
            names = _Lexer(m.group(3), {}, "\\", skip_unset=True).words()
        except ValueError:
            return True  # BuildKit fails on it; either way it is not buildable here
        if len(names) == 1:
            return True
    return False


def _can_contain_heredoc(keyword: str, args: Sequence[str], json_form: bool,
                         rest: str) -> bool:
    if keyword == "ONBUILD":
        if not args:
            return False
        trigger, _flags, trigger_rest = _split_command(rest)
        sub = trigger.upper()
        if sub not in ("ADD", "COPY", "RUN"):
            return False
        return _maybe_json_safe(trigger_rest) is None
    return keyword in ("ADD", "COPY", "RUN") and not json_form


def _maybe_json_safe(rest: str) -> list[str] | None:
    try:
        return _maybe_json(rest)
    except _NotStrings:
        return None


_SUGGEST_MAX_DISTANCE = 2


def _suggest(word: str) -> str | None:
    """The known instruction closest to a misspelt one (as BuildKit's suggest package
    offers "did you mean"), when it is close."""
    best, best_d = None, _SUGGEST_MAX_DISTANCE + 1
    for name in sorted(INSTRUCTIONS):
        d = _levenshtein(word.upper(), name)
        if d < best_d and d < len(word):
            best, best_d = name, d
    return best


def _levenshtein(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def _instruction(logical: _Logical, lines: Sequence[str], d: _Directives,
                 path: str) -> Instruction:
    written, flag_words, rest = _split_command(logical.line)
    keyword = written.upper()
    where = logical.start
    if keyword not in INSTRUCTIONS:
        hint = _suggest(written)
        more = f" (did you mean {hint}?)" if hint else ""
        raise DockerfileError(path, where, f"unknown instruction: {written}{more}")
    try:
        flags = _parse_flags(keyword, flag_words)
        args, json_form = _node_args(keyword, rest, d.escape)
        if _can_contain_heredoc(keyword, args, json_form, rest) and _has_heredoc(logical.line):
            raise ValueError(f"{keyword}: heredocs are not supported")
        _check_args(keyword, args, json_form, rest)
    except ValueError as e:
        raise DockerfileError(path, where, str(e)) from None
    original = "\n".join(line.rstrip("\r") for line in lines[logical.start - 1:logical.end])
    return Instruction(logical.start, logical.end, keyword, flags, tuple(args), json_form,
                       rest, original)


# --------------------------------------------------------------------------- the file


def parse_dockerfile(text: str, path: str = "Dockerfile") -> Dockerfile:
    """Parse a Dockerfile's text; DockerfileError names the line at fault."""
    d = _Directives()
    logical = _logical_lines(text, path, d)
    lines = text.split("\n")
    if lines and lines[0].startswith("\ufeff"):
        lines[0] = lines[0][1:]
    if not logical:
        raise DockerfileError(path, None, "file with no instructions")
    global_args: list[Instruction] = []
    stages: list[Stage] = []
    body: list[Instruction] = []
    current: Instruction | None = None

    def close() -> None:
        if current is None:
            return
        stages.append(_stage(len(stages), current, body))

    for item in logical:
        instr = _instruction(item, lines, d, path)
        if instr.keyword == "FROM":
            close()
            current, body = instr, []
        elif current is None:
            if instr.keyword != "ARG":
                raise DockerfileError(path, instr.line, f"{instr.keyword} before the first "
                                      "FROM: no build stage in current context")
            global_args.append(instr)
        else:
            body.append(instr)
    close()
    if not stages:
        raise DockerfileError(path, None, "dockerfile contains no stages to build")
    return Dockerfile(path, tuple(global_args), tuple(stages), d.escape, d.syntax)


def _stage(index: int, instr: Instruction, body: Sequence[Instruction]) -> Stage:
    name = _stage_name(instr.args)  # already checked
    platform = None
    for key, value in instr.flags:
        if key == "platform":
            platform = value
    return Stage(index, name, instr.args[0], platform, instr.line, tuple(body), instr)


def load_dockerfile(path: str | Path) -> Dockerfile:
    """Read and parse a Dockerfile; an unreadable file is an InputError naming it."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise InputError(f"{path}: cannot read the Dockerfile: {e.strerror or e}") from None
    return parse_dockerfile(data.decode("utf-8", "surrogateescape"), str(path))


# --------------------------------------------------------------------------- the shell lexer


class _Words:
    """lex.go wordsStruct: words split at unquoted whitespace that expansion produced or
    the source held; an empty quoted string makes no word of its own."""

    __slots__ = ("buf", "in_word", "words")

    def __init__(self) -> None:
        self.buf = ""
        self.words: list[str] = []
        self.in_word = False

    def add_char(self, ch: str) -> None:
        if _is_space(ch):
            if self.in_word and self.buf:
                self.words.append(self.buf)
                self.buf = ""
                self.in_word = False
        else:
            self.add_raw_char(ch)

    def add_raw_char(self, ch: str) -> None:
        self.buf += ch
        self.in_word = True

    def add_string(self, s: str) -> None:
        for ch in s:
            self.add_char(ch)

    def add_raw_string(self, s: str) -> None:
        self.buf += s
        self.in_word = True

    def result(self) -> list[str]:
        if self.buf:
            self.words.append(self.buf)
            self.buf = ""
            self.in_word = False
        return self.words


class _Lexer:
    """The shell lexer of BuildKit's lex.go: quotes, escapes and ``$`` expansion.

    ``raw_quotes``/``raw_escapes`` keep quote and escape characters in the result and
    ``skip_unset`` leaves references to unset variables as written (BuildKit uses these
    to find heredocs)."""

    def __init__(self, text: str, env: Mapping[str, str], escape: str, *,
                 raw_quotes: bool = False, raw_escapes: bool = False,
                 skip_unset: bool = False) -> None:
        self.text = text
        self.pos = 0
        self.env = env
        self.escape = escape
        self.raw_quotes = raw_quotes
        self.raw_escapes = raw_escapes
        self.skip_unset = skip_unset

    # -- entry points

    def word(self) -> str:
        return self._process()[0]

    def words(self) -> list[str]:
        return self._process()[1]

    def _process(self) -> tuple[str, list[str]]:
        try:
            return self._stop_on(None, self.raw_escapes)
        except _LexError as e:
            raise ValueError(f"failed to process {_go_quote(self.text)}: {e}") from None

    # -- scanning

    def _peek(self) -> str | None:
        return self.text[self.pos] if self.pos < len(self.text) else None

    def _next(self) -> str | None:
        if self.pos < len(self.text):
            ch = self.text[self.pos]
            self.pos += 1
            return ch
        return None

    def _stop_on(self, stop: str | None, raw_escapes: bool) -> tuple[str, list[str]]:
        saved = self.raw_escapes
        self.raw_escapes = raw_escapes
        try:
            return self._stop_on_inner(stop)
        finally:
            self.raw_escapes = saved

    def _stop_on_inner(self, stop: str | None) -> tuple[str, list[str]]:
        result: list[str] = []
        words = _Words()
        while (ch := self._peek()) is not None:
            if stop is not None and ch == stop:
                self.pos += 1
                return "".join(result), words.result()
            if ch == "$":
                tmp = self._dollar()
                result.append(tmp)
                words.add_string(tmp)
            elif ch == "'":
                tmp = self._single_quote()
                result.append(tmp)
                words.add_raw_string(tmp)
            elif ch == '"':
                tmp = self._double_quote()
                result.append(tmp)
                words.add_raw_string(tmp)
            else:
                self.pos += 1
                if ch == self.escape:
                    if self.raw_escapes:
                        words.add_raw_char(ch)
                        result.append(ch)
                    nxt = self._next()
                    if nxt is None:
                        break  # an escape token at the end escapes nothing
                    ch = nxt
                    words.add_raw_char(ch)
                else:
                    words.add_char(ch)
                result.append(ch)
        if stop is not None:
            raise _LexError(f"unexpected end of statement while looking for matching {stop}")
        return "".join(result), words.result()

    def _single_quote(self) -> str:
        # everything up to the next ' is literal; nothing escapes inside
        self.pos += 1
        result = ["'"] if self.raw_quotes else []
        while True:
            ch = self._next()
            if ch is None:
                raise _LexError(
                    "unexpected end of statement while looking for matching single-quote")
            if ch == "'":
                if self.raw_quotes:
                    result.append(ch)
                return "".join(result)
            result.append(ch)

    def _double_quote(self) -> str:
        # literal except $ expansions; the escape token escapes only " $ and itself
        self.pos += 1
        result = ['"'] if self.raw_quotes else []
        while True:
            ch = self._peek()
            if ch is None:
                raise _LexError(
                    "unexpected end of statement while looking for matching double-quote")
            if ch == '"':
                self.pos += 1
                if self.raw_quotes:
                    result.append(ch)
                return "".join(result)
            if ch == "$":
                result.append(self._dollar())
                continue
            self.pos += 1
            if ch == self.escape:
                if self.raw_escapes:
                    result.append(ch)
                nxt = self._peek()
                if nxt is None:
                    continue  # then the missing closing quote is reported
                if nxt in ('"', "$", self.escape):
                    ch = nxt
                    self.pos += 1
            result.append(ch)

    def _lookup(self, name: str) -> tuple[str, bool]:
        if name in self.env:
            return self.env[name], True
        return "", False

    def _dollar(self) -> str:
        self.pos += 1
        if self._peek() != "{":
            name = self._name()
            if name == "":
                return "$"
            value, found = self._lookup(name)
            if not found and self.skip_unset:
                return "$" + name
            return value
        self.pos += 1
        ch = self._peek()
        if ch is None:
            raise _LexError("syntax error: missing '}'")
        if ch in "{}:":
            raise _LexError("syntax error: bad substitution")
        name = self._name()
        op = self._next()
        if op is None:
            raise _LexError("syntax error: missing '}'")
        if op == "}":
            value, found = self._lookup(name)
            if not found and self.skip_unset:
                return "${" + name + "}"
            return value
        if op == ":":
            modifier = self._next()
            if modifier is None:
                raise _LexError("syntax error: missing '}'")
            return self._modifier(name, modifier, ":" + modifier, null_is_unset=True)
        if op in "+-?#%":
            return self._modifier(name, op, op, null_is_unset=False)
        if op == "/":
            return self._replace(name)
        raise _LexError(f"unsupported modifier ({op}) in substitution")

    def _word_until_brace(self, raw_escapes: bool) -> str:
        try:
            return self._stop_on("}", raw_escapes)[0]
        except _LexError:
            if self._peek() is None:
                raise _LexError("syntax error: missing '}'") from None
            raise

    def _modifier(self, name: str, op: str, spelled: str, *, null_is_unset: bool) -> str:
        pattern_op = op in "#%"
        if null_is_unset and pattern_op:
            raise _LexError(f"unsupported modifier ({spelled}) in substitution")
        word = self._word_until_brace(pattern_op)
        value, found = self._lookup(name)
        if self.skip_unset and not found:
            return "${" + name + spelled + word + "}"
        missing = not found or (null_is_unset and value == "")
        if op == "-":
            return word if missing else value
        if op == "+":
            return "" if missing else word
        if op == "?":
            if not found:
                raise _LexError(f"{name}: {word or 'is not allowed to be unset'}")
            if missing:
                raise _LexError(f"{name}: {word or 'is not allowed to be empty'}")
            return value
        if op in "#%":
            # #/% remove the shortest matching prefix/suffix, ##/%% the longest
            greedy = word.startswith(op)
            pattern = word[1:] if greedy else word
            if op == "%":
                return _trim_suffix(pattern, value, greedy)
            return _trim_prefix(pattern, value, greedy)
        raise _LexError(f"unsupported modifier ({spelled}) in substitution")

    def _replace(self, name: str) -> str:
        replace_all = self._peek() == "/"
        if replace_all:
            self.pos += 1
        try:
            pattern = self._stop_on("/", True)[0]
        except _LexError:
            if self._peek() is None:
                raise _LexError("syntax error: missing '/' in ${}") from None
            raise
        replacement = self._word_until_brace(True)
        value, found = self._lookup(name)
        if self.skip_unset and not found:
            return "${" + name + "/" + pattern + "/" + replacement + "}"
        regex = _shell_pattern_regex(pattern, greedy=True, anchored=False)
        if replace_all:
            return _go_replace_all(regex, value, _go_template(replacement))
        m = regex.search(value)
        if m is None:
            return value
        return value[:m.start()] + replacement + value[m.end():]

    def _name(self) -> str:
        """lex.go processName: letters, digits and _; or a run of digits (a positional
        parameter); or one special parameter character."""
        start = self.pos
        ch = self._peek()
        if ch is None:
            return ""
        if _is_digit(ch):
            while (c := self._peek()) is not None and _is_digit(c):
                self.pos += 1
            return self.text[start:self.pos]
        if ch in "@*#?-$!0":
            self.pos += 1
            return ch
        while (c := self._peek()) is not None and (_is_letter(c) or _is_digit(c) or c == "_"):
            self.pos += 1
        return self.text[start:self.pos]


class _LexError(Exception):
    pass


_REGEX_SPECIALS = frozenset("[]{}.+()|^$")


def _shell_pattern_regex(pattern: str, *, greedy: bool, anchored: bool) -> re.Pattern[str]:
    """lex.go convertShellPatternToRegex: ``*`` and ``?`` of a ``${var#pattern}``; a
    backslash escapes ``*``, ``?`` or itself (and is dropped before ``}`` and ``/``)."""
    out = ["^"] if anchored else []
    star = ".*" if greedy else ".*?"
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        i += 1
        if ch == "*":
            out.append(star)
        elif ch == "?":
            out.append(".")
        elif ch == "\\":
            if i < n and pattern[i] in "}/":
                continue
            nxt = pattern[i] if i < n else "\ufffd"
            i += 1
            if nxt not in "*?\\":
                raise _LexError(f"invalid pattern ({pattern}) in substitution: "
                                f"invalid escape '\\{nxt}'")
            out.append("\\" + nxt)
        elif ch in _REGEX_SPECIALS:
            out.append("\\" + ch)
        else:
            out.append(ch)
    return re.compile("".join(out))


def _trim_prefix(pattern: str, value: str, greedy: bool) -> str:
    m = _shell_pattern_regex(pattern, greedy=greedy, anchored=True).match(value)
    return value[m.end():] if m else value


def _reverse_pattern(pattern: str) -> str:
    # lex.go reversePattern: reverse, keeping each backslash before the character it escapes
    out = [""] * len(pattern)
    last = len(pattern) - 1
    i = 0
    while i <= last:
        ch = pattern[i]
        j = last - i
        if ch == "\\" and i != last:
            out[j - 1] = ch
            out[j] = pattern[i + 1]
            i += 2
        else:
            out[j] = ch
            i += 1
    return "".join(out)


def _trim_suffix(pattern: str, value: str, greedy: bool) -> str:
    # the shortest rightmost match is the shortest leftmost match of the reversed strings
    return _trim_prefix(_reverse_pattern(pattern), value[::-1], greedy)[::-1]


def _go_template(replacement: str) -> str:
    """Go's Regexp.ReplaceAllString expands ``$name`` and ``${name}`` in the replacement;
    the pattern has no groups, so every reference is empty and ``$$`` is a ``$``."""
    out: list[str] = []
    i, n = 0, len(replacement)
    while i < n:
        ch = replacement[i]
        if ch != "$" or i + 1 >= n:
            out.append(ch)
            i += 1
            continue
        nxt = replacement[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
            continue
        if nxt == "{":
            end = replacement.find("}", i + 2)
            name = replacement[i + 2:end] if end >= 0 else ""
            if end >= 0 and name and all(_is_letter(c) or _is_digit(c) or c == "_"
                                         for c in name):
                i = end + 1
                continue
        else:
            j = i + 1
            while j < n and (_is_letter(replacement[j]) or _is_digit(replacement[j])
                             or replacement[j] == "_"):
                j += 1
            if j > i + 1:
                i = j
                continue
        out.append("$")
        i += 1
    return "".join(out)


def _go_replace_all(regex: re.Pattern[str], value: str, replacement: str) -> str:
    # Go skips an empty match that abuts the previous match; Python's re does not
    out: list[str] = []
    last = 0
    prev_end = -1
    for m in regex.finditer(value):
        if m.start() == m.end() == prev_end:
            continue
        out.append(value[last:m.start()])
        out.append(replacement)
        last = prev_end = m.end()
    out.append(value[last:])
    return "".join(out)


def expand_word(word: str, env: Mapping[str, str], escape: str = DEFAULT_ESCAPE) -> str:
    """BuildKit's ProcessWord: quotes removed (``'…'`` literal, ``"…"`` with expansion),
    escapes applied, ``$VAR`` ``${VAR}`` ``${VAR:-default}`` ``${VAR-default}``
    ``${VAR:+alt}`` ``${VAR+alt}`` ``${VAR:?message}`` ``${VAR?message}``
    ``${VAR#pat}`` ``${VAR##pat}`` ``${VAR%pat}`` ``${VAR%%pat}`` ``${VAR/pat/repl}``
    ``${VAR//pat/repl}`` expanded; unset variables are empty. Whitespace is kept.
    ValueError carries BuildKit's message."""
    return _Lexer(word, env, escape).word()


def expand_words(text: str, env: Mapping[str, str], escape: str = DEFAULT_ESCAPE) -> list[str]:
    """BuildKit's ProcessWords: expand like ``expand_word`` and split into words at
    whitespace that is not quoted or escaped (after expansion, so a value with spaces
    makes several words)."""
    return _Lexer(text, env, escape).words()


# --------------------------------------------------------------------------- instruction helpers


def _raw_key_values(keyword: str, args: Sequence[str], text: str) -> list[tuple[str, str]]:
    """line_parsers.go parseNameVal: ``k=v k2="v 2"``, or the legacy ``KEY value with
    spaces`` when the first word has no ``=``. Raw (unexpanded) pairs."""
    if not args:
        raise ValueError(f"{keyword} requires at least one argument")
    if "=" not in args[0]:
        parts = _WHITESPACE_RE.split(text, maxsplit=1)
        if len(parts) < 2:
            raise ValueError(f"{keyword} must have two arguments")
        return [(parts[0], parts[1])]
    pairs: list[tuple[str, str]] = []
    for word in args:
        if "=" not in word:
            raise ValueError(f"Syntax error - can't find = in {_go_quote(word)}. Must be of "
                             "the form: name=value")
        key, _, value = word.partition("=")
        if key == "":
            raise ValueError(f"{keyword} names can not be blank")
        pairs.append((key, value))
    return pairs


def parse_key_values(instr: Instruction, env: Mapping[str, str],
                     escape: str = DEFAULT_ESCAPE) -> list[tuple[str, str]]:
    """ENV or LABEL pairs, key and value expanded against ``env`` (the scope before this
    instruction: ``ENV a=1 b=$a`` sees the old ``a``). ValueError on a bad expansion."""
    if instr.keyword not in ("ENV", "LABEL"):
        raise ValueError(f"{instr.keyword} has no key=value pairs (ENV and LABEL have)")
    return [(expand_word(k, env, escape), expand_word(v, env, escape))
            for k, v in _raw_key_values(instr.keyword, instr.args, instr.text)]


def _raw_args(args: Sequence[str]) -> list[tuple[str, str | None]]:
    if not args:
        raise ValueError("ARG requires at least one argument")
    out: list[tuple[str, str | None]] = []
    for word in args:
        if "=" in word:
            name, _, value = word.partition("=")
            if name == "":
                raise ValueError("ARG names can not be blank")
            out.append((name, value))
        else:
            out.append((word, None))
    return out


def parse_args(instr: Instruction) -> list[tuple[str, str | None]]:
    """Every ``name[=default]`` of an ARG (BuildKit allows several per line), raw: expand
    the name and default with ``expand_word`` where the ARG is dispatched."""
    if instr.keyword != "ARG":
        raise ValueError(f"{instr.keyword} is not an ARG")
    return _raw_args(instr.args)


def parse_arg(instr: Instruction) -> tuple[str, str | None]:
    """The single ``name[=default]`` of an ARG, raw (default None when there is none).
    ValueError for an ARG that declares several names; use ``parse_args`` for those."""
    pairs = parse_args(instr)
    if len(pairs) != 1:
        names = ", ".join(name for name, _ in pairs)
        raise ValueError(f"ARG declares {len(pairs)} names ({names}); one was expected")
    return pairs[0]


def exec_form(instr: Instruction, shell: Sequence[str] = DEFAULT_SHELL
              ) -> tuple[list[str], bool]:
    """The argv of CMD, ENTRYPOINT or RUN: the JSON array as is, or ``shell + [text]`` for
    the shell form (``is_shell`` True)."""
    if instr.json_form:
        return list(instr.args), False
    return [*shell, instr.text], True


def parse_expose(words: Iterable[str]) -> list[str]:
    """EXPOSE's expanded words as ``port/proto`` (buildkit dispatchExpose/parsePortSpec):
    ``8080`` → ``8080/tcp``, ``53/udp``, ranges ``8000-8002`` → one entry per port,
    ``ip:host:container`` accepted with the container part kept. In order, each once.
    ValueError with BuildKit's message for a bad spec."""
    out: dict[str, None] = {}
    for raw in words:
        for port in _port_spec(raw):
            out.setdefault(port)
    return list(out)


def _port_spec(raw: str) -> list[str]:
    parts = raw.split(":")
    if len(parts) == 1:
        ip, host, container = "", "", parts[0]
    elif len(parts) == 2:
        ip, host, container = "", parts[0], parts[1]
    else:
        ip, host, container = ":".join(parts[:-2]), parts[-2], parts[-1]
    port, _, proto = container.partition("/")
    if port == "":
        raise ValueError(f"no port specified: {container}<empty>")
    proto = proto.lower() or "tcp"
    if proto not in ("tcp", "udp", "sctp"):
        raise ValueError("invalid proto: " + proto)
    if ip:
        _check_ip(ip)
    try:
        start, end = _port_range(port)
    except ValueError:
        raise ValueError("invalid containerPort: " + port) from None
    if host:
        try:
            host_start, host_end = _port_range(host)
        except ValueError:
            raise ValueError("invalid hostPort: " + host) from None
        if end - start != host_end - host_start and end != start:
            raise ValueError("invalid ranges specified for container and host Ports: "
                             f"{port} and {host}")
    return [f"{p}/{proto}" for p in range(start, end + 1)]


def _check_ip(ip: str) -> None:
    import ipaddress

    address = ip
    if ip.startswith("["):
        if not ip.endswith("]"):
            raise ValueError(f"invalid IP address {ip}: missing ']' in address")
        address = ip[1:-1]
    try:
        ipaddress.ip_address(address)
    except ValueError:
        raise ValueError("invalid IP address: " + address) from None


def _port_range(text: str) -> tuple[int, int]:
    if "-" not in text:
        value = _parse_port(text)
        return value, value
    parts = text.split("-")
    if len(parts) != 2:
        raise ValueError(f"invalid port range format: {text}")
    start, end = _parse_port(parts[0]), _parse_port(parts[1])
    if end < start:
        raise ValueError("invalid range specified for port: " + text)
    return start, end


def _parse_port(text: str) -> int:
    # strconv.ParseUint(text, 10, 16): ASCII digits only, at most 65535
    if not text or not text.isascii() or not text.isdigit() or int(text) > 0xFFFF:
        raise ValueError(f"invalid port {text!r}")
    return int(text)


# --------------------------------------------------------------------------- stages


def stage_for_target(df: Dockerfile, target: str | None) -> int:
    """The index of the stage ``--target`` names (case-insensitively), the last stage when
    None; DockerfileError when no stage has that name."""
    if target is None or target == "":
        return len(df.stages) - 1
    for stage in df.stages:
        if stage.name is not None and stage.name == target.lower():
            return stage.index
    raise DockerfileError(df.path, None, f"target stage {_go_quote(target)} could not be found")


def global_arg_values(df: Dockerfile, build_args: Mapping[str, str | None] | None = None
                      ) -> dict[str, str]:
    """The global-scope ARG values (before the first FROM): a build arg given with a value
    wins, else the default expanded against the ARGs before it. Undefaulted ARGs are
    unset. Used to expand FROM and ``--from`` values."""
    given = build_args or {}
    env: dict[str, str] = {}
    for instr in df.global_args:
        for name, default in parse_args(instr):
            value = given.get(name)
            if value is not None:
                env[name] = value
            elif default is not None:
                # BuildKit drops the error here and takes an empty value
                env[name] = _expand_or_raw(default, env, df.escape, fallback="")
    return env


def stage_dependencies(df: Dockerfile, index: int, *,
                       build_args: Mapping[str, str | None] | None = None) -> list[int]:
    """The stages stage ``index`` needs, transitively, in an order they can be built in
    (each after the stages it needs), itself excluded: ``FROM <earlier stage name>``,
    ``COPY --from=<stage name or index>`` and ``RUN --mount=…,from=<stage>``. FROM and
    ``--from`` values are expanded with the global ARGs. DockerfileError for an invalid
    stage index or a cycle."""
    env = global_arg_values(df, build_args)
    direct = {s.index: _direct_dependencies(df, s, env) for s in df.stages}
    order: list[int] = []
    state: dict[int, str] = {}  # "visiting" or "done"

    def visit(i: int) -> None:
        if state.get(i) == "done":
            return
        if state.get(i) == "visiting":
            stage = df.stages[i]
            raise DockerfileError(df.path, stage.line, "circular dependency detected on "
                                  f"stage: {stage.name or stage.index}")
        state[i] = "visiting"
        for dep in sorted(direct[i]):
            visit(dep)
        state[i] = "done"
        order.append(i)

    visit(index)
    return [i for i in order if i != index]


def _direct_dependencies(df: Dockerfile, stage: Stage, env: Mapping[str, str]) -> set[int]:
    deps: set[int] = set()
    base = _expand_or_raw(stage.base, env, df.escape).lower()
    for earlier in reversed(df.stages[:stage.index]):
        if earlier.name == base:
            deps.add(earlier.index)
            break
    for instr in stage.instructions:
        for ref in _stage_refs(instr):
            value = _expand_or_raw(ref, env, df.escape)
            found = _resolve_stage(df, value, instr)
            if found is not None:
                deps.add(found)
    return deps


def _stage_refs(instr: Instruction) -> list[str]:
    refs: list[str] = []
    if instr.keyword == "COPY":
        value = instr.flag("from")
        if value:
            refs.append(value)
    elif instr.keyword == "RUN":
        for key, value in instr.flags:
            if key == "mount" and value:
                refs.extend(_mount_from(value))
    return refs


def _mount_from(spec: str) -> list[str]:
    # RUN --mount takes CSV fields key=value (instructions/commands_runmount.go); csv loads
    # here, as few Dockerfiles have one
    import csv

    try:
        fields = next(csv.reader([spec]), [])
    except csv.Error:
        return []
    out = []
    for item in fields:
        key, _, value = item.partition("=")
        if key.strip().lower() == "from" and value:
            out.append(value)
    return out


def _resolve_stage(df: Dockerfile, value: str, instr: Instruction) -> int | None:
    if _GO_INT_RE.match(value):
        index = int(value)
        if not 0 <= index < len(df.stages):
            raise DockerfileError(df.path, instr.line, f"invalid stage index {index}")
        return index
    found = None
    for stage in df.stages:  # the last stage of that name, as BuildKit's map keeps it
        if stage.name is not None and stage.name == value.lower():
            found = stage.index
    return found


def _expand_or_raw(word: str, env: Mapping[str, str], escape: str,
                   fallback: str | None = None) -> str:
    try:
        return expand_word(word, env, escape)
    except ValueError:
        return word if fallback is None else fallback
