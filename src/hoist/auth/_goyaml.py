"""What ``kubectl … -o yaml`` prints, byte for byte, for JSON-shaped values.

kubectl's YAML printer is ``sigs.k8s.io/yaml.Marshal``: ``encoding/json`` first, then the
JSON text is read back with go-yaml v2 (``yaml.Unmarshal``) and written out with go-yaml v2
(``yaml.Marshal``). This module reproduces the last two steps:

* :func:`reparse` reads Go's compact JSON text the way go-yaml's scanner reads it: the reader
  refuses DEL, C1 controls and U+FFFE/U+FFFF ("control characters are not allowed"), and a
  raw NEL (U+0085, which Go's JSON leaves unescaped) is a line break that folds inside a
  double-quoted scalar.
* :func:`emit` is a port of the parts of go-yaml v2's encoder and emitter (``encode.go``,
  ``resolve.go``, ``sorter.go``, ``emitterc.go``) that JSON-shaped values reach: block
  mappings with keys in go-yaml's "natural" order, indentless block sequences, ``{}``/``[]``
  for empty collections, and scalars in plain, single-quoted, double-quoted or literal style,
  folded at column 80 as go-yaml folds them.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from hoist.errors import InputError

BEST_INDENT = 2
BEST_WIDTH = 80


class YAMLConversionError(InputError):
    """kubectl's JSON→YAML step fails for this value (kubectl says ``error: yaml: …``)."""


# --------------------------------------------------------------------------- reparse

_BLANKS = " \t"
_BREAKS = "\r\n\x85\u2028\u2029"
_ESCAPES = {
    "0": "\0", "a": "\a", "b": "\b", "t": "\t", "\t": "\t", "n": "\n", "v": "\v",
    "f": "\f", "r": "\r", "e": "\x1b", " ": " ", '"': '"', "/": "/", "\\": "\\",
    "N": "\x85", "_": "\xa0", "L": "\u2028", "P": "\u2029",
}
_HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}
_JSON_WORD = re.compile(r"null|true|false|-?[0-9]+")


def _reader_allows(cp: int) -> bool:
    return (
        cp in (0x09, 0x0A, 0x0D)
        or 0x20 <= cp <= 0x7E
        or cp == 0x85
        or 0xA0 <= cp <= 0xD7FF
        or 0xE000 <= cp <= 0xFFFD
        or 0x10000 <= cp <= 0x10FFFF
    )


class _Reparser:
    def __init__(self, text: str) -> None:
        for ch in text:
            if not _reader_allows(ord(ch)):
                raise YAMLConversionError("yaml: control characters are not allowed")
        self.text = text + "\0"
        self.pos = 0
        self.line = 0
        self.line_start = False

    def fail(self, problem: str) -> YAMLConversionError:
        where = f"line {self.line + 1}: " if self.line else ""
        return YAMLConversionError(f"yaml: {where}{problem}")

    def value(self) -> Any:
        c = self.text[self.pos]
        if c == "{":
            return self.mapping()
        if c == "[":
            return self.sequence()
        if c == '"':
            return self.string()[0]
        m = _JSON_WORD.match(self.text, self.pos)
        if m is None:
            raise self.fail("unexpected character in JSON text")
        self.pos = m.end()
        self.line_start = False
        word = m.group()
        if word == "null":
            return None
        if word in ("true", "false"):
            return word == "true"
        return int(word)

    def mapping(self) -> dict[str, Any]:
        self.pos += 1
        out: dict[str, Any] = {}
        while self.text[self.pos] != "}":
            if out:
                self.pos += 1  # ","
            start_line = self.line
            key, length = self.string()
            if self.line != start_line or length > 1024:
                # A flow-context simple key must fit on one line in 1024 characters.
                raise self.fail("did not find expected ',' or '}'")
            self.pos += 1  # ":"
            out[key] = self.value()
        self.pos += 1
        return out

    def sequence(self) -> list[Any]:
        self.pos += 1
        out: list[Any] = []
        while self.text[self.pos] != "]":
            if out:
                self.pos += 1
            out.append(self.value())
        self.pos += 1
        return out

    def _read_line(self) -> str:
        t, p = self.text, self.pos
        if t[p] == "\r" and t[p + 1] == "\n":
            self.pos += 2
            brk = "\n"
        elif t[p] in "\r\n\x85":
            self.pos += 1
            brk = "\n"
        else:
            self.pos += 1
            brk = t[p]
        self.line += 1
        self.line_start = True
        return brk

    def string(self) -> tuple[str, int]:
        """A double-quoted scalar as go-yaml's scanner reads it; also its length in the text."""
        t = self.text
        begin = self.pos
        self.pos += 1
        self.line_start = False
        out: list[str] = []
        while True:
            p = self.pos
            if self.line_start and t[p : p + 3] in ("---", "...") and (
                t[p + 3] in _BLANKS or t[p + 3] in _BREAKS or t[p + 3] == "\0"
            ):
                raise self.fail("found unexpected document indicator")
            leading_blanks = False
            while not (t[self.pos] in _BLANKS or t[self.pos] in _BREAKS or t[self.pos] == "\0"):
                c = t[self.pos]
                if c == '"':
                    break
                self.line_start = False
                if c == "\\" and t[self.pos + 1] in _BREAKS:
                    self.pos += 1
                    self._read_line()
                    leading_blanks = True
                    break
                if c == "\\":
                    e = t[self.pos + 1]
                    if e in _HEX_ESCAPES:
                        n = _HEX_ESCAPES[e]
                        out.append(chr(int(t[self.pos + 2 : self.pos + 2 + n], 16)))
                        self.pos += 2 + n
                    else:
                        out.append(_ESCAPES[e])
                        self.pos += 2
                    continue
                out.append(c)
                self.pos += 1
            if t[self.pos] == '"':
                break
            whitespaces: list[str] = []
            leading_break = ""
            trailing_breaks = ""
            while t[self.pos] in _BLANKS or t[self.pos] in _BREAKS:
                if t[self.pos] in _BLANKS:
                    if not leading_blanks:
                        whitespaces.append(t[self.pos])
                    self.pos += 1
                    self.line_start = False
                elif not leading_blanks:
                    whitespaces = []
                    leading_break = self._read_line()
                    leading_blanks = True
                else:
                    trailing_breaks += self._read_line()
            if leading_blanks:
                if leading_break.startswith("\n"):
                    out.append(trailing_breaks if trailing_breaks else " ")
                else:
                    out.append(leading_break + trailing_breaks)
            else:
                out.extend(whitespaces)
        self.pos += 1
        self.line_start = False
        return "".join(out), self.pos - begin


def reparse(json_text: str) -> Any:
    """The value go-yaml v2's ``yaml.Unmarshal`` makes of Go's compact JSON text."""
    return _Reparser(json_text).value()


# --------------------------------------------------------------------------- resolve

_RESOLVE_MAP = frozenset({
    "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON",
    "n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF",
    "~", "null", "Null", "NULL", ".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF",
    "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", "<<",
})
_HINT_CHARS = frozenset("+-0123456789yYnNtTfFoO~.")
_YAML_STYLE_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_GO_FLOAT_DOT = re.compile(r"\.[0-9]+(?:_[0-9]+)*(?:[eE][-+]?[0-9]+(?:_[0-9]+)*)?")
_BASE60_FLOAT = re.compile(r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?")
_TIMESTAMP = re.compile(
    r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})"
    r"(?:(?:([Tt])|( ))([0-9]{1,2}):([0-9]{1,2}):([0-9]{1,2})(?:[.,][0-9]+)?"
    r"(Z|[+-][0-9][0-9]:[0-9][0-9])?)?"
)
_DIGITS = {2: "01", 8: "01234567", 10: "0123456789", 16: "0123456789abcdefABCDEF"}
_INT64_MAX = (1 << 63) - 1
_UINT64_MAX = (1 << 64) - 1


def _go_parse_uint(s: str) -> tuple[int | None, str]:
    """``strconv.ParseUint(s, 0, 64)`` → (value, "" | "syntax" | "range")."""
    if not s:
        return None, "syntax"
    base, body = 10, s
    if s[0] == "0":
        low = s[1:2].lower()
        if len(s) >= 3 and low in ("b", "o", "x"):
            base, body = {"b": 2, "o": 8, "x": 16}[low], s[2:]
        else:
            base, body = 8, s[1:]
    n = 0
    for c in body:
        if c not in _DIGITS[base]:
            return None, "syntax"
        n = n * base + int(c, 16)
        if n > _UINT64_MAX:
            return None, "range"
    return n, ""


def _go_parse_int(s: str) -> tuple[int | None, str]:
    """``strconv.ParseInt(s, 0, 64)``."""
    if not s:
        return None, "syntax"
    neg = s[0] == "-"
    body = s[1:] if s[0] in "+-" else s
    n, err = _go_parse_uint(body)
    if err:
        return None, err
    assert n is not None
    if (neg and n > _INT64_MAX + 1) or (not neg and n > _INT64_MAX):
        return None, "range"
    return (-n if neg else n), ""


def _days_in(month: int, year: int) -> int:
    if month == 2:
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        return 29 if leap else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _is_timestamp(s: str) -> bool:
    m = _TIMESTAMP.fullmatch(s)
    if m is None:
        return False
    year, month, day = int(m.group(1)), int(m.group(2)), int(m.group(3))
    if not (1 <= month <= 12 and 1 <= day <= _days_in(month, year)):
        return False
    if m.group(6) is None:
        return True
    if m.group(5) is not None and m.group(9) is not None:
        return False  # "2006-1-2 15:4:5" carries no zone
    if m.group(4) is not None and m.group(9) is None:
        return False  # the T/t forms need a zone
    hour, minute, sec = int(m.group(6)), int(m.group(7)), int(m.group(8))
    if hour > 23 or minute > 59 or sec > 59:
        return False
    zone = m.group(9)
    return not (zone and zone != "Z" and (int(zone[1:3]) > 24 or int(zone[4:6]) > 60))


def _go_float_ok(s: str) -> bool:
    try:
        return math.isfinite(float(s))
    except ValueError:
        return False


def _fits_base2(rest: str, signed: bool) -> bool:
    """``strconv.ParseInt(rest, 2, 64)`` (signed) / ``ParseUint(rest, 2, 64)`` succeeds."""
    neg = False
    if signed and rest[:1] in ("+", "-"):
        neg, rest = rest[0] == "-", rest[1:]
    if not rest or any(c not in "01" for c in rest):
        return False
    n = int(rest, 2)
    if not signed:
        return n <= _UINT64_MAX
    return n <= (_INT64_MAX + 1 if neg else _INT64_MAX)


def resolves_to_str(s: str) -> bool:
    """go-yaml v2 ``resolve("", s)`` gives ``!!str`` (so ``s`` may be written plain)."""
    if not s:
        return False  # null
    hint = s[0]
    if hint not in _HINT_CHARS:
        return True
    if s in _RESOLVE_MAP:
        return False
    if hint == ".":
        return not (_GO_FLOAT_DOT.fullmatch(s) and _go_float_ok(s))
    if hint not in "+-0123456789":
        return True
    if _is_timestamp(s):
        return False
    plain = s.replace("_", "")
    if not _go_parse_int(plain)[1] or not _go_parse_uint(plain)[1]:
        return False
    if _YAML_STYLE_FLOAT.fullmatch(plain) and _go_float_ok(plain):
        return False
    if plain.startswith("0b"):
        return not (_fits_base2(plain[2:], True) or _fits_base2(plain[2:], False))
    if plain.startswith("-0b"):
        return not _fits_base2("-" + plain[3:], True)
    return True


def _is_base60_float(s: str) -> bool:
    if not s or not (s[0] in "+-" or (s[0].isdigit() and s[0] < "\x80")) or ":" not in s:
        return False
    return _BASE60_FLOAT.fullmatch(s) is not None


# --------------------------------------------------------------------------- sort

def _is_letter(c: str) -> bool:
    return c.isalpha()


def _is_digit(c: str) -> bool:
    return c.isdecimal()


def _wrap64(n: int) -> int:
    n &= (1 << 64) - 1
    return n - (1 << 64) if n >= 1 << 63 else n


def _key_less(a: str, b: str) -> bool:
    """go-yaml v2 ``keyList.Less`` for two string keys."""
    for i in range(min(len(a), len(b))):
        if a[i] == b[i]:
            continue
        al, bl = _is_letter(a[i]), _is_letter(b[i])
        if al and bl:
            return a[i] < b[i]
        if al or bl:
            return bl
        an = bn = 0
        if a[i] == "0" or b[i] == "0":
            j = i - 1
            while j >= 0 and _is_digit(a[j]):
                if a[j] != "0":
                    an = bn = 1
                    break
                j -= 1
        ai = i
        while ai < len(a) and _is_digit(a[ai]):
            an = _wrap64(an * 10 + ord(a[ai]) - 0x30)
            ai += 1
        bi = i
        while bi < len(b) and _is_digit(b[bi]):
            bn = _wrap64(bn * 10 + ord(b[bi]) - 0x30)
            bi += 1
        if an != bn:
            return an < bn
        if ai != bi:
            return ai < bi
        return a[i] < b[i]
    return len(a) < len(b)


def _sorted_keys(keys: list[str]) -> list[str]:
    def cmp(a: str, b: str) -> int:
        if _key_less(a, b):
            return -1
        if _key_less(b, a):
            return 1
        return 0

    return sorted(keys, key=functools.cmp_to_key(cmp))


# --------------------------------------------------------------------------- emitter

PLAIN, SINGLE, DOUBLE, LITERAL = "plain", "single", "double", "literal"


def _printable(c: str) -> bool:
    cp = ord(c)
    return (
        cp == 0x0A
        or 0x20 <= cp <= 0x7E
        or 0xA0 <= cp <= 0xD7FF
        or (0xE000 <= cp <= 0xFFFD and cp != 0xFEFF)
    )


def _is_break(c: str) -> bool:
    return c in _BREAKS


def _is_blank(c: str) -> bool:
    return c in _BLANKS


def _is_blankz(c: str) -> bool:
    return c in _BLANKS or c in _BREAKS or c == "\0"


class _Analysis:
    __slots__ = ("block_allowed", "block_plain_allowed", "multiline", "single_quoted_allowed")

    def __init__(self, value: str) -> None:
        if not value:
            self.multiline = False
            self.block_plain_allowed = True
            self.single_quoted_allowed = True
            self.block_allowed = False
            return
        block_ind = line_breaks = special = False
        leading_space = leading_break = trailing_space = trailing_break = False
        break_space = space_break = previous_space = previous_break = False
        if value.startswith(("---", "...")):
            block_ind = True
        preceded_by_ws = True
        n = len(value)
        for i, c in enumerate(value):
            followed_by_ws = i + 1 >= n or _is_blank(value[i + 1])
            # Only block context is ever emitted, so flow indicators do not matter.
            if i == 0:
                if c in "#,[]{}&*!|>'\"%@`" or (c in "?:-" and followed_by_ws):
                    block_ind = True
            elif (c == ":" and followed_by_ws) or (c == "#" and preceded_by_ws):
                block_ind = True
            if not _printable(c):
                special = True
            if c == " ":
                if i == 0:
                    leading_space = True
                if i + 1 == n:
                    trailing_space = True
                if previous_break:
                    break_space = True
                previous_space, previous_break = True, False
            elif _is_break(c):
                line_breaks = True
                if i == 0:
                    leading_break = True
                if i + 1 == n:
                    trailing_break = True
                if previous_space:
                    space_break = True
                previous_space, previous_break = False, True
            else:
                previous_space = previous_break = False
            preceded_by_ws = _is_blankz(c)
        self.multiline = line_breaks
        self.block_plain_allowed = True
        self.single_quoted_allowed = True
        self.block_allowed = True
        if leading_space or leading_break or trailing_space or trailing_break:
            self.block_plain_allowed = False
        if trailing_space:
            self.block_allowed = False
        if break_space:
            self.block_plain_allowed = False
            self.single_quoted_allowed = False
        if space_break or special:
            self.block_plain_allowed = False
            self.single_quoted_allowed = False
            self.block_allowed = False
        if line_breaks or block_ind:
            self.block_plain_allowed = False


_DQ_ESCAPES = {
    0x00: "0", 0x07: "a", 0x08: "b", 0x09: "t", 0x0A: "n", 0x0B: "v", 0x0C: "f",
    0x0D: "r", 0x1B: "e", 0x22: '"', 0x5C: "\\", 0x85: "N", 0xA0: "_",
    0x2028: "L", 0x2029: "P",
}


class _Emitter:
    def __init__(self) -> None:
        self.out: list[str] = []
        self.column = 0
        self.indent = -1
        self.indents: list[int] = []
        self.whitespace = True
        self.indention = True
        self.mapping_context = False
        self.simple_key_context = False

    # -- low level
    def put(self, s: str) -> None:
        self.out.append(s)
        self.column += len(s)

    def put_break(self) -> None:
        self.out.append("\n")
        self.column = 0

    def write_break(self, c: str) -> None:
        if c == "\n":
            self.put_break()
        else:
            self.out.append(c)
            self.column = 0

    def write_indent(self) -> None:
        indent = max(self.indent, 0)
        if (
            not self.indention
            or self.column > indent
            or (self.column == indent and not self.whitespace)
        ):
            self.put_break()
        while self.column < indent:
            self.put(" ")
        self.whitespace = True
        self.indention = True

    def write_indicator(self, ind: str, need_ws: bool, is_ws: bool, is_indention: bool) -> None:
        if need_ws and not self.whitespace:
            self.put(" ")
        self.put(ind)
        self.whitespace = is_ws
        self.indention = self.indention and is_indention

    def increase_indent(self, flow: bool, indentless: bool) -> None:
        self.indents.append(self.indent)
        if self.indent < 0:
            self.indent = BEST_INDENT if flow else 0
        elif not indentless:
            self.indent += BEST_INDENT

    def pop_indent(self) -> None:
        self.indent = self.indents.pop()

    # -- nodes
    def node(self, value: Any, *, mapping: bool = False, simple_key: bool = False) -> None:
        self.mapping_context = mapping
        self.simple_key_context = simple_key
        if isinstance(value, Mapping):
            self.mapping_node(value)
        elif isinstance(value, Sequence) and not isinstance(value, str | bytes):
            self.sequence_node(value)
        else:
            self.scalar_node(value)

    def mapping_node(self, value: Mapping[str, Any]) -> None:
        if not value:
            self.write_indicator("{", True, True, False)
            self.increase_indent(True, False)
            self.pop_indent()
            self.write_indicator("}", False, False, False)
            return
        self.increase_indent(False, False)
        for key in _sorted_keys(list(value)):
            self.write_indent()
            analysis = _Analysis(key)
            if not analysis.multiline and len(key.encode("utf-8")) <= 128:
                self.node(key, mapping=True, simple_key=True)
                self.write_indicator(":", False, False, False)
            else:
                self.write_indicator("?", True, False, True)
                self.node(key, mapping=True)
                self.write_indent()
                self.write_indicator(":", True, False, True)
            self.node(value[key], mapping=True)
        self.pop_indent()

    def sequence_node(self, value: Sequence[Any]) -> None:
        if not value:
            self.write_indicator("[", True, True, False)
            self.increase_indent(True, False)
            self.pop_indent()
            self.write_indicator("]", False, False, False)
            return
        self.increase_indent(False, self.mapping_context and not self.indention)
        for item in value:
            self.write_indent()
            self.write_indicator("-", True, False, True)
            self.node(item)
        self.pop_indent()

    def scalar_node(self, value: Any) -> None:
        if value is None:
            text, style = "null", PLAIN
        elif value is True or value is False:
            text, style = ("true" if value else "false"), PLAIN
        elif isinstance(value, int):
            text, style = str(value), PLAIN
        elif isinstance(value, str):
            text = value
            can_plain = resolves_to_str(text) and not _is_base60_float(text)
            style = LITERAL if "\n" in text else PLAIN if can_plain else DOUBLE
        else:
            raise TypeError(f"cannot emit {type(value).__name__} as kubectl does")
        a = _Analysis(text)
        if self.simple_key_context and a.multiline:
            style = DOUBLE
        if style == PLAIN:
            if not a.block_plain_allowed:
                style = SINGLE
            if not text and self.simple_key_context:
                style = SINGLE
        if style == SINGLE and not a.single_quoted_allowed:
            style = DOUBLE
        if style == LITERAL and (not a.block_allowed or self.simple_key_context):
            style = DOUBLE
        self.increase_indent(True, False)
        allow_breaks = not self.simple_key_context
        if style == PLAIN:
            self.write_plain(text, allow_breaks)
        elif style == SINGLE:
            self.write_single(text, allow_breaks)
        elif style == DOUBLE:
            self.write_double(text, allow_breaks)
        else:
            self.write_literal(text)
        self.pop_indent()

    # -- scalar writers (emitterc.go)
    def write_plain(self, value: str, allow_breaks: bool) -> None:
        if not self.whitespace:
            self.put(" ")
        spaces = breaks = False
        n = len(value)
        for i, c in enumerate(value):
            if c == " ":
                nxt = value[i + 1] if i + 1 < n else ""
                if allow_breaks and not spaces and self.column > BEST_WIDTH and nxt != " ":
                    self.write_indent()
                else:
                    self.put(c)
                spaces = True
            elif _is_break(c):
                if not breaks and c == "\n":
                    self.put_break()
                self.write_break(c)
                self.indention = True
                breaks = True
            else:
                if breaks:
                    self.write_indent()
                self.put(c)
                self.indention = False
                spaces = breaks = False
        self.whitespace = False
        self.indention = False

    def write_single(self, value: str, allow_breaks: bool) -> None:
        self.write_indicator("'", True, False, False)
        spaces = breaks = False
        n = len(value)
        for i, c in enumerate(value):
            if c == " ":
                if (
                    allow_breaks
                    and not spaces
                    and self.column > BEST_WIDTH
                    and 0 < i < n - 1
                    and value[i + 1] != " "
                ):
                    self.write_indent()
                else:
                    self.put(c)
                spaces = True
            elif _is_break(c):
                if not breaks and c == "\n":
                    self.put_break()
                self.write_break(c)
                self.indention = True
                breaks = True
            else:
                if breaks:
                    self.write_indent()
                if c == "'":
                    self.put("'")
                self.put(c)
                self.indention = False
                spaces = breaks = False
        self.write_indicator("'", False, False, False)
        self.whitespace = False
        self.indention = False

    def write_double(self, value: str, allow_breaks: bool) -> None:
        spaces = False
        self.write_indicator('"', True, False, False)
        bom_first = value.startswith("\ufeff")  # go-yaml's is_bom looks at the value's start
        n = len(value)
        for i, c in enumerate(value):
            cp = ord(c)
            if not _printable(c) or bom_first or _is_break(c) or c in '"\\':
                if cp in _DQ_ESCAPES:
                    self.put("\\" + _DQ_ESCAPES[cp])
                elif cp <= 0xFF:
                    self.put(f"\\x{cp:02X}")
                elif cp <= 0xFFFF:
                    self.put(f"\\u{cp:04X}")
                else:
                    self.put(f"\\U{cp:08X}")
                spaces = False
            elif c == " ":
                if allow_breaks and not spaces and self.column > BEST_WIDTH and 0 < i < n - 1:
                    self.write_indent()
                    if value[i + 1] == " ":
                        self.put("\\")
                else:
                    self.put(c)
                spaces = True
            else:
                self.put(c)
                spaces = False
        self.write_indicator('"', False, False, False)
        self.whitespace = False
        self.indention = False

    def write_literal(self, value: str) -> None:
        self.write_indicator("|", True, False, False)
        if value[:1] == " " or _is_break(value[:1] or "x"):
            self.write_indicator(str(BEST_INDENT), False, False, False)
        chomp = ""
        if not value or not _is_break(value[-1]):
            chomp = "-"
        elif len(value) == 1 or _is_break(value[-2]):
            chomp = "+"
        if chomp:
            self.write_indicator(chomp, False, False, False)
        self.put_break()
        self.indention = True
        self.whitespace = True
        breaks = True
        for c in value:
            if _is_break(c):
                self.write_break(c)
                self.indention = True
                breaks = True
            else:
                if breaks:
                    self.write_indent()
                self.put(c)
                self.indention = False
                breaks = False


def emit(value: Any) -> str:
    """``yaml.Marshal(value)`` of go-yaml v2 for a value :func:`reparse` returned."""
    e = _Emitter()
    e.node(value)
    # DOCUMENT-END (implicit): only a line break.
    e.indent = -1
    e.write_indent()
    return "".join(e.out)
