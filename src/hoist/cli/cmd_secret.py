"""``hoist secret docker-registry NAME …`` and ``hoist secret inspect FILE|-``"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from hoist.cli.output import EXIT_BAD_INPUT, EXIT_OK, error, print_json, print_table


class _SecretParser(argparse.ArgumentParser):
    """A parser that never echoes what it could not parse: that may be a password.

    argparse would print unrecognized arguments (``--docker-password pa ss`` → ``ss``) and
    ambiguous abbreviations (``--docker=…``) in its error; here abbreviations are off, extra
    arguments are counted, not shown, and every error is one line on stderr, exit 2.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        ns, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(
                f"{len(extras)} unrecognized argument{'s' if len(extras) > 1 else ''} "
                "(not shown: they may hold a password; give values that start with '-' "
                "as --flag=VALUE)"
            )
        return ns, extras

    def error(self, message: str) -> NoReturn:
        error(f"{self.prog.removeprefix('hoist ')}: {message}")
        sys.exit(EXIT_BAD_INPUT)


def register(sub: Any) -> None:
    from hoist.auth import DEFAULT_DOCKER_SERVER

    secret = sub.add_parser(
        "secret", help="registry pull Secrets: build them as kubectl does, inspect them",
        description="Build the docker-registry Secret kubectl builds, byte for byte, or show "
        "which registries and users a pull Secret holds (never its passwords).",
    )
    secret_sub = secret.add_subparsers(
        dest="secret_command", metavar="COMMAND", required=True, parser_class=_SecretParser
    )

    p = secret_sub.add_parser(
        "docker-registry", help="the Secret `kubectl create secret docker-registry` builds",
        description="Print the Secret `kubectl create secret docker-registry NAME … "
        "--dry-run=client` prints, byte for byte: with -o yaml or -o json the object, "
        "without -o the line `secret/NAME created (dry run)`. Nothing is sent to a cluster.",
    )
    p.add_argument("name", metavar="NAME")
    p.add_argument("--docker-server", default=DEFAULT_DOCKER_SERVER, metavar="SERVER",
                   help=f"registry server (default {DEFAULT_DOCKER_SERVER})")
    p.add_argument("--docker-username", default="", metavar="USER", help="required")
    p.add_argument("--docker-password", default="", metavar="PASSWORD", help="required")
    p.add_argument("--docker-email", default="", metavar="EMAIL")
    p.add_argument("-n", "--namespace", default="", metavar="NS",
                   help="written into metadata.namespace only when given")
    p.add_argument("-o", "--output", choices=("yaml", "json"),
                   help="print the object (default: the `created (dry run)` line)")
    p.add_argument("--dry-run", choices=("client",), default="client",
                   help="accepted for kubectl compatibility; hoist never creates anything")
    p.set_defaults(func=run_docker_registry)

    i = secret_sub.add_parser(
        "inspect", help="registries and usernames in a pull Secret (never passwords)",
        description="Read a Secret of type kubernetes.io/dockerconfigjson or "
        "kubernetes.io/dockercfg (YAML or JSON, data or stringData) and list each registry "
        "entry with its username, as the kubelet reads it (from `auth` when set). "
        "Exit 2 when the Secret is malformed.",
    )
    i.add_argument("file", metavar="FILE|-")
    i.add_argument("-o", "--output", choices=("table", "json"), default="table")
    i.set_defaults(func=run_inspect)


def _write(text: str) -> None:
    """Write exactly these bytes (names from argv may carry non-UTF-8 bytes back out)."""
    data = text.encode("utf-8", "surrogateescape")
    out = sys.stdout
    buffer = getattr(out, "buffer", None)
    if buffer is None:
        out.write(data.decode("utf-8", "replace"))
        return
    out.flush()
    buffer.write(data)
    buffer.flush()


def run_docker_registry(args: argparse.Namespace) -> int:
    from hoist.auth import (
        created_message,
        docker_registry_secret,
        to_kubectl_json,
        to_kubectl_yaml,
    )
    # docker_registry_secret refuses an empty name, username, password or server itself.
    secret = docker_registry_secret(
        args.name, args.docker_server, args.docker_username, args.docker_password,
        email=args.docker_email, namespace=args.namespace,
    )
    if args.output == "yaml":
        _write(to_kubectl_yaml(secret))
    elif args.output == "json":
        _write(to_kubectl_json(secret))
    else:
        _write(created_message(secret))
    return EXIT_OK


def run_inspect(args: argparse.Namespace) -> int:
    from pathlib import Path

    from hoist.auth import inspect_docker_config_secret
    from hoist.errors import InputError

    if args.file == "-":
        source, data = "<stdin>", sys.stdin.buffer.read()
    else:
        source = args.file
        try:
            data = Path(args.file).read_bytes()
        except FileNotFoundError:
            raise InputError(f"{source}: no such file") from None
        except IsADirectoryError:
            raise InputError(f"{source}: is a directory") from None
        except OSError as e:
            raise InputError(f"{source}: cannot read ({e.strerror})") from None
    infos = inspect_docker_config_secret(data, source=source)
    rows = [info.to_dict() for info in infos]
    if args.output == "json":
        print_json(rows)
    else:
        print_table(rows, ("registry", "username"))
    return EXIT_OK
