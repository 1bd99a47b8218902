"""Entry point: one sub-command per verb; each module registers its own parser."""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Sequence
from typing import Any

from hoist import __version__
from hoist.cli import (
    cmd_build,
    cmd_cluster,
    cmd_explain,
    cmd_image,
    cmd_lint,
    cmd_registry,
    cmd_registry_serve,
    cmd_render,
    cmd_secret,
)
from hoist.cli.output import EXIT_BAD_INPUT, error
from hoist.errors import InputError, OperationError

# Verb → module; each module's register() adds exactly that verb's sub-parser.
COMMANDS: dict[str, Any] = {"build": cmd_build, "image": cmd_image, "explain": cmd_explain,
                            "lint": cmd_lint,
                            "render": cmd_render, "secret": cmd_secret,
                            "registry": cmd_registry_serve, "cluster": cmd_cluster}
# The registry verbs share one module; its register() takes the verb's name.
COMMANDS.update({verb: functools.partial(cmd_registry.register, name=verb)
                 for verb in cmd_registry.VERBS})


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
    for name, entry in COMMANDS.items():
        if command is None or name == command:
            (entry if callable(entry) else entry.register)(sub)
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
