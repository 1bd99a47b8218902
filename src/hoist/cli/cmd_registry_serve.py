"""``hoist registry serve``: the embedded OCI registry over the content store."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from hoist.cli.output import EXIT_OK
from hoist.errors import InputError

LOG_LEVELS = ("debug", "info", "warning", "error")


def register(sub: Any) -> None:
    p = sub.add_parser("registry", help="the embedded OCI registry")
    rs = p.add_subparsers(dest="registry_command", metavar="COMMAND", required=True)
    s = rs.add_parser("serve", help="serve the OCI distribution API over the content store",
                      description="Serve the OCI distribution API (push, pull, tags, "
                      "referrers, catalog) over the content store. Prints 'listening on "
                      "URL' on stdout when ready; the access log (common log format) goes "
                      "to stderr.")
    s.add_argument("--addr", default="127.0.0.1:5000", metavar="HOST:PORT",
                   help="where to listen (default 127.0.0.1:5000; port 0 picks a free one)")
    s.add_argument("--store", metavar="DIR",
                   help="content store (default: ~/.local/share/hoist/store)")
    s.add_argument("--htpasswd", metavar="FILE",
                   help="require Basic auth against this htpasswd file (bcrypt entries)")
    s.add_argument("--token-auth", action="store_true",
                   help="with --htpasswd: issue Bearer tokens at /token and require them")
    s.add_argument("--read-only", action="store_true",
                   help="refuse pushes and deletes (serve a store to nodes)")
    s.add_argument("--log-level", choices=LOG_LEVELS, default="info",
                   help="info logs every request; warning and above only problems")
    s.set_defaults(func=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    import asyncio

    from hoist.registry.server import RunningServer, ServerOptions, parse_addr, serve
    from hoist.store import default_store_root

    if args.token_auth and not args.htpasswd:
        raise InputError("--token-auth needs --htpasswd (tokens go to its users)")
    parse_addr(args.addr)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("hoist.registry.server")
    logger.addHandler(handler)
    logger.setLevel(getattr(logging, args.log_level.upper()))
    logger.propagate = False
    store = Path(args.store) if args.store else default_store_root()
    options = ServerOptions(store_root=store,
                            htpasswd=Path(args.htpasswd) if args.htpasswd else None,
                            token_auth=args.token_auth, read_only=args.read_only)

    def ready(server: RunningServer) -> None:
        print(f"listening on {server.url} (store {store})", flush=True)

    asyncio.run(serve(options, args.addr, ready))
    return EXIT_OK
