"""A second HTTP host that records what reached it, for cross-host redirect tests.

It listens on 127.0.0.2 (Linux routes all of 127.0.0.0/8 to loopback), so to a client it
is a different host from the registry on 127.0.0.1 and must not receive the registry's
``Authorization`` header. Where 127.0.0.2 cannot be bound it listens on 127.0.0.1 and
calls itself ``localhost``: a different host *name*, which is what clients compare.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support._net import can_bind

# Header values that are secrets: recorded as present, never with their value, so an
# assertion message that prints a recorded request cannot leak them.
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
DEFAULT_BODY = b"hoist recording server\n"


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: tuple[tuple[str, str], ...]  # lower-case names; secret values redacted
    body_size: int

    def header(self, name: str) -> str | None:
        lname = name.lower()
        return next((v for k, v in self.headers if k == lname), None)

    @property
    def has_authorization(self) -> bool:
        return any(k == "authorization" for k, _ in self.headers)


@dataclass
class Route:
    status: int
    headers: dict[str, str]
    body: bytes


class RecordingServer:
    """Serves ``DEFAULT_BODY`` (or a route added with :meth:`add`) for any path."""

    def __init__(self, listen_host: str = "127.0.0.2") -> None:
        if not can_bind(listen_host):
            listen_host, name = "127.0.0.1", "localhost"
        else:
            name = listen_host
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._routes: dict[str, Route] = {}
        self._httpd = ThreadingHTTPServer((listen_host, 0), _make_handler(self))
        self._httpd.daemon_threads = True
        self.listen_host = listen_host
        self.port: int = self._httpd.server_address[1]
        self.host = f"{name}:{self.port}"
        self.url = f"http://{self.host}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},  # stop() waits up to one poll interval
            name=f"recording-{self.port}",
            daemon=True,
        )
        self._thread.start()

    def __repr__(self) -> str:
        return f"RecordingServer({self.url})"

    def add(
        self, path: str, body: bytes, *, status: int = 200, headers: dict[str, str] | None = None
    ) -> None:
        """Serve ``body`` at ``path`` (exact path, query ignored), e.g. a redirected blob."""
        with self._lock:
            self._routes[path] = Route(status, dict(headers or {}), body)

    def route(self, path: str) -> Route:
        with self._lock:
            return self._routes.get(path, Route(200, {}, DEFAULT_BODY))

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def stop(self) -> None:
        if self._thread.is_alive():
            self._httpd.shutdown()
            self._thread.join(timeout=5)
        self._httpd.server_close()

    def __enter__(self) -> RecordingServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _make_handler(server: RecordingServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "hoist-recording-server"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = tuple(
                (k.lower(), "<redacted>" if k.lower() in SECRET_HEADERS else v)
                for k, v in self.headers.items()
            )
            server._record(RecordedRequest(self.command, self.path, headers, len(body)))
            route = server.route(self.path.split("?", 1)[0])
            self.send_response(route.status)
            for name, value in route.headers.items():
                self.send_header(name, value)
            if "content-length" not in {k.lower() for k in route.headers}:
                self.send_header("Content-Length", str(len(route.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(route.body)

        do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    return Handler
