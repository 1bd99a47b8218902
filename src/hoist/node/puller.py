"""Image pullers: serial (one worker, a queue of 10) or parallel (bounded by
``maxParallelImagePulls``), behind a QPS limit (pkg/kubelet/images/puller.go,
throttled_puller.go, helpers.go; kubelet config defaults registryPullQPS 5,
registryBurst 10).

A pull tries each credential the keyring gave until one succeeds; with none it pulls
anonymously once (pkg/kubelet/kuberuntime/kuberuntime_image.go PullImage). Several
failures are reported as one aggregated error, formatted as apimachinery's
``utilerrors.NewAggregate`` formats it."""

from __future__ import annotations

import abc
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass

from hoist.node.credentials import TrackedCredential
from hoist.node.gofmt import aggregate_message
from hoist.node.runtime import ImageService, RuntimeFailure

# puller.go maxImagePullRequests: the serial puller's queue length.
MAX_IMAGE_PULL_REQUESTS = 10
DEFAULT_REGISTRY_PULL_QPS = 5.0
DEFAULT_REGISTRY_BURST = 10


class PullFailure(RuntimeFailure):
    """A pull that failed; ``str()`` is the text the kubelet puts after "Failed to pull
    image %q: "."""


class TokenBucket:
    """client-go's token bucket rate limiter, asked with ``TryAccept`` (never waits).
    ``qps <= 0`` means unlimited."""

    def __init__(self, qps: float, burst: int, clock: Callable[[], float] = time.monotonic,
                 time_scale: float = 1.0) -> None:
        self.qps = qps
        self.burst = max(burst, 1)
        self.clock = clock
        # A scaled clock refills faster: time_scale 0.01 turns 1 s of refill into 10 ms.
        self.time_scale = time_scale
        self._tokens = float(self.burst)
        self._last = clock()
        self._lock = threading.Lock()

    def try_accept(self) -> bool:
        if self.qps <= 0:
            return True
        with self._lock:
            now = self.clock()
            elapsed = (now - self._last) / self.time_scale
            self._last = now
            self._tokens = min(float(self.burst), self._tokens + elapsed * self.qps)
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            return False


@dataclass(frozen=True)
class PullResult:
    image_ref: str = ""
    image_size: int = 0
    pull_duration: float = 0.0  # seconds spent pulling, without the wait for a worker
    credentials_used: TrackedCredential | None = None
    error: Exception | None = None


def pull_with_credentials(runtime: ImageService, image: str,
                          credentials: Sequence[TrackedCredential]
                          ) -> tuple[str, TrackedCredential | None]:
    """One anonymous pull when there are no credentials, else each in turn until one
    works. Raises PullFailure carrying the aggregated error text."""
    if not credentials:
        return runtime.pull_image(image, None), None
    failures: list[str] = []
    for cred in credentials:
        try:
            return runtime.pull_image(image, cred.auth), cred
        except RuntimeFailure as e:
            failures.append(str(e))
    raise PullFailure(aggregate_message(failures))


class ImagePuller(abc.ABC):
    """``pull`` returns a future that resolves to a PullResult (never raises)."""

    def __init__(self, runtime: ImageService, limiter: TokenBucket | None = None) -> None:
        self.runtime = runtime
        self.limiter = limiter

    @abc.abstractmethod
    def pull(self, image: str, credentials: Sequence[TrackedCredential]) -> Future[PullResult]:
        """Queue or start the pull."""

    @abc.abstractmethod
    def close(self) -> None:
        """Stop the puller's workers."""

    def _do_pull(self, image: str, credentials: Sequence[TrackedCredential]) -> PullResult:
        if self.limiter is not None and not self.limiter.try_accept():
            # throttled_puller.go: the limiter is asked, not waited on.
            return PullResult(error=PullFailure("pull QPS exceeded"))
        start = time.monotonic()
        try:
            ref, used = pull_with_credentials(self.runtime, image, credentials)
            info = self.runtime.image_status(ref) if ref else None
        except RuntimeFailure as e:
            return PullResult(error=e, pull_duration=time.monotonic() - start)
        except Exception as e:  # a runtime bug must fail the pull, not the worker
            return PullResult(error=PullFailure(f"{type(e).__name__}: {e}"))
        return PullResult(image_ref=ref, image_size=info.size if info else 0,
                          pull_duration=time.monotonic() - start, credentials_used=used)


class SerialImagePuller(ImagePuller):
    """One worker; requests wait in a queue of MAX_IMAGE_PULL_REQUESTS, and a caller
    blocks while the queue is full (a node pulls one image at a time)."""

    def __init__(self, runtime: ImageService, limiter: TokenBucket | None = None) -> None:
        super().__init__(runtime, limiter)
        self._queue: queue.Queue[tuple[str, Sequence[TrackedCredential], Future[PullResult]]
                                 | None] = queue.Queue(maxsize=MAX_IMAGE_PULL_REQUESTS)
        self._worker = threading.Thread(target=self._run, name="image-puller", daemon=True)
        self._worker.start()

    def pull(self, image: str, credentials: Sequence[TrackedCredential]) -> Future[PullResult]:
        future: Future[PullResult] = Future()
        self._queue.put((image, credentials, future))
        return future

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            image, credentials, future = item
            future.set_result(self._do_pull(image, credentials))

    def close(self) -> None:
        self._queue.put(None)
        self._worker.join(timeout=5)


class ParallelImagePuller(ImagePuller):
    """One thread per pull, at most ``max_parallel`` pulling at once (None: no bound)."""

    def __init__(self, runtime: ImageService, max_parallel: int | None,
                 limiter: TokenBucket | None = None) -> None:
        super().__init__(runtime, limiter)
        self._tokens = threading.Semaphore(max_parallel) if max_parallel else None

    def pull(self, image: str, credentials: Sequence[TrackedCredential]) -> Future[PullResult]:
        future: Future[PullResult] = Future()

        def work() -> None:
            if self._tokens is not None:
                with self._tokens:
                    future.set_result(self._do_pull(image, credentials))
            else:
                future.set_result(self._do_pull(image, credentials))

        threading.Thread(target=work, name="image-pull", daemon=True).start()
        return future

    def close(self) -> None:
        """Nothing to stop: each pull's thread ends with its pull."""


def make_puller(runtime: ImageService, *, max_parallel_image_pulls: int = 0,
                qps: float = DEFAULT_REGISTRY_PULL_QPS, burst: int = DEFAULT_REGISTRY_BURST,
                time_scale: float = 1.0) -> ImagePuller:
    """The kubelet's choice: serializeImagePulls unless maxParallelImagePulls >= 2."""
    limiter = TokenBucket(qps, burst, time_scale=time_scale) if qps > 0 else None
    if max_parallel_image_pulls >= 2:
        return ParallelImagePuller(runtime, max_parallel_image_pulls, limiter)
    return SerialImagePuller(runtime, limiter)
