"""An HTTP/1.1-aware TCP proxy with programmable faults, for resilience tests.

The proxy listens on a free 127.0.0.1 port and forwards to one upstream ``host:port``.
It parses just enough HTTP/1.1 to find message boundaries on keep-alive connections:
request line and headers, then the body by ``Content-Length`` or chunked framing (or up
to EOF for a response with neither), with the HEAD/1xx/204/304 no-body rules. That lets
a fault hit one request on a connection and leave the others alone.

Faults are rules. Each applies either to the next ``times`` matching requests (default 1;
``times=None`` forever) or, with ``connections=N``, to every matching request on the next
N connections accepted. ``path`` is a regex searched in the request target (path and
query); ``method`` narrows further. The first matching rule wins. Byte counts and offsets
in faults are *body* bytes: response headers always go through whole, so the client sees
a well-formed head and then the damaged body.

* ``reset_after(n)``: forward n body bytes, then RST the client connection;
* ``truncate_after(n)``: forward n body bytes, then close cleanly (FIN);
* ``stall(seconds, after_bytes)``: pause after that many body bytes (``None``: before the
  response head);
* ``http_status(code, headers, body)`` / ``http_500()``: answer without forwarding;
* ``flip_byte(offset)``: flip the lowest bit of one body byte;
* ``redirect_blobs(base)``: answer ``GET /v2/…/blobs/<digest>`` with 307 to ``base`` + path.

Each rule counts ``matched`` (requests it was applied to) and ``fired`` (times the fault
observably happened: a reset on a body shorter than n bytes does not fire).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import socket
import struct
import threading
import urllib.parse
from dataclasses import dataclass, field, replace
from http import HTTPStatus

CHUNK = 256 * 1024
HEAD_LIMIT = 1024 * 1024  # bigger than any header block a registry client sends
BLOB_PATH = re.compile(r"^/v2/.+/blobs/[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+(?:\?.*)?$")

# Distribution's error codes, so a client's error parsing sees what a registry would send.
_ERROR_CODES = {
    400: "UNSUPPORTED",
    401: "UNAUTHORIZED",
    403: "DENIED",
    404: "NOT_FOUND",
    429: "TOOMANYREQUESTS",
    500: "UNKNOWN",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "UNAVAILABLE",
}


@dataclass(eq=False)
class FaultRule:
    kind: str  # reset | truncate | stall | status | flip | redirect
    path: re.Pattern[str] | None = None
    method: str | None = None
    remaining: int | None = 1  # requests left for request-scoped rules; None: unlimited
    connections_left: int = 0  # > 0 or bound: a connection-scoped rule
    connection_scoped: bool = False
    nbytes: int = 0
    seconds: float = 0.0
    after_bytes: int | None = 0
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    offset: int = 0
    to_base_url: str = ""
    matched: int = 0
    fired: int = 0
    bound: set[int] = field(default_factory=set)

    def matches(self, method: str, target: str) -> bool:
        if self.method is not None and method.upper() != self.method.upper():
            return False
        if self.kind == "redirect" and not (method == "GET" and BLOB_PATH.match(target)):
            return False
        return self.path is None or self.path.search(target) is not None


@dataclass(frozen=True)
class FaultEvent:
    """One request a rule was applied to."""

    kind: str
    method: str
    target: str
    connection: int


@dataclass
class ProxyStats:
    connections: int = 0
    requests: int = 0
    bytes_up: int = 0  # client → upstream, heads and bodies
    bytes_down: int = 0  # upstream (or the proxy itself) → client
    events: list[FaultEvent] = field(default_factory=list)


@dataclass
class _Head:
    raw: bytes
    start_line: str
    headers: list[tuple[str, str]]

    def get(self, name: str) -> str | None:
        lname = name.lower()
        for key, value in self.headers:
            if key.lower() == lname:
                return value
        return None

    def tokens(self, name: str) -> set[str]:
        return {
            t.strip().lower()
            for key, value in self.headers
            if key.lower() == name.lower()
            for t in value.split(",")
        }


@dataclass
class _BodyFault:
    rule: FaultRule
    offset: int = 0
    triggered: bool = False


class _ConnectionDone(Exception):
    """End this client connection; ``reset`` says whether with an RST."""

    def __init__(self, reset: bool = False) -> None:
        super().__init__()
        self.reset = reset


def _parse_head(raw: bytes) -> _Head:
    lines = raw.decode("latin-1").split("\r\n")
    headers = []
    for line in lines[1:]:
        if not line:
            continue
        name, _, value = line.partition(":")
        headers.append((name.strip(), value.strip()))
    return _Head(raw, lines[0], headers)


def _framing(head: _Head, *, response_to: str | None, status: int = 0) -> tuple[str, int]:
    """How the body after ``head`` ends: ("none"|"length"|"chunked"|"eof", length)."""
    if response_to is not None and (
        response_to == "HEAD" or 100 <= status < 200 or status in (204, 304)
    ):
        return "none", 0
    if "chunked" in head.tokens("Transfer-Encoding"):
        return "chunked", 0
    length = head.get("Content-Length")
    if length is not None:
        return "length", int(length)
    # A request without length has no body; a response without one runs to EOF.
    return ("eof", 0) if response_to is not None else ("none", 0)


def _local_response(status: int, headers: dict[str, str], body: bytes, *, head_only: bool) -> bytes:
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Status"
    lines = [f"HTTP/1.1 {status} {reason}"]
    lower = {k.lower() for k in headers}
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if "content-length" not in lower:
        lines.append(f"Content-Length: {len(body)}")
    lines.append("X-Hoist-Fault-Proxy: injected")
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return raw if head_only else raw + body


def _split_upstream(upstream: str) -> tuple[str, int]:
    if "://" in upstream:
        parts = urllib.parse.urlsplit(upstream)
        if parts.hostname is None or parts.port is None:
            raise ValueError(f"upstream URL needs host and port: {upstream!r}")
        return parts.hostname, parts.port
    host, _, port = upstream.rpartition(":")
    return host, int(port)


class FaultProxy:
    """See the module docstring. Runs its own event loop in a daemon thread."""

    def __init__(self, upstream: str, *, listen_host: str = "127.0.0.1") -> None:
        self.upstream_host, self.upstream_port = _split_upstream(upstream)
        self.upstream = f"{self.upstream_host}:{self.upstream_port}"
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._stats = ProxyStats()
        self._conn_ids = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._server: asyncio.Server | None = None
        try:
            asyncio.run_coroutine_threadsafe(self._start(listen_host), self._loop).result(5)
        except BaseException:
            self._stop_loop()
            raise
        assert self._server is not None
        self.port: int = self._server.sockets[0].getsockname()[1]
        self.host: str = f"{listen_host}:{self.port}"
        self.url: str = f"http://{self.host}"

    def __repr__(self) -> str:
        return f"FaultProxy({self.url} -> {self.upstream})"

    # -- lifecycle ---------------------------------------------------------------------

    async def _start(self, listen_host: str) -> None:
        self._server = await asyncio.start_server(
            self._on_connection, listen_host, 0, limit=HEAD_LIMIT
        )

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self._loop.close()

    def stop(self) -> None:
        """Close the listener and every open connection, then end the loop thread."""
        if self._loop.is_closed() or not self._thread.is_alive():
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(5)
        self._stop_loop()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- counters ----------------------------------------------------------------------

    @property
    def stats(self) -> ProxyStats:
        """A snapshot of the counters."""
        with self._lock:
            return replace(self._stats, events=list(self._stats.events))

    @property
    def connections(self) -> int:
        return self.stats.connections

    @property
    def requests(self) -> int:
        return self.stats.requests

    @property
    def bytes_up(self) -> int:
        return self.stats.bytes_up

    @property
    def bytes_down(self) -> int:
        return self.stats.bytes_down

    def reset_stats(self) -> None:
        with self._lock:
            self._stats = ProxyStats()

    # -- faults ------------------------------------------------------------------------

    def _add(
        self,
        rule: FaultRule,
        path: str | None,
        method: str | None,
        times: int | None,
        connections: int | None,
    ) -> FaultRule:
        rule.path = re.compile(path) if path is not None else None
        rule.method = method
        if connections is not None:
            rule.connection_scoped = True
            rule.connections_left = connections
            rule.remaining = None
        else:
            rule.remaining = times
        with self._lock:
            self._rules.append(rule)
        return rule

    def reset_after(
        self,
        nbytes: int,
        *,
        path: str | None = None,
        method: str | None = None,
        times: int | None = 1,
        connections: int | None = None,
    ) -> FaultRule:
        return self._add(FaultRule("reset", nbytes=nbytes), path, method, times, connections)

    def truncate_after(
        self,
        nbytes: int,
        *,
        path: str | None = None,
        method: str | None = None,
        times: int | None = 1,
        connections: int | None = None,
    ) -> FaultRule:
        return self._add(FaultRule("truncate", nbytes=nbytes), path, method, times, connections)

    def stall(
        self,
        seconds: float,
        after_bytes: int | None = 0,
        *,
        path: str | None = None,
        method: str | None = None,
        times: int | None = 1,
        connections: int | None = None,
    ) -> FaultRule:
        # A stall after the body "fires" only on bodies longer than after_bytes; None
        # stalls before the response head and so always fires.
        rule = FaultRule("stall", seconds=seconds, after_bytes=after_bytes)
        rule.nbytes = after_bytes or 0
        return self._add(rule, path, method, times, connections)

    def http_status(
        self,
        code: int,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        *,
        path: str | None = None,
        method: str | None = None,
        times: int | None = 1,
        connections: int | None = None,
    ) -> FaultRule:
        hdrs = dict(headers or {})
        if body is None:
            error = {"code": _ERROR_CODES.get(code, "UNKNOWN"), "message": "injected by proxy"}
            body = json.dumps({"errors": [error]}).encode()
            hdrs.setdefault("Content-Type", "application/json; charset=utf-8")
        hdrs.setdefault("Docker-Distribution-Api-Version", "registry/2.0")
        rule = FaultRule("status", status=code, headers=hdrs, body=body)
        return self._add(rule, path, method, times, connections)

    def http_500(
        self,
        *,
        path: str | None = None,
        method: str | None = None,
        times: int | None = 1,
        connections: int | None = None,
    ) -> FaultRule:
        return self.http_status(500, path=path, method=method, times=times, connections=connections)

    def flip_byte(
        self,
        offset: int,
        *,
        path: str | None = None,
        method: str | None = None,
        times: int | None = 1,
        connections: int | None = None,
    ) -> FaultRule:
        return self._add(FaultRule("flip", offset=offset), path, method, times, connections)

    def redirect_blobs(
        self,
        to_base_url: str,
        *,
        path: str | None = None,
        times: int | None = 1,
        connections: int | None = None,
    ) -> FaultRule:
        rule = FaultRule("redirect", to_base_url=to_base_url.rstrip("/"))
        return self._add(rule, path, "GET", times, connections)

    def clear(self) -> None:
        """Drop every rule (counters stay)."""
        with self._lock:
            self._rules.clear()

    def _bind_connection(self, conn_id: int) -> None:
        with self._lock:
            self._stats.connections += 1
            for rule in self._rules:
                if rule.connection_scoped and rule.connections_left > 0:
                    rule.connections_left -= 1
                    rule.bound.add(conn_id)

    def _pick(self, conn_id: int, method: str, target: str) -> FaultRule | None:
        with self._lock:
            self._stats.requests += 1
            for rule in self._rules:
                if rule.connection_scoped:
                    if conn_id not in rule.bound or not rule.matches(method, target):
                        continue
                elif rule.remaining == 0 or not rule.matches(method, target):
                    continue
                elif rule.remaining is not None:
                    rule.remaining -= 1
                rule.matched += 1
                self._stats.events.append(FaultEvent(rule.kind, method, target, conn_id))
                return rule
        return None

    def _count(self, *, up: int = 0, down: int = 0) -> None:
        with self._lock:
            self._stats.bytes_up += up
            self._stats.bytes_down += down

    # -- the proxy ---------------------------------------------------------------------

    async def _on_connection(
        self, creader: asyncio.StreamReader, cwriter: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        conn_id = next(self._conn_ids)
        self._bind_connection(conn_id)
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        reset = False
        try:
            first = await creader.read(1)
            if not first:
                raise _ConnectionDone()
            if not (first.isalpha() or first in b"\r\n"):
                # Not HTTP/1.x, e.g. the TLS ClientHello that skopeo tries before falling
                # back to plain HTTP: tunnel it untouched so the upstream answers it (Go
                # fails it at once). Waiting for a request head would stall the client
                # until its handshake timeout.
                upstream = await self._open_upstream()
                await self._tunnel(first, creader, cwriter, upstream)
                raise _ConnectionDone()
            prefix = first
            while True:
                upstream = await self._exchange(conn_id, creader, cwriter, upstream, prefix)
                prefix = b""
        except _ConnectionDone as done:
            reset = done.reset
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            self._tasks.discard(task)
            if upstream is not None:
                upstream[1].transport.abort()
            if reset:
                _abort_with_rst(cwriter)
            else:
                cwriter.close()
                with contextlib.suppress(Exception):
                    await cwriter.wait_closed()

    async def _exchange(
        self,
        conn_id: int,
        creader: asyncio.StreamReader,
        cwriter: asyncio.StreamWriter,
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None,
        prefix: bytes = b"",
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        """Carry one request and its response; return the upstream connection to reuse.

        ``prefix`` holds bytes of the request head already read from the client.
        """
        raw = await _read_head(creader, prefix)
        if raw is None:
            raise _ConnectionDone()
        request = _parse_head(raw)
        method, target, version = [*request.start_line.split(" "), "", ""][:3]
        rule = self._pick(conn_id, method, target)
        request_framing = _framing(request, response_to=None)
        client_close = version == "HTTP/1.0" or "close" in request.tokens("Connection")

        if rule is not None and rule.kind in ("status", "redirect"):
            await self._pump(creader, None, request_framing, up=True)
            if rule.kind == "status":
                status, headers, body = rule.status, rule.headers, rule.body
            else:
                status, body = 307, b""
                headers = {"Location": rule.to_base_url + target}
            answer = _local_response(status, headers, body, head_only=method == "HEAD")
            cwriter.write(answer)
            self._count(down=len(answer))
            await cwriter.drain()
            rule.fired += 1
            if client_close:
                raise _ConnectionDone()
            return upstream

        if upstream is None or upstream[0].at_eof() or upstream[1].is_closing():
            if upstream is not None:
                upstream[1].transport.abort()
            upstream = await self._open_upstream()
        ureader, uwriter = upstream
        uwriter.write(raw)
        self._count(up=len(raw))
        # The request body goes up while the response is read, so an early answer (or a
        # 100 Continue the client waits for) cannot deadlock the two directions.
        body_up = asyncio.create_task(self._pump(creader, uwriter, request_framing, up=True))
        try:
            while True:
                rraw = await _read_head(ureader)
                if rraw is None:
                    raise _ConnectionDone()
                response = _parse_head(rraw)
                status = int(response.start_line.split(" ")[1])
                if 100 <= status < 200 and status != 101:
                    cwriter.write(rraw)  # interim response: pass on, wait for the final one
                    self._count(down=len(rraw))
                    continue
                break
            if rule is not None and rule.kind == "stall" and rule.after_bytes is None:
                rule.fired += 1
                await asyncio.sleep(rule.seconds)
            cwriter.write(rraw)
            self._count(down=len(rraw))
            fault = (
                _BodyFault(rule)
                if rule is not None and not (rule.kind == "stall" and rule.after_bytes is None)
                else None
            )
            framing = _framing(response, response_to=method, status=status)
            outcome = await self._pump(ureader, cwriter, framing, up=False, fault=fault)
            await cwriter.drain()
        finally:
            if not body_up.done():
                body_up.cancel()
                # The request body did not finish with the response: the connection's
                # framing is lost, so neither side can be reused.
                client_close = True
            with contextlib.suppress(BaseException):
                await body_up
        if outcome == "reset":
            raise _ConnectionDone(reset=True)
        if (
            outcome in ("truncate", "eof")
            or client_close
            or "close" in response.tokens("Connection")
        ):
            raise _ConnectionDone()
        return upstream

    async def _open_upstream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(
            self.upstream_host, self.upstream_port, limit=HEAD_LIMIT
        )

    async def _tunnel(
        self,
        first: bytes,
        creader: asyncio.StreamReader,
        cwriter: asyncio.StreamWriter,
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    ) -> None:
        """Copy bytes both ways until either side closes."""
        ureader, uwriter = upstream
        uwriter.write(first)
        self._count(up=len(first))

        async def copy(
            reader: asyncio.StreamReader, writer: asyncio.StreamWriter, up: bool
        ) -> None:
            while data := await reader.read(CHUNK):
                await self._emit(writer, data, up=up, fault=None)

        tasks = [
            asyncio.create_task(copy(creader, uwriter, True)),
            asyncio.create_task(copy(ureader, cwriter, False)),
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter | None,
        framing: tuple[str, int],
        *,
        up: bool,
        fault: _BodyFault | None = None,
    ) -> str | None:
        """Copy one body; ``writer=None`` discards it. Returns reset|truncate|eof or None."""
        kind, length = framing
        if kind == "none":
            return None
        if kind == "length":
            remaining = length
            while remaining:
                data = await reader.read(min(remaining, CHUNK))
                if not data:
                    raise asyncio.IncompleteReadError(b"", remaining)
                remaining -= len(data)
                outcome = await self._emit(writer, data, up=up, fault=fault)
                if outcome:
                    return outcome
            return None
        if kind == "eof":
            while data := await reader.read(CHUNK):
                outcome = await self._emit(writer, data, up=up, fault=fault)
                if outcome:
                    return outcome
            return "eof"
        # chunked: size line, data, CRLF … then "0", optional trailers, empty line.
        while True:
            line = await reader.readuntil(b"\r\n")
            await self._emit(writer, line, up=up, fault=None)
            size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while True:
                    trailer = await reader.readuntil(b"\r\n")
                    await self._emit(writer, trailer, up=up, fault=None)
                    if trailer == b"\r\n":
                        return None
            remaining = size
            while remaining:
                data = await reader.read(min(remaining, CHUNK))
                if not data:
                    raise asyncio.IncompleteReadError(b"", remaining)
                remaining -= len(data)
                outcome = await self._emit(writer, data, up=up, fault=fault)
                if outcome:
                    return outcome
            await self._emit(writer, await reader.readexactly(2), up=up, fault=None)

    async def _emit(
        self,
        writer: asyncio.StreamWriter | None,
        data: bytes,
        *,
        up: bool,
        fault: _BodyFault | None,
    ) -> str | None:
        """Write body bytes, applying ``fault``; returns reset|truncate when it ends the body."""
        if writer is None:
            return None
        outcome = None
        rest = b""
        if fault is not None:
            rule, start = fault.rule, fault.offset
            fault.offset += len(data)
            if rule.kind == "flip" and 0 <= rule.offset - start < len(data):
                flipped = bytearray(data)
                flipped[rule.offset - start] ^= 0x01
                data = bytes(flipped)
                rule.fired += 1
            elif (
                rule.kind in ("reset", "truncate", "stall")
                and not fault.triggered
                and start + len(data) > rule.nbytes
            ):
                fault.triggered = True
                rule.fired += 1
                cut = max(0, rule.nbytes - start)
                data, rest = data[:cut], data[cut:]
                if rule.kind != "stall":
                    outcome = rule.kind
                    # Let the bytes before the fault reach the socket before it is cut.
                    writer.transport.set_write_buffer_limits(high=0)
        writer.write(data)
        if up:
            self._count(up=len(data))
        else:
            self._count(down=len(data))
        await writer.drain()
        if fault is not None and fault.rule.kind == "stall" and rest:
            await asyncio.sleep(fault.rule.seconds)
            writer.write(rest)
            self._count(down=len(rest))
            await writer.drain()
        return outcome


async def _read_head(reader: asyncio.StreamReader, prefix: bytes = b"") -> bytes | None:
    """The next message head, or None at a clean EOF between messages."""
    while True:
        try:
            raw = prefix + await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if (prefix + exc.partial).strip():
                raise
            return None
        prefix = b""
        # RFC 9112 §2.2: ignore empty lines before a request line.
        stripped = raw.lstrip(b"\r\n")
        if stripped:
            return stripped


def _abort_with_rst(writer: asyncio.StreamWriter) -> None:
    """Close with RST instead of FIN: SO_LINGER with a zero timeout, then abort."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
