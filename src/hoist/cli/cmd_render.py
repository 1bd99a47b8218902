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
    p.add_argument("--build-artifacts", "-a", metavar="FILE",
                   help="build.json from `hoist build --file-output` (Skaffold's shape); "
                        "without it and without --images, the config's artifacts are built "
                        "first")
    p.add_argument("--digest-source", choices=("local", "remote", "tag", "none"),
                   default="local",
                   help="where pinned digests come from: the build (local, default), the "
                        "registry now (remote), nowhere (tag: repo:tag), or no rewriting "
                        "(none)")
    p.add_argument("--origin-annotation", choices=("true", "false"), default="true",
                   help="record each rewritten image's origin (artifact, tag, digest, git "
                        "commit, dirty) in the resource's hoist.dev/images annotation")
    p.add_argument("--profile", "-p", dest="profiles", action="append", default=[],
                   metavar="NAME", help="activate a config profile (when building first)")
    p.add_argument("--default-repo", "-d", metavar="REPO",
                   help="when building first: push under this repository prefix")
    p.add_argument("-o", "--output-dir", metavar="DIR",
                   help="write each file under DIR (relative paths kept) instead of stdout")
    p.add_argument("--check", action="store_true",
                   help="print a diff and exit 1 when the output would differ from the input")
    p.set_defaults(func=run)


def _builds(args: argparse.Namespace) -> list[dict[str, Any]] | None:
    """build.json entries: read from --build-artifacts, or made by building the config's
    artifacts first (as `skaffold render` does) when neither it nor --images is given."""
    from hoist.build.runner import read_build_json

    if args.build_artifacts:
        return read_build_json(args.build_artifacts)
    if args.images or args.digest_source == "none" or (args.paths and not args.config):
        return None
    from hoist.build.runner import build_artifacts
    from hoist.cli.cmd_build import load, options_from_args

    args.config = args.config or None
    config = load(args)
    args.config = config.path
    report = build_artifacts(config, options_from_args(args))
    return report.build_json()["builds"]  # type: ignore[no-any-return]


def run(args: argparse.Namespace) -> int:
    from hoist.api import render
    from hoist.core.policy import PullPolicy
    from hoist.fileio import write_atomically

    policy = PullPolicy(args.pull_policy) if args.pull_policy else None
    builds = _builds(args)
    result = render(args.paths, args.images, args.config, policy, args.override_policy,
                    builds=builds, digest_source=args.digest_source,
                    annotate=args.origin_annotation == "true")
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
