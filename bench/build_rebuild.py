"""Benchmarks ``rebuild-vs-buildah`` and ``build-nochange``: the dev loop's inner step.

``rebuild-vs-buildah``: change one file of examples/my-service, then build and push the
image to a local Distribution. Peer: ``buildah bud --layers`` + ``buildah push`` (its own
storage under the work dir, overlay driver, layer cache warm). hoist: ``hoist build --push``
(native builder, artifact and layer caches warm). Before every run, untimed, the page
(index.html) gets new content, so each run builds and pushes one new layer and a new
manifest; the base image (busybox from Debian's busybox-static) is in the registry and in
both tools' local storage from the warm-up run on.

``build-nochange``: ``hoist build --push`` with nothing changed (the artifact cache answers,
one HEAD confirms the registry still has the tag). Target: under 300 ms. Its peer row is
the same buildah pair with nothing changed, for scale.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from bench.context import REPO_ROOT, Context, hoist_version, require_hoist_command
from bench.registry_common import Registry, run_checked, start_registry
from bench.runner import BenchError, Outputs, Plan, Step, Variant

NAME = "rebuild-vs-buildah"
NOCHANGE = "build-nochange"
EXAMPLE = REPO_ROOT / "examples" / "my-service"
BASE = "busybox:static"


def _buildah() -> str:
    path = shutil.which("buildah")
    if path is None:
        raise BenchError("buildah is not installed (Debian package buildah)")
    return path


def _buildah_version(buildah: str) -> str:
    out = subprocess.run([buildah, "--version"], capture_output=True, text=True, check=False)
    return out.stdout.strip()


def _prepare(ctx: Context, registry: Registry) -> dict[str, Any]:
    """Two copies of the example (one per tool) building FROM the registry's busybox base,
    and hoist's store (XDG_DATA_HOME under the work dir) with the base made and pushed."""
    hoist = str(ctx.hoist)
    data = ctx.workdir / "data"
    env = {**os.environ, "XDG_DATA_HOME": str(data)}
    run = subprocess.run([str(REPO_ROOT / "scripts" / "make-busybox-base"), hoist], env=env,
                         capture_output=True, text=True, check=False)
    if run.returncode != 0:
        raise BenchError(f"make-busybox-base failed: {run.stderr[-800:]}")
    base_ref = f"{registry.host}/{BASE}"
    subprocess.run([hoist, "push", "localhost/busybox:static", f"docker://{base_ref}", "-q"],
                   env=env, check=True, capture_output=True)
    dirs: dict[str, Path] = {}
    for who in ("peer", "hoist"):
        target = ctx.workdir / f"ctx-{who}"
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(EXAMPLE, target)
        dockerfile = target / "Dockerfile"
        dockerfile.write_text(dockerfile.read_text().replace(
            "FROM localhost/busybox:static", f"FROM {base_ref}"))
        dirs[who] = target
    (dirs["hoist"] / "hoist.yaml").write_text(
        "apiVersion: skaffold/v4beta11\nkind: Config\nbuild:\n  artifacts:\n"
        f"    - image: {registry.host}/bench/hoist\n      hoist:\n        builder: native\n")
    return {"data": data, "dirs": dirs, "base": base_ref}


def _steps(ctx: Context, registry: Registry, prep: dict[str, Any], change: bool
           ) -> tuple[Variant, Variant]:
    buildah = _buildah()
    root = ctx.workdir / "buildah"
    storage = (buildah, "--root", str(root / "root"), "--runroot", str(root / "run"))
    peer_dir: Path = prep["dirs"]["peer"]
    hoist_dir: Path = prep["dirs"]["hoist"]
    hoist_env = {"XDG_DATA_HOME": str(prep["data"])}

    def edit(where: Path) -> tuple[Step, ...]:
        if not change:
            return ()
        return (Step(("sh", "-c", f"date +%s.%N > {where / 'index.html'}"), timed=False),)

    peer = Variant("buildah", "peer", (
        *edit(peer_dir),
        Step((*storage, "bud", "--layers", "--quiet", "--tls-verify=false", "-t", "bench-peer",
              str(peer_dir))),
        Step((*storage, "push", "--quiet", "--tls-verify=false", "bench-peer",
              f"docker://{registry.host}/bench/peer:latest")),
    ), description="buildah bud --layers -t IMG CTX; buildah push IMG docker://REG/REPO "
       "(--tls-verify=false: a local registry over HTTP)")
    hoist = Variant("hoist-build", "hoist", (
        *edit(hoist_dir),
        Step((str(ctx.hoist), "build", "-f", str(hoist_dir / "hoist.yaml"), "--push",
              "--file-output", str(ctx.workdir / "build.json")), env=hoist_env),
        Step(("cat", str(ctx.workdir / "build.json")), timed=False),
    ), description="hoist build -f CTX/hoist.yaml --push (native builder)")
    return peer, hoist


def _plan(ctx: Context, name: str, change: bool) -> Plan:
    require_hoist_command(ctx.hoist, "build")
    buildah = _buildah()
    registry = start_registry(ctx.workdir / "registry")
    try:
        prep = _prepare(ctx, registry)
        peer, hoist = _steps(ctx, registry, prep, change)
        return Plan(
            name=name,
            description=(__doc__ or name).strip().splitlines()[0].rstrip(),
            peer=peer, hoists=[hoist],
            versions={"hoist": hoist_version(ctx.hoist), "buildah": _buildah_version(buildah)},
            info={"example": str(EXAMPLE), "base": prep["base"], "change_per_run": change,
                  "loadavg_before": list(os.getloadavg())},
            check=lambda outputs: _check(outputs, registry),
            cleanup=registry.stop)
    except BaseException:
        registry.stop()
        raise


def _check(outputs: Outputs, registry: Registry) -> dict[str, Any]:
    """hoist's last build.json names a reference the registry serves."""
    files = outputs.get("hoist-build") or []
    out: dict[str, Any] = {"loadavg_after": list(os.getloadavg())}
    if not files:
        out["ok"] = False
        return out
    builds = json.loads(files[-1].read_text())["builds"]
    ref = builds[0]["tag"]
    out["reference"] = ref
    repo_tag, _, digest = ref.partition("@")
    got = run_checked(["skopeo", "inspect", "--raw", "--tls-verify=false",
                       f"docker://{repo_tag.split('@')[0]}"], "skopeo inspect")
    import hashlib

    out["served_digest"] = "sha256:" + hashlib.sha256(got.encode()).hexdigest()
    out["ok"] = out["served_digest"] == digest
    return out


def build(ctx: Context) -> Plan:
    return _plan(ctx, NAME, change=True)


def build_nochange(ctx: Context) -> Plan:
    return _plan(ctx, NOCHANGE, change=False)
