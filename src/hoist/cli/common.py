"""Helpers shared by the manifest-reading verbs: inputs, config, problems."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from hoist.cli.output import error
from hoist.errors import InputError

if TYPE_CHECKING:
    from hoist.config import Config
    from hoist.manifests import SourceFile, SourceProblem
    from hoist.manifests.source import DocumentFilter


def add_input_arguments(p: argparse.ArgumentParser, config: bool = True) -> None:
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="manifest files or directories (recursively), or - for stdin; "
                        "default: the config's manifests")
    if config:
        p.add_argument("--config", "-f", dest="config", metavar="FILE",
                       help="hoist.yaml or skaffold.yaml (default: ./hoist.yaml, "
                            "./skaffold.yaml when no PATH is given)")


def load_config_arg(args: argparse.Namespace, required: bool = False) -> Config | None:
    from hoist.config import find_config, load_config

    explicit = getattr(args, "config", None)
    path = explicit or (find_config() if not args.paths else None)
    if path is None:
        if required:
            raise InputError("no hoist.yaml or skaffold.yaml here; give --config FILE")
        return None
    return load_config(path)


def read_inputs(
    args: argparse.Namespace, config: Config | None, want: DocumentFilter | None = None
) -> tuple[list[SourceFile], list[SourceProblem]]:
    from hoist.manifests import read_sources

    paths = list(args.paths)
    if not paths and config is not None:
        paths = config.manifest_paths()
    if not paths:
        raise InputError("no manifests given: name files or directories, '-' for stdin, "
                         "or --config FILE")
    files, problems = read_sources(paths, want=want)
    for p in problems:
        error(str(p))
    return files, problems


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()
