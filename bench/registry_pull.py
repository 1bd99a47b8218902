"""Benchmark ``pull-vs-skopeo``: pull a 1 GiB image (8 × 128 MiB) from a local Distribution.

Peer: ``skopeo copy --preserve-digests docker://REF oci:DIR:v1``. hoist: ``hoist pull REF
--store DIR -q`` (into its content store) and ``hoist copy docker://REF oci:DIR:v1 -q`` (into
an OCI layout, skopeo's destination). Every run starts from an empty destination
(``rm -rf`` and ``sync``, both untimed). The check compares what each tool wrote with the
image pushed, and measures a no-op pull (the image already in the store): one HEAD request.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from bench.context import Context, hoist_version, require_hoist_command
from bench.registry_common import (
    BenchImage,
    Registry,
    access_log_requests,
    compare_blob_dir,
    digest_of_raw,
    load_image,
    make_image,
    registry_version,
    require_skopeo,
    run_checked,
    skopeo_version,
    start_registry,
)
from bench.runner import BenchError, Outputs, Plan, Step, Variant

NAME = "pull-vs-skopeo"


def _prepare(dst: Path) -> tuple[Step, ...]:
    """Untimed: an empty destination, and no dirty pages of earlier runs left to flush."""
    return (Step(("rm", "-rf", str(dst)), timed=False), Step(("sync",), timed=False))


def build(ctx: Context) -> Plan:
    skopeo = require_skopeo(ctx.skopeo)
    require_hoist_command(ctx.hoist, "pull")
    require_hoist_command(ctx.hoist, "copy")
    hoist = str(ctx.hoist)
    image = make_image(ctx.workdir / "image")
    registry = start_registry(ctx.workdir / "registry")
    try:
        ref = registry.ref()
        run_checked([skopeo, "copy", "-q", "--preserve-digests", "--dest-tls-verify=false",
                     f"oci:{image.layout}:{image.tag}", f"docker://{ref}"], "seed the registry")
        raw = run_checked([skopeo, "inspect", "--raw", "--tls-verify=false",
                           f"docker://{ref}"], "inspect the seeded image").encode()
        if digest_of_raw(raw) != image.manifest.digest:
            raise BenchError(f"the registry holds {digest_of_raw(raw)} under {ref}, "
                             f"not {image.manifest.digest}")
        dst = ctx.workdir / "dst"
        dst.mkdir(parents=True, exist_ok=True)  # skopeo wants the parent of oci:DIR
        sk_dir, store_dir, oci_dir = dst / "skopeo-oci", dst / "hoist-store", dst / "hoist-oci"
        peer = Variant("skopeo", "peer", (
            *_prepare(sk_dir),
            Step((skopeo, "copy", "-q", "--preserve-digests", "--src-tls-verify=false",
                  f"docker://{ref}", f"oci:{sk_dir}:{image.tag}")),
        ), description="skopeo copy --preserve-digests docker://REF oci:DIR:TAG")
        hoist_pull = Variant("hoist-pull", "hoist", (
            *_prepare(store_dir),
            Step((hoist, "pull", ref, "--store", str(store_dir), "-q")),
        ), description="hoist pull REF --store DIR -q (into the content store)")
        hoist_oci = Variant("hoist-copy-oci", "hoist", (
            *_prepare(oci_dir),
            Step((hoist, "copy", f"docker://{ref}", f"oci:{oci_dir}:{image.tag}", "-q")),
        ), description="hoist copy docker://REF oci:DIR:TAG -q (skopeo's destination)")
        return Plan(
            name=NAME,
            description=__doc__.strip().splitlines()[0] if __doc__ else NAME,
            peer=peer,
            hoists=[hoist_pull, hoist_oci],
            versions={"hoist": hoist_version(ctx.hoist), "skopeo": skopeo_version(skopeo),
                      "docker-registry": registry_version()},
            info={"image": image.info(), "reference": ref,
                  # the machine may be shared: how busy it was around the timed runs
                  "loadavg_before": list(os.getloadavg()),
                  "registry_storage": str(registry.storage),
                  "untimed_per_run": "rm -rf DESTINATION; sync"},
            check=lambda outputs: check(outputs, image=image, registry=registry, hoist=hoist,
                                        skopeo=skopeo, sk_dir=sk_dir, store_dir=store_dir,
                                        oci_dir=oci_dir),
            cleanup=registry.stop,
        )
    except BaseException:
        registry.stop()
        raise


def noop_pull(registry: Registry, hoist: str, store_dir: Path) -> dict[str, Any]:
    """Pull the image into a store that already has it; count the registry's requests."""
    before = len(registry.log_lines())
    start = time.perf_counter()
    proc = subprocess.run([hoist, "pull", registry.ref(), "--store", str(store_dir), "-q",
                           "-o", "json"], capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    time.sleep(0.5)  # the access log line is written after the response went out
    requests = [str(r) for r in access_log_requests(registry.log_lines()[before:])]
    try:
        up_to_date = bool(json.loads(proc.stdout).get("upToDate"))
    except (ValueError, AttributeError):
        up_to_date = None
    manifest_path = f"/v2/{registry.ref().split('/', 1)[1].replace(':', '/manifests/')}"
    return {
        "ok": proc.returncode == 0 and requests == [f"HEAD {manifest_path} 200"],
        "returncode": proc.returncode,
        "seconds": elapsed,
        "requests": requests,
        "up_to_date": up_to_date,
    }


def check(outputs: Outputs, *, image: BenchImage, registry: Registry, hoist: str,
          skopeo: str, sk_dir: Path, store_dir: Path, oci_dir: Path) -> dict[str, Any]:
    """The last run's destinations against the image pushed, blob by blob (re-hashed)."""
    del outputs  # the destinations are on disk, not in stdout
    want = image.manifest.digest
    out: dict[str, Any] = {"expected_manifest_digest": want}

    raw = subprocess.run([skopeo, "inspect", "--raw", "--tls-verify=false",
                          f"docker://{registry.ref()}"], capture_output=True, check=False).stdout
    out["registry_manifest_digest"] = digest_of_raw(raw)

    for key, layout in (("skopeo_oci", sk_dir), ("hoist_oci", oci_dir)):
        got = load_image(layout, image.tag)
        out[key] = {"manifest_digest": got.manifest.digest if got else None,
                    **compare_blob_dir(layout, image, rehash=True)}
        out[key]["ok"] = out[key]["ok"] and out[key]["manifest_digest"] == want

    images = subprocess.run([hoist, "images", "--store", str(store_dir), "-o", "json"],
                            capture_output=True, text=True, check=False).stdout
    store_digests = sorted({str(e.get("digest")) for e in _json_list(images)})
    store_ok = compare_blob_dir(store_dir, image, rehash=True)
    out["hoist_store"] = {"image_digests": store_digests, **store_ok,
                          "ok": store_ok["ok"] and store_digests == [want]}

    out["loadavg_after"] = list(os.getloadavg())
    out["noop_pull"] = noop_pull(registry, hoist, store_dir)
    out["ok"] = (out["registry_manifest_digest"] == want
                 and all(out[k]["ok"] for k in ("skopeo_oci", "hoist_oci", "hoist_store",
                                                "noop_pull")))
    return out


def _json_list(text: str) -> list[dict[str, Any]]:
    try:
        doc = json.loads(text)
    except ValueError:
        return []
    if isinstance(doc, dict):
        doc = doc.get("images", [])
    return [e for e in doc if isinstance(e, dict)] if isinstance(doc, list) else []
