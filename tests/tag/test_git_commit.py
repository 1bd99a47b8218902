"""gitCommit against real git repositories.

The table is Skaffold's TestGitCommit_GenerateTag (pkg/skaffold/tag/git_commit_test.go,
v2): same repositories, same expected tags, shas included, since conftest.GitRepo builds
byte-identical commits. Rows Skaffold expects to fail end in Skaffold's runner fall-back,
``latest`` (pkg/skaffold/runner/build.go).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from hoist.errors import InputError
from hoist.tag.git import git_info
from hoist.tag.policies import (
    GitCommitTagger,
    TagContext,
    TagError,
    generate_tag,
    tagger_from_config,
)
from tests.tag.conftest import GitRepo

VARIANTS = ("Tags", "CommitSha", "AbbrevCommitSha", "TreeSha", "AbbrevTreeSha", "Branches")


def ctx(path: Path) -> TagContext:
    return TagContext(image="test", context=path, input_digest=lambda: "0" * 64, env={},
                      user="dev")


@dataclass(frozen=True)
class Row:
    description: str
    build: Callable[[GitRepo], object]
    expected: tuple[str | None, ...]  # per VARIANTS; None: the tagger fails
    sub_dir: str = "."
    ignore_changes: bool = False


def _tagged_twice(r: GitRepo, a: str = "v/1", b: str = "v/2") -> GitRepo:
    return (r.write("source.go", "code").add("source.go").commit("initial").tag(a)
            .write("other.go", "other").add("other.go").commit("second commit").tag(b))


def _two_artifacts(r: GitRepo) -> GitRepo:
    return (r.mkdir("artifact1").write("artifact1/source.go", "code")
            .mkdir("artifact2").write("artifact2/source.go", "other code")
            .add("artifact1/source.go", "artifact2/source.go").commit("initial"))


def _initial(r: GitRepo) -> GitRepo:
    return r.write("source.go", "code").add("source.go").commit("initial")


E = "eefe1b9c44eb0aa87199c9a079f2d48d8eb8baed"
A = "aea33bcc86b5af8c8570ff45d8a643202d63c808"
T3 = "3bed02ca656e336307e4eb4d80080d7221cba62c"
TBC = "bc69d50cda6897a6f2054e64b9059f038dc6fb0e"
B6 = "b610928dc27484cc56990bc77622aab0dbd67131"


def dirty(*tags: str) -> tuple[str, ...]:
    return tuple(f"{t}-dirty" for t in tags)


ROWS = [
    Row("clean worktree without tag", _initial,
        ("eefe1b9", E, "eefe1b9", T3, "3bed02c", "master")),
    Row("clean worktree with tag containing a slash", _tagged_twice,
        ("v_2", A, "aea33bc", TBC, "bc69d50", "master")),
    Row("clean worktree with a branch",
        lambda r: _initial(r).branch("branch").commit("second"),
        ("589c4dc", "589c4dcf52df66d058c705db39f871dceacf6471", "589c4dc", T3, "3bed02c",
         "branch")),
    Row("clean worktree with a branch containing a slash",
        lambda r: _initial(r).branch("branch/withslash"),
        ("eefe1b9", E, "eefe1b9", T3, "3bed02c", "branch_withslash")),
    Row("dirty worktree with tag containing a slash",
        lambda r: _tagged_twice(r).write("other.go", "updated code"),
        dirty("v_2", A, "aea33bc", TBC, "bc69d50", "master")),
    Row("dirty worktree with ignore changes flag",
        lambda r: _tagged_twice(r).write("other.go", "updated code"),
        ("v_2", A, "aea33bc", TBC, "bc69d50", "master"), ignore_changes=True),
    Row("clean worktree with tags", lambda r: _tagged_twice(r, "v1", "v2"),
        ("v2", A, "aea33bc", TBC, "bc69d50", "master")),
    Row("clean worktree with ignore changes flag", lambda r: _tagged_twice(r, "v1", "v2"),
        ("v2", A, "aea33bc", TBC, "bc69d50", "master"), ignore_changes=True),
    Row("treeSha only considers current tree content",
        lambda r: (r.write("source.go", "other code").add("source.go").commit("initial")
                   .write("source.go", "code").add("source.go").commit("updated code")
                   .tag("v1")),
        ("v1", "b2f7a7d62794237ac293eb07c6bcae3736b96231", "b2f7a7d", T3, "3bed02c",
         "master")),
    Row("dirty worktree without tag",
        lambda r: _initial(r).write("source.go", "updated code"),
        dirty("eefe1b9", E, "eefe1b9", T3, "3bed02c", "master")),
    Row("dirty worktree with tag",
        lambda r: _initial(r).tag("v1").write("source.go", "updated code"),
        dirty("v1", E, "eefe1b9", T3, "3bed02c", "master")),
    Row("untracked", lambda r: _initial(r).write("new.go", "new code"),
        dirty("eefe1b9", E, "eefe1b9", T3, "3bed02c", "master")),
    Row("tag plus one commit",
        lambda r: (_initial(r).tag("v1").write("source.go", "updated code").add("source.go")
                   .commit("changes")),
        ("v1-1-g3cec6b9", "3cec6b950895704a8a69b610a199b242a3bd370f", "3cec6b9",
         "81eea360f7f81bc5c187498a8d6c4337e0361374", "81eea36", "master")),
    Row("deleted file",
        lambda r: (r.write("source1.go", "code1").write("source2.go", "code2")
                   .add("source1.go", "source2.go").commit("initial").delete("source1.go")),
        dirty("279d53f", "279d53fcc3ae34503aec382a49a41f6db6de9a66", "279d53f",
              "039c20a072ceb72fb72d5883315df91659bb8ae4", "039c20a", "master")),
    Row("rename", lambda r: _initial(r).rename("source.go", "source2.go"),
        dirty("eefe1b9", E, "eefe1b9", T3, "3bed02c", "master")),
    Row("clean artifact1 in tagged repo", lambda r: _two_artifacts(r).tag("v1"),
        ("v1", B6, "b610928", T3, "3bed02c", "master"), sub_dir="artifact1/"),
    Row("clean artifact2 in tagged repo", lambda r: _two_artifacts(r).tag("v1"),
        ("v1", B6, "b610928", "36651c832d8bf5ca1e84c6dc23bb8678fa51cf3e", "36651c8", "master"),
        sub_dir="artifact2"),
    Row("clean artifact in dirty repo",
        lambda r: _two_artifacts(r).tag("v1").write("artifact2/source.go", "updated code"),
        ("v1", B6, "b610928", T3, "3bed02c", "master"), sub_dir="artifact1"),
    Row("updated artifact in dirty repo",
        lambda r: _two_artifacts(r).tag("v1").write("artifact2/source.go", "updated code"),
        dirty("v1", B6, "b610928", "36651c832d8bf5ca1e84c6dc23bb8678fa51cf3e", "36651c8",
              "master"), sub_dir="artifact2"),
    Row("additional commit in other artifact",
        lambda r: (_two_artifacts(r).write("artifact2/source.go", "updated code")
                   .add("artifact2/source.go").commit("update artifact2")),
        ("0d16f59", "0d16f59900bd63dd39425d6085d3f1333b66804f", "0d16f59", T3, "3bed02c",
         "master"), sub_dir="artifact1"),
    Row("git repo with no commit", lambda r: r,
        (None, None, None, None, None, "master")),
]


@pytest.mark.parametrize("row", ROWS, ids=[r.description for r in ROWS])
def test_skaffold_git_commit_table(row: Row, git_repo: Callable[[str], GitRepo]) -> None:
    repo = git_repo("repo")
    row.build(repo)
    context = ctx(repo.root / row.sub_dir)
    for variant, expected in zip(VARIANTS, row.expected, strict=True):
        tagger = GitCommitTagger(variant, ignore_changes=row.ignore_changes)
        if expected is None:
            with pytest.raises(TagError):
                tagger.generate(context)
            result = generate_tag(tagger, context)
            assert (result.tag, result.fallback is not None) == ("latest", True), variant
        else:
            assert tagger.generate(context) == expected, variant
            assert tagger.tag(context) == expected, variant


def test_non_git_directory_falls_back_to_latest(tmp_path: Path,
                                                git_repo: Callable[[str], GitRepo]) -> None:
    # Skaffold: every variant errors ("non git repo" row); its runner then uses the
    # sha256 tagger, whose tag is latest.
    (tmp_path / "source.go").write_text("code")
    for variant in VARIANTS:
        tagger = GitCommitTagger(variant)
        with pytest.raises(TagError, match="unable to find git"):
            tagger.generate(ctx(tmp_path))
        result = generate_tag(tagger, ctx(tmp_path))
        assert result.tag == "latest"
        assert result.fallback is not None and "unable to find git" in result.fallback


def test_subdirectory_not_in_head(git_repo: Callable[[str], GitRepo]) -> None:
    # Skaffold TestGitCommitSubDirectory: an empty commit, the context a new directory.
    repo = git_repo("repo").mkdir("sub/sub").commit("initial")
    context = ctx(repo.root / "sub/sub")
    sha = "a7b32a69335a6daa51bd89cc1bf30bd31df228ba"
    assert GitCommitTagger("Tags").generate(context) == "a7b32a6"
    assert GitCommitTagger("CommitSha").generate(context) == sha
    assert GitCommitTagger("AbbrevCommitSha").generate(context) == "a7b32a6"
    for variant in ("TreeSha", "AbbrevTreeSha"):
        with pytest.raises(TagError):
            GitCommitTagger(variant).generate(context)


def test_prefix_is_not_sanitized(git_repo: Callable[[str], GitRepo]) -> None:
    # Skaffold TestPrefix, plus a dirty one: prefix, ref, then -dirty.
    repo = git_repo("repo").commit("initial")
    assert GitCommitTagger("Tags", prefix="tag-").generate(ctx(repo.root)) == "tag-a7b32a6"
    assert GitCommitTagger("CommitSha", prefix="commit-").generate(ctx(repo.root)) == \
        "commit-a7b32a69335a6daa51bd89cc1bf30bd31df228ba"
    repo.write("x", "y")
    assert GitCommitTagger("Tags", prefix="v.").generate(ctx(repo.root)) == "v.a7b32a6-dirty"


def test_invalid_variant() -> None:
    # Skaffold TestInvalidVariant.
    with pytest.raises(InputError, match='"Invalid" is not a valid git tagger variant'):
        GitCommitTagger("Invalid")
    with pytest.raises(InputError, match=r'^build\.tagPolicy\.gitCommit\.variant: "x"'):
        tagger_from_config({"gitCommit": {"variant": "x"}})


def test_variants_are_case_insensitive(git_repo: Callable[[str], GitRepo]) -> None:
    repo = _initial(git_repo("repo"))
    assert GitCommitTagger("abbrevcommitsha").generate(ctx(repo.root)) == "eefe1b9"
    assert GitCommitTagger("TREESHA").describe() == "gitCommit(variant=TreeSha)"
    assert GitCommitTagger("").describe() == "gitCommit(variant=Tags)"


def test_ignored_files_do_not_make_the_tree_dirty(git_repo: Callable[[str], GitRepo]) -> None:
    repo = (git_repo("repo").write(".gitignore", "*.log\nbuild/\n").write("a.go", "x")
            .add(".gitignore", "a.go").commit("initial"))
    repo.write("debug.log", "noise").write("build/out.bin", "bin")
    info = git_info(repo.root)
    assert info is not None and not info.dirty
    assert GitCommitTagger("AbbrevCommitSha").generate(ctx(repo.root)) == info.abbrev_commit
    repo.write("new.go", "untracked, not ignored")
    info = git_info(repo.root)
    assert info is not None and info.dirty


def test_staged_change_is_dirty(git_repo: Callable[[str], GitRepo]) -> None:
    repo = _initial(git_repo("repo"))
    repo.write("source.go", "staged").add("source.go")
    assert GitCommitTagger("Tags").generate(ctx(repo.root)) == "eefe1b9-dirty"
    # Back to the committed content, still staged: nothing differs from HEAD any more.
    repo.write("source.go", "code").add("source.go")
    assert GitCommitTagger("Tags").generate(ctx(repo.root)) == "eefe1b9"


def test_git_info_fields(git_repo: Callable[[str], GitRepo], tmp_path: Path) -> None:
    repo = _two_artifacts(git_repo("repo")).tag("v1")
    info = git_info(repo.root / "artifact2")
    assert info is not None
    assert info.commit == B6 and info.abbrev_commit == "b610928"
    assert info.tree == repo.git("rev-parse", "HEAD^{tree}")
    assert info.abbrev_tree == info.tree[:7]
    assert info.path_tree == "36651c832d8bf5ca1e84c6dc23bb8678fa51cf3e"
    assert info.abbrev_path_tree == "36651c8"
    assert info.describe == "v1"
    assert info.root == str(repo.root.resolve())
    assert info.branch == "master"
    assert not info.dirty
    # A file's directory counts; outside any work tree, or before the first commit: None.
    assert git_info(repo.root / "artifact2" / "source.go") == info
    outside = tmp_path / "plain"
    outside.mkdir()
    assert git_info(outside) is None
    assert git_info(tmp_path / "does-not-exist") is None
    assert git_info(git_repo("empty").root) is None


def test_abbreviation_comes_from_git(git_repo: Callable[[str], GitRepo]) -> None:
    repo = _initial(git_repo("repo"))
    repo.git("config", "core.abbrev", "12")
    info = git_info(repo.root)
    assert info is not None
    assert info.abbrev_commit == E[:12]
    assert info.abbrev_tree == T3[:12]
    assert GitCommitTagger("AbbrevCommitSha").generate(ctx(repo.root)) == E[:12]


def test_git_location_variables_do_not_leak(git_repo: Callable[[str], GitRepo],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    # A GIT_DIR inherited from a hook must not make another repository's facts appear.
    other = _initial(git_repo("other"))
    repo = git_repo("repo").commit("initial")
    head = repo.head()
    assert head != other.head()
    monkeypatch.setenv("GIT_DIR", str(other.root / ".git"))
    info = git_info(repo.root)
    assert info is not None and info.commit == head


def test_git_info_is_quick(git_repo: Callable[[str], GitRepo]) -> None:
    # A handful of git calls; generous bound for a shared machine (typically ~25 ms).
    repo = _two_artifacts(git_repo("repo"))
    git_info(repo.root / "artifact1")
    start = time.perf_counter()
    git_info(repo.root / "artifact1")
    assert time.perf_counter() - start < 1.0
