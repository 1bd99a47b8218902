"""Benchmark ``dev-cycle``: in ``hoist dev``, one file of the example changed → the new
digest Running on the embedded cluster (containerd), against the same cycle by hand.

hoist: ``hoist dev`` runs in the background on examples/my-service (native builder, the
seed's config: imagePullPolicy Always) against the embedded registry and cluster with a
containerd hoist manages. A run writes new content into index.html and ends when hoist
dev prints the cycle's line, which it does once the Deployment's new pod is Running and
its imageID has been checked against the digest just built (so: debounce, build, push,
Always check, render, apply, the kubelet's pull and container start, the status check and
the verification).

Peer, by hand: ``buildah bud --layers`` + ``buildah push`` to the same registry, then over
CRI (the role crictl would play; in the harness's own process, so no client start-up is
counted) pull the new image, stop and remove the old container, create and start the new
one in an existing host-network sandbox, and wait until containerd reports it running.

Target: hoist's median ≤ 1 s and ≤ 0.5× the peer's. Needs root and containerd.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from bench.context import REPO_ROOT, Context, hoist_version, require_hoist_command
from bench.runner import BenchError, Outputs, Plan, Step, Variant

NAME = "dev-cycle"
EXAMPLE = REPO_ROOT / "examples" / "my-service"
CYCLE_TIMEOUT = 60.0
PEER_PORT = "8081"  # the peer's container runs beside hoist's on the host network


def _buildah() -> str:
    path = shutil.which("buildah")
    if path is None:
        raise BenchError("buildah is not installed (Debian package buildah)")
    return path


class _DevProcess:
    """``hoist dev`` in the background; cycles are read from its stderr log."""

    def __init__(self, hoist: str, config: Path, env: dict[str, str], log: Path) -> None:
        self.log_path = log
        self._log = log.open("wb")
        self.proc = subprocess.Popen(
            [hoist, "dev", "-f", str(config), "--target", "embedded", "--runtime", "cri",
             "--builder", "native"], stdout=subprocess.DEVNULL, stderr=self._log,
            stdin=subprocess.DEVNULL, env=env)
        self._reader = log.open("rb")
        self._pending = b""

    def _new_cycles(self) -> list[str]:
        # Only what was appended since the last look: re-reading the whole log every few
        # milliseconds would take CPU from the cycle being timed.
        self._pending += self._reader.read()
        *complete, self._pending = self._pending.split(b"\n")
        lines = (raw.decode(errors="replace") for raw in complete)
        return [line for line in lines if "] " in line and " cycle " in line]

    def wait_cycle(self, timeout: float = CYCLE_TIMEOUT) -> str:
        """The next cycle line hoist dev prints (a failed cycle is an error)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lines = self._new_cycles()
            if lines:
                if "cycle failed" in lines[-1]:
                    raise BenchError(f"hoist dev: {lines[-1]}")
                return lines[-1]
            if self.proc.poll() is not None:
                raise BenchError(f"hoist dev exited {self.proc.returncode}:\n"
                                 f"{self.log_path.read_text(errors='replace')[-2000:]}")
            time.sleep(0.003)
        raise BenchError(f"hoist dev printed no cycle within {timeout} s:\n"
                         f"{self.log_path.read_text(errors='replace')[-2000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        self._reader.close()


class _ManualNode:
    """The peer's container in its own host-network sandbox, driven over CRI."""

    def __init__(self, socket: str, workdir: Path) -> None:
        from hoist.node.cri.runtime import CriRuntime
        from hoist.node.runtime import PodSandboxSpec

        self.cri = CriRuntime(socket, timeout=60.0)
        logs = workdir / "peer-logs"
        logs.mkdir(parents=True, exist_ok=True)
        self.sandbox = PodSandboxSpec(name="bench-peer", namespace="bench",
                                      uid=uuid.uuid4().hex, log_directory=str(logs))
        self.sandbox_id = self.cri.run_pod_sandbox(self.sandbox)
        self.container: str | None = None
        self.attempt = 0

    def restart(self, image: str) -> str:
        from hoist.node.runtime import ContainerSpec

        image_ref = self.cri.pull_image(image)
        if self.container is not None:
            self.cri.stop_container(self.container, timeout=10)
            self.cri.remove_container(self.container)
        self.attempt += 1
        spec = ContainerSpec(
            name="app", image=image_ref, attempt=self.attempt,
            command=["sh", "-c", f"httpd -f -p {PEER_PORT} -h /www & "
                                 "trap 'kill $!; exit 0' TERM; wait"],
            log_path=f"app-{self.attempt}.log")
        self.container = self.cri.create_container(self.sandbox_id, spec, self.sandbox)
        self.cri.start_container(self.container)
        deadline = time.monotonic() + CYCLE_TIMEOUT
        while time.monotonic() < deadline:
            status = self.cri.container_status(self.container)
            if status.state.name.upper().endswith("RUNNING"):
                return f"{image} running as {status.image_ref}"
            time.sleep(0.003)
        raise BenchError(f"peer container {self.container} did not start")

    def close(self) -> None:
        try:
            self.cri.stop_pod_sandbox(self.sandbox_id)
            self.cri.remove_pod_sandbox(self.sandbox_id)
        finally:
            self.cri.close()


def build(ctx: Context) -> Plan:
    require_hoist_command(ctx.hoist, "dev")
    buildah = _buildah()
    if os.geteuid() != 0:
        raise BenchError("dev-cycle needs root (containerd runs containers as root)")
    from hoist.deploy.embedded import ensure_embedded, stop_embedded

    hoist = str(ctx.hoist)
    data = ctx.workdir / "data"
    env = {**os.environ, "XDG_DATA_HOME": str(data)}
    run = subprocess.run([str(REPO_ROOT / "scripts" / "make-busybox-base"), hoist], env=env,
                         capture_output=True, text=True, check=False)
    if run.returncode != 0:
        raise BenchError(f"make-busybox-base failed: {run.stderr[-800:]}")
    old_xdg = os.environ.get("XDG_DATA_HOME")
    os.environ["XDG_DATA_HOME"] = str(data)
    cleanups: list[Any] = []

    def cleanup() -> None:
        for step in reversed(cleanups):
            with contextlib.suppress(Exception):  # best effort: every server still goes
                step()
        if old_xdg is None:
            os.environ.pop("XDG_DATA_HOME", None)
        else:
            os.environ["XDG_DATA_HOME"] = old_xdg

    try:
        environment = ensure_embedded(runtime="cri")
        cleanups.append(stop_embedded)
        if environment.runtime != "cri" or not environment.cri_socket:
            raise BenchError(f"no containerd for the embedded cluster: {environment.notes}")
        registry = environment.registry
        base_ref = f"{registry}/busybox:static"
        subprocess.run([hoist, "push", "localhost/busybox:static", f"docker://{base_ref}",
                        "-q"], env=env, check=True, capture_output=True)
        hoist_dir, peer_dir = ctx.workdir / "ctx-hoist", ctx.workdir / "ctx-peer"
        for d in (hoist_dir, peer_dir):
            shutil.rmtree(d, ignore_errors=True)
            shutil.copytree(EXAMPLE, d)
        dockerfile = peer_dir / "Dockerfile"
        dockerfile.write_text(dockerfile.read_text().replace(
            "FROM localhost/busybox:static", f"FROM {base_ref}"))

        dev = _DevProcess(hoist, hoist_dir / "skaffold.yaml", env, ctx.workdir / "dev.log")
        cleanups.append(dev.stop)
        dev.wait_cycle(timeout=120.0)  # the first deploy, untimed
        node = _ManualNode(environment.cri_socket, ctx.workdir)
        cleanups.append(node.close)
        root = ctx.workdir / "buildah"
        storage = (buildah, "--root", str(root / "root"), "--runroot", str(root / "run"))
        peer_ref = f"{registry}/bench/peer:latest"

        def edit(where: Path) -> None:
            (where / "index.html").write_text(f"<p>{time.time_ns()}</p>\n")

        def hoist_cycle() -> str:
            edit(hoist_dir)
            return dev.wait_cycle()

        peer = Variant("by-hand", "peer", (
            Step(("edit", "index.html"), timed=False, call=lambda: edit(peer_dir) or ""),
            Step((*storage, "bud", "--layers", "--quiet", "--tls-verify=false", "-t",
                  "bench-peer", str(peer_dir))),
            Step((*storage, "push", "--quiet", "--tls-verify=false", "bench-peer",
                  f"docker://{peer_ref}")),
            Step(("cri", "pull", "stop", "remove", "create", "start"),
                 call=lambda: node.restart(peer_ref)),
        ), description="buildah bud --layers + buildah push; then over CRI: PullImage, "
           "StopContainer, RemoveContainer, CreateContainer, StartContainer, status until "
           "RUNNING (host-network sandbox made once, untimed)")
        hoist_variant = Variant("hoist-dev", "hoist", (
            Step(("edit index.html", "wait for hoist dev's cycle line"), call=hoist_cycle),
        ), description="hoist dev (native builder, seed config with Always) on the embedded "
           "cluster with containerd: from the write of index.html to the cycle line "
           "(new pod Running, imageID verified)")
        return Plan(
            name=NAME, description=(__doc__ or NAME).strip().splitlines()[0].rstrip(),
            peer=peer, hoists=[hoist_variant],
            versions={"hoist": hoist_version(ctx.hoist),
                      "buildah": subprocess.run([buildah, "--version"], capture_output=True,
                                                text=True, check=False).stdout.strip()},
            info={"example": str(EXAMPLE), "registry": registry,
                  "containerd_socket": environment.cri_socket,
                  "loadavg_before": list(os.getloadavg())},
            check=lambda outputs: _check(outputs),
            cleanup=cleanup)
    except BaseException:
        cleanup()
        raise


def _check(outputs: Outputs) -> dict[str, Any]:
    files = outputs.get("hoist-dev") or []
    line = files[-1].read_text().strip() if files else ""
    return {"last_cycle": line, "ok": " running; " in line,
            "loadavg_after": list(os.getloadavg())}
