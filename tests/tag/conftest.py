"""Real git repositories for the tag tests.

``GitRepo`` builds repositories the way Skaffold's git_commit_test.go builds them with
go-git: files written with mode 0777 (so 0755 after the umask, hence executable in the
tree), commits by John Doe <john@doe.org> at 2013-02-03 19:54:00 -0700 whose message is
stored without a trailing newline, lightweight tags. Built that way, the commit and tree
shas equal the ones in Skaffold's table, which the tests compare against.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

MISSING_GIT = "git is not installed (Debian package git)"

_DATE = "2013-02-03T19:54:00-0700"
_IDENTITY = {
    "GIT_AUTHOR_NAME": "John Doe", "GIT_AUTHOR_EMAIL": "john@doe.org", "GIT_AUTHOR_DATE": _DATE,
    "GIT_COMMITTER_NAME": "John Doe", "GIT_COMMITTER_EMAIL": "john@doe.org",
    "GIT_COMMITTER_DATE": _DATE,
}


@pytest.fixture(autouse=True)
def _isolated_git(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No user or system git configuration (core.abbrev, init.defaultBranch, signing…)
    reaches the code under test or the helpers, and a temporary directory counts as
    outside git even when the temporary root sits inside some work tree."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        monkeypatch.delenv(var, raising=False)


class GitRepo:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", "master")
        self.git("config", "user.name", "John Doe")
        self.git("config", "user.email", "john@doe.org")
        self.git("config", "commit.gpgsign", "false")

    def git(self, *args: str) -> str:
        env = {**os.environ, **_IDENTITY}
        proc = subprocess.run(["git", *args], cwd=self.root, env=env, capture_output=True,
                              text=True, check=True)
        return proc.stdout.strip()

    def mkdir(self, folder: str) -> GitRepo:
        (self.root / folder).mkdir(parents=True, exist_ok=True)
        return self

    def write(self, name: str, content: str) -> GitRepo:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        path.chmod(0o755)  # go-git test helper: os.WriteFile(…, os.ModePerm) under umask 022
        return self

    def add(self, *names: str) -> GitRepo:
        self.git("add", "--", *names)
        return self

    def commit(self, message: str) -> GitRepo:
        msg = self.root.parent / f".{self.root.name}-msg"
        msg.write_text(message)  # no trailing newline, as go-git stores it
        self.git("commit", "-q", "--allow-empty", "--cleanup=verbatim", "-F", str(msg))
        msg.unlink()
        return self

    def tag(self, name: str) -> GitRepo:
        self.git("tag", name)
        return self

    def branch(self, name: str) -> GitRepo:
        self.git("checkout", "-q", "-b", name)
        return self

    def delete(self, *names: str) -> GitRepo:
        for name in names:
            (self.root / name).unlink()
        return self

    def rename(self, old: str, new: str) -> GitRepo:
        (self.root / old).rename(self.root / new)
        return self

    def head(self) -> str:
        return self.git("rev-parse", "HEAD")


@pytest.fixture
def git_repo(tmp_path: Path) -> Iterator[Callable[[str], GitRepo]]:
    if shutil.which("git") is None:
        pytest.skip(reason=MISSING_GIT)

    def make(name: str = "repo") -> GitRepo:
        return GitRepo(tmp_path / name)

    yield make
