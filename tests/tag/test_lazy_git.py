"""What a build asks git, and what it loads: outside any repository no git process runs
(and the answer is still git's), a build shares one git_info between its tag and its
origin, and hoist's default policy loads neither Skaffold's policies nor the template
language."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from hoist.tag.git import GitInfo, git_info, is_dirty, may_be_in_repository
from hoist.tag.policies import HoistDefaultTagger, TagContext, generate_tag
from tests.tag.conftest import GitRepo


def _git_says_work_tree(path: Path) -> bool:
    proc = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=path,
                          capture_output=True, text=True, check=False,
                          env={k: v for k, v in os.environ.items() if k != "GIT_DIR"})
    return proc.returncode == 0


def test_outside_any_repository_no_git_process_runs(tmp_path: Path) -> None:
    plain = tmp_path / "plain" / "deeper"
    plain.mkdir(parents=True)
    assert not may_be_in_repository(plain)
    assert git_info(plain) is None and is_dirty(plain) is None


def test_the_walk_finds_what_git_would(git_repo: Callable[[str], GitRepo],
                                       tmp_path: Path) -> None:
    repo = git_repo("repo").write("sub/a.txt", "a").add("sub/a.txt").commit("one")
    plain = tmp_path / "plain"
    plain.mkdir()
    bare = tmp_path / "bare.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    worktree = tmp_path / "linked"
    repo.git("worktree", "add", "-q", str(worktree))
    linked_file = tmp_path / "linked-dir"  # a .git file pointing elsewhere (a gitfile)
    linked_file.mkdir()
    (linked_file / ".git").write_text(f"gitdir: {repo.root / '.git'}\n")
    cases = {
        repo.root: True, repo.root / "sub": True, repo.root / ".git": True,
        repo.root / ".git" / "refs": True, bare: True, bare / "refs": True,
        worktree: True, linked_file: True, plain: False,
    }
    for path, found in cases.items():
        assert may_be_in_repository(path) is found, path
        if not found:  # never a wrong "no": git agrees there is no work tree
            assert not _git_says_work_tree(path), path
    assert git_info(repo.root / "sub") is not None
    assert git_info(bare) is None  # git itself says no work tree


def test_a_symlink_into_a_repository_is_followed_as_git_does(
        git_repo: Callable[[str], GitRepo], tmp_path: Path) -> None:
    repo = git_repo("repo").write("app/x", "x").add("app/x").commit("one")
    link = tmp_path / "outside-link"
    link.symlink_to(repo.root / "app")
    assert may_be_in_repository(link)
    info = git_info(link)
    assert info is not None and info.commit == repo.head()


def test_the_default_policy_uses_the_callers_git_info(tmp_path: Path) -> None:
    calls: list[int] = []
    info = GitInfo(commit="c" * 40, tree="t" * 40, describe="v1", dirty=False,
                   root=str(tmp_path), abbrev_commit="ccccccc", abbrev_tree="ttttttt")

    def known() -> GitInfo:
        calls.append(1)
        return info

    ctx = TagContext(image="app", context=tmp_path, input_digest=lambda: "0" * 64,
                     env={}, user="dev", git=known)
    assert generate_tag(HoistDefaultTagger(), ctx).tag == "ccccccc"
    assert calls == [1]
    # without one it asks git itself: tmp_path is in no repository
    plain = TagContext(image="app", context=tmp_path, input_digest=lambda: "0" * 64,
                       env={}, user="dev")
    assert generate_tag(HoistDefaultTagger(), plain).tag == "dev-000000000000"


def test_the_default_policy_loads_no_other_policy() -> None:
    code = ("import sys\nfrom hoist.tag.policies import tagger_from_config\n"
            "t = tagger_from_config(None)\n"
            "print(type(t).__name__, *sorted(m for m in sys.modules if m in "
            "('hoist.tag.skaffold', 'hoist.tag.template', 'hoist.tag.golayout', 'zoneinfo',"
            " 'subprocess')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["HoistDefaultTagger"]


def test_skaffold_policies_are_still_importable_from_everywhere() -> None:
    import hoist.tag
    import hoist.tag.policies as policies
    import hoist.tag.skaffold as skaffold

    for name in ("GitCommitTagger", "Sha256Tagger", "InputDigestTagger", "DateTimeTagger",
                 "EnvTemplateTagger", "CustomTemplateTagger"):
        assert getattr(policies, name) is getattr(skaffold, name) is getattr(hoist.tag, name)
    for name in hoist.tag.__all__:
        assert getattr(hoist.tag, name) is not None, name
    with pytest.raises(AttributeError):
        policies.NoSuchTagger  # noqa: B018
    with pytest.raises(AttributeError):
        hoist.tag.no_such_name  # noqa: B018
    assert isinstance(policies.tagger_from_config({"sha256": {}}), skaffold.Sha256Tagger)
