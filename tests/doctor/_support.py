"""Helpers for the doctor tests: the CLI in process, manifests written to files, images
pushed to a real registry, a small TLS listener and this machine's non-loopback address."""

from __future__ import annotations

import datetime
import json
import socket
import ssl
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from hoist.auth.credential import Credential
from hoist.auth.k8s_secret import docker_registry_secret
from hoist.cli.main import main
from hoist.transfer.copy import Options, copy
from tests.support.images import ImageFactory, Platform

MISSING_CRYPTOGRAPHY = ("the Python package cryptography is not installed (pip install "
                        "cryptography; Debian package python3-cryptography)")


@dataclass(frozen=True)
class CliRun:
    code: int
    out: str
    err: str

    def json(self) -> dict[str, Any]:
        doc = json.loads(self.out)
        assert isinstance(doc, dict)
        return doc

    def rows(self) -> list[dict[str, Any]]:
        rows = self.json()["containers"]
        assert isinstance(rows, list)
        return rows


def doctor(capsys: pytest.CaptureFixture[str], *args: str) -> CliRun:
    """``hoist doctor ARGS`` in process; stdout and stderr of this call only."""
    capsys.readouterr()
    code = main(["doctor", *args])
    captured = capsys.readouterr()
    return CliRun(code, captured.out, captured.err)


def by_container(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["container"]: r for r in rows}


# ---------------------------------------------------------------------- manifests

def pod(name: str, images: dict[str, str], **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": c, "image": i} for c, i in images.items()],
                     **spec}}


def secret(name: str, server: str, user: str, password: str) -> dict[str, Any]:
    return docker_registry_secret(name, server, user, password)


def service_account(name: str, *secrets: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name},
            "imagePullSecrets": [{"name": s} for s in secrets]}


def write_manifests(path: Path, *objects: dict[str, Any]) -> str:
    """One YAML stream (JSON documents are YAML) of ``objects``."""
    path.write_text("".join(f"---\n{json.dumps(o, indent=2)}\n" for o in objects))
    return str(path)


# ---------------------------------------------------------------------- images

def push_image(factory: ImageFactory, host: str, repo: str, tag: str = "v1",
               credential: Credential | None = None) -> str:
    """A small single-platform image at ``host/repo:tag``; its manifest digest."""
    name = f"{repo.replace('/', '-')}-{tag}"
    info = factory.make_image(name, layers=[512], seed=name)
    copy(f"oci:{factory.layout_dir}:{name}", f"docker://{host}/{repo}:{tag}",
         Options(credentials=credential or Credential()))
    return info.digest


def push_index(factory: ImageFactory, host: str, repo: str, platforms: Sequence[Platform],
               tag: str = "v1") -> str:
    name = f"{repo.replace('/', '-')}-{tag}"
    info = factory.make_index(name, platforms=platforms, layers=[256], seed=name)
    copy(f"oci:{factory.layout_dir}:{name}", f"docker://{host}/{repo}:{tag}", Options())
    return info.digest


# ---------------------------------------------------------------------- network

def non_loopback_address() -> str | None:
    """An IPv4 address of this machine that is not loopback (hoist's client speaks TLS to
    it), or None. The UDP connect sends nothing; it only picks the outgoing interface."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))
            address: str = s.getsockname()[0]
    except OSError:
        return None
    if address.startswith("127.") or address == "0.0.0.0":
        return None
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((address, 0))
    except OSError:
        return None
    return address


def _self_signed(directory: Path) -> tuple[Path, Path]:
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError:
        pytest.skip(reason=MISSING_CRYPTOGRAPHY)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "tls.crt", directory / "tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class _Quiet(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # a registry's /v2/ answer, over TLS
        self.send_response(200)
        self.send_header("Docker-Distribution-Api-Version", "registry/2.0")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    do_HEAD = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _TlsServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__(("127.0.0.1", 0), _Quiet)
        self.context = context

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = super().get_request()
        sock.settimeout(5)
        return self.context.wrap_socket(sock, server_side=True), addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a plain-HTTP client makes the handshake fail: that is the point


@contextmanager
def tls_listener(directory: Path) -> Iterator[str]:
    """An HTTPS server on 127.0.0.1 with a self-signed certificate; yields ``host:port``."""
    cert, key = _self_signed(directory)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = _TlsServer(context)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
