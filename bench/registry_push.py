"""Benchmark ``push-vs-skopeo``: push a 1 GiB image (8 × 128 MiB) from an OCI layout into an
empty local Distribution.

Peer: ``skopeo copy --preserve-digests oci:DIR:v1 docker://REF``. hoist: ``hoist copy
oci:DIR:v1 docker://REF -q``. Distribution's blob store is global (a blob pushed to any
repository is found by a HEAD in every other), so before every run the registry's storage
directory is deleted and the page cache flushed (``rm -rf STORAGE/docker``, ``sync``, both
untimed): the registry runs without a blob descriptor cache, so it is empty again and both
tools upload all nine blobs every time. The check reads the manifest back after each tool's
last run and counts the blob uploads in the registry's access log.
"""

from __future__ import annotations

import hashlib
import http.client
import os
from pathlib import Path
from typing import Any

from bench.context import Context, hoist_version, require_hoist_command
from bench.registry_common import (
    REPOSITORY,
    BenchImage,
    Registry,
    access_log_requests,
    digest_of_raw,
    make_image,
    registry_version,
    require_skopeo,
    run_checked,
    skopeo_version,
    start_registry,
)
from bench.runner import BenchError, Outputs, Plan, Step, Variant

NAME = "push-vs-skopeo"


def _wipe(storage: Path) -> tuple[Step, ...]:
    """Untimed: an empty registry, and no dirty pages of earlier runs left to flush."""
    return (Step(("rm", "-rf", str(storage / "docker")), timed=False),
            Step(("sync",), timed=False))


def blob_status(registry: Registry, digest: str, repository: str = REPOSITORY) -> int:
    conn = http.client.HTTPConnection(registry.host, timeout=30)
    try:
        conn.request("HEAD", f"/v2/{repository}/blobs/{digest}")
        return conn.getresponse().status
    finally:
        conn.close()


def build(ctx: Context) -> Plan:
    skopeo = require_skopeo(ctx.skopeo)
    require_hoist_command(ctx.hoist, "copy")
    hoist = str(ctx.hoist)
    image = make_image(ctx.workdir / "image")
    registry = start_registry(ctx.workdir / "registry")
    try:
        ref = registry.ref()
        src = f"oci:{image.layout}:{image.tag}"
        # Make sure wiping the storage really empties the running registry.
        run_checked([skopeo, "copy", "-q", "--preserve-digests", "--dest-tls-verify=false",
                     src, f"docker://{ref}"], "push once to test the wipe")
        probe = image.layers[0].digest
        if blob_status(registry, probe) != 200:
            raise BenchError(f"registry does not have {probe} after a push")
        for step in _wipe(registry.storage):
            run_checked(list(step.argv), "wipe the registry")
        if (status := blob_status(registry, probe)) != 404:
            raise BenchError(f"after deleting its storage the registry still answers "
                             f"{status} for {probe}: it caches, the benchmark would not "
                             f"measure a push into an empty registry")
        inspect = Step((skopeo, "inspect", "--raw", "--tls-verify=false", f"docker://{ref}"),
                       timed=False)
        # The registry's own CPU time around the push (its /proc stat before and after):
        # it hashes and stores every byte, and on two cores that bounds any client.
        stat = Step(("cat", f"/proc/{registry.pid}/stat"), timed=False)
        peer = Variant("skopeo", "peer", (
            *_wipe(registry.storage),
            stat,
            Step((skopeo, "copy", "-q", "--preserve-digests", "--dest-tls-verify=false",
                  src, f"docker://{ref}")),
            stat,
            inspect,
        ), description="skopeo copy --preserve-digests oci:DIR:TAG docker://REF")
        hoist_copy = Variant("hoist-copy", "hoist", (
            *_wipe(registry.storage),
            stat,
            Step((hoist, "copy", src, f"docker://{ref}", "-q")),
            stat,
            inspect,
        ), description="hoist copy oci:DIR:TAG docker://REF -q")
        log_start = len(registry.log_lines())
        return Plan(
            name=NAME,
            description=(__doc__ or NAME).strip().splitlines()[0].rstrip(),
            peer=peer,
            hoists=[hoist_copy],
            versions={"hoist": hoist_version(ctx.hoist), "skopeo": skopeo_version(skopeo),
                      "docker-registry": registry_version()},
            info={"image": image.info(), "reference": ref,
                  # the machine may be shared: how busy it was around the timed runs
                  "loadavg_before": list(os.getloadavg()),
                  "registry_storage": str(registry.storage),
                  "untimed_per_run": "rm -rf STORAGE/docker; sync (before); "
                                     "skopeo inspect --raw (after)",
                  "wipe_verified": f"HEAD {probe}: 200 after a push, 404 after the wipe"},
            check=lambda outputs: check(outputs, image=image, registry=registry,
                                        log_start=log_start),
            cleanup=registry.stop,
        )
    except BaseException:
        registry.stop()
        raise


def check(outputs: Outputs, *, image: BenchImage, registry: Registry,
          log_start: int) -> dict[str, Any]:
    """Each tool's last push reads back as the layout's manifest; every blob is there after
    the last run; and, from the registry's access log, no run found a blob already present
    (no HEAD of a blob answered 200) and every blob was uploaded equally often."""
    want = image.manifest.digest
    out: dict[str, Any] = {"loadavg_after": list(os.getloadavg()),
                           "expected_manifest_digest": want,
                           "layout_manifest_digest": _layout_manifest_digest(image),
                           "manifest_digest": {}}
    out["registry_cpu_s_last_run"] = {}
    for variant, files in outputs.items():
        raw = files[-1].read_bytes()  # the untimed `skopeo inspect --raw` after the push
        out["manifest_digest"][variant] = digest_of_raw(raw)
        out["registry_cpu_s_last_run"][variant] = round(
            _cpu_seconds(files[-2]) - _cpu_seconds(files[-4]), 2)

    requests = [r for r in access_log_requests(registry.log_lines()[log_start:])
                if r.agent == "hoist" or r.agent.startswith("skopeo/")]
    found = [str(r) for r in requests
             if r.method == "HEAD" and "/blobs/" in r.path and r.status == 200]
    uploads: dict[str, int] = {b.digest: 0 for b in image.blobs}
    for r in requests:
        if r.method == "PUT" and "/blobs/uploads/" in r.path and r.status == 201:
            digest = r.path.split("digest=", 1)[-1].split("&", 1)[0].replace("%3A", ":")
            uploads[digest] = uploads.get(digest, 0) + 1
    by_agent: dict[str, int] = {}
    for r in requests:
        if r.method == "PUT" and "/blobs/uploads/" in r.path and r.status == 201:
            agent = r.agent.split("/", 1)[0]
            by_agent[agent] = by_agent.get(agent, 0) + 1
    out["blob_heads_answered_200"] = found
    out["uploads_per_blob"] = sorted(set(uploads.values()))
    out["uploads_by_tool"] = by_agent
    statuses = {b.digest: blob_status(registry, b.digest) for b in image.blobs}
    out["blobs_present_after_last_run"] = all(s == 200 for s in statuses.values())
    out["ok"] = (out["layout_manifest_digest"] == want
                 and all(d == want for d in out["manifest_digest"].values())
                 and out["blobs_present_after_last_run"]
                 and not found
                 and len(uploads) == len(image.blobs)
                 and len(out["uploads_per_blob"]) == 1 and out["uploads_per_blob"][0] > 0)
    return out


def _cpu_seconds(stat_file: Path) -> float:
    """utime + stime of a /proc/PID/stat dump, in seconds (proc(5): fields 14 and 15)."""
    fields = stat_file.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _layout_manifest_digest(image: BenchImage) -> str:
    alg, _, hexpart = image.manifest.digest.partition(":")
    data = (image.layout / "blobs" / alg / hexpart).read_bytes()
    return f"{alg}:{hashlib.sha256(data).hexdigest()}"
