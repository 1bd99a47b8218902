"""Scanning a build context on a real filesystem: what is kept, what a digest depends
on, and how the digest cache avoids reading unchanged files."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hoist.build.context import DigestCache, input_digest, scan_context
from hoist.build.ignore import IgnoreMatcher
from hoist.errors import InputError

NOBODY = 65534


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return root


@pytest.fixture
def context(tmp_path: Path) -> Path:
    root = write(tmp_path / "ctx", {
        "Dockerfile": "FROM scratch\nCOPY . /app\n",
        ".dockerignore": "node_modules/**\n!node_modules/keep/**\n*.log\n!important.log\nbuild\n",
        "src/app.py": "print('hi')\n",
        "src/pkg/__init__.py": "",
        "src/pkg/mod.py": "#!/usr/bin/env python3\n",
        "node_modules/dep/index.js": "module.exports = 1\n",
        "node_modules/keep/x.js": "x\n",
        "build/out.o": "\0",
        "debug.log": "noise\n",
        "important.log": "keep me\n",
    })
    (root / "src/pkg/mod.py").chmod(0o755)
    (root / "empty").mkdir()
    outside = write(tmp_path / "outside", {"secret.txt": "not in the context\n"})
    (root / "link-to-src").symlink_to("src")
    (root / "link-to-file").symlink_to("src/app.py")
    (root / "dangling").symlink_to("missing")
    (root / "link-outside").symlink_to(outside)
    return root


def scan(root: Path, cache: DigestCache | None = None) -> list[str]:
    return [e.rel for e in scan_context(root, IgnoreMatcher.for_context(root), cache)]


def test_scan_keeps_what_the_ignore_file_lets_through(context: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    visited: list[str] = []
    real_scandir = os.scandir

    def recording(path: str) -> Iterator[os.DirEntry[str]]:
        visited.append(os.path.relpath(path, context))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", recording)
    entries = scan_context(context, IgnoreMatcher.for_context(context))
    monkeypatch.undo()
    assert [e.rel for e in entries] == [
        ".dockerignore", "Dockerfile", "dangling", "empty", "important.log", "link-outside",
        "link-to-file", "link-to-src",
        # node_modules/keep is excluded itself, but kept as the parent of what is re-included
        "node_modules", "node_modules/keep", "node_modules/keep/x.js",
        "src", "src/app.py", "src/pkg", "src/pkg/__init__.py", "src/pkg/mod.py",
    ]
    # excluded directories nothing can re-include are not even read; symlinks not followed
    assert "build" not in visited and "node_modules/dep" not in visited
    assert "node_modules/keep" in visited
    assert not any(v.startswith(("link", "..")) for v in visited)

    by_rel = {e.rel: e for e in entries}
    app = by_rel["src/app.py"]
    assert (app.kind, app.mode, app.size, app.link) == ("file", 0o644, 12, "")
    assert app.digest == sha(b"print('hi')\n")
    assert app.path == context / "src/app.py" and app.path.is_absolute()
    assert by_rel["src/pkg/mod.py"].mode == 0o755
    link = by_rel["link-to-src"]
    assert (link.kind, link.link, link.digest, link.size) == ("symlink", "src", sha(b"src"), 3)
    assert by_rel["dangling"].link == "missing"
    empty = by_rel["empty"]
    assert (empty.kind, empty.digest, empty.size) == ("dir", "", 0)


def test_special_files_are_left_out(tmp_path: Path) -> None:
    root = write(tmp_path / "ctx", {"a": "a"})
    os.mkfifo(root / "fifo")
    assert scan(root) == ["a"]


def _scan_as(uid: int, root: Path) -> str:
    """scan_context run by another user in a child process: "ok" or the error text."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        try:
            os.close(read_end)
            try:
                os.setgroups([])
                os.setgid(uid)
                os.setuid(uid)
            except OSError as e:
                message = f"setuid: {e}"
            else:
                try:
                    scan_context(root, IgnoreMatcher.for_context(root))
                    message = "ok"
                except InputError as e:
                    message = f"InputError: {e}"
                except BaseException as e:
                    message = f"{type(e).__name__}: {e}"
            os.write(write_end, message.encode())
        finally:
            os._exit(0)
    os.close(write_end)
    chunks = []
    while chunk := os.read(read_end, 65536):
        chunks.append(chunk)
    os.close(read_end)
    os.waitpid(pid, 0)
    return b"".join(chunks).decode()


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    # under /tmp itself: pytest's own tmp_path is private to the user running the tests
    path = Path(tempfile.mkdtemp(prefix="hoist-ctx-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def test_unreadable_entries(shared_dir: Path) -> None:
    root = write(shared_dir, {"ok.txt": "ok", ".dockerignore": "private\n"})
    secret = write(root, {"secret.txt": "s"}) / "secret.txt"
    secret.chmod(0)
    (root / "private").mkdir(mode=0)  # excluded: BuildKit skips it, unreadable or not

    def attempt() -> str:
        if os.geteuid() != 0:
            try:
                scan_context(root, IgnoreMatcher.for_context(root))
            except InputError as e:
                return f"InputError: {e}"
            return "ok"
        result = _scan_as(NOBODY, root)
        if result.startswith("setuid:"):
            pytest.skip(reason=f"cannot drop root privileges to read as another user ({result})")
        return result

    assert attempt() == (f"InputError: {secret}: cannot read the build context file: "
                         "Permission denied")
    secret.chmod(0o644)
    assert attempt() == "ok"
    (root / ".dockerignore").write_text("")  # now the private directory is part of it
    assert attempt() == (f"InputError: {root / 'private'}: cannot read the build context "
                         "directory: Permission denied")


# --------------------------------------------------------------------------- input digest


def digest_of(root: Path, dockerfile: bytes = b"FROM scratch\n",
              extra: dict[str, str] | None = None) -> str:
    entries = scan_context(root, IgnoreMatcher.for_context(root), DigestCache(None))
    return input_digest(entries, dockerfile, extra)


def test_input_digest_depends_on_content_not_on_metadata(context: Path, tmp_path: Path) -> None:
    base = digest_of(context)
    app = context / "src/app.py"
    os.utime(app, (1_000_000, 1_000_000))  # touch
    app.chmod(0o664)  # group-writable: not an executable-bit change
    assert digest_of(context) == base
    # another checkout of the same tree (other inodes, times, absolute paths)
    copy = tmp_path / "elsewhere"
    shutil.copytree(context, copy, symlinks=True)
    assert digest_of(copy) == base

    app.write_text("print('bye')\n")
    assert digest_of(context) != base
    app.write_text("print('hi')\n")
    assert digest_of(context) == base

    app.chmod(0o775)
    assert digest_of(context) != base
    app.chmod(0o644)
    assert digest_of(context) == base

    app.rename(context / "src/main.py")
    assert digest_of(context) != base
    (context / "src/main.py").rename(app)
    assert digest_of(context) == base

    (context / "link-to-file").unlink()
    (context / "link-to-file").symlink_to("src/pkg/mod.py")
    assert digest_of(context) != base


def test_input_digest_of_dockerfile_and_extra_items(context: Path) -> None:
    base = digest_of(context, extra={"target": "", "arg:A": "1"})
    assert digest_of(context, extra={"arg:A": "1", "target": ""}) == base  # order-free
    assert digest_of(context, extra={"target": "", "arg:A": "2"}) != base
    assert digest_of(context, extra={"target": "dev", "arg:A": "1"}) != base
    assert digest_of(context, extra={"target": "", "arg:A": "1", "arg:B": ""}) != base
    assert digest_of(context, b"FROM scratch\n\n", {"target": "", "arg:A": "1"}) != base
    # ignored files do not count
    (context / "debug.log").write_text("more noise\n")
    (context / "build/new.o").write_text("x")
    assert digest_of(context, extra={"target": "", "arg:A": "1"}) == base


# --------------------------------------------------------------------------- digest cache


def test_cache_does_not_reread_an_unchanged_file(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_bytes(b"one")
    cache = DigestCache(None, racy_window_ns=0)
    assert cache.digest(f, f.lstat(), "f") == sha(b"one")
    assert cache.digest(f, f.lstat(), "f") == sha(b"one")
    assert cache.files_hashed == 1
    # new content of the same size with the old mtime put back: ctime still tells
    mtime = f.lstat().st_mtime_ns
    f.write_bytes(b"two")
    os.utime(f, ns=(mtime, mtime))
    assert f.lstat().st_size == 3 and f.lstat().st_mtime_ns == mtime
    assert cache.digest(f, f.lstat(), "f") == sha(b"two")
    assert cache.files_hashed == 2


def test_recently_changed_files_are_hashed_every_time(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_bytes(b"fresh")
    cache = DigestCache(None)  # the default 2 s window: f changed just now
    for _ in range(3):
        assert cache.digest(f, f.lstat(), "f") == sha(b"fresh")
    assert cache.files_hashed == 3


def test_cache_file_round_trip(tmp_path: Path) -> None:
    root = write(tmp_path / "ctx", {"a": "a", "d/b": "b"})
    path = tmp_path / "state" / "cache" / "ctx.json"
    first = DigestCache(path, racy_window_ns=0)
    scan(root, first)
    first.save()
    assert first.files_hashed == 2
    assert sorted(p.name for p in path.parent.iterdir()) == ["ctx.json"]  # no temp left

    warm = DigestCache(path, racy_window_ns=0)
    scan(root, warm)
    assert warm.files_hashed == 0
    # entries changed within the window before the save are not trusted when loaded
    wary = DigestCache(path, racy_window_ns=10**18)
    scan(root, wary)
    assert wary.files_hashed == 2

    (root / "d/b").unlink()
    warm.save()  # unchanged: nothing written
    pruned = DigestCache(path, racy_window_ns=0)
    scan(root, pruned)
    pruned.save()  # d/b was not seen: dropped
    assert set(json.loads(path.read_text())["entries"]) == {"a"}


@pytest.mark.parametrize("content", [
    "{not json", "[]", '{"version": 99, "saved_ns": 1, "entries": {}}',
    '{"version": 1, "saved_ns": 1, "entries": {"a": [1, 2, 3]}}',
    '{"version": 1, "saved_ns": "x", "entries": {}}',
])
def test_corrupt_cache_counts_as_empty(tmp_path: Path, content: str) -> None:
    root = write(tmp_path / "ctx", {"a": "a"})
    path = tmp_path / "cache.json"
    path.write_text(content)
    cache = DigestCache(path, racy_window_ns=0)
    assert scan(root, cache) == ["a"]
    assert cache.files_hashed == 1
    cache.save()
    assert json.loads(path.read_text())["entries"]["a"][5] == sha(b"a")


def test_unwritable_cache_is_quiet(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    cache = DigestCache(tmp_path / "file" / "cache.json", racy_window_ns=0)
    f = write(tmp_path, {"x": "x"}) / "x"
    cache.digest(f, f.lstat())
    cache.save()  # cannot be written under a regular file; the build goes on
    assert not (tmp_path / "file").is_dir()


def test_warm_rescan_of_a_large_context_is_fast(tmp_path: Path) -> None:
    root = tmp_path / "big"
    for d in range(40):
        sub = root / f"pkg{d:02d}" / "src"
        sub.mkdir(parents=True)
        for i in range(50):
            (sub / f"mod{i:02d}.py").write_text(f"x = {d * 50 + i}\n")
    (root / ".dockerignore").write_text("**/__pycache__\n*.pyc\n")
    path = tmp_path / "cache.json"
    cold = DigestCache(path, racy_window_ns=0)
    assert len(scan(root, cold)) == 2000 + 80 + 1
    cold.save()

    warm = DigestCache(path, racy_window_ns=0)
    start = time.perf_counter()
    entries = scan_context(root, IgnoreMatcher.for_context(root), warm)
    elapsed = time.perf_counter() - start
    assert warm.files_hashed == 0
    assert sum(1 for e in entries if e.kind == "file") == 2001
    assert elapsed < 1.0, f"a warm re-scan of 2,000 files took {elapsed:.3f} s"


def test_modes_are_permission_bits(tmp_path: Path) -> None:
    f = write(tmp_path / "ctx", {"tool": "#!/bin/sh\n"}) / "tool"
    f.chmod(0o4755)
    (entry,) = scan_context(tmp_path / "ctx", IgnoreMatcher())
    assert entry.mode == 0o4755 and stat.S_IMODE(entry.mode) == entry.mode
