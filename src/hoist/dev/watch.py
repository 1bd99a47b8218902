"""What ``hoist dev`` watches and what a change means: which artifacts to rebuild (the
one whose context holds the file, and everything that requires it), whether manifests or
the config itself changed."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from hoist.config import Artifact, Config

DEFAULT_DEBOUNCE_MS = 50  # edits saved together (an editor's write + rename) make one cycle
POLL_INTERVAL_MS = 300
# A batch is handed over once no further change arrived for this long (watchfiles' step;
# an editor's write, rename and chmod come microseconds apart). It is also how often the
# idle watcher wakes, which costs about 1 % of a core at 2 ms; its default of 50 ms
# would add that much to every cycle.
QUIET_MS = 2


@dataclass(frozen=True, slots=True)
class Change:
    """What a batch of changed paths asks of the loop."""

    artifacts: tuple[str, ...] = ()  # artifact names to rebuild, dependents included
    manifests: bool = False
    config: bool = False

    @property
    def empty(self) -> bool:
        return not (self.artifacts or self.manifests or self.config)


def _within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def dependents(artifacts: Sequence[Artifact], changed: Iterable[str]) -> list[str]:
    """``changed`` and every artifact that requires one of them, transitively, in config
    order."""
    by_image = {a.image: a for a in artifacts}
    out = set(changed)
    grew = True
    while grew:
        grew = False
        for a in artifacts:
            if a.name in out:
                continue
            for req in a.requires:
                dep = by_image.get(req.image)
                if dep is not None and dep.name in out:
                    out.add(a.name)
                    grew = True
                    break
    return [a.name for a in artifacts if a.name in out]


def classify(config: Config, paths: Iterable[Path]) -> Change:
    """Pure: which artifacts, manifests or config the changed ``paths`` touch. A file in
    an artifact's context that its .dockerignore excludes changes nothing."""
    from hoist.build.ignore import IgnoreMatcher

    base = Path(config.directory).resolve()
    config_path = Path(config.path).resolve()
    manifests = {Path(p).resolve() for p in config.manifest_paths()}
    touched: set[str] = set()
    manifest_hit = config_hit = False
    matchers: dict[str, IgnoreMatcher | None] = {}
    for raw in paths:
        path = Path(raw).resolve()
        if path == config_path:
            config_hit = True
            continue
        if any(path == m or _within(path, m) for m in manifests):
            manifest_hit = True
        for a in config.artifacts:
            context = (base / a.context).resolve()
            if not _within(path, context):
                continue
            if a.name not in matchers:
                docker = a.docker
                dockerfile = context / (docker.dockerfile if docker else "Dockerfile")
                try:
                    matchers[a.name] = IgnoreMatcher.for_context(context, dockerfile)
                except OSError:
                    matchers[a.name] = None
            matcher = matchers[a.name]
            rel = path.relative_to(context).as_posix()
            # The Dockerfile and the ignore files count even when .dockerignore names them
            # (the builder reads them anyway).
            always = rel.endswith("Dockerfile") or rel.endswith(".dockerignore")
            if matcher is not None and rel != "." and not always and matcher.excluded(rel):
                continue
            touched.add(a.name)
    return Change(tuple(dependents(config.artifacts, touched)), manifest_hit, config_hit)


def watched_roots(config: Config) -> list[Path]:
    """Directories to watch: every artifact context, every manifest's directory, the
    config's own directory (for the config file)."""
    base = Path(config.directory).resolve()
    roots = {(base / a.context).resolve() for a in config.artifacts}
    for m in config.manifest_paths():
        p = Path(m).resolve()
        roots.add(p if p.is_dir() else p.parent)
    roots.add(Path(config.path).resolve().parent)
    # A root inside another root is watched through it already.
    ordered = sorted(roots, key=lambda p: len(p.parts))
    kept: list[Path] = []
    for r in ordered:
        if not any(_within(r, k) for k in kept):
            kept.append(r)
    return kept


def watch_changes(roots: Sequence[Path], stop: threading.Event, *,
                  debounce_ms: int = DEFAULT_DEBOUNCE_MS, polling: bool | None = None,
                  ) -> Iterator[set[Path]]:
    """Batches of changed paths: inotify through watchfiles, or polling when asked or when
    notifications cannot be set up here (e.g. too many watches, a filesystem without
    them)."""
    import watchfiles

    force = bool(polling)
    while not stop.is_set():
        try:
            for batch in watchfiles.watch(*roots, debounce=debounce_ms, step=QUIET_MS,
                                          stop_event=stop, force_polling=force,
                                          poll_delay_ms=POLL_INTERVAL_MS,
                                          raise_interrupt=False, ignore_permission_denied=True,
                                          yield_on_timeout=False):
                yield {Path(p) for _, p in batch}
            return
        except OSError:
            if force:
                raise
            force = True  # no notifications here: poll instead
