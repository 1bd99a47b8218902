"""Per-blob progress bars on a terminal; nothing when stderr is not one."""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

from hoist.core.manifest import Descriptor
from hoist.registry.client import ProgressFn

REDRAW_SECONDS = 0.1
BAR = 24


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.1f}"


class TerminalProgress:
    """One line per blob, redrawn in place at most ten times a second. Callbacks arrive
    from the event loop and from worker threads, hence the lock."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stderr
        self._lock = threading.Lock()
        self._rows: dict[str, list[int | str]] = {}
        self._drawn = 0
        self._last = 0.0

    def start(self, desc: Descriptor, label: str) -> ProgressFn:
        key = str(desc.digest)
        with self._lock:
            self._rows[key] = [label, 0, desc.size, "copying"]

        def advance(n: int) -> None:
            with self._lock:
                row = self._rows[key]
                row[1] = max(0, int(row[1]) + n)
                self._maybe_draw()

        return advance

    def done(self, desc: Descriptor, how: str) -> None:
        with self._lock:
            row = self._rows.get(str(desc.digest))
            if row is not None:
                row[3] = how
                row[1] = row[2]
            self._maybe_draw(force=True)

    def _maybe_draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < REDRAW_SECONDS:
            return
        self._last = now
        lines = []
        for label, got, total, state in self._rows.values():
            total_i, got_i = int(total), int(got)
            frac = got_i / total_i if total_i else 1.0
            fill = int(frac * BAR)
            bar = "=" * fill + (">" if fill < BAR else "") + " " * max(0, BAR - fill - 1)
            lines.append(f"{label}  [{bar}] {_mib(got_i):>8}/{_mib(total_i)} MiB  {state}")
        if self._drawn:
            self.out.write(f"\x1b[{self._drawn}F")
        for line in lines:
            self.out.write("\x1b[2K" + line + "\n")
        self._drawn = len(lines)
        self.out.flush()


def for_terminal(quiet: bool = False) -> TerminalProgress | None:
    if quiet or not sys.stderr.isatty():
        return None
    return TerminalProgress()
