"""The CLI loads only the module of the verb it runs, and knows every verb without loading."""

from __future__ import annotations

import subprocess
import sys

from hoist.cli import cmd_registry
from hoist.cli.main import REGISTRY_VERBS, build_parser


def test_registry_verbs_match_their_module() -> None:
    assert REGISTRY_VERBS == cmd_registry.VERBS


def test_full_parser_knows_every_verb() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert set(sub.choices) >= {"build", "render", "explain", "lint", "cluster", "registry",
                                *REGISTRY_VERBS}  # type: ignore[arg-type]


def test_build_does_not_import_other_verbs_or_the_http_stack() -> None:
    code = ("import sys; from hoist.cli.main import build_parser; build_parser('build'); "
            "print(sorted(m for m in sys.modules if m.startswith(('hoist.cli.cmd_', "
            "'aiohttp'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "['hoist.cli.cmd_build']"
