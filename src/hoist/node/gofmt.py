"""Go's renderings of durations and aggregated errors, which the kubelet's texts embed
("Successfully pulled image … in 1.234s", "back-off 1m20s restarting failed container",
"[err1, err2]"): users compare them with what a real node prints."""

from __future__ import annotations

from collections.abc import Sequence


def go_duration(seconds: float) -> str:
    """``time.Duration.String()`` (``2m0s``, ``1h0m0s``, ``1.5s``, ``850ms``, ``0s``)."""
    ns = round(seconds * 1e9)
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    if ns < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if ns >= size:
                return sign + _trim(ns / size) + unit
    hours, rest = divmod(ns, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    secs = _trim(rest / 1e9)
    if hours:
        return f"{sign}{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{sign}{minutes}m{secs}s"
    return f"{sign}{secs}s"


def go_duration_ms(seconds: float) -> str:
    """``d.Truncate(time.Millisecond).String()``, as the pull-time texts print it."""
    return go_duration(int(seconds * 1000) / 1000)


def _trim(value: float) -> str:
    text = f"{value:.9f}".rstrip("0").rstrip(".")
    return text or "0"


def aggregate_message(messages: Sequence[str]) -> str:
    """apimachinery ``utilerrors.NewAggregate(errs).Error()``: one error as itself, several
    as ``[a, b]`` with each distinct text once (a single distinct text loses the
    brackets)."""
    distinct = list(dict.fromkeys(messages))
    return distinct[0] if len(distinct) == 1 else "[" + ", ".join(distinct) + "]"
