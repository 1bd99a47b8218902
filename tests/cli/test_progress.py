"""Per-blob progress bars: drawn on a terminal, absent otherwise."""

from __future__ import annotations

import io

import pytest

from hoist.cli import progress as progress_mod
from hoist.cli.progress import TerminalProgress, for_terminal
from hoist.core.digest import Digest
from hoist.core.manifest import Descriptor


def _desc(fill: str, size: int) -> Descriptor:
    return Descriptor("application/octet-stream", Digest("sha256", fill * 64), size)


def test_bars_show_each_blob_and_redraw_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress_mod, "REDRAW_SECONDS", 0.0)
    out = io.StringIO()
    bars = TerminalProgress(out)
    a, b = _desc("a", 2 << 20), _desc("b", 4 << 20)
    advance_a = bars.start(a, a.digest.short)
    advance_b = bars.start(b, b.digest.short)
    advance_a(1 << 20)
    advance_b(1 << 20)
    bars.done(a, "copied")
    text = out.getvalue()
    last = text.rsplit("\x1b[2F", 1)[-1]  # the final redraw of the two lines
    lines = [line.removeprefix("\x1b[2K") for line in last.splitlines()]
    assert lines[0].startswith("aaaaaaaaaaaa  [" + "=" * 24 + "]")
    assert lines[0].endswith("2.0/2.0 MiB  copied")
    assert lines[1].startswith("bbbbbbbbbbbb  [======>")
    assert lines[1].endswith("1.0/4.0 MiB  copying")


def test_a_retry_can_take_bytes_back_but_never_below_zero(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress_mod, "REDRAW_SECONDS", 0.0)
    out = io.StringIO()
    bars = TerminalProgress(out)
    d = _desc("c", 1 << 20)
    advance = bars.start(d, "c")
    advance(1 << 19)
    advance(-(1 << 20))
    assert out.getvalue().splitlines()[-1].endswith("0.0/1.0 MiB  copying")


def test_no_bars_when_stderr_is_not_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stderr", io.StringIO())
    assert for_terminal() is None


def test_quiet_means_no_bars_even_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("sys.stderr", Tty())
    assert isinstance(for_terminal(), TerminalProgress)
    assert for_terminal(quiet=True) is None
