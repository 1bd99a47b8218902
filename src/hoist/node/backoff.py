"""The image pull back-off: client-go ``flowcontrol.Backoff`` as the kubelet configures it
(pkg/kubelet/kubelet.go: ``flowcontrol.NewBackOff(backOffPeriod, MaxContainerBackOff)``,
10 s initial, 300 s max, no jitter). An entry idle for twice the maximum is forgotten by
``gc()``; a success does not reset it (the image manager never calls ``reset``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

INITIAL_BACKOFF = 10.0  # seconds; pkg/kubelet/kubelet.go backOffPeriod
MAX_BACKOFF = 300.0  # MaxContainerBackOff


@dataclass
class _Entry:
    backoff: float
    last_update: float


class Backoff:
    def __init__(self, initial: float = INITIAL_BACKOFF, maximum: float = MAX_BACKOFF,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if initial <= 0 or maximum < initial:
            raise ValueError(f"back-off needs 0 < initial <= maximum, not {initial}, {maximum}")
        self.initial = initial
        self.maximum = maximum
        self.clock = clock
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> float:
        """The current delay for ``key`` (0 when unknown)."""
        with self._lock:
            entry = self._entries.get(key)
            return entry.backoff if entry else 0.0

    def next(self, key: str, now: float | None = None) -> None:
        """A failure: start at ``initial``, else double up to ``maximum``. An entry that has
        been idle for more than twice the maximum starts over (``hasExpired``)."""
        now = self.clock() if now is None else now
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or self._expired(entry, now):
                self._entries[key] = _Entry(self.initial, now)
            else:
                entry.last_update = now
                entry.backoff = min(entry.backoff * 2, self.maximum)

    def is_in_backoff_since_update(self, key: str, now: float | None = None) -> bool:
        """True while less than the current delay has passed since the last failure."""
        now = self.clock() if now is None else now
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or self._expired(entry, now):
                return False
            return now - entry.last_update < entry.backoff

    def is_in_backoff_since(self, key: str, event_time: float,
                            now: float | None = None) -> bool:
        """True while less than the current delay has passed since ``event_time`` (the
        crash-loop back-off measures from when the container last finished)."""
        now = self.clock() if now is None else now
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or self._expired(entry, now):
                return False
            return now - event_time < entry.backoff

    def reset(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def gc(self, now: float | None = None) -> None:
        """Forget entries idle for more than twice the maximum delay."""
        now = self.clock() if now is None else now
        with self._lock:
            for key in [k for k, e in self._entries.items() if self._expired(e, now)]:
                del self._entries[key]

    def _expired(self, entry: _Entry, now: float) -> bool:
        return now - entry.last_update > 2 * self.maximum

    def __len__(self) -> int:
        return len(self._entries)
