"""``hoist run`` (build → push or load → deploy → status → verify, once) and ``hoist dev``
(the same, again on every change of an artifact's context, a manifest or the config)."""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hoist.config import Config
from hoist.core.policy import PullPolicy
from hoist.errors import HoistError, InputError

ENV_DEFAULT_REPO = "HOIST_DEFAULT_REPO"


@dataclass
class Session:
    """What a run or a dev loop holds between cycles."""

    config_path: Path
    profiles: Sequence[str]
    build_options: Any  # hoist.build.runner.BuildOptions
    deploy_options: Any  # hoist.deploy.deployer.DeployOptions
    command: str = "run"
    config: Config | None = None
    target: Any = None
    target_name: str = ""
    env: Any = None
    builds: dict[str, dict[str, Any]] = field(default_factory=dict)  # image → build.json entry
    run_id: str = ""


@dataclass(frozen=True, slots=True)
class CycleResult:
    number: int
    built: tuple[Any, ...]  # ArtifactResult of what this cycle built
    deploy: Any  # DeployReport
    timings: dict[str, float]
    reason: str

    def line(self) -> str:
        t = self.timings
        what = ", ".join(f"{r.artifact} {str(r.digest)[7:19]}" for r in self.built) or \
            "manifests"
        parts = [f"{k} {t[k]:.2f}s" for k in ("build", "push", "deploy", "ready") if k in t]
        return (f"cycle {self.number} ({self.reason}): {what} running; "
                f"{', '.join(parts)}; total {t.get('total', 0.0):.2f}s")


def load_session_config(session: Session) -> Config:
    from hoist.config import load_config

    session.config = load_config(str(session.config_path), session.profiles,
                                 command=session.command)
    return session.config


def open_session(session: Session) -> None:
    """Choose the target and, for the embedded one, bring up its registry and cluster;
    images then go to the embedded registry unless a default repo says otherwise."""
    from hoist.deploy.deployer import choose_target, ensure_environment, open_target
    from hoist.deploy.target import new_run_id

    config = session.config or load_session_config(session)
    dopts = session.deploy_options
    session.run_id = dopts.run_id or new_run_id()
    session.deploy_options = dopts = dataclasses.replace(dopts, run_id=session.run_id)
    session.target_name = choose_target(dopts, config)
    if session.target_name == "embedded":
        session.env = ensure_environment(dopts)
        bopts = session.build_options
        if not (bopts.default_repo or os.environ.get(ENV_DEFAULT_REPO) or config.default_repo):
            session.build_options = dataclasses.replace(bopts,
                                                        default_repo=session.env.registry)
    session.target = open_target(session.target_name, dopts, config, session.env)


def cycle(session: Session, number: int, only: Sequence[str] = (),
          reason: str = "start", build: bool = True) -> CycleResult:
    """Build (only ``only`` when given, else every artifact; the cache skips unchanged
    ones; nothing when ``build`` is False), then deploy with every artifact's latest
    build."""
    from hoist.build.runner import build_artifacts
    from hoist.deploy.deployer import deploy

    config = session.config or load_session_config(session)
    t0 = time.perf_counter()
    built: tuple[Any, ...] = ()
    if config.artifacts and build:
        options = dataclasses.replace(session.build_options, only=tuple(only))
        report = build_artifacts(config, options)
        built = report.results
        for r in report.results:
            session.builds[r.image] = r.build_json_entry()
    t_build = time.perf_counter()
    # Only the config's current artifacts: a reloaded config may have dropped some.
    images = {a.image for a in config.artifacts}
    builds = [b for image, b in session.builds.items() if image in images]
    # A push under Always ends with a HEAD by digest (the build's verification): that is
    # the very check the deploy makes for Always, so it is not asked twice.
    served = frozenset(f"{r.repository}@{r.digest}" for r in built
                       if r.pushed and r.policy is PullPolicy.ALWAYS)
    options = dataclasses.replace(session.deploy_options,
                                  served=session.deploy_options.served | served)
    result = deploy(config, builds, options, target=session.target)
    t_end = time.perf_counter()
    push = sum(r.timings.get("push", 0.0) for r in built)
    timings = {"build": t_build - t0 - push, "push": push,
               "deploy": sum(result.timings.get(k, 0.0) for k in ("render", "preload",
                                                                      "apply")),
               "ready": result.timings.get("ready", 0.0) + result.timings.get("verify", 0.0),
               "total": t_end - t0}
    shown = tuple(r for r in built if not only or r.artifact in only) if only else built
    return CycleResult(number, shown, result, timings, reason)


def close_session(session: Session, cleanup: bool, log: Callable[[str], None]) -> list[str]:
    from hoist.deploy.deployer import delete_run

    gone: list[str] = []
    if cleanup and session.run_id:
        try:
            gone = delete_run(session.run_id, options=session.deploy_options)
        except InputError:
            gone = []  # nothing was applied under this run
    close = getattr(session.target, "close", None)
    if close is not None:
        close()
    return gone


def run_once(session: Session) -> CycleResult:
    """``hoist run``: one cycle, leaving what it deployed running."""
    open_session(session)
    return cycle(session, 1)


def dev(session: Session, *, log: Callable[[str], None], stop: threading.Event | None = None,
        cleanup: bool = True, polling: bool | None = None, debounce_ms: int | None = None,
        changes: Iterable[set[Path]] | None = None,
        on_cycle: Callable[[CycleResult], None] | None = None) -> int:
    """``hoist dev``: a first cycle, then one per batch of changes until ``stop`` is set
    (Ctrl-C); then delete what it deployed unless ``cleanup`` is False. ``changes`` stands
    in for the file watcher (tests)."""
    from hoist.dev.watch import DEFAULT_DEBOUNCE_MS, classify, watch_changes, watched_roots

    stop = stop or threading.Event()
    report = on_cycle or (lambda c: log(c.line()))
    open_session(session)
    number = 0
    failures = 0
    try:
        number += 1
        failures += _attempt(session, number, (), "start", True, report, log)
        config = session.config
        assert config is not None
        source: Iterator[set[Path]] = iter(changes) if changes is not None else watch_changes(
            watched_roots(config), stop, polling=polling,
            debounce_ms=debounce_ms or DEFAULT_DEBOUNCE_MS)
        log(f"watching {', '.join(str(r) for r in watched_roots(config))} (Ctrl-C stops and "
            f"{'deletes what was deployed' if cleanup else 'keeps what was deployed'})")
        for paths in source:
            if stop.is_set():
                break
            config = session.config
            assert config is not None
            change = classify(config, paths)
            if change.empty:
                continue
            number += 1
            if change.config:
                try:
                    load_session_config(session)
                except HoistError as e:
                    log(f"config not reloaded: {e}")
                    continue
                log(f"config reloaded: {session.config_path}")
                failures += _attempt(session, number, (), "config", True, report, log)
                continue
            names = change.artifacts
            why = ("changed: " + ", ".join(names)) if names else "manifests"
            failures += _attempt(session, number, names, why, bool(names), report, log)
    except KeyboardInterrupt:
        pass
    finally:
        gone = close_session(session, cleanup, log)
        if gone:
            log(f"cleaned up: {', '.join(gone)}")
    return 1 if failures and number == 1 else 0


def _attempt(session: Session, number: int, only: Sequence[str], reason: str, build: bool,
             report: Callable[[CycleResult], None], log: Callable[[str], None]) -> int:
    """One cycle; a failed one is reported and the loop goes on watching."""
    try:
        report(cycle(session, number, only, reason, build))
        return 0
    except HoistError as e:
        log(f"cycle failed: {e}")
        return 1
