"""Benchmark ``registry-load``: 50 concurrent clients push and pull distinct and shared
blobs (and manifests naming them) for 60 s, against hoist's registry server and against
Distribution 2.8 under the same load.

Each variant is one run of the load client (``python -m bench.registry_load client``, one
process, asyncio + aiohttp): every client loops over push-distinct (monolithic or
chunked), push-shared (eight 1 MiB blobs every client uploads again, so commits of one
digest race), push-manifest, pull-blob (sha256 checked) and pull-manifest, and afterwards
checks that every blob and manifest it pushed is still there. It prints one JSON document:
requests/s, MiB/s (up + down), errors, lost and corrupt blobs. The check runs
``hoist store verify`` on the hoist server's store.

``HOIST_BENCH_LOAD_SECONDS`` and ``HOIST_BENCH_LOAD_CLIENTS`` change the duration and the
number of clients (defaults 60 and 50). Quick run of both registries without the harness:
``python -m bench.registry_load run --seconds 60 --clients 50``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.context import REPO_ROOT, Context, hoist_version
from bench.registry_common import registry_version, start_registry
from bench.runner import BenchError, Outputs, Plan, Step, Variant

NAME = "registry-load"
DEFAULT_SECONDS = 60.0
DEFAULT_CLIENTS = 50
SHARED_BLOBS = 8
SHARED_SIZE = 1 << 20
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
# operation mix (weights)
OPERATIONS = (("push_distinct", 35), ("push_shared", 15), ("push_manifest", 10),
              ("pull_blob", 30), ("pull_manifest", 10))


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Tally:
    requests: int = 0
    bytes_up: int = 0
    bytes_down: int = 0
    errors: int = 0
    corrupt: int = 0
    lost: int = 0
    operations: dict[str, int] = field(default_factory=dict)
    first_errors: list[str] = field(default_factory=list)

    def error(self, text: str) -> None:
        self.errors += 1
        if len(self.first_errors) < 10:
            self.first_errors.append(text[:300])


class LoadClient:
    def __init__(self, url: str, index: int, tally: Tally, pool: bytes,
                 shared: list[bytes], rng: random.Random) -> None:
        self.url, self.index, self.tally = url.rstrip("/"), index, tally
        self.repo = f"load/c{index}"
        self.pool, self.shared, self.rng = pool, shared, rng
        self.blobs: dict[str, int] = {}  # digest → size, pushed to self.repo
        self.manifests: dict[str, str] = {}  # tag → digest
        self.counter = 0

    async def _request(self, session: Any, method: str, url: str, *, data: bytes = b"",
                       headers: dict[str, str] | None = None,
                       read: bool = False) -> tuple[int, Any, bytes]:
        self.tally.requests += 1
        self.tally.bytes_up += len(data)
        async with session.request(method, url, data=data or None, headers=headers or {},
                                   allow_redirects=False) as response:
            body = await response.read() if read or response.status >= 400 else b""
            self.tally.bytes_down += len(body)
            return response.status, response.headers, body

    def _absolute(self, location: str) -> str:
        return urllib.parse.urljoin(self.url + "/", location)

    async def push_blob(self, session: Any, repo: str, data: bytes, chunked: bool) -> bool:
        digest = _digest(data)
        status, headers, body = await self._request(session, "POST",
                                                    f"{self.url}/v2/{repo}/blobs/uploads/")
        if status != 202:
            self.tally.error(f"POST upload {status} {body[:200]!r}")
            return False
        location = self._absolute(headers["Location"])
        if chunked:
            half = len(data) // 2
            status, headers, body = await self._request(
                session, "PATCH", location, data=data[:half],
                headers={"Content-Range": f"0-{half - 1}",
                         "Content-Type": "application/octet-stream"})
            if status != 202:
                self.tally.error(f"PATCH {status} {body[:200]!r}")
                return False
            location, data = self._absolute(headers["Location"]), data[half:]
        sep = "&" if "?" in location else "?"
        status, _, body = await self._request(
            session, "PUT", f"{location}{sep}digest={digest}", data=data,
            headers={"Content-Type": "application/octet-stream"})
        if status != 201:
            self.tally.error(f"PUT upload {status} {body[:200]!r}")
            return False
        return True

    async def step(self, session: Any) -> None:
        names, weights = zip(*OPERATIONS, strict=True)
        op = self.rng.choices(names, weights)[0]
        if op == "pull_blob" and not self.blobs:
            op = "push_distinct"
        if op == "push_manifest" and not self.blobs:
            op = "push_shared"
        if op == "pull_manifest" and not self.manifests:
            op = "push_manifest" if self.blobs else "push_distinct"
        self.tally.operations[op] = self.tally.operations.get(op, 0) + 1
        if op == "push_distinct":
            self.counter += 1
            size = self.rng.randrange(256 << 10, 2 << 20)
            start = self.rng.randrange(0, len(self.pool) - size)
            data = f"c{self.index}-{self.counter}-{os.getpid()}".encode().ljust(32, b".") + (
                self.pool[start:start + size])
            if await self.push_blob(session, self.repo, data, chunked=self.counter % 3 == 0):
                self.blobs[_digest(data)] = len(data)
        elif op == "push_shared":
            data = self.rng.choice(self.shared)
            if await self.push_blob(session, self.repo, data, chunked=False):
                self.blobs[_digest(data)] = len(data)
        elif op == "push_manifest":
            self.counter += 1
            config = json.dumps({"architecture": "amd64", "os": "linux",
                                 "client": self.index, "n": self.counter}).encode()
            if not await self.push_blob(session, self.repo, config, chunked=False):
                return
            self.blobs[_digest(config)] = len(config)
            picks = self.rng.sample(sorted(self.blobs), min(3, len(self.blobs)))
            manifest = json.dumps({
                "schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": _digest(config),
                           "size": len(config)},
                "layers": [{"mediaType": OCI_LAYER, "digest": d, "size": self.blobs[d]}
                           for d in picks]}).encode()
            tag = f"t{self.counter}"
            status, _, body = await self._request(
                session, "PUT", f"{self.url}/v2/{self.repo}/manifests/{tag}", data=manifest,
                headers={"Content-Type": OCI_MANIFEST})
            if status != 201:
                self.tally.error(f"PUT manifest {status} {body[:200]!r}")
                return
            self.manifests[tag] = _digest(manifest)
        elif op == "pull_blob":
            digest = self.rng.choice(sorted(self.blobs))
            status, _, body = await self._request(
                session, "GET", f"{self.url}/v2/{self.repo}/blobs/{digest}", read=True)
            if status != 200:
                self.tally.error(f"GET blob {status}")
            elif _digest(body) != digest:
                self.tally.corrupt += 1
                self.tally.error(f"GET blob {digest}: content hashes to {_digest(body)}")
        else:
            tag = self.rng.choice(sorted(self.manifests))
            status, _, body = await self._request(
                session, "GET", f"{self.url}/v2/{self.repo}/manifests/{tag}", read=True,
                headers={"Accept": OCI_MANIFEST})
            if status != 200 or _digest(body) != self.manifests[tag]:
                self.tally.error(f"GET manifest {tag}: {status}")

    async def check_all(self, session: Any) -> None:
        """Afterwards: every blob and manifest this client pushed is still served."""
        for digest, size in self.blobs.items():
            status, headers, _ = await self._request(
                session, "HEAD", f"{self.url}/v2/{self.repo}/blobs/{digest}")
            if status != 200 or int(headers.get("Content-Length", -1)) != size:
                self.tally.lost += 1
                self.tally.error(f"HEAD {self.repo}@{digest}: {status}")
        for tag, digest in self.manifests.items():
            status, headers, _ = await self._request(
                session, "HEAD", f"{self.url}/v2/{self.repo}/manifests/{tag}",
                headers={"Accept": OCI_MANIFEST})
            if status != 200 or headers.get("Docker-Content-Digest") != digest:
                self.tally.lost += 1
                self.tally.error(f"HEAD {self.repo}:{tag}: {status}")


async def run_load(url: str, seconds: float, clients: int, seed: int = 1) -> dict[str, Any]:
    import aiohttp

    rng = random.Random(seed)
    pool = rng.randbytes(4 << 20)
    shared = [f"shared-{i}".encode().ljust(32, b".") + rng.randbytes(SHARED_SIZE)
              for i in range(SHARED_BLOBS)]
    tally = Tally()
    workers = [LoadClient(url, i, tally, pool, shared, random.Random(seed * 1000 + i))
               for i in range(clients)]
    timeout = aiohttp.ClientTimeout(total=300)
    connector = aiohttp.TCPConnector(limit=clients, force_close=False)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        deadline = time.monotonic() + seconds
        started = time.monotonic()

        async def loop(worker: LoadClient) -> None:
            while time.monotonic() < deadline:
                try:
                    await worker.step(session)
                except (TimeoutError, aiohttp.ClientError, OSError) as e:
                    tally.error(f"{type(e).__name__}: {e}")

        await asyncio.gather(*(loop(w) for w in workers))
        elapsed = time.monotonic() - started
        load = (tally.requests, tally.bytes_up + tally.bytes_down)
        await asyncio.gather(*(w.check_all(session) for w in workers))
    return {
        "url": url, "clients": clients, "seconds": round(elapsed, 3),
        "requests": load[0], "requests_per_s": round(load[0] / elapsed, 1),
        "mib": round(load[1] / (1 << 20), 1),
        "mib_per_s": round(load[1] / (1 << 20) / elapsed, 1),
        "errors": tally.errors, "lost": tally.lost, "corrupt": tally.corrupt,
        "operations": tally.operations, "first_errors": tally.first_errors,
        "blobs_pushed": sum(len(w.blobs) for w in workers),
        "manifests_pushed": sum(len(w.manifests) for w in workers),
    }


def verify_store(store: Path, hoist: str | None = None) -> dict[str, Any]:
    argv = ([hoist] if hoist else [sys.executable, "-m", "hoist"]) + [
        "store", "verify", "--store", str(store), "-o", "json"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=1800, check=False)
    try:
        doc: dict[str, Any] = json.loads(proc.stdout)
    except ValueError:
        doc = {"output": (proc.stdout + proc.stderr)[-2000:]}
    doc["exit"] = proc.returncode
    return doc


def _settings() -> tuple[float, int]:
    return (float(os.environ.get("HOIST_BENCH_LOAD_SECONDS", DEFAULT_SECONDS)),
            int(os.environ.get("HOIST_BENCH_LOAD_CLIENTS", DEFAULT_CLIENTS)))


def _client_step(url: str, seconds: float, clients: int) -> Step:
    return Step((sys.executable, "-m", "bench.registry_load", "client", "--url", url,
                 "--seconds", str(seconds), "--clients", str(clients)), cwd=REPO_ROOT)


def _start_hoist(workdir: Path) -> tuple[Any, Path]:
    if str(REPO_ROOT / "src") not in sys.path:
        sys.path.insert(0, str(REPO_ROOT / "src"))
    from hoist.registry.server import RegistryServer

    store = workdir / "hoist-store"
    try:
        server = RegistryServer.subprocess(store, log_path=workdir / "hoist-registry.log",
                                           args=["--log-level", "warning"])
    except Exception as e:
        raise BenchError(f"could not start hoist registry serve: {e}") from None
    return server, store


def build(ctx: Context) -> Plan:
    seconds, clients = _settings()
    distribution = start_registry(ctx.workdir / "distribution")
    try:
        hoist_server, store = _start_hoist(ctx.workdir)
    except BenchError:
        distribution.stop()
        raise

    def check(outputs: Outputs) -> dict[str, Any]:
        result: dict[str, Any] = {}
        ok = True
        for variant, files in outputs.items():
            try:
                doc = json.loads(Path(files[-1]).read_text())
            except (OSError, ValueError, IndexError) as e:
                result[variant] = {"error": f"no load report: {e}"}
                ok = False
                continue
            result[variant] = doc
            ok = ok and doc["errors"] == 0 and doc["lost"] == 0 and doc["corrupt"] == 0
        verify = verify_store(store, str(ctx.hoist))
        result["hoist_store_verify"] = verify
        result["ok"] = ok and verify.get("exit") == 0
        return result

    def cleanup() -> None:
        hoist_server.stop()
        distribution.stop()

    return Plan(
        name=NAME,
        description=f"{clients} clients pushing and pulling distinct and shared blobs for "
                    f"{seconds:g} s; the time is the load client's run (about the duration), "
                    "the figures are under check",
        peer=Variant("distribution", "peer",
                     (_client_step(f"http://{distribution.host}", seconds, clients),),
                     "Distribution 2.8 (docker-registry), filesystem storage"),
        hoists=[Variant("hoist-registry", "hoist",
                        (_client_step(hoist_server.url, seconds, clients),),
                        "hoist registry serve, store on the same disk")],
        versions={"distribution": registry_version(), "hoist": hoist_version(ctx.hoist)},
        info={"seconds": seconds, "clients": clients, "operations": dict(OPERATIONS)},
        check=check,
        cleanup=cleanup,
    )


def _table(rows: dict[str, dict[str, Any]]) -> str:
    lines = ["| registry | requests/s | MiB/s | requests | errors | lost | corrupt |",
             "|---|---|---|---|---|---|---|"]
    for name, d in rows.items():
        lines.append(f"| {name} | {d['requests_per_s']} | {d['mib_per_s']} | {d['requests']} "
                     f"| {d['errors']} | {d['lost']} | {d['corrupt']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.registry_load")
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("client", help="run the load against one registry; JSON on stdout")
    c.add_argument("--url", required=True)
    r = sub.add_parser("run", help="start Distribution and hoist's server, load both")
    r.add_argument("--workdir", type=Path, default=None)
    r.add_argument("--results", type=Path, default=REPO_ROOT / "bench" / "results")
    for q in (c, r):
        q.add_argument("--seconds", type=float, default=DEFAULT_SECONDS)
        q.add_argument("--clients", type=int, default=DEFAULT_CLIENTS)
    args = p.parse_args(argv)
    if args.command == "client":
        doc = asyncio.run(run_load(args.url, args.seconds, args.clients))
        print(json.dumps(doc, indent=2))
        return 0 if doc["errors"] == 0 and doc["lost"] == 0 else 1
    import tempfile

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="hoist-load-"))
    distribution = start_registry(workdir / "distribution")
    hoist_server, store = _start_hoist(workdir)
    try:
        rows = {
            "distribution": asyncio.run(run_load(f"http://{distribution.host}", args.seconds,
                                                 args.clients)),
            "hoist-registry": asyncio.run(run_load(hoist_server.url, args.seconds,
                                                   args.clients)),
        }
    finally:
        hoist_server.stop()
        distribution.stop()
    verify = verify_store(store)
    doc = {"benchmark": NAME, "seconds": args.seconds, "clients": args.clients,
           "nproc": os.cpu_count(), "results": rows, "hoist_store_verify": verify}
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / f"{NAME}-run.json").write_text(json.dumps(doc, indent=2))
    print(_table(rows))
    print(f"hoist store verify: exit {verify.get('exit')}, "
          f"{verify.get('blobsChecked', '?')} blobs checked, ok={verify.get('ok')}")
    bad = any(r["errors"] or r["lost"] or r["corrupt"] for r in rows.values())
    return 1 if bad or verify.get("exit") != 0 else 0


if __name__ == "__main__":
    sys.exit(main())
