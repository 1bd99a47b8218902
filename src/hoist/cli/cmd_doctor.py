"""``hoist doctor [PATH…|-] | --pod NAME [-n NAMESPACE]``"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from hoist.cli.common import add_input_arguments, report_problems
from hoist.cli.output import EXIT_BAD_INPUT, EXIT_FINDINGS, EXIT_OK, error, print_json, print_table
from hoist.errors import InputError

TABLE_COLUMNS = ("where", "container", "image", "outcome", "detail", "hint")
TABLE_HEADERS = ("file:line / pod", "container", "image", "outcome", "detail", "next step")


def register(sub: Any) -> None:
    p = sub.add_parser(
        "doctor", help="try each container's pull as its node would, and say why it fails",
        description="For every container (init, regular, ephemeral) and image volume of the "
        "manifests, or of a pod of the embedded cluster: look up the node's credentials in "
        "the kubelet's order (pod pull secrets, then the node's docker config; for files "
        "the Secrets and ServiceAccounts among the inputs and your docker config stand in), "
        "ask the registry for the manifest as the node would, and classify the outcome: "
        "ok, invalid-reference, unknown-repository, unknown-tag, unknown-digest, "
        "unauthorized, forbidden, rate-limited, unreachable, tls-mismatch, no-platform, "
        "registry-error. Exit 0 when every pull would work, 1 otherwise.",
    )
    add_input_arguments(p)
    p.add_argument("--pod", metavar="NAME", help="a pod of the embedded cluster instead of files")
    p.add_argument("-n", "--namespace", default="default", metavar="NAMESPACE",
                   help="the pod's namespace (default: default)")
    p.add_argument("--cluster-dir", type=Path, metavar="DIR",
                   help="the embedded cluster's state directory "
                        "(default: $XDG_DATA_HOME/hoist/cluster)")
    p.add_argument("--docker-config", metavar="FILE",
                   help="for files: the docker config.json standing in for the node's "
                        "(default: $DOCKER_CONFIG/config.json or ~/.docker/config.json)")
    p.add_argument("--platform", metavar="OS/ARCH[/VARIANT]",
                   help="the node's platform (default: this machine's)")
    p.add_argument("--insecure-registry", action="append", default=[], metavar="HOST[:PORT]",
                   help="a registry the node reaches over plain HTTP (loopback ones always "
                        "are); repeatable")
    p.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS",
                   help="for connecting and for each answer (default: 10)")
    p.add_argument("-o", "--output", choices=("table", "json"), default="table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hoist.core.platform import Platform, PlatformError
    from hoist.doctor import diagnose

    platform = None
    if args.platform:
        try:
            platform = Platform.parse(args.platform)
        except PlatformError as e:
            raise InputError(f"--platform: {e}") from None
    if args.timeout <= 0:
        raise InputError(f"--timeout must be positive, not {args.timeout:g}")
    if args.pod is not None and args.config:
        raise InputError("--config reads manifests; --pod reads the embedded cluster: "
                         "give one")
    report = diagnose(args.paths, pod=args.pod, namespace=args.namespace,
                      cluster_dir=args.cluster_dir, config=args.config,
                      docker_config=args.docker_config, platform=platform,
                      insecure=args.insecure_registry, timeout=args.timeout)
    report_problems(report.problems)
    if args.output == "json":
        print_json(report.to_json())
    else:
        rows = [{**c.to_dict(), "where": c.where} for c in report.containers]
        print_table(rows, TABLE_COLUMNS, headers=TABLE_HEADERS)
        if not rows:
            error("no containers found")
    if report.problems:
        return EXIT_BAD_INPUT
    return EXIT_OK if report.ok else EXIT_FINDINGS
