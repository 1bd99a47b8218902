"""``hoist render [PATH…] --images ARTIFACT=REF …``"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from hoist.cli.common import add_input_arguments, report_problems
from hoist.cli.output import EXIT_BAD_INPUT, EXIT_FINDINGS, EXIT_OK
from hoist.errors import InputError


def register(sub: Any) -> None:
    p = sub.add_parser(
        "render", help="rewrite built images and inject pull policies, nothing else",
        description="Rewrite the images of the named repositories (tag and digest ignored "
        "when matching) and leave every other byte of every file as it was. A policy is "
        "injected only on rewritten containers, only where none is declared (unless "
        "--override-policy).",
    )
    add_input_arguments(p)
    p.add_argument("--images", action="append", default=[], metavar="ARTIFACT=REF",
                   help="repository (or config artifact) and its built reference; repeatable")
    p.add_argument("--pull-policy", choices=("Always", "IfNotPresent", "Never"),
                   help="policy to inject on rewritten containers that declare none")
    p.add_argument("--override-policy", action="store_true",
                   help="replace an explicit policy on rewritten containers too")
    p.add_argument("-o", "--output-dir", metavar="DIR",
                   help="write each file under DIR (relative paths kept) instead of stdout")
    p.add_argument("--check", action="store_true",
                   help="print a diff and exit 1 when the output would differ from the input")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hoist.api import render
    from hoist.core.policy import PullPolicy
    from hoist.render import write_atomically

    policy = PullPolicy(args.pull_policy) if args.pull_policy else None
    result = render(args.paths, args.images, args.config, policy, args.override_policy)
    report_problems(result.problems)
    rendered, problems = result.files, result.problems
    if args.check:
        import difflib

        changed = [r for r in rendered if r.changed]
        for r in changed:
            sys.stdout.writelines(difflib.unified_diff(
                r.source.text.splitlines(keepends=True), r.text.splitlines(keepends=True),
                fromfile=r.source.name, tofile=f"{r.source.name} (rendered)"))
        if problems:
            return EXIT_BAD_INPUT
        return EXIT_FINDINGS if changed else EXIT_OK
    if args.output_dir:
        out = Path(args.output_dir)
        targets: dict[Path, str] = {}
        for r in rendered:
            target = out / (r.source.relpath if r.source.relpath != "-" else "stdin.yaml")
            if target in targets:
                raise InputError(f"{r.source.name} and {targets[target]} would both be "
                                 f"written to {target}: render them to separate directories")
            targets[target] = r.source.name
        for r in rendered:  # nothing is written until every target is known to be distinct
            rel = r.source.relpath if r.source.relpath != "-" else "stdin.yaml"
            write_atomically(out / rel, r.encode())
    else:
        stream = sys.stdout.buffer
        for i, r in enumerate(rendered):
            data = r.encode()
            if i:
                stream.write(b"---\n")
            stream.write(data)
            if len(rendered) > 1 and data and not data.endswith(b"\n"):
                stream.write(b"\n")
        stream.flush()
    return EXIT_BAD_INPUT if problems else EXIT_OK
