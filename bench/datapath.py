"""Micro-benchmark of the blob data path: how bytes get from a registry socket to disk.

``python -m bench.datapath [--repeat 5]`` starts a local Distribution with the 8 × 128 MiB
image of ``pull-vs-skopeo``, then times five ways of fetching all eight layers at once
(in this process; wall, user and system seconds; medians of the repetitions, the variants
interleaved, ``sync`` before each):

- ``receive-aiohttp``: aiohttp, 1 MiB reads, sha256 on the loop: receive and hash only.
- ``receive-threads``: hoist's blob reader (blocking sockets on threads): receive and hash.
- ``write-1MiB``: the blob reader into files with 1 MiB buffered writes, then fsync.
- ``write-64KiB``: the same with the writes cut into 64 KiB slices.
- ``write-staged``: the store's ingest as pulls use it: received in place into an aligned
  buffer, written with O_DIRECT, committed (fsync, verify, rename).

These are the figures behind the choices in ``hoist.registry.blobreader`` and
``hoist.store.blobs``; the result goes to ``bench/results/datapath.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.context import REPO_ROOT
from bench.registry_common import BenchImage, make_image, run_checked, start_registry

CHUNK = 1 << 20


class _HashSink:
    """Receive and hash, write nowhere."""

    def __init__(self) -> None:
        self.offset = 0
        self.hash = hashlib.sha256()

    def write(self, data: bytes | memoryview) -> None:
        self.hash.update(data)
        self.offset += len(data)

    def truncate(self) -> None:
        self.offset = 0
        self.hash = hashlib.sha256()


class _FileSink(_HashSink):
    """Hash and write through the page cache in slices of ``slice_size`` bytes."""

    def __init__(self, path: Path, slice_size: int) -> None:
        super().__init__()
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        self.slice = slice_size

    def write(self, data: bytes | memoryview) -> None:
        super().write(data)
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view[: self.slice]) :]

    def close(self) -> None:
        os.fsync(self.fd)
        os.close(self.fd)


def _fetch_all(url: str, image: BenchImage, sink_for: Callable[[int], Any]) -> None:
    from hoist.registry.blobreader import fetch_into

    def one(i: int) -> None:
        layer = image.layers[i]
        sink = sink_for(i)
        fetch_into(f"{url}/blobs/{layer.digest}", {}, sink, layer.size, timeout=60)
        if hasattr(sink, "commit"):  # the store's ingest: fsync, verify, rename
            sink.commit()
        elif hasattr(sink, "close"):
            sink.close()

    with ThreadPoolExecutor(len(image.layers)) as pool:
        list(pool.map(one, range(len(image.layers))))


def _aiohttp_all(url: str, image: BenchImage) -> None:
    import aiohttp

    async def one(session: aiohttp.ClientSession, digest: str) -> None:
        h = hashlib.sha256()
        async with session.get(f"{url}/blobs/{digest}") as resp:
            while chunk := await resp.content.read(CHUNK):
                h.update(chunk)

    async def main() -> None:
        async with aiohttp.ClientSession(read_bufsize=4 * CHUNK) as session:
            await asyncio.gather(*(one(session, layer.digest) for layer in image.layers))

    asyncio.run(main())


def variants(url: str, image: BenchImage, out: Path) -> dict[str, Callable[[], None]]:
    from hoist.core.digest import Digest
    from hoist.store.blobs import BlobDir

    def staged() -> None:
        blobs = BlobDir(out)
        _fetch_all(url, image, lambda i: blobs.ingest(
            Digest.parse(image.layers[i].digest), image.layers[i].size))

    return {
        "receive-aiohttp": lambda: _aiohttp_all(url, image),
        "receive-threads": lambda: _fetch_all(url, image, lambda i: _HashSink()),
        "write-1MiB": lambda: _fetch_all(url, image,
                                         lambda i: _FileSink(out / f"l{i}", 1 << 20)),
        "write-64KiB": lambda: _fetch_all(url, image,
                                          lambda i: _FileSink(out / f"l{i}", 64 << 10)),
        "write-staged": staged,
    }


def measure(repeat: int, workdir: Path) -> dict[str, Any]:
    image = make_image(workdir / "image")
    registry = start_registry(workdir / "registry")
    try:
        run_checked(["skopeo", "copy", "-q", "--preserve-digests", "--dest-tls-verify=false",
                     f"oci:{image.layout}:{image.tag}", f"docker://{registry.ref()}"],
                    "seed the registry")
        url = f"http://{registry.host}/v2/bench/big"
        out = workdir / "out"
        runs: dict[str, list[tuple[float, float, float]]] = {}
        todo = variants(url, image, out)
        for rep in range(repeat + 1):  # the first round warms up and is not kept
            for name, fn in todo.items():
                shutil.rmtree(out, ignore_errors=True)
                out.mkdir(parents=True)
                os.sync()
                t0, c0 = time.perf_counter(), os.times()
                fn()
                t1, c1 = time.perf_counter(), os.times()
                if rep:
                    runs.setdefault(name, []).append(
                        (t1 - t0, c1.user - c0.user, c1.system - c0.system))
                print(f"  {name}: {t1 - t0:.2f}s", file=sys.stderr)
        shutil.rmtree(out, ignore_errors=True)
    finally:
        registry.stop()
    return {
        "benchmark": "datapath",
        "bytes": sum(layer.size for layer in image.layers),
        "blobs": len(image.layers),
        "repeat": repeat,
        "variants": {name: {"median_wall_s": statistics.median(r[0] for r in rs),
                            "median_user_s": statistics.median(r[1] for r in rs),
                            "median_sys_s": statistics.median(r[2] for r in rs),
                            "runs": [[round(x, 3) for x in r] for r in rs]}
                     for name, rs in runs.items()},
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.datapath", description=__doc__)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--workdir", type=Path, default=None)
    args = p.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="hoist-datapath-"))
    try:
        doc = measure(args.repeat, workdir)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    results = REPO_ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "datapath.json").write_text(json.dumps(doc, indent=2) + "\n")
    print("| variant | wall (s) | user (s) | sys (s) |\n|---|---:|---:|---:|")
    for name, v in doc["variants"].items():
        print(f"| {name} | {v['median_wall_s']:.2f} | {v['median_user_s']:.2f} | "
              f"{v['median_sys_s']:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
