"""A test dockerd of its own (Debian's docker.io): own data-root, exec-root and socket, no
bridge, no iptables, the vfs storage driver. Loaded from tests/conftest.py with
``pytest_plugins``.

Session-scoped:
    dockerd     Dockerd: .socket, .host ("unix://…"), .config (DOCKER_CONFIG of the CLI
                calls), .run(*args) runs the docker CLI against it

Skips with the reason when dockerd or the docker CLI is missing or the daemon does not
start. Tests that use it get the ``system`` marker.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

MISSING_DOCKER = "dockerd/docker not installed (Debian package docker.io)"
START_TIMEOUT = 30.0


@pytest.hookimpl(tryfirst=True)  # before `-m` deselection looks at the markers
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "dockerd" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.system)


@dataclass
class Dockerd:
    socket: Path
    config: Path  # DOCKER_CONFIG of the CLI calls
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def host(self) -> str:
        """The daemon address as DOCKER_HOST / ``docker -H`` take it."""
        return f"unix://{self.socket}"

    def run(self, *args: str, stdin: str | None = None, check: bool = True,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
        out = subprocess.run(["docker", "-H", self.host, *args], input=stdin,
                             capture_output=True, text=True, timeout=timeout,
                             env={**os.environ, "DOCKER_CONFIG": str(self.config),
                                  "DOCKER_BUILDKIT": "0"})
        if check and out.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)}: exit {out.returncode}: "
                                 f"{out.stderr[-1500:]}")
        return out


@pytest.fixture(scope="session")
def dockerd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dockerd]:
    binary = shutil.which("dockerd")
    if binary is None or shutil.which("docker") is None:
        pytest.skip(reason=MISSING_DOCKER)
    workdir = tmp_path_factory.mktemp("dockerd")
    # a short path: the daemon's unix sockets must fit in 108 bytes
    short = Path(f"/tmp/hd-{os.getpid()}-{workdir.name[-8:]}")
    short.mkdir(exist_ok=True)
    socket = short / "docker.sock"
    log = workdir / "dockerd.log"
    (workdir / "config").mkdir()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [binary, "--data-root", str(workdir / "data"), "--exec-root", str(short / "exec"),
             "--pidfile", str(short / "dockerd.pid"), "--host", f"unix://{socket}",
             "--bridge=none", "--iptables=false", "--ip6tables=false",
             "--storage-driver", "vfs"],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    daemon = Dockerd(socket, workdir / "config", proc, log)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        if socket.exists() and daemon.run("version", check=False, timeout=10).returncode == 0:
            break
        time.sleep(0.2)
    else:
        proc.terminate()
        proc.wait(timeout=30)
    if proc.poll() is not None:
        tail = log.read_text(errors="replace")[-600:]
        shutil.rmtree(short, ignore_errors=True)
        pytest.skip(reason=f"dockerd (Debian package docker.io) did not start: {tail}")
    try:
        yield daemon
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        shutil.rmtree(short, ignore_errors=True)
