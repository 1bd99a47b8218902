"""/metrics, the access log, and the ``hoist registry serve`` command line."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from hoist.registry.server import RegistryServer, ServerOptions
from tests.registry_server._helpers import digest_of, push_image, start_upload, unique
from tests.support.registry_http import request
from tests.support.registry_server_fixtures import HoistRegistry

Factory = Callable[..., HoistRegistry]
# host ident authuser [date] "request line" status bytes (common log format)
CLF = re.compile(r'(\S+) - (\S+) \[(\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4})\] '
                 r'"(\S+) (\S+) HTTP/1\.[01]" (\d{3}) (\d+|-)')


def _metric(text: str, name: str, labels: str = "") -> float:
    pattern = re.escape(name + (f"{{{labels}}}" if labels else "")) + r" (\S+)"
    m = re.search(rf"^{pattern}$", text, re.M)
    return float(m[1]) if m else 0.0


def test_metrics(hoist_registry_factory: Factory) -> None:
    registry = hoist_registry_factory()
    base = registry.url
    first = request(f"{base}/metrics")
    assert first.status == 200
    assert first.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    name = unique("metrics")
    manifest, blobs = push_image(base, name, "v1")
    for blob in blobs:
        assert request(f"{base}/v2/{name}/blobs/{digest_of(blob)}").body == blob
    request(f"{base}/v2/{name}/blobs/{digest_of(blobs[1])}", headers={"Range": "bytes=0-99"})
    request(f"{base}/v2/{name}/manifests/v1")
    request(f"{base}/v2/{name}/manifests/nope")
    location = start_upload(base, name)
    text = request(f"{base}/metrics").body.decode()
    assert "# TYPE hoist_registry_http_requests_total counter" in text
    assert _metric(text, "hoist_registry_http_requests_total", 'method="PUT",status="201"') == 3
    assert _metric(text, "hoist_registry_http_requests_total", 'method="GET",status="404"') == 1
    assert _metric(text, "hoist_registry_http_requests_total", 'method="POST",status="202"') == 3
    assert _metric(text, "hoist_registry_bytes_served_total") == (
        sum(len(b) for b in blobs) + 100 + len(manifest))
    assert _metric(text, "hoist_registry_bytes_received_total") == sum(len(b) for b in blobs)
    assert _metric(text, "hoist_registry_uploads_in_flight") == 1
    assert _metric(text, "hoist_registry_blobs_committed_total") == 2
    request(location, "DELETE")
    text = request(f"{base}/metrics").body.decode()
    assert _metric(text, "hoist_registry_uploads_in_flight") == 0


def test_access_log_is_common_log_format(hoist_registry_factory: Factory) -> None:
    registry = hoist_registry_factory()
    name = unique("log")
    push_image(registry.url, name, "v1")
    request(f"{registry.url}/v2/{name}/manifests/v1")
    deadline = time.monotonic() + 5
    while f'"GET /v2/{name}/manifests/v1 ' not in registry.log_text() and (
            time.monotonic() < deadline):
        time.sleep(0.05)
    lines = [line for line in registry.log_text().splitlines() if f"/v2/{name}/" in line]
    assert lines
    for line in lines:
        assert CLF.fullmatch(line), line
    get = [CLF.fullmatch(line) for line in lines if f'"GET /v2/{name}/manifests/v1 ' in line]
    assert get and get[0] is not None
    assert get[0][6] == "200" and int(get[0][7]) > 0


def test_log_level_warning_silences_the_access_log(tmp_path: Path) -> None:
    log = tmp_path / "log"
    server = RegistryServer.subprocess(tmp_path / "store", args=["--log-level", "warning"],
                                       log_path=log)
    try:
        assert request(f"{server.url}/v2/").status == 200
    finally:
        server.stop()
    assert "GET /v2/" not in log.read_text()


def test_subprocess_stops_by_pid(tmp_path: Path) -> None:
    server = RegistryServer.subprocess(tmp_path / "store")
    assert server.pid is not None
    assert request(f"{server.url}/v2/").status == 200
    os.kill(server.pid, signal.SIGTERM)
    assert server.process is not None
    assert server.process.wait(timeout=10) == 0
    server.stop()  # idempotent
    # the session directory of the stopped server is gone
    assert [p.name for p in (tmp_path / "store" / "uploads").iterdir()] == []


def test_in_thread_server(tmp_path: Path) -> None:
    with RegistryServer.in_thread(ServerOptions(store_root=tmp_path / "store")) as server:
        name = unique("thread")
        manifest, _ = push_image(server.url, name, "v1")
        assert request(f"{server.url}/v2/{name}/manifests/v1").body == manifest
    # a new server over the same store serves what the first one stored
    with RegistryServer.in_thread(ServerOptions(store_root=tmp_path / "store")) as again:
        assert request(f"{again.url}/v2/{name}/manifests/v1").body == manifest


def _hoist(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hoist", *args], capture_output=True,
                          text=True, timeout=30)


def test_cli_bad_input(tmp_path: Path) -> None:
    out = _hoist("registry", "serve", "--store", str(tmp_path), "--token-auth")
    assert out.returncode == 2 and "--token-auth needs --htpasswd" in out.stderr
    out = _hoist("registry", "serve", "--store", str(tmp_path), "--addr", "nonsense")
    assert out.returncode == 2 and "--addr" in out.stderr
    missing = tmp_path / "missing-htpasswd"
    out = _hoist("registry", "serve", "--store", str(tmp_path), "--addr", "127.0.0.1:0",
                 "--htpasswd", str(missing))
    assert out.returncode == 2 and str(missing) in out.stderr
    plain = tmp_path / "plain-htpasswd"
    plain.write_text("bob:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n")
    out = _hoist("registry", "serve", "--store", str(tmp_path), "--addr", "127.0.0.1:0",
                 "--htpasswd", str(plain))
    assert out.returncode == 2 and "bcrypt" in out.stderr


def test_cli_address_in_use(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = _hoist("registry", "serve", "--store", str(tmp_path), "--addr",
                     f"127.0.0.1:{port}")
    assert out.returncode == 1
    assert f"127.0.0.1:{port}" in out.stderr


def test_idle_upload_sessions_are_dropped(tmp_path: Path) -> None:
    options = ServerOptions(store_root=tmp_path / "store", upload_idle_seconds=0.3)
    with RegistryServer.in_thread(options) as server:
        location = start_upload(server.url, "idle/app")
        assert request(location, "PATCH", body=b"x" * 1000).status == 202
        time.sleep(2.5)  # the purge runs every second; a status request would touch it
        assert request(location).status == 404
        files = [p for p in (tmp_path / "store" / "uploads").rglob("*")
                 if p.is_file() and p.name != ".lock"]
        assert files == []
