"""``hoist lint [PATH…]``"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from hoist.cli.common import add_input_arguments, report_problems
from hoist.cli.output import EXIT_BAD_INPUT, EXIT_FINDINGS, EXIT_OK, print_json, print_table

TABLE_COLUMNS = ("where", "rule", "severity", "resource", "container", "message")
TABLE_HEADERS = ("file:line", "rule", "severity", "resource", "container", "message")


def register(sub: Any) -> None:
    p = sub.add_parser(
        "lint", help="find image and pull-policy mistakes in manifests",
        description="Rules over image references, pull policies and pull secrets, for init, "
        "regular and ephemeral containers and image volumes. Suppress per object with the "
        "annotation hoist.dev/ignore: RULE[,RULE]. Exit 1 when an error-level finding exists.",
    )
    add_input_arguments(p)
    p.add_argument("-o", "--output", choices=("table", "json", "sarif"), default="table")
    p.add_argument("--local-cluster", action="store_true",
                   help="the manifests target a local single-node cluster (Never is fine)")
    p.add_argument("--rules", action="store_true", help="list the rules and exit")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hoist.api import lint
    from hoist.lint import RULES
    from hoist.lint.report import summary_line, to_json, to_sarif

    if args.rules:
        print_table([{"id": r.id, "name": r.name, "severity": r.severity.value,
                      "summary": r.summary} for r in RULES], ("id", "name", "severity", "summary"))
        return EXIT_OK
    result = lint(args.paths, args.config, local_cluster=args.local_cluster)
    report_problems(result.problems)
    findings, problems = result.findings, result.problems
    errors = [str(p) for p in problems]
    if args.output == "json":
        print_json(to_json(findings, errors))
    elif args.output == "sarif":
        print_json(to_sarif(findings, errors))
    else:
        rows = [f.to_dict() | {"where": f"{f.file}:{f.line}"} for f in findings]
        if rows:
            print_table(rows, TABLE_COLUMNS, headers=TABLE_HEADERS)
        sys.stdout.write(f"{summary_line(findings)}\n")
    if problems:
        return EXIT_BAD_INPUT
    return EXIT_FINDINGS if result.has_errors else EXIT_OK
