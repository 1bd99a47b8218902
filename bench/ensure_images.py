"""Micro-benchmark of the node's hot path: EnsureImageExists for 1,000 pods whose image is
already present (IfNotPresent), in this process.

``python -m bench.ensure_images [--pods 1000] [--repeat 5]`` starts a local Distribution,
pushes a small busybox image, and times, per repetition (the variants interleaved):

- ``builtin``: the image manager over the builtin runtime (hoist's store), events kept in
  memory; target: under 1 s for 1,000 pods.
- ``builtin+cluster``: the same, with events written to the embedded cluster's database
  (aggregated into one event per pod, as the kubelet's recorder does).
- ``cri-status`` (root and containerd only): 1,000 bare CRI ImageStatus calls to a
  containerd started for the benchmark; the floor for the CRI path.
- ``cri``: the image manager over the CRI runtime for the same 1,000 pods; target: at most
  1.2 × ``cri-status``.

Result: ``bench/results/ensure-images.json`` (all timings, medians, ratios).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.context import REPO_ROOT

if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


def _manager(runtime: Any, recorder: Any) -> Any:
    from hoist.node.backoff import Backoff
    from hoist.node.image_manager import ImageManager
    from hoist.node.puller import SerialImagePuller

    return ImageManager(runtime, SerialImagePuller(runtime), Backoff(), recorder)


def _ensure_all(manager: Any, image: str, pods: int,
                after: Callable[[], object] | None = None) -> float:
    from hoist.core.policy import PullPolicy
    from hoist.node.events import ObjectRef
    from hoist.node.image_manager import PodIdentity

    refs = [(ObjectRef("Pod", "default", f"p{i}", f"uid-{i}", field_path="spec.containers{a}"),
             PodIdentity(f"uid-{i}", "default", f"p{i}")) for i in range(pods)]
    start = time.perf_counter()
    for ref, pod in refs:
        result = manager.ensure_image(ref, pod, image, (), PullPolicy.IF_NOT_PRESENT)
        if not result.ok:
            raise SystemExit(f"ensure_image failed: {result.message}")
    if after is not None:
        after()  # e.g. the recorder's queued events written, inside the timing
    return time.perf_counter() - start


def _cluster_variant(builtin: Any, cluster: Any, image: str, pods: int) -> float:
    from hoist.cluster.kubelet import ClusterRecorder

    recorder = ClusterRecorder(cluster, "bench")
    return _ensure_all(_manager(builtin, recorder), image, pods, after=recorder.flush)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.ensure_images")
    p.add_argument("--pods", type=int, default=1000)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--results", type=Path, default=REPO_ROOT / "bench" / "results")
    args = p.parse_args(argv)

    from tests.support.containerd import missing_requirements, start_containerd
    from tests.support.cri_fixtures import push_busybox_image
    from tests.support.distribution import start_distribution

    from hoist.cluster.store import Cluster
    from hoist.node.builtin import BuiltinRuntime
    from hoist.node.events import ListRecorder

    work = Path(tempfile.mkdtemp(prefix="hoist-bench-ensure-"))
    timings: dict[str, list[float]] = {}
    stops: list[Callable[[], None]] = []
    try:
        registry = start_distribution(work / "registry", auth="none")
        stops.append(registry.stop)
        pushed = push_busybox_image(work / "layout", registry, "bench/ensure", "1")
        image = pushed.reference

        builtin = BuiltinRuntime(work / "builtin")
        builtin.pull_image(image)
        cluster = Cluster.open(work / "cluster")
        variants: dict[str, Callable[[], float]] = {
            "builtin": lambda: _ensure_all(_manager(builtin, ListRecorder()), image, args.pods),
            "builtin+cluster": lambda: _cluster_variant(builtin, cluster, image, args.pods),
        }
        reason = missing_requirements()
        if reason is None:
            from hoist.node.cri.runtime import CriRuntime

            containerd = start_containerd(work / "containerd", sandbox_image=image)
            stops.append(containerd.stop)
            cri = CriRuntime.connect(str(containerd.socket))
            cri.pull_image(image)

            def bare_status() -> float:
                start = time.perf_counter()
                for _ in range(args.pods):
                    if cri.image_status(image) is None:
                        raise SystemExit("containerd lost the image")
                return time.perf_counter() - start

            variants["cri-status"] = bare_status
            variants["cri"] = lambda: _ensure_all(_manager(cri, ListRecorder()), image,
                                                  args.pods)
        else:
            print(f"ensure-images: cri variants skipped: {reason}", file=sys.stderr)

        for fn in variants.values():  # warm-up: caches, connections, .pyc
            fn()
        for _ in range(args.repeat):
            for name, fn in variants.items():
                timings.setdefault(name, []).append(fn())
        medians = {k: statistics.median(v) for k, v in timings.items()}
        result: dict[str, Any] = {"pods": args.pods, "repeat": args.repeat,
                                  "timings": timings, "medians": medians}
        if "cri" in medians:
            result["cri_over_status"] = medians["cri"] / medians["cri-status"]
        args.results.mkdir(parents=True, exist_ok=True)
        (args.results / "ensure-images.json").write_text(json.dumps(result, indent=2) + "\n")
        for name, m in medians.items():
            print(f"{name:16s} {m * 1000:8.1f} ms for {args.pods} pods "
                  f"({m / args.pods * 1e6:6.1f} µs each)")
        if "cri_over_status" in result:
            print(f"cri / cri-status = {result['cri_over_status']:.3f}")
        cluster.close()
        builtin.close()
        return 0
    finally:
        for stop in reversed(stops):
            stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
