"""Go's ``encoding/json`` output, byte for byte, for JSON-shaped Python values.

kubectl builds ``.dockerconfigjson`` with ``json.Marshal`` and prints ``-o json`` with
``json.MarshalIndent(obj, "", "    ")``. Both escape HTML (``<``, ``>``, ``&`` as ``\\u003c``
…), escape U+2028 and U+2029, use ``\\b \\f \\n \\r \\t`` short forms (Go ≥ 1.22) and
``\\u00xx`` (lower-case hex) for other control characters, leave DEL and everything else
raw, and replace each byte of invalid UTF-8 with the six characters ``\\ufffd``.

Strings are Python ``str``. A Go string can hold any bytes; the bytes that are not UTF-8
reach Python (``sys.argv``, ``os.fsdecode``) as lone surrogates U+DC80..U+DCFF
(``surrogateescape``), and are turned back into those bytes here, so a name taken from the
command line encodes exactly as kubectl encodes the same argument.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

#: A rune that is not valid UTF-8 (Go's ``utf8.RuneError`` with width 1).
INVALID = -1

_SHORT_ESCAPES = {
    0x22: '\\"',
    0x5C: "\\\\",
    0x08: "\\b",
    0x0C: "\\f",
    0x0A: "\\n",
    0x0D: "\\r",
    0x09: "\\t",
}


def go_bytes(s: str) -> bytes:
    """The bytes a Go string holding ``s`` would contain (surrogate escapes undone)."""
    try:
        return s.encode("utf-8")
    except UnicodeEncodeError:
        pass
    out = bytearray()
    for ch in s:
        cp = ord(ch)
        if 0xDC80 <= cp <= 0xDCFF:
            out.append(cp - 0xDC00)
        elif 0xD800 <= cp <= 0xDFFF:
            out += ch.encode("utf-8", "surrogatepass")
        else:
            out += ch.encode("utf-8")
    return bytes(out)


def _lead_width(b0: int) -> int:
    if b0 < 0x80:
        return 1
    if 0xC2 <= b0 <= 0xDF:
        return 2
    if 0xE0 <= b0 <= 0xEF:
        return 3
    if 0xF0 <= b0 <= 0xF4:
        return 4
    return 0


def go_runes(s: str) -> list[int]:
    """Decode ``s`` as Go's ``utf8.DecodeRuneInString`` walks it: one :data:`INVALID`
    per byte that does not start a well-formed sequence."""
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        pass
    else:
        return [ord(c) for c in s]
    data = go_bytes(s)
    runes: list[int] = []
    i = 0
    while i < len(data):
        w = _lead_width(data[i])
        if w == 1:
            runes.append(data[i])
            i += 1
            continue
        if w:
            try:
                ch = data[i : i + w].decode("utf-8")
            except UnicodeDecodeError:
                ch = ""
            if len(ch) == 1:
                runes.append(ord(ch))
                i += w
                continue
        runes.append(INVALID)
        i += 1
    return runes


def quote(s: str) -> str:
    """A JSON string literal exactly as Go's ``encoding/json`` (HTML escaping on) writes it."""
    parts = ['"']
    for r in go_runes(s):
        if r == INVALID:
            parts.append("\\ufffd")
        elif r < 0x80:
            if r in _SHORT_ESCAPES:
                parts.append(_SHORT_ESCAPES[r])
            elif r < 0x20 or r in (0x3C, 0x3E, 0x26):
                parts.append(f"\\u{r:04x}")
            else:
                parts.append(chr(r))
        elif r in (0x2028, 0x2029):
            parts.append(f"\\u{r:04x}")
        else:
            parts.append(chr(r))
    parts.append('"')
    return "".join(parts)


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return quote(value)
    raise TypeError(f"cannot encode {type(value).__name__} as kubectl does")


def marshal(value: Any) -> str:
    """Go's ``json.Marshal``: compact, mapping keys in the order given."""
    if isinstance(value, Mapping):
        items = ",".join(f"{quote(str(k))}:{marshal(v)}" for k, v in value.items())
        return "{" + items + "}"
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return "[" + ",".join(marshal(v) for v in value) + "]"
    return _scalar(value)


def marshal_indent(value: Any, indent: str = "    ", _level: int = 0) -> str:
    """Go's ``json.MarshalIndent(v, "", indent)`` (no trailing newline)."""
    pad = indent * (_level + 1)
    end = indent * _level
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        items = [
            f"{pad}{quote(str(k))}: {marshal_indent(v, indent, _level + 1)}"
            for k, v in value.items()
        ]
        return "{\n" + ",\n".join(items) + "\n" + end + "}"
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        if not value:
            return "[]"
        elems = [f"{pad}{marshal_indent(v, indent, _level + 1)}" for v in value]
        return "[\n" + ",\n".join(elems) + "\n" + end + "]"
    return _scalar(value)
