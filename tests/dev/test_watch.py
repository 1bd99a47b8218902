"""What a changed path means to ``hoist dev``: which artifacts rebuild (with their
dependents), whether manifests or the config changed, and what is watched."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hoist.config import load_config
from hoist.dev.watch import classify, dependents, watch_changes, watched_roots

CONFIG = """\
apiVersion: skaffold/v4beta11
kind: Config
build:
  artifacts:
  - image: base
    context: base
  - image: app
    context: app
    requires:
    - image: base
      alias: BASE
  - image: other
    context: other
manifests:
  rawYaml:
  - k8s/*.yaml
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for d in ("base", "app", "other", "k8s"):
        (tmp_path / d).mkdir()
    for d in ("base", "app", "other"):
        (tmp_path / d / "Dockerfile").write_text("FROM scratch\nCOPY . /\n")
    (tmp_path / "app" / ".dockerignore").write_text("*.log\n")
    (tmp_path / "k8s" / "app.yaml").write_text("kind: Pod\n")
    (tmp_path / "skaffold.yaml").write_text(CONFIG)
    return tmp_path


def test_a_base_change_rebuilds_what_requires_it(project: Path) -> None:
    config = load_config(str(project / "skaffold.yaml"))
    change = classify(config, [project / "base" / "file.txt"])
    assert change.artifacts == ("base", "app")
    assert not change.manifests and not change.config


def test_a_leaf_change_rebuilds_only_the_leaf(project: Path) -> None:
    config = load_config(str(project / "skaffold.yaml"))
    assert classify(config, [project / "app" / "main.py"]).artifacts == ("app",)
    assert classify(config, [project / "other" / "x"]).artifacts == ("other",)


def test_files_the_dockerignore_excludes_change_nothing(project: Path) -> None:
    config = load_config(str(project / "skaffold.yaml"))
    assert classify(config, [project / "app" / "debug.log"]).empty
    # the ignore file itself and the Dockerfile always count
    assert classify(config, [project / "app" / ".dockerignore"]).artifacts == ("app",)


def test_manifests_and_config_are_told_apart(project: Path) -> None:
    config = load_config(str(project / "skaffold.yaml"))
    m = classify(config, [project / "k8s" / "app.yaml"])
    assert m.manifests and not m.artifacts and not m.config
    c = classify(config, [project / "skaffold.yaml"])
    assert c.config and not c.artifacts
    assert classify(config, [project / "unrelated.txt"]).empty


def test_watched_roots_cover_contexts_manifests_and_config(project: Path) -> None:
    config = load_config(str(project / "skaffold.yaml"))
    roots = watched_roots(config)
    # the config's directory holds everything else: one root is enough
    assert roots == [project.resolve()]


@settings(deadline=None, max_examples=60)
@given(st.lists(st.sampled_from(["base", "app", "other"]), unique=True))
def test_dependents_is_closed_under_requires(tmp_path_factory: pytest.TempPathFactory,
                                             changed: list[str]) -> None:
    project = tmp_path_factory.mktemp("p")
    for d in ("base", "app", "other"):
        (project / d).mkdir()
    (project / "skaffold.yaml").write_text(CONFIG)
    config = load_config(str(project / "skaffold.yaml"))
    out = dependents(config.artifacts, changed)
    assert set(changed) <= set(out)
    assert ("base" in changed) <= ("app" in out)
    assert ("other" in out) == ("other" in changed)
    assert out == [a.name for a in config.artifacts if a.name in out]  # config order


@pytest.mark.parametrize("polling", [False, True], ids=["inotify", "polling"])
def test_watch_reports_a_write(tmp_path: Path, polling: bool) -> None:
    stop = threading.Event()
    batches: list[set[Path]] = []

    def consume() -> None:
        for batch in watch_changes([tmp_path], stop, debounce_ms=20, polling=polling):
            batches.append(batch)
            stop.set()

    t = threading.Thread(target=consume)
    t.start()
    time.sleep(0.5)  # let the watcher set up (polling takes a first snapshot)
    (tmp_path / "page.html").write_text("new")
    t.join(timeout=10)
    stop.set()
    assert not t.is_alive()
    assert any(tmp_path / "page.html" in b for b in batches)
