"""The Go text/template subset. Expected behaviour is Go's (text/template's documented
action syntax, trim markers and comments; missingkey options) and Skaffold's
(util/env_template.go, tag/env_template.go)."""

from __future__ import annotations

import pytest

from hoist.errors import HoistError, InputError
from hoist.tag.template import (
    NO_VALUE,
    TemplateError,
    TemplateExecError,
    parse_template,
    render_template,
)

ENV = {"FOO": "BAR", "BAZ": "BAT", "EMPTY": ""}


@pytest.mark.parametrize(("source", "expected"), [
    ("", ""),
    ("plain-text", "plain-text"),
    ("{{.FOO}}", "BAR"),
    ("{{ .FOO }}", "BAR"),
    ("{{.FOO}}-{{.BAZ}}:latest", "BAR-BAT:latest"),
    ("a {{- .FOO -}} b", "aBARb"),          # trim markers eat the spaces around
    ("a \n\t{{- .FOO}} b", "aBAR b"),
    ("a {{.FOO -}}\n\n b", "a BARb"),
    ("x{{/* a comment */}}y", "xy"),
    ("x {{- /* trimmed */ -}} y", "xy"),
    ('{{"lit"}}', "lit"),
    ("{{`raw {{ }}`}}", "raw {{ }}"),
    ('{{"a\\tb\\u00e9\\x41\\101"}}', "a\tbéAA"),
    ('{{default "dflt" .MISSING}}', "dflt"),
    ('{{default "dflt" .EMPTY}}', "dflt"),  # Sprig: empty counts as unset
    ('{{default "dflt" .FOO}}', "BAR"),
    ('{{.MISSING | default "dflt"}}', "dflt"),
    ('{{.FOO | default "dflt"}}', "BAR"),
    ("{{.MISSING}}", NO_VALUE),              # Go's missingkey=invalid prints <no value>
    ("{{-3}}", None),                         # "{{-" without a space is no trim marker
])
def test_render(source: str, expected: str | None) -> None:
    if expected is None:
        with pytest.raises(TemplateError):
            render_template(source, ENV)
    else:
        assert render_template(source, ENV) == expected


def test_missing_key_error_mode() -> None:
    with pytest.raises(TemplateExecError, match="map has no entry for key 'MISSING'"):
        render_template("{{.MISSING}}", ENV, missing="error")
    assert render_template("{{.FOO}}", ENV, missing="error") == "BAR"


@pytest.mark.parametrize(("source", "problem"), [
    ("{{.FOO", "unclosed action"),                      # Skaffold: "invalid template"
    ("{{.FOO}", "'}'"),  # Go: unexpected "}" in operand
    ("{{}}", "missing value for command"),
    ("{{ .A | }}", "missing value for command"),
    ("{{/* open", "unclosed comment"),
    ("{{/* c */ .X}}", "comment ends before closing delimiter"),
    ('{{"abc}}', "unterminated quoted string"),
    ("{{`abc}}", "unterminated raw quoted string"),
    ('{{"\\q"}}', "invalid syntax"),
    ("{{if .FOO}}x{{end}}", "not supported"),
    ("{{range .X}}{{end}}", "not supported"),
    ("{{.}}", "not supported"),
    ("{{.A.B}}", "not supported"),
    ("{{$x := 1}}", "unsupported"),
    ("{{printf \"%s\" .FOO}}", "function 'printf' not defined"),
    ("{{.A .B}}", "can't give argument to non-function"),
    ("{{.A | .B}}", "only a function can follow"),
])
def test_malformed_or_unsupported(source: str, problem: str) -> None:
    with pytest.raises(TemplateError, match=problem) as info:
        parse_template(source, ["default"])
    # An InputError naming the template.
    assert isinstance(info.value, InputError)
    assert repr(source) in str(info.value)


def test_functions_only_where_allowed() -> None:
    # customTemplate has no functions in Skaffold (plain template.New().Parse).
    with pytest.raises(TemplateError, match="function 'default' not defined"):
        parse_template('{{default "x" .A}}')
    assert parse_template('{{default "x" .A}}', ["default"]).execute({}) == "x"


def test_fields_in_first_use_order() -> None:
    t = parse_template('{{.B}}-{{.A}}{{default "x" .C}}{{.B}}', ["default"])
    assert t.fields == ("B", "A", "C")


def test_errors_are_hoist_errors() -> None:
    assert issubclass(TemplateExecError, HoistError)
    assert issubclass(TemplateError, InputError)
