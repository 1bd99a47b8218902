"""What the git work tree around an artifact says: commit, trees, describe, dirtiness.

Everything comes from the ``git`` program (the same commands Skaffold's gitCommit tagger
runs, pkg/skaffold/tag/git_commit.go), a handful of short calls. :func:`git_info` returns
None when there is nothing to report: ``git`` is not installed, the path is not inside a
work tree, or HEAD has no commit yet. The caller decides what that means (Skaffold's
gitCommit tagger fails and its runner falls back; hoist's default policy tags by content).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

# Variables that point git at another repository than the one around the path; a build
# started from a git hook or an IDE may have them set, and the tags must describe the
# artifact's own work tree.
_LOCATION_VARIABLES = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
                       "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_COMMON_DIR", "GIT_NAMESPACE",
                       "GIT_PREFIX")


@dataclass(frozen=True, slots=True)
class GitInfo:
    """The git facts about one path. ``abbrev_*`` are abbreviated as ``git rev-parse --short``
    does (``core.abbrev``, longer when needed to stay unique), not cut to 7."""

    commit: str           # HEAD's full sha
    tree: str             # HEAD^{tree}: the whole repository's tree
    describe: str         # git describe --tags --always
    dirty: bool           # changes under the path: modified, staged, deleted or untracked
                          # (not ignored) files
    root: str             # the work tree's top level
    abbrev_commit: str
    abbrev_tree: str
    path_tree: str | None = None         # HEAD:<path>/, the tree of the path itself; None
                                         # when the path is not in HEAD (new directory)
    abbrev_path_tree: str | None = None
    branch: str | None = None            # the checked-out branch; None when detached


def git_executable() -> str | None:
    """The ``git`` program on PATH, or None."""
    return shutil.which("git")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _LOCATION_VARIABLES}
    env["LC_ALL"] = "C"
    # status would otherwise refresh the index, taking index.lock under a user's feet.
    env["GIT_OPTIONAL_LOCKS"] = "0"
    return env


def _run(git: str, cwd: Path, *args: str) -> str | None:
    """stdout, stripped, or None when git fails."""
    import subprocess

    try:
        proc = subprocess.run([git, *args], cwd=cwd, env=_env(), capture_output=True,
                              text=True, check=False)
    except OSError:
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def _directory(path: str | Path) -> Path | None:
    p = Path(path)
    if p.is_file():
        p = p.parent
    if not p.is_dir() or not may_be_in_repository(p):
        return None
    return p


def may_be_in_repository(directory: str | Path) -> bool:
    """False when git's repository discovery cannot find anything from ``directory``:
    neither it nor any directory above it (symlinks resolved, as git's getcwd sees them)
    holds a ``.git`` entry or is itself a git directory (``HEAD`` beside ``objects`` and
    ``refs``). Then every git call here would fail, and none is made: outside git a
    build spends no process on asking. The variables that could point git elsewhere
    (GIT_DIR, GIT_WORK_TREE, …) are never passed to it, so the walk is all it has."""
    current = os.path.realpath(directory)
    while True:
        if os.path.lexists(os.path.join(current, ".git")):
            return True
        if os.path.isfile(os.path.join(current, "HEAD")) and \
                os.path.isdir(os.path.join(current, "objects")) and \
                os.path.isdir(os.path.join(current, "refs")):
            return True
        parent = os.path.dirname(current)
        if parent == current:
            return False
        current = parent


def current_branch(path: str | Path) -> str | None:
    """The branch checked out in the work tree around ``path`` (also before the first
    commit), or None: detached HEAD, not a work tree, no git."""
    git, cwd = git_executable(), _directory(path)
    if git is None or cwd is None:
        return None
    return _run(git, cwd, "symbolic-ref", "--short", "-q", "HEAD") or None


def is_dirty(path: str | Path) -> bool | None:
    """Whether ``git status`` lists anything under ``path``; None outside a work tree."""
    git, cwd = git_executable(), _directory(path)
    if git is None or cwd is None:
        return None
    out = _run(git, cwd, "status", "--porcelain", "--", ".")
    return None if out is None else bool(out)


def untracked_inputs(path: str | Path, rels: Iterable[str]) -> bool:
    """Whether any of ``rels`` (files, relative to ``path``) is not tracked by git: an
    ignored or new file that goes into an image although no commit holds it. ``git status``
    leaves ignored files out, so a tree can be clean while the image's inputs are not
    what the commit says."""
    git, cwd = git_executable(), _directory(path)
    if git is None or cwd is None:
        return False
    out = _run(git, cwd, "ls-files", "-z", "--", ".")
    if out is None:
        return False
    tracked = set(out.split("\0"))
    # The repository's own metadata (a context at the top level holds .git) is never
    # tracked, and is what the commit is.
    return any(rel not in tracked for rel in rels
               if rel != ".git" and not rel.startswith(".git/"))


def git_info(path: str | Path) -> GitInfo | None:
    """The git facts for ``path`` (a directory, or a file's directory); None when ``git``
    is missing, ``path`` is not in a git work tree, or HEAD has no commit."""
    git, cwd = git_executable(), _directory(path)
    if git is None or cwd is None:
        return None
    located = _run(git, cwd, "rev-parse", "--show-toplevel", "--show-prefix")
    if located is None:
        return None
    root, _, prefix = located.partition("\n")
    head = _run(git, cwd, "log", "-1", "--format=%H%n%h%n%T%n%t", "HEAD")
    if head is None:
        return None  # unborn HEAD: no commit yet
    commit, abbrev_commit, tree, abbrev_tree = head.split("\n")
    describe = _run(git, cwd, "describe", "--tags", "--always") or abbrev_commit
    dirty = _run(git, cwd, "status", "--porcelain", "--", ".")
    if prefix.strip():
        # A subdirectory: its own tree in HEAD (Skaffold's TreeSha is "HEAD:<rel>/").
        path_tree = _run(git, cwd, "rev-parse", "HEAD:./")
        abbrev_path_tree = _run(git, cwd, "rev-parse", "--short", "HEAD:./") \
            if path_tree is not None else None
    else:
        path_tree, abbrev_path_tree = tree, abbrev_tree
    branch = _run(git, cwd, "symbolic-ref", "--short", "-q", "HEAD") or None
    return GitInfo(commit=commit, tree=tree, describe=describe, dirty=bool(dirty),
                   root=root, abbrev_commit=abbrev_commit, abbrev_tree=abbrev_tree,
                   path_tree=path_tree, abbrev_path_tree=abbrev_path_tree, branch=branch)
