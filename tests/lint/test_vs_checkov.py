"""Compare with checkov on the real-world corpus: every resource checkov's CKV_K8S_14
(image tag not fixed) flags, hoist flags too — plus the ephemeral containers checkov misses.

checkov runs offline (--skip-download, CKV_SKIP_PACKAGE_UPDATE_CHECK=true) inside
`unshare -n`, from its own virtualenv (.venv-checkov, made by scripts/ensure-checkov).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from hoist.lint import LintOptions, document_wanted, lint
from hoist.manifests import read_sources

ROOT = Path(__file__).resolve().parents[2]
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"

pytestmark = [
    pytest.mark.system,
    pytest.mark.skipif(not CHECKOV.exists(),
                       reason="checkov not installed in .venv-checkov (scripts/ensure-checkov)"),
]


def run_checkov(directory: Path) -> dict[str, object]:
    cmd = [str(CHECKOV), "-d", str(directory), "--framework", "kubernetes", "--check",
           "CKV_K8S_14", "--skip-download", "-o", "json", "--quiet"]
    if shutil.which("unshare") and subprocess.run(["unshare", "-n", "true"],
                                                  capture_output=True).returncode == 0:
        cmd = ["unshare", "-n", *cmd]
    env = dict(os.environ, CKV_SKIP_PACKAGE_UPDATE_CHECK="true")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.stdout, proc.stderr
    doc = json.loads(proc.stdout)
    if isinstance(doc, list):
        [doc] = [d for d in doc if d.get("check_type") == "kubernetes"]
    assert isinstance(doc, dict)
    return doc


def checkov_resource_key(resource: str) -> tuple[str, str, str]:
    # checkov names a resource Kind.namespace.name
    kind, namespace, name = resource.split(".", 2)
    return kind, namespace, name


def test_hoist_flags_everything_checkov_ck_k8s_14_flags(corpus: Path) -> None:
    doc = run_checkov(corpus)
    failed = doc["results"]["failed_checks"]  # type: ignore[index]
    assert failed, "checkov found nothing: the comparison would be vacuous"
    files, _problems = read_sources([str(corpus)], want=document_wanted)
    findings = lint(files)
    hoist_keys = {
        (Path(f.file).resolve(), f.resource.split("/", 1)[0], f.resource.split("/", 1)[1])
        # HOIST007 where the "tag" is a placeholder such as <image_url>: the kubelet rejects
        # the name outright (InvalidImageName), which is the sharper finding
        for f in findings if f.rule in ("HOIST001", "HOIST007")
    }
    missing = []
    for check in failed:
        kind, _ns, name = checkov_resource_key(check["resource"])
        path = (corpus / check["file_path"].lstrip("/")).resolve()
        if (path, kind, name) not in hoist_keys:
            missing.append(f"{check['file_path']} {check['resource']}")
    assert not missing, f"checkov flags, hoist does not: {missing}"


def test_ephemeral_containers_checkov_misses(tmp_path: Path) -> None:
    (tmp_path / "pod.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: debug, namespace: default}\nspec:\n"
        "  containers: [{name: app, image: 'app:1.0@sha256:" + "c" * 64 + "'}]\n"
        "  ephemeralContainers: [{name: dbg, image: busybox}]\n")
    doc = run_checkov(tmp_path)
    assert doc["results"]["failed_checks"] == []  # type: ignore[index]
    files, _ = read_sources([str(tmp_path)])
    found = [(f.rule, f.container) for f in lint(files, LintOptions())]
    assert ("HOIST001", "dbg") in found
