"""Entry point: one sub-command per verb; each module registers its own parser."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from hoist import __version__
from hoist.cli import cmd_explain, cmd_image, cmd_lint, cmd_render, cmd_secret
from hoist.cli.output import EXIT_BAD_INPUT, error
from hoist.errors import InputError, OperationError

COMMAND_MODULES = (cmd_image, cmd_explain, cmd_lint, cmd_render, cmd_secret)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hoist",
        description="Images from a working tree onto Kubernetes nodes, with exact, visible "
        "control of image pull policy.",
    )
    parser.add_argument("--version", action="version", version=f"hoist {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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
