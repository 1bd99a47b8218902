"""Fault injection: pulls and pushes through a fault proxy in front of a real Distribution.

Acceptance criteria proven here:

1. Under 200 randomised fault injections during pull and push, every operation either
   completes with the right digest or fails with a clear (one-line, registry-naming)
   error, and ``hoist store verify`` finds zero bad blobs in every store used.
2. A pull killed with SIGKILL at random points and started again completes and
   re-downloads less than 10 % of the bytes already written.
3. Regressions: a truncated blob resumes with ``Range``; a flipped byte never reaches a
   committed blob; a server that ignores ``Range`` is handled; a body longer than its
   descriptor is refused; a stall longer than ``read_timeout`` is a broken connection
   that resumes; a 429 asking for a wait over ``max_retry_after`` fails at once, clearly.

The randomised run takes its seed from ``HOIST_FAULT_SEED`` (default below); the seed is
in the test id and in every failure message, so a failing run can be replayed exactly
(``HOIST_FAULT_DEBUG=1`` with ``-s`` prints a line per faulted operation).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from hoist.auth.credential import ANONYMOUS
from hoist.cli.main import main as hoist_main
from hoist.core.digest import Digest
from hoist.errors import HoistError
from hoist.registry.errors import DigestMismatch, TooManyRequests
from hoist.registry.transport import RetryPolicy
from hoist.store import ContentStore
from hoist.store.blobs import BlobDigestMismatch
from hoist.transfer import CopyResult, Options, copy, ops
from tests.support.distribution import Distribution
from tests.support.faultproxy import FaultProxy, FaultRule
from tests.support.images import OCI_MANIFEST, ImageFactory, ImageInfo
from tests.support.registry_http import MANIFEST_ACCEPT, push_blob, request
from tests.support.skopeo import skopeo_binary, skopeo_inspect_raw

StartProxy = Callable[[Distribution | str], FaultProxy]

KiB = 1024
MiB = 1024 * KiB
# Small delays and a short read timeout: 200 faulted operations in well under a minute.
FAST = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05, max_retry_after=5.0,
                   read_timeout=0.4)
SEED = int(os.environ.get("HOIST_FAULT_SEED", "20240611"))
ITERATIONS = 200


# ---------------------------------------------------------------------- helpers


def _options(store: Path | None = None, *, retry: RetryPolicy = FAST,
             chunk_size: int | None = None) -> Options:
    # Anonymous: the machine's own docker config must not leak into a test.
    return Options(credentials=ANONYMOUS, retry=retry, store_root=store, chunk_size=chunk_size)


def _pull(ref: str, store: Path, *, retry: RetryPolicy = FAST) -> CopyResult:
    return copy(f"docker://{ref}", f"store:{ref}", _options(store, retry=retry))


def _unique(prefix: str) -> str:
    return f"faults/{prefix}-{uuid.uuid4().hex[:10]}"


def _seed(registry: Distribution, repo: str, image: ImageInfo, tag: str = "v1") -> None:
    """Put ``image`` into ``registry`` with plain HTTP, independent of hoist."""
    for blob in image.blobs:
        push_blob(registry.url, repo, blob.path.read_bytes())
    put = request(f"{registry.url}/v2/{repo}/manifests/{tag}", "PUT",
                  headers={"Content-Type": image.media_type}, body=image.manifest)
    assert put.status == 201, put.body[:300]


def _registry_digest(registry: Distribution, repo: str, tag: str) -> str | None:
    """The digest of the manifest ``repo:tag`` names, fetched directly (no proxy, no hoist)."""
    got = request(f"{registry.url}/v2/{repo}/manifests/{tag}",
                  headers={"Accept": MANIFEST_ACCEPT})
    if got.status == 404:
        return None
    assert got.status == 200, got.body[:300]
    return "sha256:" + hashlib.sha256(got.body).hexdigest()


def _assert_clear_error(err: BaseException, registry: str, context: str = "") -> None:
    """A failure is a HoistError whose message is one line naming the registry."""
    assert isinstance(err, HoistError), f"{context}: not a HoistError: {err!r}"
    text = str(err)
    assert text and "\n" not in text and "\r" not in text, f"{context}: not one line: {text!r}"
    assert registry in text, f"{context}: {registry} not named in {text!r}"
    assert "Traceback" not in text and 'File "' not in text, f"{context}: {text!r}"


def _written(store: Path, digests: set[str]) -> int:
    """Bytes of ``digests`` on disk: committed blobs plus their ingest files."""
    total = 0
    for d in digests:
        alg, _, hexdigest = d.partition(":")
        for path in (store / "blobs" / alg / hexdigest, store / "ingest" / f"{alg}-{hexdigest}"):
            with contextlib.suppress(FileNotFoundError):
                total += path.stat().st_size
    return total


def _partial_ingest_bytes(store: Path) -> int:
    ingest = store / "ingest"
    if not ingest.is_dir():
        return 0
    total = 0
    for entry in os.scandir(ingest):
        with contextlib.suppress(FileNotFoundError):
            total += entry.stat().st_size
    return total


def _store_verify(store: Path) -> dict[str, object]:
    """``hoist store verify --store DIR -o json`` (in-process), as a user would run it."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = hoist_main(["store", "verify", "--store", str(store), "-o", "json"])
    doc: dict[str, object] = json.loads(out.getvalue())
    doc["exit"] = code
    return doc


def _assert_store_clean(store: Path, context: str = "") -> dict[str, object]:
    doc = _store_verify(store)
    assert doc["badBlobs"] == [] and doc["ok"] is True and doc["exit"] == 0, f"{context}: {doc}"
    return doc


_ACCESS = re.compile(r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/1\.[01]" (?P<status>\d{3}) '
                     r'(?P<size>\d+|-)')


def _access_log(registry: Distribution, path: str, *, wait_for: int = 1,
                timeout: float = 3.0) -> list[tuple[str, int, int]]:
    """(method, status, bytes) of the requests for ``path`` in Distribution's access log."""
    deadline = time.monotonic() + timeout
    while True:
        hits = [(m["method"], int(m["status"]), int(m["size"]) if m["size"] != "-" else 0)
                for m in _ACCESS.finditer(registry.log_text()) if m["path"] == path]
        if len(hits) >= wait_for or time.monotonic() > deadline:
            return hits
        time.sleep(0.05)


# ---------------------------------------------------------------------- a lying registry


@dataclass
class _Served:
    method: str
    path: str
    range: str | None
    status: int


@dataclass
class _LyingConfig:
    manifests: dict[str, tuple[str, bytes]]  # tag or digest -> (media type, bytes)
    blobs: dict[str, bytes]
    ignore_range: bool = False
    extra: bytes = b""  # appended to every blob body (Content-Length counts it)
    log: list[_Served] = field(default_factory=list)


class _LyingHandler(BaseHTTPRequestHandler):
    """Just enough of the distribution API to pull from, with chosen lies."""

    protocol_version = "HTTP/1.1"
    config: _LyingConfig

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self._serve(head=False)

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def _serve(self, *, head: bool) -> None:
        cfg = self.config
        path = self.path.split("?", 1)[0]
        wanted = self.headers.get("Range")
        headers: dict[str, str] = {"Docker-Distribution-Api-Version": "registry/2.0"}
        status, body = 404, b'{"errors":[{"code":"NOT_FOUND","message":"unknown"}]}'
        if path == "/v2/":
            status, body = 200, b"{}"
        elif m := re.fullmatch(r"/v2/.+/manifests/([^/]+)", path):
            if m[1] in cfg.manifests:
                media_type, body = cfg.manifests[m[1]]
                status = 200
                headers["Content-Type"] = media_type
                headers["Docker-Content-Digest"] = "sha256:" + hashlib.sha256(body).hexdigest()
        elif (m := re.fullmatch(r"/v2/.+/blobs/([^/]+)", path)) and m[1] in cfg.blobs:
            data = cfg.blobs[m[1]] + cfg.extra
            status, body = 200, data
            rm = re.fullmatch(r"bytes=(\d+)-", wanted or "")
            if rm and not cfg.ignore_range and int(rm[1]) < len(data):
                start = int(rm[1])
                status, body = 206, data[start:]
                headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
            headers["Content-Type"] = "application/octet-stream"
        cfg.log.append(_Served(self.command, path, wanted, status))
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            with contextlib.suppress(ConnectionError):
                self.wfile.write(body)


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that hangs up early (it refused the body) is expected here


@contextlib.contextmanager
def _lying_registry(config: _LyingConfig) -> Iterator[str]:
    handler = type("Handler", (_LyingHandler,), {"config": config})
    server = _QuietServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _lying_config(image: ImageInfo, *, ignore_range: bool = False) -> _LyingConfig:
    manifests = {"v1": (image.media_type, image.manifest),
                 image.digest: (image.media_type, image.manifest)}
    blobs = {b.digest: b.path.read_bytes() for b in image.blobs}
    return _LyingConfig(manifests, blobs, ignore_range=ignore_range)


# ---------------------------------------------------------------------- 1. randomised


KINDS = ("reset", "truncate", "stall_short", "stall_long", "500", "503", "429", "flip")
BODY_KINDS = frozenset({"reset", "truncate", "flip"})  # need a response body to damage
# target -> (operation, HTTP method, path regex; {blob} is filled in for blob targets)
TARGETS: dict[str, tuple[str, str, str]] = {
    "manifest HEAD": ("any", "HEAD", r"/manifests/v1$"),
    "manifest GET": ("pull", "GET", r"/manifests/sha256:"),
    "blob GET": ("pull", "GET", r"/blobs/{blob}$"),
    "blob HEAD": ("push", "HEAD", r"/blobs/{blob}$"),
    "upload POST": ("push", "POST", r"/blobs/uploads/$"),
    "upload PATCH": ("push", "PATCH", r"/blobs/uploads/[^?]"),
    "upload PUT": ("push", "PUT", r"/blobs/uploads/[^?]"),
    "manifest PUT": ("push", "PUT", r"/manifests/v1$"),
}


@dataclass
class Fault:
    kind: str
    target: str
    op: str
    times: int | None
    blob: str = ""
    offset: int | None = None
    seconds: float = 0.0
    source: str = ""  # pushes: "store" or "oci"
    store: str = ""  # pulls: "fresh" or "dirty"
    chunked: bool = False
    cut_first: bool = False  # a persistent status after a first response cut at offset

    def describe(self) -> str:
        where = f" blob {self.blob[7:19]}" if self.blob else ""
        at = f" at {self.offset}" if self.offset is not None else ""
        extra = f" {self.seconds:.2f}s" if self.seconds else ""
        times = "always" if self.times is None else f"x{self.times}"
        if self.cut_first:
            times += f" after a cut at {self.offset}"
            at = ""
        how = (f"from {self.source}{' chunked' if self.chunked else ''}" if self.op == "push"
               else f"into a {self.store} store")
        return f"{self.op} {how}: {self.kind}{extra}{at} on {self.target}{where} {times}"

    @property
    def must_succeed(self) -> bool:
        """One or two faults are absorbed by retries and resumes; only a fault that
        never stops, a flip on both downloads, or damage to a manifest body may fail
        the operation."""
        if self.times is None:
            return False
        if self.kind == "flip" and self.times > 1:
            return False
        return not (self.target == "manifest GET" and self.kind in BODY_KINDS)


def _choose(rng: random.Random, image: ImageInfo) -> Fault:
    kind = rng.choice(KINDS)
    op = "pull" if kind in BODY_KINDS else rng.choice(("pull", "push"))
    targets = [t for t, (o, method, _) in TARGETS.items()
               if o in (op, "any") and (kind not in BODY_KINDS or method == "GET")]
    if op == "pull":
        targets.append("blob GET")  # where a pull's bytes are: twice as likely
    target = rng.choice(targets)
    if kind.startswith("stall"):
        times: int | None = rng.choice((1, 1, 2))
    else:
        times = rng.choice((1, 1, 1, 2, None, None))
    fault = Fault(kind, target, op, times)
    if "blob" in target:
        # Mostly layers, sometimes the config.
        fault.blob = rng.choice((*image.layers, *image.layers, image.config)).digest
    if TARGETS[target][1] == "GET":
        size = (image.size if target == "manifest GET"
                else next(b.size for b in image.blobs if b.digest == fault.blob))
        if kind.startswith("stall"):
            # None: before the response head.
            fault.offset = None if rng.random() < 0.3 else rng.randrange(size)
        elif kind in BODY_KINDS:
            # A reset on every request makes progress only if it lets some bytes through.
            low = size // 4 if fault.times is None and kind != "flip" else 0
            fault.offset = rng.randrange(low, size)
        elif fault.times is None and target == "blob GET":
            # The server fails for good after a first response broke part-way: the pull
            # fails and leaves a partial ingest for a later pull into the same store.
            fault.offset = rng.randrange(1, size)
            fault.cut_first = True
    if kind == "stall_short":
        fault.seconds = rng.uniform(0.05, FAST.read_timeout / 2)
    elif kind == "stall_long":
        fault.seconds = FAST.read_timeout + 0.2
    if op == "push":
        fault.source = rng.choice(("store", "oci"))
        fault.chunked = target == "upload PATCH" or rng.random() < 0.4
    else:
        fault.store = rng.choice(("fresh", "dirty", "dirty", "dirty"))
    return fault


def _install(proxy: FaultProxy, fault: Fault) -> FaultRule:
    _, method, path = TARGETS[fault.target]
    path = path.replace("{blob}", re.escape(fault.blob))
    times = fault.times
    offset = fault.offset or 0
    if fault.cut_first:
        proxy.truncate_after(offset, path=path, method=method, times=1)
    if fault.kind == "reset":
        return proxy.reset_after(offset, path=path, method=method, times=times)
    if fault.kind == "truncate":
        return proxy.truncate_after(offset, path=path, method=method, times=times)
    if fault.kind == "flip":
        return proxy.flip_byte(offset, path=path, method=method, times=times)
    if fault.kind.startswith("stall"):
        return proxy.stall(fault.seconds, fault.offset, path=path, method=method, times=times)
    code = int(fault.kind)
    headers = {"Retry-After": "0"} if code in (429, 503) else {}
    return proxy.http_status(code, headers, path=path, method=method, times=times)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [SEED], ids=lambda s: f"seed={s}")
def test_randomised_faults_during_pull_and_push(
    seed: int,
    distribution_open: Distribution,
    fault_proxy: StartProxy,
    image_factory: ImageFactory,
    tmp_path: Path,
) -> None:
    rng = random.Random(seed)
    image = image_factory.make_image(
        "faults", layers=[256 * KiB, 640 * KiB, 1 * MiB + 4321, 2 * MiB], raw=True, seed=seed)
    repo = _unique("random")
    _seed(distribution_open, repo, image)
    proxy = fault_proxy(distribution_open)
    registry = proxy.host
    ref = f"{registry}/{repo}:v1"
    # A clean store to push from, filled without faults.
    source_store = tmp_path / "source-store"
    _pull(f"{distribution_open.host}/{repo}:v1", source_store)
    push_sources = {"store": f"store:{distribution_open.host}/{repo}:v1",
                    "oci": f"oci:{image.layout_dir}:faults"}

    stores: list[Path] = [source_store]
    dirty: Path | None = None
    problems: list[str] = []
    outcomes: dict[str, int] = {"ok": 0, "failed": 0}
    fired = resumed_from_partial = 0
    pushed_ok: list[str] = []
    kinds_seen: set[str] = set()
    targets_seen: set[str] = set()
    slowest = 0.0
    started = time.monotonic()

    for i in range(ITERATIONS):
        fault = _choose(rng, image)
        if fault.store == "dirty" and dirty is None:
            fault.store = "fresh"
        context = f"seed={seed} iteration {i}: {fault.describe()}"
        proxy.clear()
        rule = _install(proxy, fault)
        t0 = time.monotonic()
        error: BaseException | None = None
        result: CopyResult | None = None
        if fault.op == "pull":
            # "dirty": the store of the last failed pull that left partial ingests.
            store = dirty if fault.store == "dirty" and dirty else tmp_path / f"store-{i}"
            if store not in stores:
                stores.append(store)
            if _partial_ingest_bytes(store):
                resumed_from_partial += 1
            try:
                result = _pull(ref, store)
            except Exception as e:  # judged below: anything not a clear HoistError fails
                error = e
        else:
            dst_repo = f"{repo}-push-{i}"
            opts = _options(source_store if fault.source == "store" else None,
                            chunk_size=512 * KiB if fault.chunked else None)
            try:
                result = copy(push_sources[fault.source], f"docker://{registry}/{dst_repo}:v1",
                              opts)
            except Exception as e:
                error = e
        elapsed = time.monotonic() - t0
        if os.environ.get("HOIST_FAULT_DEBUG"):  # a trace of every operation
            left = _partial_ingest_bytes(store) if fault.op == "pull" else "-"
            print(f"{context} -> {'ok' if error is None else error} [{elapsed:.2f}s] "
                  f"fired={rule.fired} partial={left}")
        slowest = max(slowest, elapsed)
        proxy.clear()
        fired += rule.fired > 0
        if rule.fired:
            kinds_seen.add(fault.kind)
            targets_seen.add(fault.target)

        if error is not None:
            outcomes["failed"] += 1
            try:
                _assert_clear_error(error, registry, context)
            except AssertionError as e:
                problems.append(str(e))
            if fault.must_succeed and rule.fired:
                problems.append(f"{context}: failed although the fault was transient: {error}")
            if fault.op == "pull":
                with ContentStore(store) as s:
                    if s.lookup(ref) is not None:
                        problems.append(f"{context}: a failed pull recorded the image")
                if _partial_ingest_bytes(store):
                    dirty = store
            else:
                # A failed push may leave blobs; a tag, if any, names the right manifest.
                tagged = _registry_digest(distribution_open, dst_repo, "v1")
                if tagged not in (None, image.digest):
                    problems.append(f"{context}: failed push left tag -> {tagged}")
            continue

        outcomes["ok"] += 1
        assert result is not None
        if str(result.digest) != image.digest:
            problems.append(f"{context}: completed with {result.digest}, want {image.digest}")
        if fault.op == "pull":
            if dirty == store:
                dirty = None  # complete now: the next dirty pull starts a new store
            with ContentStore(store) as s:
                rec = s.lookup(ref)
                if rec is None or str(rec.digest) != image.digest:
                    problems.append(f"{context}: store records {rec}")
                missing = [b.digest for b in image.blobs
                           if s.blobs.size(Digest.parse(b.digest)) != b.size]
                if missing:
                    problems.append(f"{context}: blobs missing or short: {missing}")
        else:
            tagged = _registry_digest(distribution_open, dst_repo, "v1")
            if tagged != image.digest:
                problems.append(f"{context}: registry has {dst_repo}:v1 -> {tagged}")
            resolved = ops.resolve(f"docker://{distribution_open.host}/{dst_repo}:v1",
                                   _options())
            if str(resolved.digest) != image.digest:
                problems.append(f"{context}: hoist resolve says {resolved.digest}")
            for blob in image.blobs:
                head = request(f"{distribution_open.url}/v2/{dst_repo}/blobs/{blob.digest}",
                               "HEAD")
                if head.status != 200 or int(head.headers["Content-Length"]) != blob.size:
                    problems.append(f"{context}: blob {blob.digest} HEAD {head.status}")
            pushed_ok.append(dst_repo)

    total = time.monotonic() - started
    # skopeo agrees on a sample of the pushed repositories (it is slow to start).
    if skopeo_binary() is not None:
        for dst_repo in pushed_ok[:: max(1, len(pushed_ok) // 3)][:3]:
            raw = skopeo_inspect_raw(f"docker://{distribution_open.host}/{dst_repo}:v1")
            got = "sha256:" + hashlib.sha256(raw).hexdigest()
            if got != image.digest:
                problems.append(f"seed={seed}: skopeo sees {dst_repo}:v1 as {got}")
    for store in stores:
        doc = _store_verify(store)
        if doc["badBlobs"] or doc["ok"] is not True or doc["exit"] != 0:
            problems.append(f"seed={seed}: hoist store verify {store.name}: {doc}")

    summary = (f"seed={seed}: {ITERATIONS} faulted operations in {total:.1f}s (slowest "
               f"{slowest:.2f}s), {fired} faults fired, {outcomes}, {len(stores)} stores, "
               f"{resumed_from_partial} pulls started over partial ingests")
    print(summary)
    assert not problems, summary + "\n" + "\n".join(problems[:20])
    # The run exercised what it claims to.
    assert fired >= ITERATIONS * 3 // 4, summary
    assert kinds_seen == set(KINDS), f"{summary}; kinds that fired: {sorted(kinds_seen)}"
    assert targets_seen == set(TARGETS), f"{summary}; targets hit: {sorted(targets_seen)}"
    assert outcomes["ok"] > ITERATIONS // 2 and outcomes["failed"] > 0, summary
    assert resumed_from_partial > 0, summary
    assert slowest < 10, summary


# ---------------------------------------------------------------------- 2. SIGKILL


KILL_SEEDS = (11, 22, 33, 44, 55)


def _hoist_pull(ref: str, store: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "hoist", "pull", ref, "--store", str(store), "-q"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, env=env)


@pytest.mark.slow
@pytest.mark.parametrize("seeds", [KILL_SEEDS], ids=lambda s: "seeds=" + ",".join(map(str, s)))
def test_sigkilled_pull_resumes_without_downloading_again(
    seeds: tuple[int, ...],
    distribution_open: Distribution,
    fault_proxy: StartProxy,
    image_factory: ImageFactory,
    tmp_path: Path,
) -> None:
    image = image_factory.make_image("big", layers=[32 * MiB, 32 * MiB], raw=True)
    repo = _unique("sigkill")
    _seed(distribution_open, repo, image)
    proxy = fault_proxy(distribution_open)
    ref = f"{proxy.host}/{repo}:v1"
    blob_digests = {b.digest for b in image.blobs}
    blob_total = sum(b.size for b in image.blobs)
    docker_config = tmp_path / "docker-config"
    docker_config.mkdir()
    env = {**os.environ, "DOCKER_CONFIG": str(docker_config)}
    env.pop("REGISTRY_AUTH_FILE", None)
    fractions: list[str] = []
    worst = 0.0
    kills = 0

    for seed in seeds:
        rng = random.Random(seed)
        store = tmp_path / f"store-{seed}"
        log = tmp_path / f"hoist-{seed}.log"
        seed_kills = 0
        for kill in range(rng.choice((1, 1, 2))):
            before = _written(store, blob_digests)
            # Stop each layer short of its end so no run can finish before it is killed
            # (the offset counts from the start of this run's response, a Range resume).
            proxy.clear()
            reachable = 0
            for layer in image.layers:
                left = max(0, layer.size - _written(store, {layer.digest}) - 256 * KiB)
                reachable += left
                proxy.stall(60, after_bytes=left, path=re.escape(layer.digest) + "$",
                            method="GET", times=None)
            if reachable < 4 * MiB:
                break  # too little left to kill in the middle of
            threshold = before + int(rng.uniform(0.1, 0.85) * reachable)
            proc = _hoist_pull(ref, store, env, log)
            deadline = time.monotonic() + 60
            try:
                while _written(store, blob_digests) < threshold:
                    assert proc.poll() is None, (
                        f"seed {seed}: pull ended (exit {proc.returncode}) before the kill: "
                        + log.read_text(errors="replace")[-2000:])
                    assert time.monotonic() < deadline, f"seed {seed}: pull made no progress"
                    time.sleep(0.001)
            finally:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(10)
            kills += 1
            seed_kills += 1
            # A killed pull leaves no visible partial blob and no image record.
            with ContentStore(store) as s:
                report = s.verify()
                assert report.ok and not report.bad_blobs, f"seed {seed} kill {kill}: {report}"
                assert s.lookup(ref) is None, f"seed {seed} kill {kill}: image recorded"
                for digest in s.blobs.digests():
                    size = next((b.size for b in image.blobs if b.digest == str(digest)), None)
                    assert size is None or s.blobs.size(digest) == size

        written = _written(store, blob_digests)
        assert written > 0
        proxy.clear()
        proxy.reset_stats()
        proc = _hoist_pull(ref, store, env, log)
        assert proc.wait(120) == 0, log.read_text(errors="replace")[-2000:]
        sent = proxy.stats.bytes_down  # every byte the registry side sent, heads included
        needed = blob_total - written
        again = max(0, sent - needed)
        fraction = again / written
        worst = max(worst, fraction)
        fractions.append(f"seed {seed}: {seed_kills} kill(s), {written / MiB:.1f} MiB on disk, "
                         f"{sent / MiB:.2f} MiB sent for {needed / MiB:.2f} MiB missing: "
                         f"{again} B ({100 * fraction:.3f} %) again")
        with ContentStore(store) as s:
            rec = s.lookup(ref)
            assert rec is not None and str(rec.digest) == image.digest
            report = s.verify()
            assert report.ok and not report.bad_blobs and report.partial_ingests == 0, report
        _assert_store_clean(store, f"seed {seed}")

    print(f"re-downloaded after {kills} SIGKILLs:\n  " + "\n  ".join(fractions))
    assert kills >= len(seeds)
    assert worst < 0.10, "\n".join(fractions)


# ---------------------------------------------------------------------- 3. regressions


@pytest.fixture
def seeded(
    distribution_open: Distribution, fault_proxy: StartProxy, image_factory: ImageFactory
) -> tuple[ImageInfo, str, FaultProxy]:
    """A two-layer image in the open registry and a fault proxy in front of it."""
    image = image_factory.make_image("regress", layers=[1 * MiB + 17, 300 * KiB], raw=True)
    repo = _unique("regress")
    _seed(distribution_open, repo, image)
    return image, repo, fault_proxy(distribution_open)


def _blob_ok(store: Path, blob_digest: str, expected: bytes) -> None:
    alg, _, hexdigest = blob_digest.partition(":")
    assert (store / "blobs" / alg / hexdigest).read_bytes() == expected


def test_truncated_blob_resumes_with_range(
    seeded: tuple[ImageInfo, str, FaultProxy], distribution_open: Distribution, tmp_path: Path
) -> None:
    image, repo, proxy = seeded
    layer = image.layers[0]
    cut = 400_001
    rule = proxy.truncate_after(cut, path=re.escape(layer.digest) + "$", method="GET")
    store = tmp_path / "store"
    result = _pull(f"{proxy.host}/{repo}:v1", store)
    assert str(result.digest) == image.digest
    assert rule.fired == 1
    # Distribution served the whole blob once, then exactly the rest: Range: bytes=cut-.
    # (It logs a request when it notices the end of the response, so the truncated one
    # may be logged after the resumed one.)
    served = _access_log(distribution_open, f"/v2/{repo}/blobs/{layer.digest}", wait_for=2)
    assert sorted(served) == [("GET", 200, layer.size), ("GET", 206, layer.size - cut)]
    _blob_ok(store, layer.digest, layer.path.read_bytes())
    _assert_store_clean(store)


def test_flipped_byte_is_never_committed(
    seeded: tuple[ImageInfo, str, FaultProxy], distribution_open: Distribution, tmp_path: Path
) -> None:
    image, repo, proxy = seeded
    layer = image.layers[0]
    path = re.escape(layer.digest) + "$"
    ref = f"{proxy.host}/{repo}:v1"

    # Once: detected at commit, downloaded again from zero (not resumed on bad bytes).
    rule = proxy.flip_byte(123_457, path=path, method="GET")
    store = tmp_path / "once"
    assert str(_pull(ref, store).digest) == image.digest
    assert rule.fired == 1
    served = _access_log(distribution_open, f"/v2/{repo}/blobs/{layer.digest}", wait_for=2)
    assert [status for _, status, _ in served] == [200, 200]
    _blob_ok(store, layer.digest, layer.path.read_bytes())
    _assert_store_clean(store)

    # Always: the pull fails with a digest mismatch, and nothing wrong is kept.
    proxy.clear()
    proxy.flip_byte(5, path=path, method="GET", times=None)
    store = tmp_path / "always"
    with pytest.raises(HoistError) as info:
        _pull(ref, store)
    _assert_clear_error(info.value, proxy.host)
    assert isinstance(info.value, DigestMismatch | BlobDigestMismatch) or (
        "hashes to" in str(info.value)), info.value
    assert layer.digest in str(info.value)
    alg, _, hexdigest = layer.digest.partition(":")
    assert not (store / "blobs" / alg / hexdigest).exists()
    assert not (store / "ingest" / f"{alg}-{hexdigest}").exists()
    with ContentStore(store) as s:
        assert s.lookup(ref) is None
    _assert_store_clean(store)


def test_server_ignoring_range_restarts_from_zero(
    image_factory: ImageFactory, fault_proxy: StartProxy, tmp_path: Path
) -> None:
    image = image_factory.make_image("no-range", layers=[1 * MiB + 5, 200 * KiB], raw=True)
    layer = image.layers[0]
    config = _lying_config(image, ignore_range=True)
    cut = 300_007
    with _lying_registry(config) as upstream:
        proxy = fault_proxy(upstream)
        rule = proxy.truncate_after(cut, path=re.escape(layer.digest) + "$", method="GET")
        store = tmp_path / "store"
        result = _pull(f"{proxy.host}/lying/image:v1", store)
    assert str(result.digest) == image.digest and rule.fired == 1
    gets = [(s.range, s.status) for s in config.log if s.path.endswith(layer.digest)]
    # The resume asked for the rest; the server sent everything; hoist started over.
    assert gets == [(None, 200), (f"bytes={cut}-", 200)]
    _blob_ok(store, layer.digest, layer.path.read_bytes())
    _assert_store_clean(store)


@pytest.mark.parametrize("lie", ["descriptor-too-short", "trailing-bytes"])
def test_body_longer_than_descriptor_is_refused(
    lie: str, image_factory: ImageFactory, tmp_path: Path
) -> None:
    image = image_factory.make_image("too-long", layers=[512 * KiB, 64 * KiB], raw=True)
    layer = image.layers[0]
    content = layer.path.read_bytes()
    config = _lying_config(image)
    if lie == "descriptor-too-short":
        # The manifest says 1000 bytes fewer than the blob (whose digest is right).
        doc = json.loads(image.manifest)
        doc["layers"][0]["size"] = layer.size - 1000
        manifest = json.dumps(doc).encode()
        digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
        config.manifests = {"v1": (OCI_MANIFEST, manifest), digest: (OCI_MANIFEST, manifest)}
    else:
        config.extra = b"\0" * 4096  # the right blob, then more bytes than it has
    store = tmp_path / "store"
    with _lying_registry(config) as host:
        ref = f"{host}/lying/image:v1"
        try:
            result: CopyResult | None = _pull(ref, store)
        except HoistError as e:
            result = None
            _assert_clear_error(e, host)
    alg, _, hexdigest = layer.digest.partition(":")
    committed = store / "blobs" / alg / hexdigest
    if lie == "descriptor-too-short":
        # A digest check alone would pass (the bytes are the blob's): the size must fail it.
        assert result is None, "a blob longer than its descriptor was accepted"
        assert not committed.exists()
        with ContentStore(store) as s:
            assert s.lookup(ref) is None
    else:
        # The extra bytes never reach the store: either the exact blob or nothing.
        assert not committed.exists() or committed.read_bytes() == content
        if result is not None:
            assert str(result.digest) == image.digest and committed.exists()
    ingest = store / "ingest" / f"{alg}-{hexdigest}"
    assert not ingest.exists() or ingest.stat().st_size <= layer.size
    _assert_store_clean(store)


@pytest.mark.parametrize("after_bytes", [200_003, None], ids=["mid-body", "before-head"])
def test_stall_longer_than_read_timeout_is_a_broken_connection(
    after_bytes: int | None,
    seeded: tuple[ImageInfo, str, FaultProxy],
    distribution_open: Distribution,
    tmp_path: Path,
) -> None:
    image, repo, proxy = seeded
    layer = image.layers[0]
    retry = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05, read_timeout=0.3)
    rule = proxy.stall(5.0, after_bytes, path=re.escape(layer.digest) + "$", method="GET")
    store = tmp_path / "store"
    t0 = time.monotonic()
    result = _pull(f"{proxy.host}/{repo}:v1", store, retry=retry)
    elapsed = time.monotonic() - t0
    assert str(result.digest) == image.digest and rule.fired == 1
    assert elapsed < 2.5, f"waited out the stall ({elapsed:.1f}s)"
    served = _access_log(distribution_open, f"/v2/{repo}/blobs/{layer.digest}", wait_for=2)
    if after_bytes is not None:
        # Resumed where the stall began, not downloaded again.
        # (Logged when Distribution notices the response's end: order not guaranteed.)
        assert ("GET", 206, layer.size - after_bytes) in served, served
    else:
        assert [s for _, s, _ in served] == [200, 200], served
    _blob_ok(store, layer.digest, layer.path.read_bytes())
    _assert_store_clean(store)


@pytest.mark.parametrize("target", ["manifest HEAD", "manifest GET", "blob GET", "upload POST"])
def test_429_with_retry_after_over_the_limit_fails_at_once(
    target: str,
    seeded: tuple[ImageInfo, str, FaultProxy],
    tmp_path: Path,
) -> None:
    image, repo, proxy = seeded
    retry = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05, max_retry_after=10.0,
                        read_timeout=2.0)
    paths = {"manifest HEAD": ("HEAD", r"/manifests/v1$"),
             "manifest GET": ("GET", r"/manifests/sha256:"),
             "blob GET": ("GET", re.escape(image.layers[0].digest) + "$"),
             "upload POST": ("POST", r"/blobs/uploads/$")}
    method, path = paths[target]
    rule = proxy.http_status(429, {"Retry-After": "3600"}, path=path, method=method,
                             times=None)
    opts = Options(credentials=ANONYMOUS, retry=retry, jobs=1, store_root=tmp_path / "store")
    t0 = time.monotonic()
    with pytest.raises(TooManyRequests) as info:
        if target == "upload POST":
            copy(f"oci:{image.layout_dir}:regress",
                 f"docker://{proxy.host}/{repo}-pushed:v1", opts)
        else:
            copy(f"docker://{proxy.host}/{repo}:v1", f"store:{proxy.host}/{repo}:v1", opts)
    elapsed = time.monotonic() - t0
    assert rule.matched == 1, f"asked {rule.matched} times despite Retry-After: 3600"
    assert elapsed < 1.0
    text = str(info.value)
    _assert_clear_error(info.value, proxy.host)
    assert "3600" in text and "retry" in text.lower(), text
