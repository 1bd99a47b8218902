"""Time hoist against a peer tool: interleaved repetitions, medians, ratios, JSON + markdown.

A benchmark is described by a :class:`Plan`: one *peer* variant (the other tool) and one or
more *hoist* variants. A variant is a list of :class:`Step` s, each one subprocess; the time of
one run of a variant is the sum of its steps' wall-clock times, each measured with
``time.perf_counter()`` around ``subprocess.run``. A step marked ``timed=False`` (preparing a
run: emptying a destination, flushing dirty pages, recording a result) runs in its place in
the sequence but is left out of the run's time. Every repetition runs the peer once, then
each hoist variant once, so the tools alternate and share whatever the machine is doing.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Role = Literal["peer", "hoist"]

#: Output files of the last timed run: variant name -> one stdout file per step (untimed steps
#: included, in the variant's order).
Outputs = Mapping[str, Sequence[Path]]


class BenchError(Exception):
    """A benchmark could not be prepared or one of its commands failed."""


@dataclass(frozen=True)
class Step:
    """One subprocess of a variant."""

    argv: tuple[str, ...]
    #: Extra environment variables, merged over the harness's own environment.
    env: Mapping[str, str] = field(default_factory=dict)
    #: Exit codes that count as success (linters exit 1 when they find something).
    ok_codes: frozenset[int] = frozenset({0})
    cwd: Path | None = None
    #: False: run in sequence like any other step, but not part of the run's time.
    timed: bool = True
    #: Instead of a subprocess, call this in the harness's own process (a step that talks
    #: to a long-running process, e.g. over a socket); its return value (text) is the
    #: step's output. ``argv`` then only names the step in messages.
    call: Callable[[], str] | None = None


@dataclass(frozen=True)
class Variant:
    name: str
    role: Role
    steps: tuple[Step, ...]
    description: str = ""

    @property
    def timed_steps(self) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if s.timed)


@dataclass
class Plan:
    """Everything the runner needs to time one benchmark."""

    name: str
    description: str
    peer: Variant
    hoists: list[Variant]
    versions: dict[str, str] = field(default_factory=dict)
    #: Extra facts recorded verbatim in the JSON (inputs, dropped files, …).
    info: dict[str, Any] = field(default_factory=dict)
    #: Called once after the timed runs with the last run's outputs; its dict lands in the
    #: JSON under "check". It may set "ok": False to mark the result as suspect.
    check: Callable[[Outputs], dict[str, Any]] | None = None
    #: Called by the command line once the benchmark is over, whether it succeeded or not:
    #: stops whatever servers the plan's builder started.
    cleanup: Callable[[], None] | None = None

    @property
    def variants(self) -> list[Variant]:
        return [self.peer, *self.hoists]


@dataclass
class RunTiming:
    total_s: float
    #: Timed steps only, in order.
    steps_s: list[float]
    returncodes: list[int]
    #: Untimed steps, in order (recorded for the curious, never part of ``total_s``).
    untimed_s: list[float] = field(default_factory=list)


def run_variant(variant: Variant, outdir: Path) -> RunTiming:
    """Run every step of ``variant`` once, stdout/stderr to files under ``outdir``."""
    vdir = outdir / variant.name
    vdir.mkdir(parents=True, exist_ok=True)
    steps_s: list[float] = []
    untimed_s: list[float] = []
    codes: list[int] = []
    for i, step in enumerate(variant.steps):
        out_path = vdir / f"step-{i:04d}.out"
        err_path = vdir / f"step-{i:04d}.err"
        env = {**os.environ, **step.env} if step.env else None
        if step.call is not None:
            start = time.perf_counter()
            try:
                text = step.call()
            except Exception as e:
                raise BenchError(f"{variant.name}: step {i} ({' '.join(step.argv)}): "
                                 f"{e}") from e
            elapsed = time.perf_counter() - start
            out_path.write_text(text)
            err_path.write_text("")
            (steps_s if step.timed else untimed_s).append(elapsed)
            if step.timed:
                codes.append(0)
            continue
        with out_path.open("wb") as out, err_path.open("wb") as err:
            start = time.perf_counter()
            proc = subprocess.run(
                step.argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env,
                cwd=step.cwd, check=False,
            )
            elapsed = time.perf_counter() - start
        if proc.returncode not in step.ok_codes:
            tail = err_path.read_text(errors="replace")[-2000:]
            raise BenchError(
                f"{variant.name}: step {i} exited {proc.returncode} "
                f"(expected one of {sorted(step.ok_codes)}): {' '.join(step.argv)[:300]}\n{tail}"
            )
        if step.timed:
            steps_s.append(elapsed)
            codes.append(proc.returncode)
        else:
            untimed_s.append(elapsed)
    return RunTiming(total_s=sum(steps_s), steps_s=steps_s, returncodes=codes,
                     untimed_s=untimed_s)


def step_outputs(variant: Variant, outdir: Path) -> list[Path]:
    return [outdir / variant.name / f"step-{i:04d}.out" for i in range(len(variant.steps))]


def summarize(samples: Sequence[float]) -> dict[str, float]:
    """Median and spread of a list of timings (seconds)."""
    if not samples:
        raise ValueError("no samples")
    return {
        "median_s": statistics.median(samples),
        "min_s": min(samples),
        "max_s": max(samples),
        "mean_s": statistics.fmean(samples),
        "stdev_s": statistics.stdev(samples) if len(samples) > 1 else 0.0,
    }


def ratio(peer_median: float, hoist_median: float) -> float | None:
    """peer/hoist: above 1 means hoist is faster by that factor."""
    if hoist_median <= 0:
        return None
    return peer_median / hoist_median


def machine_info() -> dict[str, Any]:
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        usable = os.cpu_count() or 0
    return {
        "nproc": usable,
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "python": platform.python_version(),
    }


def run_plan(
    plan: Plan,
    repeat: int,
    warmup: int,
    outdir: Path,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Time ``plan`` and return its result document (not yet written)."""
    if repeat < 1:
        raise ValueError("repeat must be at least 1")
    say = progress or (lambda _msg: None)
    warm: dict[str, list[RunTiming]] = {v.name: [] for v in plan.variants}
    timed: dict[str, list[RunTiming]] = {v.name: [] for v in plan.variants}
    total = warmup + repeat
    for rep in range(total):
        is_warmup = rep < warmup
        for variant in plan.variants:
            t = run_variant(variant, outdir)
            (warm if is_warmup else timed)[variant.name].append(t)
            label = "warm-up" if is_warmup else f"run {rep - warmup + 1}/{repeat}"
            say(f"  {plan.name}: {label}: {variant.name} {t.total_s:.3f}s")

    variants_doc: dict[str, Any] = {}
    for variant in plan.variants:
        runs = timed[variant.name]
        totals = [r.total_s for r in runs]
        timed_steps = variant.timed_steps
        vdoc: dict[str, Any] = {
            "role": variant.role,
            "description": variant.description,
            "commands_per_run": len(timed_steps),
            "first_command": list(timed_steps[0].argv) if timed_steps else [],
            "env": dict(timed_steps[0].env) if timed_steps else {},
            "timings_s": totals,
            "warmup_s": [r.total_s for r in warm[variant.name]],
            "step_timings_s": [r.steps_s for r in runs],
            "returncodes": sorted({c for r in runs for c in r.returncodes}),
            **summarize(totals),
        }
        untimed = [s for s in variant.steps if not s.timed]
        if untimed:
            vdoc["untimed_commands"] = [list(s.argv) for s in untimed]
            vdoc["untimed_step_timings_s"] = [r.untimed_s for r in runs]
        variants_doc[variant.name] = vdoc
    peer_median = variants_doc[plan.peer.name]["median_s"]
    ratios = {
        f"{plan.peer.name}/{h.name}": ratio(peer_median, variants_doc[h.name]["median_s"])
        for h in plan.hoists
    }
    doc: dict[str, Any] = {
        "benchmark": plan.name,
        "description": plan.description,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "repeat": repeat,
        "warmup": warmup,
        "order": "each repetition runs: " + ", ".join(v.name for v in plan.variants),
        "machine": machine_info(),
        "versions": plan.versions,
        "peer": plan.peer.name,
        "variants": variants_doc,
        "ratios": ratios,
        "info": plan.info,
    }
    if plan.check is not None:
        outputs = {v.name: step_outputs(v, outdir) for v in plan.variants}
        doc["check"] = plan.check(outputs)
    return doc


def write_result(doc: Mapping[str, Any], results_dir: Path) -> Path:
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"{doc['benchmark']}.json"
    path.write_text(json.dumps(doc, indent=2, sort_keys=False) + "\n")
    return path


def load_results(results_dir: Path) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted(results_dir.glob("*.json")):
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(doc, dict) and "variants" in doc and "peer" in doc:
            docs.append(doc)
    return docs


def _fmt_s(x: float) -> str:
    return f"{x:.3f}"


def format_table(docs: Sequence[Mapping[str, Any]]) -> str:
    """Markdown table: one row per hoist variant of each benchmark."""
    lines = [
        "| benchmark | peer | peer median (s) | hoist variant | hoist median (s) "
        "| peer/hoist | runs | check |",
        "|---|---|---:|---|---:|---:|---:|---|",
    ]
    for doc in docs:
        peer = doc["peer"]
        variants = doc["variants"]
        peer_median = variants[peer]["median_s"]
        check = doc.get("check") or {}
        check_txt = "" if "ok" not in check else ("ok" if check["ok"] else "MISMATCH")
        for name, v in variants.items():
            if v["role"] != "hoist":
                continue
            r = ratio(peer_median, v["median_s"])
            lines.append(
                f"| {doc['benchmark']} | {peer} | {_fmt_s(peer_median)} | {name} "
                f"| {_fmt_s(v['median_s'])} | {'n/a' if r is None else f'{r:.2f}'} "
                f"| {len(v['timings_s'])} | {check_txt} |"
            )
    return "\n".join(lines) + "\n"


def write_summary(results_dir: Path) -> tuple[Path, str]:
    """Rebuild ``summary.md`` from every result JSON in ``results_dir``."""
    docs = load_results(results_dir)
    table = format_table(docs)
    machine = docs[0]["machine"] if docs else machine_info()
    text = (
        "# hoist benchmarks\n\n"
        "Medians of wall-clock seconds per run; peer/hoist above 1 means hoist is faster "
        "by that factor. See bench/README.md.\n\n"
        + table
        + f"\nMachine: {machine.get('nproc')} usable cores, {machine.get('platform')}.\n"
    )
    for doc in docs:
        vers = ", ".join(f"{k} {v}" for k, v in doc.get("versions", {}).items())
        text += f"\n- {doc['benchmark']} ({doc.get('created', '?')}): {vers}"
    text += "\n"
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / "summary.md"
    path.write_text(text)
    return path, table
