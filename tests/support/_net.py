"""Small loopback helpers shared by the servers in this package."""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Callable, Iterable

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    """A port that was free a moment ago on ``host``.

    A child process has to bind it itself, so another process can in principle take it
    between this call and the bind; callers that start subprocesses retry on
    "address already in use".
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def can_bind(host: str) -> bool:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
    except OSError:
        return False
    return True


def wait_for_http(
    host: str,
    port: int,
    path: str,
    *,
    accept: Iterable[int],
    timeout: float,
    alive: Callable[[], bool] = lambda: True,
) -> int:
    """Poll ``GET path`` until it answers with a status in ``accept``; return that status.

    ``alive`` lets the caller stop waiting as soon as the server process has died, so a
    bad configuration fails in milliseconds instead of after the whole timeout.
    """
    wanted = set(accept)
    deadline = time.monotonic() + timeout
    last_error = "no answer"
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError(f"server on {host}:{port} exited before answering {path}")
        conn = http.client.HTTPConnection(host, port, timeout=1.0)
        try:
            conn.request("GET", path)
            status = conn.getresponse().status
            if status in wanted:
                return status
            last_error = f"HTTP {status}"
        except OSError as exc:
            last_error = type(exc).__name__
        finally:
            conn.close()
        time.sleep(0.02)
    raise TimeoutError(f"{host}:{port}{path} did not answer in {timeout} s ({last_error})")


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every non-empty secret replaced, longest first (one may contain another)."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "<redacted>")
    return text
