"""The Dockerfile parser and the shell lexer, against BuildKit's documented behaviour and
its own test tables (moby/buildkit frontend/dockerfile/parser, shell/lex_test.go)."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hoist.build.dockerfile import (
    DockerfileError,
    Instruction,
    exec_form,
    expand_word,
    expand_words,
    load_dockerfile,
    parse_arg,
    parse_args,
    parse_dockerfile,
    parse_expose,
    parse_key_values,
    stage_dependencies,
    stage_for_target,
)
from hoist.errors import InputError


def only_stage_instructions(text: str) -> tuple[Instruction, ...]:
    return parse_dockerfile(text).stages[0].instructions


def error_of(text: str) -> str:
    with pytest.raises(DockerfileError) as info:
        parse_dockerfile(text, "app/Dockerfile")
    return str(info.value)


# --------------------------------------------------------------------------- lines


def test_directives_comments_and_continuations() -> None:
    text = (
        "# syntax=docker/dockerfile:1\n"
        "# escape=`\n"
        "\n"
        "# a comment\n"
        "FROM alpine\n"
        "RUN echo one `\n"
        "  # a comment inside the continuation\n"
        "\n"
        "    two\n"
        "run echo C:\\path\n"
    )
    df = parse_dockerfile(text)
    assert df.escape == "`"
    assert df.syntax == "docker/dockerfile:1"
    run, run2 = df.stages[0].instructions
    assert (run.line, run.end_line, run.keyword) == (6, 9, "RUN")
    # continuation lines keep their leading whitespace; comment and blank lines vanish
    assert run.text == "echo one     two"
    assert run.original == ("RUN echo one `\n  # a comment inside the continuation\n\n"
                            "    two")
    assert (run2.keyword, run2.text) == ("RUN", "echo C:\\path")  # \ is not special here


def test_directives_only_at_the_top() -> None:
    df = parse_dockerfile("# a comment first\n# escape=`\nFROM a\nRUN x \\\n y\n")
    assert df.escape == "\\"
    assert df.stages[0].instructions[0].text == "x  y"
    assert "only one escape parser directive" in error_of("# escape=`\n# escape=\\\nFROM a\n")
    assert error_of("# escape=x\nFROM a\n") == (
        "app/Dockerfile:1: invalid escape token 'x' does not match ` or \\")


def test_escaped_escape_does_not_continue_and_crlf() -> None:
    (run, env) = only_stage_instructions("FROM a\r\nRUN echo \\\\\r\nENV A=1\r\n")
    assert run.text == "echo \\\\"
    assert (env.keyword, env.line) == ("ENV", 3)


def test_bom_and_trailing_continuation_at_end_of_file() -> None:
    (run,) = only_stage_instructions("\ufeffFROM a\nRUN a \\\n")
    assert (run.text, run.line, run.end_line) == ("a", 2, 2)


def test_keywords_are_case_insensitive() -> None:
    df = parse_dockerfile("from alpine AS Build\nCopy --FROM=x a b\n".replace("--FROM", "--from"))
    assert df.stages[0].name == "build"  # lower-cased, as BuildKit does
    assert df.stages[0].instructions[0].keyword == "COPY"


# --------------------------------------------------------------------------- forms and flags


def test_json_and_shell_forms() -> None:
    cmd, entry, run, copy = only_stage_instructions(
        'FROM a\nCMD ["echo", "a b"]\nENTRYPOINT [ "x" ,\nRUN ["a", ]\nCOPY ["a b", "/d/"]\n')
    assert (cmd.json_form, cmd.args) == (True, ("echo", "a b"))
    assert exec_form(cmd) == (["echo", "a b"], False)
    # invalid JSON is the shell form, as BuildKit takes it
    assert (entry.json_form, entry.args) == (False, ('[ "x" ,',))
    assert exec_form(entry) == (["/bin/sh", "-c", '[ "x" ,'], True)
    assert exec_form(entry, ["bash", "-lc"]) == (["bash", "-lc", '[ "x" ,'], True)
    assert run.json_form is False
    assert (copy.json_form, copy.args) == (True, ("a b", "/d/"))
    assert "arrays must be comprised of strings only" in error_of("FROM a\nCMD [1]\n")


def test_flags() -> None:
    copy, run = only_stage_instructions(
        "FROM a\nCOPY --from=build --chown=1:2 --chmod=755 --link \"--x\" /d\n"
        "RUN --mount=type=cache,target=/c --network=none -- echo --x\n")
    assert copy.flags == (("from", "build"), ("chown", "1:2"), ("chmod", "755"), ("link", None))
    assert copy.args == ('"--x"', "/d")  # a quoted word ends the flags
    assert copy.flag("link") == "true" and copy.flag("from") == "build"
    assert run.flags == (("mount", "type=cache,target=/c"), ("network", "none"))
    assert run.text == "echo --x"
    df = parse_dockerfile("FROM --platform=linux/arm64 a AS b\n")
    assert df.stages[0].platform == "linux/arm64"


@pytest.mark.parametrize(("line", "message"), [
    ("COPY --frm=x a b", "unknown flag: frm"),
    ("COPY --from a b", "missing a value on flag: from"),
    ("COPY --from=a --from=b a b", "duplicate flag specified: from"),
    ("COPY --link=maybe a b", "expecting boolean value for flag link, not: maybe"),
    ("ENV --x=1 a=b", "unknown flag: x"),
])
def test_bad_flags(line: str, message: str) -> None:
    assert error_of(f"FROM a\n{line}\n") == f"app/Dockerfile:2: {message}"


# --------------------------------------------------------------------------- errors


def test_heredocs_are_refused_naming_the_line() -> None:
    err = error_of("FROM a\nRUN true\nRUN cat <<EOF > /x\nhello\nEOF\n")
    assert err == "app/Dockerfile:3: RUN: heredocs are not supported"
    assert "heredocs" in error_of("FROM a\nCOPY <<-'END' /x\nEND\n")
    assert "heredocs" in error_of("FROM a\nONBUILD RUN <<EOF\nEOF\n")


def test_what_is_not_a_heredoc() -> None:
    instrs = only_stage_instructions(
        'FROM a\nRUN echo $((1<<2)) "<<EOF"\nRUN cat <<< "x"\nRUN ["cat", "<<EOF"]\n'
        "CMD cat <<EOF\n")
    assert [i.keyword for i in instrs] == ["RUN", "RUN", "RUN", "CMD"]


def test_unknown_instruction() -> None:
    assert error_of("FROM a\nRUNN x\n") == (
        "app/Dockerfile:2: unknown instruction: RUNN (did you mean RUN?)")
    assert error_of("FROM a\nBOGUSWORD x\n") == "app/Dockerfile:2: unknown instruction: BOGUSWORD"


def test_stage_structure_errors() -> None:
    assert error_of("") == "app/Dockerfile: file with no instructions"
    assert error_of("# only a comment\n\n") == "app/Dockerfile: file with no instructions"
    assert error_of("ARG A=1\n") == "app/Dockerfile: dockerfile contains no stages to build"
    assert error_of("ARG A\nRUN x\nFROM a\n") == (
        "app/Dockerfile:2: RUN before the first FROM: no build stage in current context")
    assert "FROM requires either one or three arguments" in error_of("FROM a b\n")
    assert 'invalid name for build stage: "1st"' in error_of("FROM a AS 1st\n")


@pytest.mark.parametrize(("line", "message"), [
    ("COPY onlyone", "COPY requires at least two arguments, but only one was provided. "
                     "Destination could not be determined"),
    ("ENV", "ENV requires at least one argument"),
    ("ENV lonely", "ENV must have two arguments"),
    ("ENV a=1 b", "Syntax error - can't find = in \"b\". Must be of the form: name=value"),
    ("LABEL =x", "LABEL names can not be blank"),
    ("ARG =x", "ARG names can not be blank"),
    ("WORKDIR", "WORKDIR requires exactly one argument"),
    ("EXPOSE", "EXPOSE requires at least one argument"),
    ('VOLUME ["/a", " "]', "VOLUME specified can not be an empty string"),
    ("SHELL bash -c", "SHELL requires the arguments to be in JSON form"),
    ("SHELL []", "SHELL requires at least one argument"),
    ("ONBUILD ONBUILD RUN x", "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
    ("ONBUILD FROM x", "FROM isn't allowed as an ONBUILD trigger"),
    ("HEALTHCHECK NONE x", "HEALTHCHECK NONE takes no arguments"),
    ("HEALTHCHECK CMD", "Missing command after HEALTHCHECK CMD"),
    ("HEALTHCHECK RUN x", 'Unknown type "RUN" in HEALTHCHECK (try CMD)'),
])
def test_argument_checks(line: str, message: str) -> None:
    assert error_of(f"FROM a\n{line}\n") == f"app/Dockerfile:2: {message}"


def test_load_dockerfile(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\nCOPY a /a\n")
    df = load_dockerfile(tmp_path / "Dockerfile")
    assert df.path == str(tmp_path / "Dockerfile")
    assert df.stages[0].base == "scratch"
    with pytest.raises(InputError, match="missing/Dockerfile: cannot read the Dockerfile"):
        load_dockerfile(tmp_path / "missing" / "Dockerfile")


# --------------------------------------------------------------------------- args and forms


def test_raw_args_keep_quotes() -> None:
    env, copy = only_stage_instructions('FROM a\nENV A="x y" B=\'$z\'\nCOPY "a b" c\n')
    frm_args = parse_dockerfile("FROM ${BASE:-alpine} AS x\n").stages[0].base
    assert env.args == ('A="x y"', "B='$z'")
    assert copy.args == ('"a', 'b"', "c")  # BuildKit splits COPY at whitespace only
    assert frm_args == "${BASE:-alpine}"


def test_key_values() -> None:
    new, legacy, label = only_stage_instructions(
        'FROM a\nENV A=1 B="two words" C=three\\ x D=$A E=${UNSET:-dflt}\n'
        "ENV LEGACY value with  spaces $A\n"
        'LABEL "com.example.k"="v" other=x\n')
    scope = {"A": "old"}  # ENV a=1 b=$a sees the value from before the instruction
    assert parse_key_values(new, scope) == [
        ("A", "1"), ("B", "two words"), ("C", "three x"), ("D", "old"), ("E", "dflt")]
    assert parse_key_values(legacy, scope) == [("LEGACY", "value with  spaces old")]
    assert parse_key_values(label, {}) == [("com.example.k", "v"), ("other", "x")]
    # ENV's words are split before expansion, so a message with spaces needs quotes
    assert "can't find = in" in error_of("FROM a\nENV A=${B:?must be set}\n")
    (bad,) = only_stage_instructions('FROM a\nENV A="${B:?must be set}"\n')
    with pytest.raises(ValueError, match="B: must be set"):
        parse_key_values(bad, {})


def test_args() -> None:
    df = parse_dockerfile('ARG V=1.0\nARG NAME\nFROM a\nARG X="a b" Y\n')
    assert [parse_arg(i) for i in df.global_args] == [("V", "1.0"), ("NAME", None)]
    (multi,) = df.stages[0].instructions
    assert parse_args(multi) == [("X", '"a b"'), ("Y", None)]
    with pytest.raises(ValueError, match="ARG declares 2 names"):
        parse_arg(multi)


def test_expose() -> None:
    assert parse_expose(["8080", "53/udp", "8000-8002", "80/TCP", "127.0.0.1:9000:90",
                         "8080"]) == [
        "8080/tcp", "53/udp", "8000/tcp", "8001/tcp", "8002/tcp", "80/tcp", "90/tcp"]
    for bad, message in [("80/icmp", "invalid proto: icmp"), ("/tcp", "no port specified"),
                         ("70000", "invalid containerPort: 70000"),
                         ("9-8", "invalid containerPort: 9-8"),
                         ("x.y:1:2", "invalid IP address: x.y")]:
        with pytest.raises(ValueError, match=message):
            parse_expose([bad])


# --------------------------------------------------------------------------- stages


MULTI = """\
ARG BASE=alpine
FROM ${BASE} AS Base
RUN true
FROM base AS deps
FROM golang AS unrelated
FROM scratch AS tools
FROM deps AS build
COPY --from=tools /t /t
RUN --mount=type=bind,from=3,target=/x true
FROM build
COPY --from=0 /etc/x /x
"""


def test_stage_for_target() -> None:
    df = parse_dockerfile(MULTI)
    assert stage_for_target(df, None) == 5
    assert stage_for_target(df, "BUILD") == 4
    with pytest.raises(DockerfileError) as info:
        stage_for_target(df, "nope")
    assert str(info.value) == 'Dockerfile: target stage "nope" could not be found'


def test_stage_dependencies() -> None:
    df = parse_dockerfile(MULTI)
    assert stage_dependencies(df, 5) == [0, 1, 3, 4]
    assert stage_dependencies(df, 1) == [0]
    assert stage_dependencies(df, 2) == []
    # FROM expands global ARGs; a build arg can point it at a stage
    df2 = parse_dockerfile("ARG B=x\nFROM scratch AS one\nFROM ${B}\n")
    assert stage_dependencies(df2, 1) == []
    assert stage_dependencies(df2, 1, build_args={"B": "ONE"}) == [0]


def test_stage_dependency_errors() -> None:
    cyc = parse_dockerfile("FROM a AS x\nCOPY --from=y / /\nFROM b AS y\nCOPY --from=x / /\n")
    with pytest.raises(DockerfileError, match="Dockerfile:3: circular dependency detected on "
                       "stage: y"):
        stage_dependencies(cyc, 1)
    bad = parse_dockerfile("FROM a\nCOPY --from=3 / /\n")
    with pytest.raises(DockerfileError, match="Dockerfile:2: invalid stage index 3"):
        stage_dependencies(bad, 0)
    # COPY --from may name a later stage; an unknown name is an image
    later = parse_dockerfile("FROM a\nCOPY --from=late / /\nCOPY --from=busybox / /\n"
                             "FROM b AS late\n")
    assert stage_dependencies(later, 0) == [1]


# --------------------------------------------------------------------------- the lexer

# TestProcessWithMatches and TestShellParserMandatoryEnvVars, moby/buildkit
# frontend/dockerfile/shell/lex_test.go.
LEX_CASES: list[tuple[str, dict[str, str], str | None]] = [
    ("x", {"DUMMY": "dummy"}, "x"),
    ("x ${UNUSED}", {"DUMMY": "dummy"}, "x "),
    ("x ${FOO}", {"FOO": "y"}, "x y"),
    ("${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}", {"FOO": "xxx", "BAR": ""}, "xxx  ccc"),
    ("${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}", {"FOO": "xxx", "BAR": ""}, "xxx bbb ccc"),
    ("${FOO:-}", {"FOO": "xxx", "BAR": ""}, "xxx"),
    ("${FOO:-}", {}, ""),
    ("${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}", {"FOO": "xxx", "BAR": ""}, "aaa bbb "),
    ("${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}", {"FOO": "xxx", "BAR": ""}, "aaa  "),
    ("${FOO?aaa}", {"FOO": "xxx", "BAR": ""}, "xxx"),
    ("${BAR?bbb}", {"FOO": "xxx", "BAR": ""}, ""),
    ("${BAZ?ccc}", {"FOO": "xxx", "BAR": ""}, None),
    ("${FOO:?aaa}", {"FOO": "xxx", "BAR": ""}, "xxx"),
    ("${BAR:?bbb}", {"FOO": "xxx", "BAR": ""}, None),
    ("${BAZ:?ccc}", {"FOO": "xxx", "BAR": ""}, None),
    ("${BAZ:?}", {"FOO": "xxx", "BAR": ""}, None),
    ("${FOO=aaa}", {"FOO": "xxx", "BAR": ""}, None),
    ("${FOO=:aaa}", {"FOO": "xxx", "BAR": ""}, None),
    ("${FOO=}", {}, None),
    ("${FOO#()[]{\\}^$.\\*\\?|\\\\}", {"FOO": "()[]{}^$.*?|\\x"}, "x"),
    ("${FOO%%\\**}", {"FOO": "xx**"}, "xx"),
    ("${FOO#*x*y}", {"FOO": "xxyy"}, "y"),
    ("${FOO#*}", {"FOO": "xxyy"}, "xxyy"),
    ("${FOO#$BAR}", {"FOO": "xxyy", "BAR": "x"}, "xyy"),
    ("${FOO#$BAR}", {"FOO": "xxyy", "BAR": ""}, "xxyy"),
    ("${FOO#}", {"FOO": "xxyy"}, "xxyy"),
    ("${FOO##*x}", {"FOO": "xxyy"}, "yy"),
    ("${FOO##}", {"FOO": "xxyy"}, "xxyy"),
    ("${FOO#?\\?}", {"FOO": "???y"}, "?y"),
    ("${ABC:-.}${FOO%x}${ABC:-.}", {"FOO": "xxyy"}, ".xxyy."),
    ("${FOO%%\\**\\*}", {"FOO": "a***yy*"}, "a"),
    ("${FOO%}", {"FOO": "xxyy"}, "xxyy"),
    ("${FOO%%$BAR}", {"FOO": "xxyy", "BAR": ""}, "xxyy"),
    ("${FOO:#}", {}, None),
    ("${FOO:##}", {}, None),
    ("${FOO:%}", {}, None),
    ("${FOO:%%}", {}, None),
    ("${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}", {"FOO": "/foo*/*/*.txt", "NEEDLE": "\\*/"},
     "/foo.*/*.txt - /foo..*.txt"),
    ("${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}", {"FOO": "/tmp/tmp/bar.txt", "NEEDLE": "/tmp"},
     "/tmp/bar.txt - /bar.txt"),
    ("${FOO/$NEEDLE/$REPLACEMENT} - ${FOO//$NEEDLE/$REPLACEMENT}",
     {"FOO": "/a/foo/b/c.txt", "NEEDLE": "/?/", "REPLACEMENT": "/"},
     "/foo/b/c.txt - /foo/c.txt"),
    ("${FOO/$NEEDLE/$REPLACEMENT}",
     {"FOO": "http://google.de", "NEEDLE": "http://", "REPLACEMENT": "https://"},
     "https://google.de"),
    ("${FOO//\\//\\/}", {"FOO": "/tmp/foo.txt"}, "\\/tmp\\/foo.txt"),
    ("${FOO/$BAR/ww}", {"FOO": "xxyy", "BAR": ""}, "wwxxyy"),
    ("${FOO//ww}", {"FOO": "xxyy"}, None),
    ("${FOO//}", {"FOO": "xxyy"}, None),
    ("${FOO///}", {"FOO": "xxyy"}, "xxyy"),
    ("${FOO///}", {}, ""),
    ("something-${VERSION}.${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}"
     ".tar.gz", {"VERSION": "v1.2.3", "TARGETOS": "linux", "TARGETARCH": "arm",
                 "TARGETVARIANT": "v7"}, "something-v1.2.3.linux-arm-v7.tar.gz"),
    ("${VAR:?message here$ARG}", {"VAR": "plain", "ARG": "x"}, "plain"),
    ("${VAR?message here$ARG}", {"VAR": "", "ARG": "x"}, ""),
]


@pytest.mark.parametrize(("word", "env", "expected"), LEX_CASES)
def test_buildkit_lexer_table(word: str, env: dict[str, str], expected: str | None) -> None:
    if expected is None:
        with pytest.raises(ValueError, match="failed to process"):
            expand_word(word, env)
    else:
        assert expand_word(word, env) == expected


def test_lexer_errors_carry_the_message() -> None:
    with pytest.raises(ValueError) as info:
        expand_word("${VAR:?message here$ARG}", {"VAR": "", "ARG": "x"})
    assert str(info.value) == 'failed to process "${VAR:?message here$ARG}": VAR: message herex'
    for word, message in [("'abc", "matching single-quote"), ('"abc', "matching double-quote"),
                          ("${abc", "missing '}'"), ("${}", "bad substitution"),
                          ("${a:x}", "unsupported modifier (:x)")]:
        with pytest.raises(ValueError, match=re.escape(message)):
            expand_word(word, {})


def test_quotes_escapes_and_words() -> None:
    env = {"X": "1 2", "EMPTY": ""}
    assert expand_word("'a $X'\"b $X\"\\ c\\$X", env) == "a $Xb 1 2 c$X"
    assert expand_word('"a\\b\\"c"', env) == 'a\\b"c'  # \ escapes only " $ and \ in "…"
    assert expand_word("$1x$$", env) == "x"  # positional and special parameters are unset
    assert expand_word("a$", env) == "a$"
    assert expand_word("a`$X", env, "`") == "a$X"
    assert expand_words("a \"b c\" '' d$X e", env) == ["a", "b c", "d1", "2", "e"]
    assert expand_words('x "$EMPTY" y', env) == ["x", "y"]  # an empty quote makes no word
    assert expand_words("\\  a\\ b", env) == [" ", "a b"]


# --------------------------------------------------------------------------- properties

_PLAIN = st.text(alphabet=string.ascii_letters + string.digits + "/._-:@+=,", min_size=1,
                 max_size=12)


@settings(deadline=None, max_examples=200)
@given(_PLAIN, st.dictionaries(st.sampled_from("ABC"), _PLAIN))
def test_plain_words_expand_to_themselves(word: str, env: dict[str, str]) -> None:
    assert expand_word(word, env) == word
    assert expand_words(word, env) == [word]


@settings(deadline=None, max_examples=200)
@given(st.text(alphabet=st.characters(blacklist_characters="'", blacklist_categories=("Cs",)),
               max_size=20))
def test_single_quotes_are_literal(text: str) -> None:
    assert expand_word(f"'{text}'", {"A": "z"}) == text


@settings(deadline=None, max_examples=200)
@given(st.dictionaries(st.sampled_from(["A", "B_1", "long_name"]),
                       st.text(alphabet="xy z", max_size=5)),
       st.sampled_from(["A", "B_1", "long_name"]), st.text(alphabet="dq", max_size=3))
def test_default_and_alternative_forms(env: dict[str, str], name: str, word: str) -> None:
    value = env.get(name)
    assert expand_word(f"${{{name}}}", env) == (value or "")
    assert expand_word(f"${{{name}-{word}}}", env) == (word if value is None else value)
    assert expand_word(f"${{{name}:-{word}}}", env) == (value or word)
    assert expand_word(f"${{{name}+{word}}}", env) == ("" if value is None else word)
    assert expand_word(f"${{{name}:+{word}}}", env) == (word if value else "")


_WORD = st.text(alphabet=string.ascii_lowercase + string.digits + "-./", min_size=1,
                max_size=6)


@settings(deadline=None, max_examples=150)
@given(st.lists(st.lists(_WORD, min_size=1, max_size=3), min_size=1, max_size=5),
       st.lists(st.sampled_from(["", "comment", "blank"]), min_size=5, max_size=5),
       st.sampled_from(["run", "RUN", "Run"]))
def test_continuations_join_the_words_back(chunks: list[list[str]], extras: list[str],
                                           keyword: str) -> None:
    lines = ["FROM base"]
    first = len(lines) + 1
    for i, chunk in enumerate(chunks):
        head = f"{keyword} " if i == 0 else "  "
        tail = " \\" if i < len(chunks) - 1 else ""
        lines.append(head + " ".join(chunk) + tail)
        if tail and extras[i] == "comment":
            lines.append("   # between")
        elif tail and extras[i] == "blank":
            lines.append("")
    lines.append("ENV AFTER=1")
    (run, env) = parse_dockerfile("\n".join(lines) + "\n").stages[0].instructions
    assert run.keyword == "RUN"
    assert run.text.split() == [w for chunk in chunks for w in chunk]
    assert (run.line, run.end_line) == (first, len(lines) - 1)
    assert env.line == len(lines)
