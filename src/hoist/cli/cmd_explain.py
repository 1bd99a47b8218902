"""``hoist explain [PATH…|-]``"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from hoist.cli.common import add_input_arguments, report_problems
from hoist.cli.output import EXIT_BAD_INPUT, EXIT_OK, print_json, print_table

TABLE_COLUMNS = ("where", "resource", "container", "container_type", "image",
                 "declared_policy", "effective_policy", "policy_source", "pull_secrets",
                 "node_action")
TABLE_HEADERS = ("file:line", "resource", "container", "type", "image", "declared",
                 "effective", "source", "secrets", "node action")


def register(sub: Any) -> None:
    p = sub.add_parser(
        "explain", help="what every container will pull, when, and why",
        description="One row per container (init, regular, ephemeral) and image volume of "
        "every pod-bearing object: declared and effective imagePullPolicy with its source, "
        "the pull secrets after ServiceAccount admission, the node's action, and notes.",
    )
    add_input_arguments(p)
    p.add_argument("--build-artifacts", "-a", metavar="FILE",
                   help="build.json from `hoist build --file-output`: show each artifact's "
                        "built reference")
    p.add_argument("-o", "--output", choices=("table", "json"), default="table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hoist.api import explain

    builds = None
    if args.build_artifacts:
        from hoist.build.runner import read_build_json

        builds = read_build_json(args.build_artifacts)
    result = explain(args.paths, args.config, builds=builds)
    report_problems(result.problems)
    with_build = result.config is not None
    rows = [r.to_dict(with_build) for r in result.rows]
    if args.output == "json":
        print_json(rows)
    else:
        for r in rows:
            r["where"] = f"{r['file']}:{r['line']}"
            r["resource"] = f"{r['kind']}/{r['name']}"
        columns: tuple[str, ...] = TABLE_COLUMNS
        headers: tuple[str, ...] = TABLE_HEADERS
        if with_build:
            columns += ("artifact", "built_reference")
            headers += ("artifact", "built")
        print_table(rows, columns, headers=headers)
        noted = [r for r in rows if r["notes"]]
        if noted:
            sys.stdout.write("\nNOTES\n")
            for r in noted:
                for note in r["notes"]:
                    sys.stdout.write(f"  {r['where']} {r['container']}: {note}\n")
    return EXIT_BAD_INPUT if result.problems else EXIT_OK
