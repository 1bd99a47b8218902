"""Command line of the benchmark harness."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from bench import (
    build_rebuild,
    dev_cycle,
    lint_checkov,
    registry_load,
    registry_pull,
    registry_push,
    render_kustomize,
)
from bench.context import (
    DEFAULT_CHECKOV,
    DEFAULT_CORPUS,
    DEFAULT_HOIST,
    REPO_ROOT,
    Context,
)
from bench.runner import BenchError, Plan, run_plan, write_result, write_summary

BENCHMARKS: dict[str, Callable[[Context], Plan]] = {
    lint_checkov.NAME: lint_checkov.build,
    render_kustomize.NAME: render_kustomize.build,
    registry_pull.NAME: registry_pull.build,
    registry_push.NAME: registry_push.build,
    registry_load.NAME: registry_load.build,
    build_rebuild.NAME: build_rebuild.build,
    build_rebuild.NOCHANGE: build_rebuild.build_nochange,
    dev_cycle.NAME: dev_cycle.build,
}

DEFAULT_RESULTS = REPO_ROOT / "bench" / "results"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Time hoist against peer tools; write bench/results/*.json and summary.md.",
    )
    p.add_argument("--repeat", type=int, default=5, metavar="N",
                   help="timed runs of each tool per benchmark (default 5)")
    p.add_argument("--warmup", type=int, default=1, metavar="N",
                   help="untimed runs of each tool first (default 1)")
    p.add_argument("--only", choices=sorted(BENCHMARKS), action="append", metavar="NAME",
                   help=f"run only this benchmark (repeatable): {', '.join(BENCHMARKS)}")
    p.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    p.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS,
                   help="directory of Kubernetes manifests (default ../shared/corpus)")
    p.add_argument("--hoist", type=Path, default=DEFAULT_HOIST,
                   help="hoist executable (default .venv/bin/hoist)")
    p.add_argument("--checkov", type=Path, default=DEFAULT_CHECKOV,
                   help="checkov executable (default .venv-checkov/bin/checkov, installed by "
                   "scripts/ensure-checkov when missing)")
    p.add_argument("--kubectl", default="kubectl", help="kubectl executable (default: kubectl)")
    p.add_argument("--skopeo", default="skopeo", help="skopeo executable (default: skopeo)")
    p.add_argument("--results", type=Path, default=DEFAULT_RESULTS,
                   help="where the JSON files and summary.md go (default bench/results)")
    p.add_argument("--workdir", type=Path, default=None,
                   help="keep scratch files (groups, outputs) here instead of a temp dir")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.list:
        for name, builder in BENCHMARKS.items():
            lines = (sys.modules[builder.__module__].__doc__ or "").strip().splitlines()
            print(f"{name}: {lines[0] if lines else ''}")
        return 0
    if args.repeat < 1 or args.warmup < 0:
        print("bench: --repeat must be >= 1 and --warmup >= 0", file=sys.stderr)
        return 2
    names = args.only or list(BENCHMARKS)
    scratch = args.workdir or Path(tempfile.mkdtemp(prefix="hoist-bench-"))
    failures = 0
    try:
        for name in names:
            workdir = scratch / name
            workdir.mkdir(parents=True, exist_ok=True)
            ctx = Context(
                corpus=args.corpus.resolve(),
                hoist=args.hoist.resolve() if args.hoist.exists() else args.hoist,
                checkov=args.checkov,
                kubectl=args.kubectl,
                workdir=workdir,
                skopeo=args.skopeo,
            )
            print(f"== {name}", file=sys.stderr, flush=True)
            plan: Plan | None = None
            try:
                plan = BENCHMARKS[name](ctx)
                doc = run_plan(
                    plan, repeat=args.repeat, warmup=args.warmup, outdir=workdir / "out",
                    progress=lambda msg: print(msg, file=sys.stderr, flush=True),
                )
            except BenchError as e:
                failures += 1
                print(f"bench: {name}: {e}", file=sys.stderr)
                continue
            finally:
                # Servers the plan started stop here, also on an error or ^C.
                if plan is not None and plan.cleanup is not None:
                    plan.cleanup()
            path = write_result(doc, args.results)
            print(f"   wrote {path}", file=sys.stderr)
            check = doc.get("check") or {}
            if check.get("ok") is False:
                print(f"bench: {name}: correctness check failed, see {path}", file=sys.stderr)
                failures += 1
    finally:
        if args.workdir is None:
            shutil.rmtree(scratch, ignore_errors=True)
    summary, table = write_summary(args.results)
    print(table, end="")
    print(f"(summary: {summary})", file=sys.stderr)
    return 1 if failures else 0
