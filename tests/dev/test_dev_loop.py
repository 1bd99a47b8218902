"""``hoist dev`` in-process on the embedded cluster with the builtin runtime: a first
cycle, then one per change (the watcher's batches stand in as a list), rebuilding only what
changed, redeploying on manifest and config changes, and deleting what it deployed at the
end."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from hoist.cluster.store import Cluster, default_cluster_dir
from hoist.deploy.deployer import DeployOptions
from hoist.deploy.embedded import stop_embedded
from hoist.dev.loop import CycleResult, Session, dev

REPO_ROOT = Path(__file__).resolve().parents[2]
HOIST = REPO_ROOT / ".venv" / "bin" / "hoist"
EXAMPLE = REPO_ROOT / "examples" / "my-service"


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    if shutil.which("busybox") is None:
        pytest.skip(reason="busybox not installed (Debian package busybox-static)")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("HOIST_DEFAULT_REPO", raising=False)
    subprocess.run([str(REPO_ROOT / "scripts" / "make-busybox-base"), str(HOIST)],
                   env=dict(os.environ), check=True, capture_output=True)
    work = tmp_path / "my-service"
    shutil.copytree(EXAMPLE, work)
    try:
        yield work
    finally:
        stop_embedded()


def test_dev_rebuilds_on_change_and_cleans_up(work: Path) -> None:
    from hoist.build.runner import BuildOptions

    index, manifest, config = (work / "index.html", work / "k8s" / "deployment.yaml",
                               work / "skaffold.yaml")

    def changes() -> Iterator[set[Path]]:
        index.write_text("<p>two</p>\n")
        yield {index}
        (work / "README.md").write_text("ignored by .dockerignore\n")
        yield {work / "README.md"}  # no cycle: nothing that matters changed
        port = "containerPort: 8080"
        manifest.write_text(manifest.read_text().replace(port, port + "\n          name: http"))
        yield {manifest}
        config.write_text(config.read_text().replace('"Always"', '"IfNotPresent"'))
        yield {config}

    cycles: list[CycleResult] = []
    lines: list[str] = []
    session = Session(config, (), BuildOptions(builder="native"),
                      DeployOptions(target="embedded", runtime="builtin"), command="dev")
    code = dev(session, log=lines.append, changes=changes(), on_cycle=cycles.append)
    assert code == 0, lines
    assert [c.reason for c in cycles] == ["start", "changed: my-service", "manifests",
                                          "config"]
    first, second, third, fourth = cycles
    assert first.built and second.built and not third.built
    assert second.built[0].digest != first.built[0].digest
    assert "running; build " in second.line() and " ready " in second.line()
    assert second.deploy.running and all(ids[0].endswith(str(second.built[0].digest))
                                         for ids in second.deploy.running.values())
    assert fourth.built[0].policy is not None and fourth.built[0].policy.value == \
        "IfNotPresent"
    assert any(line.startswith("cleaned up: deployment/my-service") for line in lines)
    with Cluster.open(default_cluster_dir()) as cluster:
        assert cluster.list("Deployment") == []


def test_dev_keeps_what_it_deployed_with_cleanup_false(work: Path) -> None:
    from hoist.build.runner import BuildOptions

    session = Session(work / "skaffold.yaml", (), BuildOptions(builder="native"),
                      DeployOptions(target="embedded", runtime="builtin"), command="dev")
    lines: list[str] = []
    assert dev(session, log=lines.append, changes=[], cleanup=False) == 0
    with Cluster.open(default_cluster_dir()) as cluster:
        (dep,) = cluster.list("Deployment")
    assert dep["metadata"]["labels"]["hoist.dev/run-id"] == session.run_id
    assert not any(line.startswith("cleaned up") for line in lines)
