"""The seed's loop end to end through the CLI on the embedded target: the embedded registry
and cluster come up on their own, with containerd (the service answers on the host
network) and with the builtin runtime; each pull policy shapes the deploy; an unpullable
image fails the status check in seconds with the kubelet's own message."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hoist.node.cri.managed import missing_requirements

REPO_ROOT = Path(__file__).resolve().parents[2]
HOIST = REPO_ROOT / ".venv" / "bin" / "hoist"
EXAMPLE = REPO_ROOT / "examples" / "my-service"


@dataclass
class Project:
    work: Path
    env: dict[str, str]

    @property
    def config(self) -> Path:
        return self.work / "skaffold.yaml"

    def hoist(self, *args: str, check: bool = True, timeout: float = 240
              ) -> subprocess.CompletedProcess[str]:
        out = subprocess.run([str(HOIST), *args], capture_output=True, text=True,
                             env=self.env, timeout=timeout)
        if check and out.returncode != 0:
            raise AssertionError(f"hoist {' '.join(args)}: exit {out.returncode}\n"
                                 f"{out.stdout}\n{out.stderr}")
        return out

    def run_json(self, *args: str) -> dict[str, Any]:
        out = self.hoist("run", "-f", str(self.config), "--target", "embedded", "-o", "json",
                         *args)
        return json.loads(out.stdout)  # type: ignore[no-any-return]


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    if shutil.which("busybox") is None:
        pytest.skip(reason="busybox not installed (Debian package busybox-static)")
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data"), "USER": "dev"}
    env.pop("KUBECONFIG", None)
    subprocess.run([str(REPO_ROOT / "scripts" / "make-busybox-base"), str(HOIST)], env=env,
                   check=True, capture_output=True)
    work = tmp_path / "my-service"
    shutil.copytree(EXAMPLE, work)
    p = Project(work, env)
    try:
        yield p
    finally:
        p.hoist("cluster", "down", "--all", check=False)


def _digest(reference: str) -> str:
    return reference.rsplit("@", 1)[1]


def _page() -> str:
    for _ in range(50):
        try:
            with urllib.request.urlopen("http://127.0.0.1:8080/", timeout=2) as r:
                return r.read().decode()
        except OSError:
            time.sleep(0.1)
    raise AssertionError("my-service does not answer on 127.0.0.1:8080")


def test_run_edit_run_on_containerd_serves_the_new_page(project: Project) -> None:
    reason = missing_requirements()
    if reason:
        pytest.skip(reason=reason)
    if not _port_free(8080):
        pytest.skip(reason="port 8080 is taken here: my-service listens on it (host network)")
    first = project.run_json("--runtime", "cri")
    assert "containerd" in first["description"]
    (artifact,) = first["artifacts"]
    old = _digest(artifact["reference"])
    assert artifact["policy"] == "Always"
    ((pod, ids),) = first["running"].items()
    assert len(ids) == 1 and ids[0].endswith(old)
    assert "version 1" in _page()

    index = project.work / "index.html"
    index.write_text(index.read_text().replace("version 1", "version 2"))
    second = project.run_json("--runtime", "cri")
    new = _digest(second["artifacts"][0]["reference"])
    assert new != old
    ((pod2, ids2),) = second["running"].items()
    assert pod2 != pod and ids2[0].endswith(new)
    assert "version 2" in _page()
    pods = json.loads(project.hoist("cluster", "get", "pods", "-o", "json").stdout)
    assert old not in json.dumps(pods)

    deleted = project.hoist("delete")
    assert "deployment/my-service deleted" in deleted.stdout
    gone = json.loads(project.hoist("cluster", "get", "deployments", "-o", "json").stdout)
    assert gone.get("items") == []


def _set_policy(project: Project, policy: str) -> None:
    text = project.config.read_text().replace('value: "Always"', f'value: "{policy}"')
    project.config.write_text(text)


def test_never_deploys_with_nothing_pushed_builtin(project: Project) -> None:
    _set_policy(project, "Never")
    doc = project.run_json("--runtime", "builtin")
    assert "builtin" in doc["description"]
    (artifact,) = doc["artifacts"]
    assert artifact["policy"] == "Never"
    ((_, ids),) = doc["running"].items()
    assert ids[0].endswith(_digest(artifact["reference"]))
    registry = doc["artifacts"][0]["reference"].split("/", 1)[0]
    repo = artifact["reference"].split("@")[0].rsplit(":", 1)[0]
    tags = project.hoist("tags", repo, check=False)
    assert tags.returncode != 0 or tags.stdout.strip() == "", tags.stdout
    assert registry.startswith("127.0.0.1:")
    assert any("nothing pushed (Never)" in line for line in doc["notes"])


def test_always_refuses_a_digest_the_registry_lacks_builtin(project: Project,
                                                            tmp_path: Path) -> None:
    doc = project.run_json("--runtime", "builtin")
    reference = doc["artifacts"][0]["reference"]
    missing = reference.rsplit("@", 1)[0] + "@sha256:" + "0" * 64
    build_json = tmp_path / "build.json"
    build_json.write_text(json.dumps({"builds": [{"imageName": "my-registry/my-service",
                                                  "tag": missing}]}))
    out = project.hoist("deploy", "-f", str(project.config), "--target", "embedded",
                        "-a", str(build_json), check=False)
    assert out.returncode == 1
    assert "imagePullPolicy Always, but the registry does not serve" in out.stderr
    assert "sha256:" + "0" * 64 in out.stderr


def test_an_unpullable_image_fails_the_status_check_in_seconds_builtin(
        project: Project, tmp_path: Path) -> None:
    _set_policy(project, "IfNotPresent")
    doc = project.run_json("--runtime", "builtin")
    reference = doc["artifacts"][0]["reference"]
    missing = reference.rsplit("@", 1)[0] + "@sha256:" + "1" * 64
    build_json = tmp_path / "build.json"
    build_json.write_text(json.dumps({"builds": [{"imageName": "my-registry/my-service",
                                                  "tag": missing}]}))
    start = time.monotonic()
    out = project.hoist("deploy", "-f", str(project.config), "--target", "embedded",
                        "-a", str(build_json), check=False)
    elapsed = time.monotonic() - start
    assert out.returncode == 1, out.stderr
    # the container's waiting reason and message, as the kubelet sets them (evalCRIPullErr:
    # the runtime's error text), then the next step
    last = out.stderr.strip().splitlines()[-1]
    assert "container my-service: ErrImagePull: failed to pull image" in last
    assert "manifest unknown" in last
    assert last.endswith(" -n default") and "next: hoist doctor --pod my-service-" in last
    assert elapsed < 30
