"""``hoist render [PATH…] --images ARTIFACT=REF …``"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from hoist.cli.common import add_input_arguments, load_config_arg, read_inputs
from hoist.cli.output import EXIT_BAD_INPUT, EXIT_FINDINGS, EXIT_OK


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
    from hoist.core.policy import PullPolicy
    from hoist.render import (
        build_rules,
        document_filter,
        parse_image_args,
        render,
        write_atomically,
    )

    config = load_config_arg(args)
    images = parse_image_args(args.images)
    policy = PullPolicy(args.pull_policy) if args.pull_policy else None
    rules = build_rules(images, config, policy, args.override_policy)
    want: Any = document_filter(rules) if rules else (lambda piece: False)
    files, problems = read_inputs(args, config, want=want)
    rendered = render(files, rules)
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
        for r in rendered:
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
