"""The part of Go's text/template that Skaffold's templated fields use.

Skaffold runs ``envTemplate`` tags, ``customTemplate`` tags and ``buildArgs`` through Go's
text/template against a map of strings (pkg/skaffold/util/env_template.go,
pkg/skaffold/tag/custom_template.go). hoist implements the subset those fields need:

* text, copied as is;
* actions ``{{.NAME}}`` (a key of the map), string literals ``"…"`` and ```…```, and
  pipelines through the functions a caller allows (environment templates allow Sprig's
  ``default``: ``{{default "x" .NAME}}`` or ``{{.NAME | default "x"}}``);
* trim markers ``{{-`` / ``-}}`` and comments ``{{/* … */}}``.

Anything else (``if``, ``range``, variables, other functions, ``.A.B``) is reported as
unsupported rather than guessed at. A key missing from the map prints ``<no value>``
(Go's default, ``missingkey=invalid``) or is an error (``missingkey=error``), as the caller
chooses.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from hoist.errors import HoistError, InputError

MissingKey = Literal["invalid", "error"]
NO_VALUE = "<no value>"  # what Go prints for a missing map key under missingkey=invalid

_SPACE = " \t\r\n"  # Go's isSpace, which is what trim markers remove
_KEYWORDS = frozenset({"if", "else", "end", "range", "with", "define", "template", "block",
                       "break", "continue", "nil", "true", "false"})
# Functions the subset knows how to run; a template may use one only when its caller
# allows it (Skaffold registers Sprig's functions for environment templates only).
KNOWN_FUNCTIONS = frozenset({"default"})
ENV_FUNCTIONS = frozenset({"default"})


class TemplateError(InputError):
    """A template that does not parse, or uses what the subset does not support."""


class TemplateExecError(HoistError):
    """A template that parsed but could not be executed (a missing key under
    ``missingkey=error``)."""


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING = _Missing()
_Value = str | _Missing


@dataclass(frozen=True, slots=True)
class _Field:
    name: str


@dataclass(frozen=True, slots=True)
class _Str:
    value: str


@dataclass(frozen=True, slots=True)
class _Func:
    name: str


_Operand = _Field | _Str
_Token = _Field | _Str | _Func


@dataclass(frozen=True, slots=True)
class _Command:
    func: str | None  # None: a single operand, no call
    args: tuple[_Operand, ...]


@dataclass(frozen=True, slots=True)
class _Action:
    commands: tuple[_Command, ...]


_Node = str | _Action


@dataclass(frozen=True, slots=True)
class Template:
    """A parsed template. ``source`` is the text it came from."""

    source: str
    nodes: tuple[_Node, ...]

    @property
    def fields(self) -> tuple[str, ...]:
        """The map keys the template refers to, in first-use order."""
        seen: dict[str, None] = {}
        for node in self.nodes:
            if isinstance(node, _Action):
                for cmd in node.commands:
                    for arg in cmd.args:
                        if isinstance(arg, _Field):
                            seen.setdefault(arg.name)
        return tuple(seen)

    def execute(self, data: Mapping[str, str], missing: MissingKey = "invalid") -> str:
        out: list[str] = []
        for node in self.nodes:
            if isinstance(node, str):
                out.append(node)
            else:
                value = _run(node, data, missing, self.source)
                out.append(NO_VALUE if isinstance(value, _Missing) else value)
        return "".join(out)


def _fail(source: str, problem: str) -> TemplateError:
    return TemplateError(f"template {source!r}: {problem}")


def _operand(op: _Operand, data: Mapping[str, str], missing: MissingKey, source: str) -> _Value:
    if isinstance(op, _Str):
        return op.value
    if op.name in data:
        return data[op.name]
    if missing == "error":
        raise TemplateExecError(f"template {source!r}: map has no entry for key {op.name!r}")
    return _MISSING


def _call(name: str, args: list[_Value]) -> _Value:
    if name == "default":
        # Sprig's default(d, given...): d when given is absent or empty.
        if not args:
            raise TemplateExecError('wrong number of args for default: want at least 1 got 0')
        fallback, given = args[0], args[1:]
        if not given or given[0] == "" or isinstance(given[0], _Missing):
            return fallback
        return given[0]
    raise AssertionError(name)  # the parser admits known functions only


def _run(action: _Action, data: Mapping[str, str], missing: MissingKey, source: str) -> _Value:
    value: _Value | None = None
    for cmd in action.commands:
        args = [_operand(a, data, missing, source) for a in cmd.args]
        if cmd.func is None:
            value = args[0]
        else:
            if value is not None:  # a pipeline passes its value as the last argument
                args.append(value)
            value = _call(cmd.func, args)
    assert value is not None
    return value


# -- parsing ---------------------------------------------------------------------------------

_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
            "\\": "\\", '"': '"', "'": "'"}


def _unquote(body: str, source: str) -> str:
    """Go's strconv.Unquote for a double-quoted literal's body."""
    out: list[str] = []
    i = 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        if i + 1 >= len(body):
            raise _fail(source, "invalid syntax in quoted string")
        e = body[i + 1]
        if e in _ESCAPES and e != "'":
            out.append(_ESCAPES[e])
            i += 2
        elif e in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[e]
            digits = body[i + 2:i + 2 + width]
            if len(digits) != width or any(d not in "0123456789abcdefABCDEF" for d in digits):
                raise _fail(source, "invalid syntax in quoted string")
            code = int(digits, 16)
            if code > 0x10FFFF:
                raise _fail(source, "invalid syntax in quoted string")
            out.append(chr(code))
            i += 2 + width
        elif e in "01234567":
            digits = body[i + 1:i + 4]
            if len(digits) != 3 or any(d not in "01234567" for d in digits) or \
                    int(digits, 8) > 255:
                raise _fail(source, "invalid syntax in quoted string")
            out.append(chr(int(digits, 8)))
            i += 4
        else:
            raise _fail(source, "invalid syntax in quoted string")
    return "".join(out)


def _is_ident_char(c: str) -> bool:
    return c == "_" or c.isalnum()


class _Lexer:
    def __init__(self, source: str, funcs: frozenset[str]) -> None:
        self.src = source
        self.funcs = funcs

    def parse(self) -> Template:
        src = self.src
        nodes: list[_Node] = []
        pos = 0
        trim_next = False
        while True:
            start = src.find("{{", pos)
            text = src[pos:] if start < 0 else src[pos:start]
            if trim_next:
                text = text.lstrip(_SPACE)
            if start < 0:
                if text:
                    nodes.append(text)
                break
            inner = start + 2
            if src.startswith("-", inner) and inner + 1 < len(src) and src[inner + 1] in _SPACE:
                text = text.rstrip(_SPACE)
                inner += 2
            if text:
                nodes.append(text)
            if src.startswith("/*", inner):
                pos, trim_next = self._comment(inner)
                continue
            action, pos, trim_next = self._action(inner)
            nodes.append(action)
        return Template(src, tuple(nodes))

    def _comment(self, i: int) -> tuple[int, bool]:
        end = self.src.find("*/", i + 2)
        if end < 0:
            raise _fail(self.src, "unclosed comment")
        after = end + 2
        if self.src.startswith("}}", after):
            return after + 2, False
        j = after
        while j < len(self.src) and self.src[j] in _SPACE:
            j += 1
        if j > after and self.src.startswith("-}}", j):
            return j + 3, True
        raise _fail(self.src, "comment ends before closing delimiter")

    def _action(self, i: int) -> tuple[_Action, int, bool]:
        src = self.src
        tokens: list[_Token | None] = []  # None is a pipe
        while True:
            if i >= len(src):
                raise _fail(src, "unclosed action")
            c = src[i]
            if src.startswith("}}", i):
                end, trim = i + 2, False
                break
            if c in _SPACE:
                j = i
                while j < len(src) and src[j] in _SPACE:
                    j += 1
                if src.startswith("-}}", j):
                    end, trim = j + 3, True
                    break
                i = j
                continue
            if c == "|":
                tokens.append(None)
                i += 1
            elif c == '"':
                j = i + 1
                while j < len(src) and src[j] != '"':
                    if src[j] == "\n":
                        raise _fail(src, "unterminated quoted string")
                    j += 2 if src[j] == "\\" else 1
                if j >= len(src):
                    raise _fail(src, "unterminated quoted string")
                tokens.append(_Str(_unquote(src[i + 1:j], src)))
                i = j + 1
            elif c == "`":
                j = src.find("`", i + 1)
                if j < 0:
                    raise _fail(src, "unterminated raw quoted string")
                tokens.append(_Str(src[i + 1:j]))
                i = j + 1
            elif c == ".":
                j = i + 1
                while j < len(src) and _is_ident_char(src[j]):
                    j += 1
                if j == i + 1:
                    raise _fail(src, "'.' (the whole data map) is not supported")
                if j < len(src) and src[j] == ".":
                    raise _fail(src, f"chained field {src[i:j]}. is not supported")
                tokens.append(_Field(src[i + 1:j]))
                i = j
            elif c.isalpha() or c == "_":
                j = i
                while j < len(src) and _is_ident_char(src[j]):
                    j += 1
                word = src[i:j]
                if word in _KEYWORDS:
                    raise _fail(src, f"{{{{{word}}}}} actions are not supported")
                if word not in self.funcs:
                    if word in KNOWN_FUNCTIONS:
                        raise _fail(src, f"function {word!r} not defined")
                    raise _fail(src, f"function {word!r} not defined (hoist supports "
                                     f"{', '.join(sorted(self.funcs)) or 'no functions'} here)")
                tokens.append(_Func(word))
                i = j
            else:
                raise _fail(src, f"unsupported {c!r} in action (hoist supports fields, "
                                 "strings and function pipelines)")
        return _Action(self._pipeline(tokens)), end, trim

    def _pipeline(self, tokens: list[_Token | None]) -> tuple[_Command, ...]:
        groups: list[list[_Token]] = [[]]
        for t in tokens:
            if t is None:
                groups.append([])
            else:
                groups[-1].append(t)
        commands: list[_Command] = []
        for n, group in enumerate(groups):
            if not group:
                raise _fail(self.src, "missing value for command")
            head, rest = group[0], group[1:]
            if any(isinstance(t, _Func) for t in rest):
                raise _fail(self.src, "a function may only start a command")
            args = tuple(t for t in rest if not isinstance(t, _Func))
            if isinstance(head, _Func):
                commands.append(_Command(head.name, args))
            elif n > 0:
                raise _fail(self.src, "only a function can follow '|'")
            elif rest:
                raise _fail(self.src, "can't give argument to non-function")
            else:
                commands.append(_Command(None, (head,)))
        return tuple(commands)


def parse_template(source: str, funcs: Iterable[str] = ()) -> Template:
    """Parse ``source``; raises TemplateError (an InputError naming the template)."""
    return _Lexer(source, frozenset(funcs)).parse()


def render_template(source: str, env: Mapping[str, str], *,
                    missing: MissingKey = "invalid") -> str:
    """Parse and execute an environment template (Skaffold's ``ExpandEnvTemplate``): keys
    are the environment's variables, Sprig's ``default`` is available, and a missing key
    prints ``<no value>`` unless ``missing="error"``."""
    return parse_template(source, ENV_FUNCTIONS).execute(env, missing)
