"""Starting and stopping the server: in this event loop (:func:`start`, :func:`serve`),
on a thread of this process, or as a ``hoist registry serve`` subprocess
(:class:`RegistryServer`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from hoist.errors import InputError, OperationError
from hoist.registry.server.app import AccessLogger, ServerOptions, build_app

DEFAULT_ADDR = "127.0.0.1:5000"
READY_PREFIX = "listening on "
START_TIMEOUT = 20.0


class ServerError(OperationError):
    pass


def parse_addr(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` too); port 0 picks a free one."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise InputError(f"--addr {text!r}: expected HOST:PORT")
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port)


@dataclass
class RunningServer:
    """A server serving in the current event loop; ``await close()`` to stop it."""

    runner: web.AppRunner
    host: str
    port: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def address(self) -> str:
        return self.url.removeprefix("http://")

    async def close(self) -> None:
        await self.runner.cleanup()


async def start(options: ServerOptions, addr: str = DEFAULT_ADDR) -> RunningServer:
    host, port = parse_addr(addr)
    app = build_app(options)
    runner = web.AppRunner(app, access_log_class=AccessLogger,
                           access_log=logging.getLogger("hoist.registry.server.access"))
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    try:
        await site.start()
    except OSError as e:
        await runner.cleanup()
        raise ServerError(f"--addr {addr}: cannot listen: {e.strerror or e}") from None
    bound = port
    for sock in getattr(site._server, "sockets", None) or ():
        bound = sock.getsockname()[1]
        break
    return RunningServer(runner, host, bound)


async def serve(options: ServerOptions, addr: str = DEFAULT_ADDR,
                ready: Callable[[RunningServer], None] | None = None) -> None:
    """Serve until cancelled, SIGTERM or SIGINT."""
    server = await start(options, addr)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
    try:
        if ready is not None:
            ready(server)
        await stop.wait()
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
        await server.close()


class RegistryServer:
    """A handle on a running server: ``.url``, ``.address`` (``host:port``), ``.stop()``.

    ``RegistryServer.in_thread(options)`` serves from a thread of this process;
    ``RegistryServer.subprocess(store, …)`` runs ``python -m hoist registry serve`` and
    stops it by PID."""

    def __init__(self, url: str, stopper: Callable[[], None], pid: int | None = None,
                 process: subprocess.Popen[bytes] | None = None) -> None:
        self.url = url
        self.address = url.removeprefix("http://")
        self.pid = pid
        self.process = process
        self._stopper = stopper

    def __repr__(self) -> str:
        return f"RegistryServer(url={self.url!r}, pid={self.pid})"

    def stop(self) -> None:
        self._stopper()

    def __enter__(self) -> RegistryServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @classmethod
    def in_thread(cls, options: ServerOptions, addr: str = "127.0.0.1:0") -> RegistryServer:
        loop = asyncio.new_event_loop()
        started: dict[str, RunningServer | BaseException] = {}
        ready = threading.Event()
        done = threading.Event()

        def main() -> None:
            asyncio.set_event_loop(loop)
            try:
                started["server"] = loop.run_until_complete(start(options, addr))
            except BaseException as e:  # reported to the starting thread
                started["error"] = e
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.close()
                done.set()

        thread = threading.Thread(target=main, name="registry-server", daemon=True)
        thread.start()
        ready.wait()
        error = started.get("error")
        if isinstance(error, BaseException):
            raise error
        server = started["server"]
        assert isinstance(server, RunningServer)

        def stop() -> None:
            if done.is_set() or loop.is_closed():
                return
            future = asyncio.run_coroutine_threadsafe(server.close(), loop)
            with contextlib.suppress(Exception):
                future.result(timeout=30)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=30)

        return cls(server.url, stop)

    @classmethod
    def subprocess(cls, store: Path | str, *, addr: str = "127.0.0.1:0",
                   args: Sequence[str] = (), log_path: Path | None = None,
                   python: str = sys.executable,
                   timeout: float = START_TIMEOUT) -> RegistryServer:
        """Start ``python -m hoist registry serve --store STORE --addr ADDR ARGS…``;
        returns when it listens. Its log goes to ``log_path`` (else nowhere)."""
        command = [python, "-m", "hoist", "registry", "serve", "--addr", addr,
                   "--store", str(store), *args]
        with contextlib.ExitStack() as stack:
            log = (stack.enter_context(open(log_path, "ab")) if log_path is not None
                   else subprocess.DEVNULL)
            proc = subprocess.Popen(command, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=log)
        assert proc.stdout is not None
        deadline = time.monotonic() + timeout
        line = b""
        fd = proc.stdout.fileno()
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or proc.poll() is not None:
                break
            readable, _, _ = select.select([fd], [], [], min(left, 0.5))
            if readable:
                piece = os.read(fd, 4096)
                if not piece:
                    break
                line += piece
        text = line.decode(errors="replace").strip()
        if not text.startswith(READY_PREFIX):
            _terminate(proc)
            raise ServerError(f"hoist registry serve did not start (exit "
                              f"{proc.returncode}): {text[:200] or 'no output'}")
        url = text[len(READY_PREFIX):].split()[0]
        return cls(url, lambda: _terminate(proc), pid=proc.pid, process=proc)


def _terminate(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)
    if proc.stdout is not None:
        proc.stdout.close()
