"""Lint reports: table, JSON and SARIF 2.1.0 (as GitHub code scanning ingests it)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hoist import __version__
from hoist.lint.engine import Finding
from hoist.lint.rules import RULES, Severity

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"
INFORMATION_URI = "https://github.com/hoist-dev/hoist"


def to_json(findings: Sequence[Finding], errors: Sequence[str]) -> dict[str, Any]:
    return {"findings": [f.to_dict() for f in findings], "errors": list(errors)}


def _uri(path: str) -> tuple[str, str | None]:
    """A relative path stays relative to the source root (what code scanning expects);
    an absolute one becomes a file URI."""
    if os.path.isabs(path):
        return Path(path).as_uri(), None
    return Path(path).as_posix(), "%SRCROOT%"


def to_sarif(findings: Sequence[Finding], errors: Sequence[str]) -> dict[str, Any]:
    rule_index = {r.id: i for i, r in enumerate(RULES)}
    rules = [
        {
            "id": r.id,
            "name": r.name,
            "shortDescription": {"text": r.summary},
            "fullDescription": {"text": r.rationale},
            "help": {"text": r.rationale},
            "defaultConfiguration": {"level": r.severity.value},
            "properties": {"tags": ["kubernetes", "images"]},
        }
        for r in RULES
    ]
    results = []
    for f in findings:
        uri, base = _uri(f.file)
        location: dict[str, Any] = {"uri": uri}
        if base:
            location["uriBaseId"] = base
        results.append({
            "ruleId": f.rule,
            "ruleIndex": rule_index[f.rule],
            "level": f.severity,
            "message": {"text": f"{f.resource}"
                        + (f" container {f.container}" if f.container else "")
                        + f": {f.message}"},
            "locations": [{
                "physicalLocation": {
                    "artifactLocation": location,
                    "region": {"startLine": max(f.line, 1)},
                },
            }],
        })
    invocation: dict[str, Any] = {"executionSuccessful": not errors}
    if errors:
        invocation["toolExecutionNotifications"] = [
            {"level": "error", "message": {"text": e}} for e in errors
        ]
    return {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [{
            "tool": {"driver": {"name": "hoist", "version": __version__,
                                "semanticVersion": __version__,
                                "informationUri": INFORMATION_URI, "rules": rules}},
            "invocations": [invocation],
            "results": results,
        }],
    }


def summary_line(findings: Sequence[Finding]) -> str:
    counts = {s: sum(1 for f in findings if f.severity == s.value) for s in Severity}
    return ", ".join(f"{n} {s.value}{'s' if n != 1 else ''}" for s, n in counts.items())
