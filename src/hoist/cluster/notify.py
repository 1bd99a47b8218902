"""Waking when the cluster's database is written, instead of polling it.

Every commit to the store appends to ``cluster.db-wal`` (or, outside WAL mode, writes
``cluster.db``) with write(2), which Linux's inotify reports on the directory. A waiter
sets the watch up *before* it reads the counter it waits on, so a write that lands
between the read and the wait is still queued on the descriptor and wakes it at once.

Where inotify is missing (not Linux, no libc symbol, the per-user instance limit
reached) :func:`open_watch` returns None and callers fall back to short sleeps.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import select
from pathlib import Path
from typing import Any

# <sys/inotify.h> (Linux UAPI): the events that mean "a file in this directory was
# written or replaced", and the init flags.
IN_MODIFY = 0x00000002
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC
_WATCH_MASK = IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE
# Longest wait between two looks at the counter even without a notification: a write
# that inotify cannot see (a database on a network filesystem) is still noticed.
MAX_QUIET_WAIT = 0.1


@functools.cache
def _libc() -> Any | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        libc.inotify_init1.argtypes = [ctypes.c_int]
        libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
    except (OSError, AttributeError):
        return None
    return libc


class DirectoryWatch:
    """An inotify descriptor watching one directory for written files."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def wait(self, timeout: float) -> bool:
        """Block until something in the directory is written or ``timeout`` seconds
        pass (at most :data:`MAX_QUIET_WAIT`); True when woken by a write. Events
        already queued count, and are consumed."""
        ready, _, _ = select.select([self._fd], [], [], max(0.0, min(timeout,
                                                                     MAX_QUIET_WAIT)))
        if not ready:
            return False
        try:
            while os.read(self._fd, 65536):
                pass
        except BlockingIOError:
            pass
        return True

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> DirectoryWatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_watch(directory: Path) -> DirectoryWatch | None:
    """A watch on ``directory``, or None where inotify cannot give one."""
    libc = _libc()
    if libc is None:
        return None
    try:
        fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
    except AttributeError:
        return None  # a libc without inotify
    if fd < 0:
        return None
    if libc.inotify_add_watch(fd, os.fsencode(directory), _WATCH_MASK) < 0:
        os.close(fd)
        return None
    return DirectoryWatch(fd)
