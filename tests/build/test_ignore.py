"""``.dockerignore`` matching against moby/patternmatcher's own test tables, Go's
filepath.Match tests, and properties of last-match-wins and directory pruning."""

from __future__ import annotations

import fnmatch
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from hoist.build.ignore import IgnoreMatcher, go_clean, go_path_match
from hoist.errors import InputError

# TestMatches (single patterns), moby/patternmatcher patternmatcher_test.go, checked as
# its "MatchesUsingParentResults" subtest does (the parent directories first).
PATTERNMATCHER_CASES = [
    ("**", "file", True), ("**", "file/", True), ("**/", "file", True), ("**/", "file/", True),
    ("**", "/", True), ("**/", "/", True), ("**", "dir/file", True), ("**/", "dir/file", True),
    ("**", "dir/file/", True), ("**/", "dir/file/", True), ("**/**", "dir/file", True),
    ("**/**", "dir/file/", True), ("dir/**", "dir/file", True), ("dir/**", "dir/file/", True),
    ("dir/**", "dir/dir2/file", True), ("dir/**", "dir/dir2/file/", True),
    ("**/dir", "dir", True), ("**/dir", "dir/file", True), ("**/dir2/*", "dir/dir2/file", True),
    ("**/dir2/*", "dir/dir2/file/", True), ("**/dir2/**", "dir/dir2/dir3/file", True),
    ("**/dir2/**", "dir/dir2/dir3/file/", True), ("**file", "file", True),
    ("**file", "dir/file", True), ("**/file", "dir/file", True),
    ("**file", "dir/dir/file", True), ("**/file", "dir/dir/file", True),
    ("**/file*", "dir/dir/file", True), ("**/file*", "dir/dir/file.txt", True),
    ("**/file*txt", "dir/dir/file.txt", True), ("**/file*.txt", "dir/dir/file.txt", True),
    ("**/file*.txt*", "dir/dir/file.txt", True), ("**/**/*.txt", "dir/dir/file.txt", True),
    ("**/**/*.txt2", "dir/dir/file.txt", False), ("**/*.txt", "file.txt", True),
    ("**/**/*.txt", "file.txt", True), ("a**/*.txt", "a/file.txt", True),
    ("a**/*.txt", "a/dir/file.txt", True), ("a**/*.txt", "a/dir/dir/file.txt", True),
    ("a/*.txt", "a/dir/file.txt", False), ("a/*.txt", "a/file.txt", True),
    ("a/*.txt**", "a/file.txt", True), ("a[b-d]e", "ae", False), ("a[b-d]e", "ace", True),
    ("a[b-d]e", "aae", False), ("a[^b-d]e", "aze", True), (".*", ".foo", True),
    (".*", "foo", False), ("abc.def", "abcdef", False), ("abc.def", "abc.def", True),
    ("abc.def", "abcZdef", False), ("abc?def", "abcZdef", True), ("abc?def", "abcdef", False),
    ("a\\\\", "a\\", True), ("**/foo/bar", "foo/bar", True), ("**/foo/bar", "dir/foo/bar", True),
    ("**/foo/bar", "dir/dir2/foo/bar", True), ("abc/**", "abc", False),
    ("abc/**", "abc/def", True), ("abc/**", "abc/def/ghi", True), ("**/.foo", ".foo", True),
    ("**/.foo", "bar.foo", False), ("a(b)c/def", "a(b)c/def", True),
    ("a(b)c/def", "a(b)c/xyz", False), ("a.|)$(}+{bc", "a.|)$(}+{bc", True),
    ("dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
     "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", True),
    ("dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", True),
    ("a\\*b", "a*b", True),
]

# multiPatternTests and the folder/exception tests of the same file.
PATTERNMATCHER_MULTI = [
    (["**", "!util/docker/web"], "util/docker/web/foo", False),
    (["**", "!util/docker/web", "util/docker/web/foo"], "util/docker/web/foo", True),
    (["**", "!dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl"],
     "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", False),
    (["**", "!dist/*.whl"], "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", False),
    (["*"], "fileutils.go", True),
    (["*.go"], "fileutils.go", True),
    (["!fileutils.go", "*.go"], "fileutils.go", True),
    (["docs", "!docs/README.md"], "docs/README.md", False),
    (["docs/", "!docs/README.md"], "docs/README.md", False),
    (["docs/*", "!docs/README.md"], "docs/README.md", False),
    (["*.go", "!fileutils.go"], "fileutils.go", False),
    ([], "any/path/there", False),
]

# TestMatch, Go's path/filepath match_test.go (the error cases: ErrBadPattern).
GO_MATCH_CASES: list[tuple[str, str, bool | None]] = [
    ("abc", "abc", True), ("*", "abc", True), ("*c", "abc", True), ("a*", "a", True),
    ("a*", "abc", True), ("a*", "ab/c", False), ("a*/b", "abc/b", True),
    ("a*/b", "a/c/b", False), ("a*b*c*d*e*/f", "axbxcxdxe/f", True),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/f", True), ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", False),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", False), ("a*b?c*x", "abxbbxdbxebxczzx", True),
    ("a*b?c*x", "abxbbxdbxebxczzy", False), ("ab[c]", "abc", True), ("ab[b-d]", "abc", True),
    ("ab[e-g]", "abc", False), ("ab[^c]", "abc", False), ("ab[^b-d]", "abc", False),
    ("ab[^e-g]", "abc", True), ("a\\*b", "a*b", True), ("a\\*b", "ab", False),
    ("a?b", "a☺b", True), ("a[^a]b", "a☺b", True), ("a???b", "a☺b", False),
    ("a[^a][^a][^a]b", "a☺b", False), ("[a-ζ]*", "α", True), ("*[a-ζ]", "A", False),
    ("a?b", "a/b", False), ("a*b", "a/b", False), ("[\\]a]", "]", True), ("[\\-]", "-", True),
    ("[x\\-]", "x", True), ("[x\\-]", "-", True), ("[x\\-]", "z", False), ("[\\-x]", "x", True),
    ("[\\-x]", "-", True), ("[\\-x]", "a", False), ("[]a]", "]", None), ("[-]", "-", None),
    ("[x-]", "x", None), ("[x-]", "-", None), ("[x-]", "z", None), ("[-x]", "x", None),
    ("[-x]", "-", None), ("[-x]", "a", None), ("\\", "a", None), ("[a-b-c]", "a", None),
    ("[", "a", None), ("[^", "a", None), ("[^bc", "a", None), ("a[", "a", None),
    ("a[", "ab", None), ("a[", "x", None), ("a/b[", "x", None), ("*x", "xxx", True),
]


@pytest.mark.parametrize(("pattern", "path", "expected"), PATTERNMATCHER_CASES)
def test_patternmatcher_table(pattern: str, path: str, expected: bool) -> None:
    assert IgnoreMatcher.from_lines([pattern]).excluded(path) is expected


@pytest.mark.parametrize(("patterns", "path", "expected"), PATTERNMATCHER_MULTI)
def test_patternmatcher_multi_pattern_table(patterns: list[str], path: str,
                                            expected: bool) -> None:
    assert IgnoreMatcher.from_lines(patterns).excluded(path) is expected


@pytest.mark.parametrize(("pattern", "name", "expected"), GO_MATCH_CASES)
def test_go_filepath_match_table(pattern: str, name: str, expected: bool | None) -> None:
    if expected is None:
        with pytest.raises(ValueError, match="syntax error in pattern"):
            go_path_match(pattern, name)
    else:
        assert go_path_match(pattern, name) is expected


def test_go_clean() -> None:
    cases = {"": ".", "a/./b/../c/": "a/c", "/../x": "/x", "../../a": "../../a",
             "//a//b": "/a/b", "a/..": ".", "/": "/"}
    for path, cleaned in cases.items():
        assert go_clean(path) == cleaned


# --------------------------------------------------------------------------- reading


def test_reading_the_file() -> None:
    m = IgnoreMatcher.from_lines([
        "\ufeff# a comment\r\n", "\r\n", "  /build/  \r\n", " # not a comment\r\n",
        "! /build/keep.txt\n", "docs/../tmp\n", "*.md\n", "!README*.md\n",
    ])
    assert m.patterns == ("build", "# not a comment", "!build/keep.txt", "tmp", "*.md",
                          "!README*.md")
    assert m.excluded("build/x.o") and not m.excluded("build/keep.txt")
    assert m.excluded("tmp") and m.excluded("tmp/deep/file")
    assert m.excluded("CHANGES.md") and not m.excluded("README-secret.md")
    assert not m.excluded("src/main.go")
    assert not m.excluded("") and not m.excluded(".")


def test_last_match_wins_as_the_docker_docs_show() -> None:
    # the two examples of the .dockerignore documentation
    first = IgnoreMatcher.from_lines(["*.md", "!README*.md", "README-secret.md"])
    assert first.excluded("README-secret.md") and not first.excluded("README.md")
    second = IgnoreMatcher.from_lines(["*.md", "README-secret.md", "!README*.md"])
    assert not second.excluded("README-secret.md")


def test_bad_patterns_name_the_line() -> None:
    with pytest.raises(InputError) as info:
        IgnoreMatcher.from_lines(["ok", "# c", "src/[a-"], source="ctx/.dockerignore")
    assert str(info.value) == (
        "ctx/.dockerignore:3: bad pattern 'src/[a-': syntax error in pattern")
    with pytest.raises(InputError, match=r'\.dockerignore:2: illegal exclusion pattern: "!"'):
        IgnoreMatcher.from_lines(["a", " ! "])


def test_for_context(tmp_path: Path) -> None:
    context = tmp_path / "ctx"
    (context / "docker").mkdir(parents=True)
    dockerfile = context / "docker" / "app.Dockerfile"
    assert IgnoreMatcher.for_context(context, dockerfile).patterns == ()
    (context / ".dockerignore").write_text("*.log\n")
    assert IgnoreMatcher.for_context(context, dockerfile).patterns == ("*.log",)
    assert IgnoreMatcher.for_context(context).patterns == ("*.log",)
    # <Dockerfile>.dockerignore next to the Dockerfile wins (BuildKit)
    (context / "docker" / "app.Dockerfile.dockerignore").write_text("secrets/\n")
    specific = IgnoreMatcher.for_context(context, dockerfile)
    assert specific.patterns == ("secrets",)
    assert specific.source.endswith("app.Dockerfile.dockerignore")
    assert not specific.excluded("x.log")


def test_unreadable_ignore_file(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").mkdir()
    with pytest.raises(InputError, match=r"\.dockerignore: cannot read the ignore file"):
        IgnoreMatcher.for_context(tmp_path)


# --------------------------------------------------------------------------- pruning


def test_may_include_under() -> None:
    m = IgnoreMatcher.from_lines(["node_modules", "!node_modules/keep/**", "vendor/**",
                                  "!vendor/*/LICENSE"])
    assert m.may_include_under("src")  # not excluded at all
    assert m.may_include_under("node_modules")  # an exception lies below
    assert m.may_include_under("node_modules/keep")
    assert not m.may_include_under("node_modules/other")
    assert m.may_include_under("vendor/lib")  # vendor/*/LICENSE can match below it
    assert not m.may_include_under("vendor/lib/sub")  # but not this deep
    anywhere = IgnoreMatcher.from_lines(["cache", "node_modules", "!**/*.keep"])
    assert anywhere.may_include_under("cache")  # "**/*.keep" could match at any depth
    assert anywhere.may_include_under("node_modules")
    plain = IgnoreMatcher.from_lines(["node_modules", "*.tmp"])
    assert not plain.may_include_under("node_modules")
    assert not plain.may_include_under("x.tmp")


def test_a_later_pattern_that_matched_only_the_parent_is_not_rechecked() -> None:
    # MatchesUsingParentResults (what BuildKit's context walker calls): "a" is not tried
    # again for "a/b" once "!a/b" re-included it, because the parent's results for the
    # second "a" were never computed. The file is sent, as BuildKit sends it.
    m = IgnoreMatcher.from_lines(["a", "!a/b", "a"])
    assert m.excluded("a")
    assert not m.excluded("a/b")
    assert m.excluded("a/c")


# --------------------------------------------------------------------------- properties

_LITERAL = st.text(alphabet="ab/.-", min_size=0, max_size=8)


@settings(deadline=None, max_examples=300)
@given(_LITERAL, _LITERAL)
def test_literal_patterns_match_only_themselves(pattern: str, name: str) -> None:
    assert go_path_match(pattern, name) is (pattern == name)


@settings(deadline=None, max_examples=300)
@given(st.text(alphabet="ab*?", max_size=7), st.text(alphabet="ab", max_size=7))
def test_globs_on_single_names_agree_with_fnmatch(pattern: str, name: str) -> None:
    # without '/' and brackets, filepath.Match and fnmatch agree
    assert go_path_match(pattern, name) is fnmatch.fnmatchcase(name, pattern)


_NAMES = ["a", "b", "ab", "a.md", "b.md", "x.log"]
_TOP_PATTERNS = ["a", "b", "ab", "*.md", "a*", "?", "??", "[ab]", "*", "x.*", "[^a]*"]


@settings(deadline=None, max_examples=300)
@given(st.lists(st.tuples(st.booleans(), st.sampled_from(_TOP_PATTERNS)), max_size=6),
       st.sampled_from(_NAMES))
def test_last_match_wins(patterns: list[tuple[bool, str]], name: str) -> None:
    lines = [("!" if exception else "") + p for exception, p in patterns]
    expected = False
    for exception, p in patterns:
        if go_path_match(p, name):
            expected = not exception
    assert IgnoreMatcher.from_lines(lines).excluded(name) is expected


_SEGMENTS = ["a", "b", "c.txt", "node_modules", "x"]
_PATHS = st.lists(st.sampled_from(_SEGMENTS), min_size=1, max_size=4).map("/".join)
_PATTERNS = ["a", "b", "*", "*.txt", "a/b", "a/*", "**/c.txt", "node_modules", "**/x",
             "a/**", "*/b", "x/**/c.txt", "?"]


@settings(deadline=None, max_examples=300)
@given(st.lists(st.sampled_from(_PATTERNS), min_size=1, max_size=5), _PATHS, _PATHS)
def test_an_excluded_directory_excludes_its_children(patterns: list[str], parent: str,
                                                     child: str) -> None:
    m = IgnoreMatcher.from_lines(patterns)
    assume(m.excluded(parent))
    assert m.excluded(f"{parent}/{child}")
    assert not m.may_include_under(parent)


@settings(deadline=None, max_examples=400)
@given(st.lists(st.tuples(st.booleans(), st.sampled_from(_PATTERNS)), min_size=1, max_size=6),
       _PATHS, st.lists(_PATHS, min_size=1, max_size=4))
def test_pruning_never_loses_a_re_included_path(patterns: list[tuple[bool, str]],
                                                parent: str, below: list[str]) -> None:
    m = IgnoreMatcher.from_lines([("!" if e else "") + p for e, p in patterns])
    if not m.may_include_under(parent):
        for rest in below:
            assert m.excluded(f"{parent}/{rest}")


@settings(deadline=None, max_examples=200)
@given(st.lists(st.tuples(st.booleans(), st.sampled_from(_PATTERNS)), min_size=1, max_size=5),
       st.lists(_PATHS, min_size=1, max_size=6))
def test_answers_do_not_depend_on_the_order_of_questions(patterns: list[tuple[bool, str]],
                                                         paths: list[str]) -> None:
    lines = [("!" if e else "") + p for e, p in patterns]
    shared = IgnoreMatcher.from_lines(lines)
    for path in paths:
        assert shared.excluded(path) is IgnoreMatcher.from_lines(lines).excluded(path)
