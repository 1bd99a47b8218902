"""``hoist registry serve | stop``: the embedded OCI registry over the content store, in
the foreground or detached (a PID file and a state file under the data directory)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from hoist.cli.output import EXIT_OK
from hoist.errors import InputError, OperationError

LOG_LEVELS = ("debug", "info", "warning", "error")
DEFAULT_ADDR = "127.0.0.1:5000"


def register(sub: Any) -> None:
    p = sub.add_parser("registry", help="the embedded OCI registry")
    rs = p.add_subparsers(dest="registry_command", metavar="COMMAND", required=True)
    s = rs.add_parser("serve", help="serve the OCI distribution API over the content store",
                      description="Serve the OCI distribution API (push, pull, tags, "
                      "referrers, catalog) over the content store. Prints 'listening on "
                      "URL' on stdout when ready; the access log (common log format) goes "
                      "to stderr. With --detach it runs in the background: its PID, address "
                      "and log are kept under DATA_DIR/registry (registry.pid, registry.json, "
                      "registry.log) and `hoist registry stop` stops it.")
    s.add_argument("--addr", metavar="HOST:PORT",
                   help=f"where to listen (default {DEFAULT_ADDR}; port 0 picks a free one; "
                   "with --detach the address used last time, else a free port)")
    s.add_argument("--store", metavar="DIR",
                   help="content store (default: ~/.local/share/hoist/store, with --detach "
                   "DATA_DIR/store)")
    s.add_argument("--htpasswd", metavar="FILE",
                   help="require Basic auth against this htpasswd file (bcrypt entries)")
    s.add_argument("--token-auth", action="store_true",
                   help="with --htpasswd: issue Bearer tokens at /token and require them")
    s.add_argument("--read-only", action="store_true",
                   help="refuse pushes and deletes (serve a store to nodes)")
    s.add_argument("--log-level", choices=LOG_LEVELS, default="info",
                   help="info logs every request; warning and above only problems")
    s.add_argument("--detach", action="store_true",
                   help="run in the background and print its address")
    _data_dir_argument(s)
    # Set by --detach for the background process: where it records its PID and address.
    s.add_argument("--state-dir", help=argparse.SUPPRESS)
    s.set_defaults(func=run_serve)
    stop = rs.add_parser("stop", help="stop the registry started with --detach",
                         description="Stop, by its PID, the registry `hoist registry serve "
                         "--detach` started for the data directory.")
    _data_dir_argument(stop)
    stop.set_defaults(func=run_stop)


def _data_dir_argument(p: Any) -> None:
    p.add_argument("--data-dir", metavar="DIR",
                   help="where a detached registry keeps its state (default: "
                   "~/.local/share/hoist)")


def _data_dir(args: argparse.Namespace) -> Path:
    from hoist.deploy.embedded import default_data_dir

    return Path(args.data_dir).absolute() if args.data_dir else default_data_dir()


def run_serve(args: argparse.Namespace) -> int:
    import asyncio

    from hoist.registry.server import RunningServer, ServerOptions, parse_addr, serve
    from hoist.store import default_store_root

    if args.token_auth and not args.htpasswd:
        raise InputError("--token-auth needs --htpasswd (tokens go to its users)")
    if args.addr is not None:
        parse_addr(args.addr)
    if args.detach:
        return _serve_detached(args)
    addr = args.addr or DEFAULT_ADDR
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
    state_dir = Path(args.state_dir) if args.state_dir else None

    def ready(server: RunningServer) -> None:
        if state_dir is not None:
            from hoist.deploy.embedded import record_registry

            record_registry(state_dir, server.address, store.absolute())
        print(f"listening on {server.url} (store {store})", flush=True)

    try:
        asyncio.run(serve(options, addr, ready))
    finally:
        if state_dir is not None:
            from hoist.deploy.embedded import forget_registry

            forget_registry(state_dir)
    return EXIT_OK


def _serve_detached(args: argparse.Namespace) -> int:
    from hoist.deploy.embedded import STORE_DIR, running_registry, start_registry

    data_dir = _data_dir(args)
    store = Path(args.store).absolute() if args.store else data_dir / STORE_DIR
    running = running_registry(data_dir)
    if running is not None:
        if (args.addr in (None, running.addr)) and running.store == store:
            print(f"listening on {running.url} (store {running.store}, pid {running.pid}, "
                  "already running)")
            return EXIT_OK
        raise OperationError(f"a registry already runs for {data_dir} at {running.addr} "
                             f"(pid {running.pid}, store {running.store}); "
                             "`hoist registry stop` stops it")
    passed: list[str] = ["--log-level", args.log_level]
    if args.htpasswd:
        passed += ["--htpasswd", str(Path(args.htpasswd).absolute())]
    if args.token_auth:
        passed.append("--token-auth")
    if args.read_only:
        passed.append("--read-only")
    record = start_registry(data_dir, store, addr=args.addr, serve_args=passed)
    log = data_dir / "registry" / "registry.log"
    print(f"listening on {record.url} (store {record.store}, pid {record.pid}, log {log})")
    return EXIT_OK


def run_stop(args: argparse.Namespace) -> int:
    from hoist.deploy.embedded import stop_registry

    data_dir = _data_dir(args)
    pid = stop_registry(data_dir)
    if pid is None:
        print(f"no registry runs for {data_dir}")
    else:
        print(f"registry stopped (pid {pid})")
    return EXIT_OK
