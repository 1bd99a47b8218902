"""Benchmark ``lint-vs-checkov``: ``hoist lint CORPUS -o json`` vs three checkov checks."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from bench.context import (
    Context,
    checkov_version,
    ensure_checkov,
    hoist_version,
    network_isolation_prefix,
    require_hoist_command,
)
from bench.runner import Outputs, Plan, Step, Variant

NAME = "lint-vs-checkov"
CHECKS = ("CKV_K8S_14", "CKV_K8S_15", "CKV_K8S_43")
CHECKOV_ENV = {"CKV_SKIP_PACKAGE_UPDATE_CHECK": "true"}


def checkov_argv(checkov: Path, corpus: Path) -> tuple[str, ...]:
    return (
        *network_isolation_prefix(),
        str(checkov), "-d", str(corpus), "--framework", "kubernetes",
        "--check", ",".join(CHECKS), "--skip-download", "-o", "json",
    )


def summarize_checkov(text: str) -> dict[str, Any]:
    """Counts from checkov's JSON (one report, or a list of them per framework)."""
    data = json.loads(text)
    reports = data if isinstance(data, list) else [data]
    failed: Counter[str] = Counter()
    passed: Counter[str] = Counter()
    resources = 0
    parsing_errors = 0
    for report in reports:
        if not isinstance(report, dict):
            continue
        results = report.get("results", {})
        for item in results.get("failed_checks", []):
            failed[item.get("check_id", "?")] += 1
        for item in results.get("passed_checks", []):
            passed[item.get("check_id", "?")] += 1
        summary = report.get("summary", {})
        resources += int(summary.get("resource_count", 0))
        parsing_errors += int(summary.get("parsing_errors", 0))
    return {
        "failed_by_check": dict(sorted(failed.items())),
        "passed_by_check": dict(sorted(passed.items())),
        "resource_count": resources,
        "parsing_errors": parsing_errors,
    }


def summarize_hoist_lint(text: str) -> dict[str, Any]:
    data = json.loads(text)
    findings = data.get("findings", [])
    by_rule: Counter[str] = Counter(str(f.get("rule", "?")) for f in findings)
    files = {f.get("file") for f in findings}
    errors = data.get("errors", [])
    return {
        "findings": len(findings),
        "findings_by_rule": dict(sorted(by_rule.items())),
        "files_with_findings": len(files),
        "errors": len(errors),
        "errors_sample": errors[:5],
    }


def _check(outputs: Outputs) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    for variant, summarize in (("checkov", summarize_checkov), ("hoist", summarize_hoist_lint)):
        try:
            doc[variant] = summarize(outputs[variant][0].read_text())
        except (OSError, ValueError, AttributeError) as e:
            doc[variant] = {"error": f"output not readable as JSON: {e}"}
    doc["note"] = (
        "Counts only, not compared: checkov reports one result per resource and check, "
        "hoist one finding per container and rule."
    )
    return doc


def build(ctx: Context) -> Plan:
    require_hoist_command(ctx.hoist, "lint")
    ensure_checkov(ctx.checkov)
    prefix = network_isolation_prefix()
    peer = Variant(
        name="checkov",
        role="peer",
        description=f"checkov --framework kubernetes --check {','.join(CHECKS)}, offline",
        steps=(Step(
            argv=checkov_argv(ctx.checkov, ctx.corpus),
            env=CHECKOV_ENV,
            ok_codes=frozenset({0, 1}),
            cwd=ctx.workdir,
        ),),
    )
    hoist = Variant(
        name="hoist",
        role="hoist",
        description="hoist lint CORPUS -o json",
        steps=(Step(
            argv=(str(ctx.hoist), "lint", str(ctx.corpus), "-o", "json"),
            ok_codes=frozenset({0, 1, 2}),
            cwd=ctx.workdir,
        ),),
    )
    return Plan(
        name=NAME,
        description=(
            "Lint the whole corpus directory for image-tag / pull-policy / digest problems: "
            "hoist lint vs checkov restricted to CKV_K8S_14, CKV_K8S_15 and CKV_K8S_43."
        ),
        peer=peer,
        hoists=[hoist],
        versions={"hoist": hoist_version(ctx.hoist), "checkov": checkov_version(ctx.checkov)},
        info={
            "corpus": str(ctx.corpus),
            "checks": list(CHECKS),
            "network_isolation": " ".join(prefix) if prefix else "none (unshare unavailable)",
        },
        check=_check,
    )
