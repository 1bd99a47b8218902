"""Acceptance: the seed's skaffold.yaml builds, pushes and renders examples/my-service through
the CLI, against a real registry; only the image, the injected policy and the origin
annotation change in the manifest."""

from __future__ import annotations

import difflib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.distribution import Distribution

REPO_ROOT = Path(__file__).resolve().parents[2]
HOIST = REPO_ROOT / ".venv" / "bin" / "hoist"
EXAMPLE = REPO_ROOT / "examples" / "my-service"


def _hoist(*args: str, env: dict[str, str], check: bool = True,
           cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    out = subprocess.run([str(HOIST), *args], capture_output=True, text=True, env=env,
                         cwd=cwd, timeout=300)
    if check and out.returncode != 0:
        raise AssertionError(f"hoist {' '.join(args)}: exit {out.returncode}\n{out.stderr}")
    return out


@pytest.fixture
def example(tmp_path: Path, distribution_open: Distribution) -> tuple[Path, dict[str, str]]:
    if shutil.which("busybox") is None:
        pytest.skip(reason="busybox not installed (Debian package busybox-static)")
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data"), "USER": "dev"}
    subprocess.run([str(REPO_ROOT / "scripts" / "make-busybox-base"), str(HOIST)], env=env,
                   check=True, capture_output=True)
    work = tmp_path / "my-service"
    shutil.copytree(EXAMPLE, work)
    return work, env


def test_seed_config_builds_pushes_and_renders(example: tuple[Path, dict[str, str]],
                                               distribution_open: Distribution,
                                               tmp_path: Path) -> None:
    work, env = example
    build_json = tmp_path / "build.json"
    out = _hoist("build", "-f", str(work / "skaffold.yaml"), "--default-repo",
                 distribution_open.host, "--file-output", str(build_json), "-o", "json",
                 env=env)
    doc = json.loads(out.stdout)
    (artifact,) = doc["artifacts"]
    assert artifact["pushed"] and artifact["policy"] == "Always"
    assert "[my-service]" in out.stderr and "verified: the registry serves" in out.stderr
    builds = json.loads(build_json.read_text())["builds"]
    assert [b["imageName"] for b in builds] == ["my-registry/my-service"]
    reference = builds[0]["tag"]
    # --default-repo by Skaffold's rule: the image's '/' escaped, appended to the registry
    repo = f"{distribution_open.host}/my-registry_my-service"
    assert reference.startswith(f"{repo}:") and "@sha256:" in reference

    rendered = _hoist("render", "-f", str(work / "skaffold.yaml"), "--build-artifacts",
                      str(build_json), env=env).stdout
    original = (work / "k8s" / "deployment.yaml").read_text()
    diff = [line for line in difflib.ndiff(original.splitlines(), rendered.splitlines())
            if line[:1] in "+-"]
    removed = [d[2:] for d in diff if d.startswith("-")]
    added = [d[2:] for d in diff if d.startswith("+")]
    assert removed == ["        image: my-registry/my-service:latest # This is what we're "
                       "controlling"]
    assert added[0] == "  annotations:"
    assert added[1].startswith("    hoist.dev/images: '[")
    origin = json.loads(added[1].split(": ", 1)[1].strip("'"))
    assert origin[0]["image"] == reference and origin[0]["artifact"] == "my-service"
    assert added[2:] == [f"        image: {reference} # This is what we're controlling",
                         "        imagePullPolicy: Always"]

    # rendering again from the rendered output changes nothing more (idempotent)
    again = tmp_path / "again"
    (again / "k8s").mkdir(parents=True)
    (again / "k8s" / "deployment.yaml").write_text(rendered)
    shutil.copy(work / "skaffold.yaml", again / "skaffold.yaml")
    twice = _hoist("render", "-f", str(again / "skaffold.yaml"), "--build-artifacts",
                   str(build_json), env=env).stdout
    assert twice == rendered

    # a no-change build comes from the cache and names the same reference
    out = _hoist("build", "-f", str(work / "skaffold.yaml"), "--default-repo",
                 distribution_open.host, "-o", "json", env=env)
    assert json.loads(out.stdout)["artifacts"][0]["cached"] is True
    assert json.loads(out.stdout)["builds"][0]["tag"] == reference

    # explain --config with the build shows the artifact, its built reference and policy
    explained = _hoist("explain", "--config", str(work / "skaffold.yaml"),
                       "--build-artifacts", str(build_json), "-o", "json", env=env).stdout
    rows = json.loads(explained)
    row = rows[0]
    assert row["artifact"] == "my-service" and row["built_reference"] == reference
    assert row["effective_policy"] == "Always" and row["policy_source"] == "hoist-config"


def test_bad_input_is_one_line_naming_the_fault(example: tuple[Path, dict[str, str]],
                                                tmp_path: Path) -> None:
    work, env = example
    (work / "Dockerfile").write_text("FROM localhost/busybox:static\nRUN echo hi\n")
    out = _hoist("build", "-f", str(work / "skaffold.yaml"), "--no-push", "--builder",
                 "native", env=env, check=False)
    assert out.returncode != 0
    assert "Dockerfile:2:" in out.stderr and "RUN" in out.stderr
    assert len(out.stderr.strip().splitlines()) <= 3
    bad = tmp_path / "bad.json"
    bad.write_text('{"builds": [{"imageName": "x", "tag": "UPPER:case"}]}')
    out = _hoist("render", "-f", str(work / "skaffold.yaml"), "-a", str(bad), env=env,
                 check=False)
    assert out.returncode == 2 and "bad.json" in out.stderr
