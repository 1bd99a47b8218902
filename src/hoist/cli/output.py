"""Human tables and stable JSON for every command."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TextIO

# Exit codes (DESIGN §3).
EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_BAD_INPUT = 2


def cell(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value) if value else "-"
    return str(value)


def print_table(
    rows: Iterable[Mapping[str, Any]],
    columns: Sequence[str],
    out: TextIO | None = None,
    headers: Sequence[str] | None = None,
) -> None:
    """A plain aligned table, ``kubectl get`` style: upper-case headers, two spaces apart."""
    out = out or sys.stdout
    heads = [h.upper() for h in (headers or columns)]
    body = [[cell(r.get(c)) for c in columns] for r in rows]
    widths = [max([len(h)] + [len(b[i]) for b in body]) for i, h in enumerate(heads)]
    for line in [heads, *body]:
        out.write("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip() + "\n")


def print_json(doc: Any, out: TextIO | None = None) -> None:
    out = out or sys.stdout
    json.dump(doc, out, indent=2, ensure_ascii=False)
    out.write("\n")


def error(message: str) -> None:
    """One line on stderr, prefixed with the program name."""
    sys.stderr.write(f"hoist: {message}\n")
