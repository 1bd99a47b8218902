"""Entry point: one sub-command per verb; each module registers its own parser."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Any

from hoist import __version__
from hoist.cli.output import EXIT_BAD_INPUT, error
from hoist.errors import InputError, OperationError

# Verb → the module whose register() adds exactly that verb's sub-parser. Modules load only
# for the verb being run (a `hoist build` does not import the cluster's or the registry's
# command modules); `hoist --help` loads them all.
_MODULES = {"build": "cmd_build", "image": "cmd_image", "explain": "cmd_explain",
            "lint": "cmd_lint", "render": "cmd_render", "secret": "cmd_secret",
            "registry": "cmd_registry_serve", "cluster": "cmd_cluster",
            "deploy": "cmd_deploy", "run": "cmd_deploy", "dev": "cmd_deploy",
            "delete": "cmd_deploy", "doctor": "cmd_doctor"}
# The registry verbs share one module; its register() takes the verb's name
# (cmd_registry.VERBS, spelled here so that listing them imports nothing).
REGISTRY_VERBS = ("copy", "pull", "push", "inspect", "resolve", "tags", "images", "login",
                  "store")
COMMANDS: tuple[str, ...] = (*_MODULES, *REGISTRY_VERBS)


def _register(name: str, sub: Any) -> None:
    if name in REGISTRY_VERBS:
        importlib.import_module("hoist.cli.cmd_registry").register(sub, name=name)
    else:
        module = importlib.import_module(f"hoist.cli.{_MODULES[name]}")
        if hasattr(module, "VERBS"):  # one module, several verbs: it is told which
            module.register(sub, name=name)
        else:
            module.register(sub)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole parser, or with ``command`` only that verb's sub-parser: every sub-parser
    costs argparse gettext lookups, and a single command needs only its own."""
    parser = argparse.ArgumentParser(
        prog="hoist",
        description="Images from a working tree onto Kubernetes nodes, with exact, visible "
        "control of image pull policy.",
    )
    parser.add_argument("--version", action="version", version=f"hoist {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        if command is None or name == command:
            _register(name, sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    first = args_list[0] if args_list else None
    parser = build_parser(first if first in COMMANDS else None)
    args = parser.parse_args(args_list)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return EXIT_BAD_INPUT
    try:
        code: int = func(args)
    except InputError as e:
        error(str(e))
        return EXIT_BAD_INPUT
    except OperationError as e:
        error(str(e))
        return 1
    except BrokenPipeError:
        # `hoist … | head`: the reader left; not an error of ours.
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        return 130
    return code


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
