"""``hoist image parse REF…``"""

from __future__ import annotations

import argparse
from typing import Any

from hoist.cli.output import EXIT_FINDINGS, EXIT_OK, print_json, print_table

COLUMNS = ("input", "valid", "reference", "familiar", "tag", "digest", "default_pull_policy",
           "error")


def register(sub: Any) -> None:
    image = sub.add_parser("image", help="work with image references")
    image_sub = image.add_subparsers(dest="image_command", metavar="COMMAND", required=True)
    p = image_sub.add_parser(
        "parse", help="parse references as the API server and kubelet do",
        description="Parse and normalize image references exactly as distribution/reference "
        "(and so the API server and kubelet) does. Exit 1 when any is invalid.",
    )
    p.add_argument("refs", nargs="+", metavar="REF")
    p.add_argument("-o", "--output", choices=("table", "json"), default="table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hoist.images import parse_image

    rows = [parse_image(r).to_dict() for r in args.refs]
    if args.output == "json":
        print_json(rows)
    else:
        print_table(rows, COLUMNS)
    return EXIT_OK if all(r["valid"] for r in rows) else EXIT_FINDINGS
