"""Helpers shared by the manifest-reading verbs."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING

from hoist.cli.output import error

if TYPE_CHECKING:
    from hoist.manifests import SourceProblem


def add_input_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="manifest files or directories (recursively), or - for stdin; "
                        "default: the config's manifests")
    p.add_argument("--config", "-f", dest="config", metavar="FILE",
                   help="hoist.yaml or skaffold.yaml (default: ./hoist.yaml, then "
                        "./skaffold.yaml, when no PATH is given)")


def report_problems(problems: Sequence[SourceProblem]) -> None:
    """One line on stderr per input that could not be read; the rest was still done."""
    for p in problems:
        error(str(p))
