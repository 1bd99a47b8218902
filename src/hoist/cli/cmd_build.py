"""``hoist build [--push|--no-push] [--file-output build.json]``"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from typing import Any

from hoist.cli.output import EXIT_OK, print_json, print_table


def add_config_arguments(p: argparse.ArgumentParser) -> None:
    """The flags every dev-loop verb shares: which config, which profiles, where to push."""
    p.add_argument("--filename", "--config", "-f", dest="config", metavar="FILE",
                   help="hoist.yaml or skaffold.yaml (default: ./hoist.yaml, then "
                        "./skaffold.yaml)")
    p.add_argument("--profile", "-p", dest="profiles", action="append", default=[],
                   metavar="NAME", help="activate a profile of the config; repeatable")
    p.add_argument("--default-repo", "-d", metavar="REPO",
                   help="push every artifact under this repository prefix (Skaffold's "
                        "rules; also HOIST_DEFAULT_REPO)")


def register(sub: Any) -> None:
    p = sub.add_parser(
        "build", help="build, tag and push the config's artifacts",
        description="Build every artifact of the config (in `requires` order, "
        "build.local.concurrency at a time), tag it by the tag policy, and push it as its "
        "pull policy asks: Never keeps it in the local store, Always also checks that the "
        "registry serves the digest. A push never moves an existing tag to another digest "
        "unless --force-tag. Unchanged artifacts come from the artifact cache.")
    add_config_arguments(p)
    push = p.add_mutually_exclusive_group()
    push.add_argument("--push", dest="push", action="store_true", default=None,
                      help="push every artifact whose policy is not Never")
    push.add_argument("--no-push", dest="push", action="store_false",
                      help="push nothing; images stay in the local store")
    p.add_argument("--file-output", "-q", metavar="FILE",
                   help="write Skaffold's build.json ({builds: [{imageName, tag}]}) here")
    p.add_argument("--builder", choices=("auto", "native", "buildah", "podman", "docker"),
                   help="one builder for every artifact (default: the config's, else auto)")
    p.add_argument("--tag", "-t", metavar="TAG", help="this tag for every artifact, over the "
                   "tag policy")
    p.add_argument("--force-tag", action="store_true",
                   help="allow a push to move an existing tag to another digest")
    p.add_argument("--cache-artifacts", choices=("true", "false"), default="true",
                   help="reuse images whose inputs did not change (default true)")
    p.add_argument("--build-concurrency", type=int, metavar="N",
                   help="artifacts built at once (0: all); default build.local.concurrency")
    p.add_argument("--build-image", "-b", dest="only", action="append", default=[],
                   metavar="ARTIFACT", help="build only this artifact (and what it requires)")
    p.add_argument("--insecure-registry", action="append", default=[], metavar="HOST",
                   help="reach this registry over plain HTTP")
    p.add_argument("--platform", metavar="OS/ARCH", help="build for this platform (default: "
                   "this machine's)")
    p.add_argument("--store", metavar="DIR", help="the content store (default "
                   "$HOIST_STORE or ~/.local/share/hoist/store)")
    p.add_argument("--authfile", metavar="FILE", help="docker config.json for credentials")
    p.add_argument("-o", "--output", choices=("table", "json"), default="table")
    p.set_defaults(func=run)


class ArtifactLog:
    """Builder output, one line at a time, prefixed with the artifact's name (stderr), and a
    clock so a long build shows it is alive."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._start = time.monotonic()

    def __call__(self, artifact: str, line: str) -> None:
        with self._lock:
            sys.stderr.write(f"[{artifact}] {time.monotonic() - self._start:6.1f}s {line}\n")
            sys.stderr.flush()


def options_from_args(args: argparse.Namespace, **extra: Any) -> Any:
    from hoist.build.runner import BuildOptions
    from hoist.core.platform import Platform

    platform = Platform.parse(args.platform) if getattr(args, "platform", None) else None
    return BuildOptions(
        push=getattr(args, "push", None), force_tag=getattr(args, "force_tag", False),
        default_repo=args.default_repo,
        builder=None if getattr(args, "builder", None) in (None, "auto") else args.builder,
        concurrency=getattr(args, "build_concurrency", None), platform=platform,
        store_root=getattr(args, "store", None),
        cache=getattr(args, "cache_artifacts", "true") == "true",
        only=tuple(getattr(args, "only", ()) or ()), tag=getattr(args, "tag", None),
        authfile=getattr(args, "authfile", None),
        insecure_registries=tuple(getattr(args, "insecure_registry", ()) or ()),
        log=ArtifactLog(), **extra)


def load(args: argparse.Namespace) -> Any:
    from hoist.config import find_config, load_config
    from hoist.errors import InputError

    path = find_config(args.config)
    if path is None:
        raise InputError("no hoist.yaml or skaffold.yaml here: name one with -f FILE")
    return load_config(path, args.profiles, command=getattr(args, "command", "") or "")


def run(args: argparse.Namespace) -> int:
    from hoist.build.runner import build_artifacts, write_build_json

    config = load(args)
    report = build_artifacts(config, options_from_args(args))
    if args.file_output:
        write_build_json(report, args.file_output)
    if args.output == "json":
        print_json({**report.build_json(), "artifacts": [r.to_json() for r in report.results]})
    else:
        rows = [{**r.to_json(), "policy": r.policy.value if r.policy else None,
                 "build": f"{r.timings.get('build', 0):.2f}s",
                 "push": f"{r.timings.get('push', 0):.2f}s"} for r in report.results]
        print_table(rows, ["artifact", "reference", "policy", "builder", "cached", "pushed",
                           "build", "push"])
    return EXIT_OK
