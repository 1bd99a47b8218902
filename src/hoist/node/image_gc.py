"""Image garbage collection, as the kubelet's image GC manager does it
(pkg/kubelet/images/image_gc_manager.go; the loop and its events in pkg/kubelet/kubelet.go
StartGarbageCollection; defaults in the kubelet configuration's v1beta1 defaults).

Every ``period`` the node tracks which images exist (first detected) and which are in use
(last used). When the image filesystem's usage reaches the high threshold, unused images go,
least recently used first (ties: first detected earlier first), until the usage would be at
the low threshold; images in use, pinned images and images younger than the minimum age stay.
With a maximum age, images unused for that long go first, whatever the usage.

Decisions are pure functions over ``TrackedImage`` records; ``ImageGCManager`` holds the
records and drives a runtime. Times are unix seconds; durations seconds (a test scales
them). "In use" is by image ID, as the kubelet compares container image IDs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence, Set
from dataclasses import dataclass, field

from hoist.errors import InputError
from hoist.node.events import (
    FREE_DISK_SPACE_FAILED,
    IMAGE_GC_FAILED,
    INVALID_DISK_CAPACITY,
    WARNING,
)
from hoist.node.gofmt import aggregate_message, go_duration
from hoist.node.runtime import FsUsage, ImageService, RuntimeFailure

# kubelet config defaults (pkg/kubelet/apis/config/v1beta1/defaults.go): imageGCHigh/Low
# ThresholdPercent 85/80, imageMinimumGCAge 2m, imageMaximumGCAge 0 (off); kubelet.go
# ImageGCPeriod 5m.
DEFAULT_HIGH_THRESHOLD_PERCENT = 85
DEFAULT_LOW_THRESHOLD_PERCENT = 80
DEFAULT_MIN_AGE = 120.0
DEFAULT_MAX_AGE = 0.0
DEFAULT_PERIOD = 300.0



class InvalidGCPolicy(InputError):
    """A threshold out of range (NewImageGCManager's validation texts)."""


@dataclass(frozen=True)
class ImageGCPolicy:
    high_threshold_percent: int = DEFAULT_HIGH_THRESHOLD_PERCENT
    low_threshold_percent: int = DEFAULT_LOW_THRESHOLD_PERCENT
    min_age: float = DEFAULT_MIN_AGE  # seconds since first detected before an image may go
    max_age: float = DEFAULT_MAX_AGE  # seconds unused after which it goes anyway; 0: off
    period: float = DEFAULT_PERIOD  # how often the node's loop collects

    def validate(self) -> None:
        if not 0 <= self.high_threshold_percent <= 100:
            raise InvalidGCPolicy(f"invalid HighThresholdPercent {self.high_threshold_percent}"
                                  ", must be in range [0-100]")
        if not 0 <= self.low_threshold_percent <= 100:
            raise InvalidGCPolicy(f"invalid LowThresholdPercent {self.low_threshold_percent}"
                                  ", must be in range [0-100]")
        if self.low_threshold_percent > self.high_threshold_percent:
            raise InvalidGCPolicy(f"LowThresholdPercent {self.low_threshold_percent} can not "
                                  f"be higher than HighThresholdPercent "
                                  f"{self.high_threshold_percent}")

    @property
    def disabled(self) -> bool:
        """kubelet.go: a high threshold of 100 and no maximum age stub the image GC out."""
        return self.high_threshold_percent == 100 and self.max_age == 0


@dataclass(frozen=True)
class TrackedImage:
    """What the GC knows of one image (imageRecord). ``last_used`` 0: never seen in use."""

    id: str
    size: int
    first_detected: float
    last_used: float = 0.0
    pinned: bool = False


@dataclass(frozen=True)
class GcEvent:
    type: str
    reason: str
    message: str


@dataclass
class GcResult:
    """One collection: what went, and the failure if any. ``amount_to_free`` is what the
    thresholds asked for (0 below the high threshold); ``message`` is the kubelet's error
    text; ``events`` the node events the kubelet would record for this pass (the GC's own
    FreeDiskSpaceFailed / InvalidDiskCapacity, and the loop's ImageGCFailed on a repeated
    failure)."""

    freed_bytes: int = 0
    removed: list[str] = field(default_factory=list)
    amount_to_free: int = 0
    reason: str = ""
    message: str = ""
    events: list[GcEvent] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.message)


# -- pure decisions ----------------------------------------------------------------------

def usage_percent(usage: FsUsage) -> int:
    """GarbageCollect's ``100 - available*100/capacity`` (integer division; available is
    capped at capacity). Capacity must not be 0."""
    available = min(usage.available_bytes, usage.capacity_bytes)
    return 100 - (available * 100) // usage.capacity_bytes


def over_high_threshold(usage: FsUsage, policy: ImageGCPolicy) -> bool:
    return usage.capacity_bytes > 0 and usage_percent(usage) >= policy.high_threshold_percent


def bytes_to_free(usage: FsUsage, policy: ImageGCPolicy) -> int:
    """How much the GC tries to free: 0 below the high threshold, else enough to bring the
    available space up to the low threshold, ``capacity*(100-low)/100 - available``."""
    if not over_high_threshold(usage, policy):
        return 0
    available = min(usage.available_bytes, usage.capacity_bytes)
    return usage.capacity_bytes * (100 - policy.low_threshold_percent) // 100 - available


def eviction_order(images: Iterable[TrackedImage], in_use: Set[str]) -> list[TrackedImage]:
    """imagesInEvictionOrder: images not in use and not pinned, least recently used first,
    ties broken by first detected (then by ID, so the order is the same every time)."""
    candidates = [i for i in images if i.id not in in_use and not i.pinned]
    return sorted(candidates, key=lambda i: (i.last_used, i.first_detected, i.id))


def eligible_for_space(image: TrackedImage, policy: ImageGCPolicy, now: float) -> bool:
    """freeSpace's per-image test: not used at or after ``now``, and at least ``min_age``
    since first detected (it may have just been pulled for a container about to start)."""
    return image.last_used < now and now - image.first_detected >= policy.min_age


def select_for_space(ordered: Sequence[TrackedImage], amount: int, policy: ImageGCPolicy,
                     now: float) -> list[TrackedImage]:
    """The images freeSpace removes from ``ordered`` to free ``amount`` bytes, assuming each
    removal succeeds: eligible ones in order until the sum reaches ``amount`` (at least one,
    as freeSpace checks the sum after each removal; it is only called over the high
    threshold)."""
    chosen: list[TrackedImage] = []
    freed = 0
    for image in ordered:
        if not eligible_for_space(image, policy, now):
            continue
        chosen.append(image)
        freed += image.size
        if freed >= amount:
            break
    return chosen


def too_old(ordered: Sequence[TrackedImage], policy: ImageGCPolicy, now: float,
            began_gc: float) -> list[TrackedImage]:
    """freeOldImages: with a maximum age, and only once the node has run that long,
    images unused for longer than it."""
    if policy.max_age <= 0 or now - began_gc <= policy.max_age:
        return []
    return [i for i in ordered if now - i.last_used > policy.max_age]


def images_to_evict(images: Sequence[TrackedImage], usage: FsUsage, policy: ImageGCPolicy,
                    now: float, in_use: Set[str], began_gc: float | None = None,
                    ) -> list[TrackedImage]:
    """The whole plan of one collection, in removal order: too-old images (when a maximum
    age is set and ``began_gc`` given), then what the thresholds ask for."""
    ordered = eviction_order(images, in_use)
    old = too_old(ordered, policy, now, began_gc) if began_gc is not None else []
    gone = {i.id for i in old}
    remaining = [i for i in ordered if i.id not in gone]
    if not over_high_threshold(usage, policy):
        return old
    return old + select_for_space(remaining, bytes_to_free(usage, policy), policy, now)


def free_disk_space_failed_message(amount: int, freed: int) -> str:
    # image_gc_manager.go GarbageCollect, event FreeDiskSpaceFailed.
    return (f"Failed to garbage collect required amount of images. Attempted to free {amount} "
            f"bytes, but only found {freed} bytes eligible to free.")


# -- the manager -------------------------------------------------------------------------

class ImageGCManager:
    """Tracks the runtime's images and collects them by ``policy``. ``post_gc_hooks`` run
    after a successful collection with the IDs of the images that remain and the time the
    pass began (the pull manager's ``prune_unknown_records`` has that shape)."""

    def __init__(self, runtime: ImageService, policy: ImageGCPolicy,
                 clock: Callable[[], float] = time.time, *,
                 post_gc_hooks: Sequence[Callable[[list[str], float], None]] = ()) -> None:
        policy.validate()
        self.runtime = runtime
        self.policy = policy
        self.clock = clock
        self.post_gc_hooks = list(post_gc_hooks)
        self.began_gc = clock()  # kubelet.go: taken when the GC loop starts
        self._lock = threading.Lock()
        self._records: dict[str, TrackedImage] = {}
        self._previous_failed = False

    def records(self) -> dict[str, TrackedImage]:
        with self._lock:
            return dict(self._records)

    def detect_images(self, in_use: Set[str], now: float | None = None) -> set[str]:
        """detectImages: new images are first detected ``now``; images in ``in_use`` are
        last used ``now``; sizes and pinning follow the runtime; gone images are forgotten.
        Returns the IDs in use. Raises RuntimeFailure when the runtime cannot list."""
        now = self.clock() if now is None else now
        images = self.runtime.list_images()
        with self._lock:
            current: dict[str, TrackedImage] = {}
            for info in images:
                old = self._records.get(info.id)
                first = old.first_detected if old else now
                last = now if info.id in in_use else (old.last_used if old else 0.0)
                current[info.id] = TrackedImage(info.id, info.size, first, last, info.pinned)
            self._records = current
        return {i for i in in_use if i in current}

    def _in_eviction_order(self, in_use: Set[str], now: float) -> list[TrackedImage]:
        self.detect_images(in_use, now)
        with self._lock:
            return eviction_order(self._records.values(), in_use)

    def _remove(self, images: Iterable[TrackedImage], amount: int | None,
                result: GcResult) -> list[str]:
        """Remove ``images`` in order until ``amount`` bytes are freed (None: all), going on
        past failures. Returns the failure texts."""
        errors: list[str] = []
        for image in images:
            try:
                self.runtime.remove_image(image.id)
            except RuntimeFailure as e:
                errors.append(str(e))
                continue
            with self._lock:
                self._records.pop(image.id, None)
            result.removed.append(image.id)
            result.freed_bytes += image.size
            if amount is not None and result.freed_bytes >= amount:
                break
        return errors

    def _free_space(self, ordered: Sequence[TrackedImage], amount: int, now: float,
                    result: GcResult) -> str:
        eligible = [i for i in ordered if eligible_for_space(i, self.policy, now)]
        before = result.freed_bytes
        errors = self._remove(eligible, amount + before, result)
        if errors:
            freed = result.freed_bytes - before
            # image_gc_manager.go freeSpace.
            return (f"wanted to free {amount} bytes, but freed {freed} bytes space with "
                    f"errors in image deletion: {aggregate_message(errors)}")
        return ""

    def garbage_collect(self, in_use: Set[str], began_gc: float | None = None) -> GcResult:
        """One GarbageCollect pass. Never raises for a failure the kubelet reports: the
        result carries the message and the events."""
        result = self._collect(in_use, self.began_gc if began_gc is None else began_gc)
        if result.failed:
            if self._previous_failed:
                # kubelet.go: an event only for repeated failures, with the error's text.
                result.events.append(GcEvent(WARNING, IMAGE_GC_FAILED, result.message))
            self._previous_failed = True
        else:
            self._previous_failed = False
        return result

    def _collect(self, in_use: Set[str], began_gc: float) -> GcResult:
        result = GcResult()
        now = self.clock()
        try:
            ordered = self._in_eviction_order(in_use, now)
        except RuntimeFailure as e:
            result.message = str(e)
            return result

        old = too_old(ordered, self.policy, now, began_gc)
        if old:
            errors = self._remove(old, None, result)
            if errors:
                result.message = (f"wanted to free images older than "
                                  f"{go_duration(self.policy.max_age)}, encountered errors in "
                                  f"image deletion: {aggregate_message(errors)}")
                return result
            gone = set(result.removed)
            ordered = [i for i in ordered if i.id not in gone]

        try:
            usage = self.runtime.image_fs_info()
        except RuntimeFailure as e:
            result.message = str(e)
            return result
        if usage.capacity_bytes <= 0:
            result.reason = INVALID_DISK_CAPACITY
            result.message = "invalid capacity 0 on image filesystem"
            result.events.append(GcEvent(WARNING, INVALID_DISK_CAPACITY, result.message))
            return result

        amount = bytes_to_free(usage, self.policy)
        result.amount_to_free = amount
        if over_high_threshold(usage, self.policy):
            before = result.freed_bytes
            failure = self._free_space(ordered, amount, now, result)
            if failure:
                result.message = failure
                return result
            freed = result.freed_bytes - before
            if freed < amount:
                result.reason = FREE_DISK_SPACE_FAILED
                result.message = free_disk_space_failed_message(amount, freed)
                result.events.append(GcEvent(WARNING, FREE_DISK_SPACE_FAILED, result.message))
                return result

        remaining = sorted(self.records())
        for hook in self.post_gc_hooks:
            hook(remaining, now)
        return result

    def delete_unused_images(self, in_use: Set[str] = frozenset()) -> GcResult:
        """DeleteUnusedImages: every unused, unpinned image old enough to go, whatever the
        usage (eviction under disk pressure calls it)."""
        result = GcResult()
        now = self.clock()
        try:
            ordered = self._in_eviction_order(in_use, now)
        except RuntimeFailure as e:
            result.message = str(e)
            return result
        eligible = [i for i in ordered if eligible_for_space(i, self.policy, now)]
        errors = self._remove(eligible, None, result)
        if errors:
            result.message = (f"wanted to free {_MAX_INT64} bytes, but freed "
                              f"{result.freed_bytes} bytes space with errors in image "
                              f"deletion: {aggregate_message(errors)}")
        return result


# DeleteUnusedImages asks freeSpace for math.MaxInt64 bytes; its error text says so.
_MAX_INT64 = 2**63 - 1
