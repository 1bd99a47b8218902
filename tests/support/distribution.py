"""Run a real CNCF Distribution registry (Debian's ``docker-registry``) for a test.

Each registry gets its own config.yml, filesystem storage and log file under ``workdir``,
listens on a free 127.0.0.1 port and is stopped by its PID.
"""

from __future__ import annotations

import ctypes
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml

from tests.support._net import free_port, wait_for_http
from tests.support.tokenserver import MISSING_CRYPTOGRAPHY, TokenServer

AuthMode = Literal["none", "htpasswd", "token"]

REGISTRY_BINARY = "docker-registry"
MISSING_REGISTRY = "docker-registry not installed (Debian package docker-registry)"
MISSING_HTPASSWD = "htpasswd not installed (Debian package apache2-utils)"
HTPASSWD_REALM = "hoist-test-registry"
START_TIMEOUT = 15.0


class DistributionError(RuntimeError):
    """The registry did not come up; the message carries the tail of its log."""


@dataclass(repr=False)
class Distribution:
    """A running ``docker-registry serve`` process."""

    host: str  # "127.0.0.1:PORT"
    url: str  # "http://127.0.0.1:PORT"
    port: int
    pid: int
    workdir: Path
    storage: Path
    config_path: Path
    log_path: Path
    auth: AuthMode
    delete_enabled: bool
    users: dict[str, str] = field(default_factory=dict)  # never shown in repr
    token: TokenServer | None = None
    _process: subprocess.Popen[bytes] | None = None

    def __repr__(self) -> str:
        return f"Distribution(url={self.url!r}, auth={self.auth!r}, pid={self.pid})"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM the registry by PID, wait, SIGKILL if it lingers. Idempotent."""
        proc = self._process
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=timeout)
        self._process = None

    def __enter__(self) -> Distribution:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _die_with_parent() -> Callable[[], None] | None:
    """A preexec hook so a registry cannot outlive a pytest that was SIGKILLed.

    PR_SET_PDEATHSIG fires when the *thread* that forked exits, so it is only used from
    the main thread (fixtures run there); elsewhere the caller's stop() is the only stop.
    """
    if threading.current_thread() is not threading.main_thread() or sys.platform != "linux":
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    pr_set_pdeathsig = 1

    def preexec() -> None:
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)

    return preexec


def _still_running(proc: subprocess.Popen[bytes]) -> Callable[[], bool]:
    return lambda: proc.poll() is None


def registry_binary() -> str | None:
    return shutil.which(REGISTRY_BINARY)


def missing_requirements(auth: AuthMode) -> str | None:
    """Why a registry with ``auth`` cannot run here, or None when it can."""
    if registry_binary() is None:
        return MISSING_REGISTRY
    if auth == "htpasswd" and shutil.which("htpasswd") is None:
        return MISSING_HTPASSWD
    if auth == "token":
        try:
            import cryptography  # noqa: F401
        except ImportError:
            return MISSING_CRYPTOGRAPHY
    return None


def write_htpasswd(path: Path, users: dict[str, str]) -> None:
    """bcrypt entries via ``htpasswd -B``; Distribution's htpasswd auth accepts only bcrypt.

    ``-i`` reads the password from stdin, so it never shows up in a process listing the
    way ``-b``'s command-line argument would.
    """
    lines = []
    for user, password in users.items():
        out = subprocess.run(
            ["htpasswd", "-niB", user],
            input=password.encode(),
            capture_output=True,
            check=False,
            timeout=30,
        )
        if out.returncode != 0:
            raise DistributionError(
                f"htpasswd failed for user {user!r}: {out.stderr.decode(errors='replace')}"
            )
        lines.append(out.stdout.decode().strip())
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)


def _config(
    workdir: Path,
    port: int,
    auth: AuthMode,
    delete_enabled: bool,
    htpasswd: Path | None,
    token: TokenServer | None,
) -> dict[str, object]:
    config: dict[str, object] = {
        "version": 0.1,
        "log": {"level": "info", "formatter": "text", "accesslog": {"disabled": False}},
        "storage": {
            "filesystem": {"rootdirectory": str(workdir / "storage")},
            "delete": {"enabled": delete_enabled},
            # The background upload purger only adds log noise in short-lived registries.
            "maintenance": {"uploadpurging": {"enabled": False}},
        },
        "http": {
            "addr": f"127.0.0.1:{port}",
            # A fixed secret silences the "generated random secret" warning; it signs
            # upload state only and protects nothing outside this test.
            "secret": secrets.token_hex(16),
        },
    }
    if auth == "htpasswd":
        assert htpasswd is not None
        config["auth"] = {"htpasswd": {"realm": HTPASSWD_REALM, "path": str(htpasswd)}}
    elif auth == "token":
        assert token is not None
        config["auth"] = {
            "token": {
                "realm": token.realm,
                "service": token.service,
                "issuer": token.issuer,
                "rootcertbundle": str(token.rootcertbundle),
            }
        }
    return config


def start_distribution(
    workdir: Path,
    auth: AuthMode = "none",
    *,
    users: dict[str, str] | None = None,
    token: TokenServer | None = None,
    delete_enabled: bool = True,
    attempts: int = 3,
) -> Distribution:
    """Start ``docker-registry serve`` with a config written under ``workdir``.

    ``auth="htpasswd"`` needs ``users``; ``auth="token"`` needs a running ``token`` server
    (its realm, service, issuer and CA bundle go into the config). The registry's own
    environment variables (``REGISTRY_*``) are dropped so the host's settings cannot
    override the config. Returns once ``GET /v2/`` answers 200 or 401.
    """
    binary = registry_binary()
    if binary is None:
        raise DistributionError(MISSING_REGISTRY)
    if auth == "htpasswd" and not users:
        raise ValueError("auth='htpasswd' needs users")
    if auth == "token" and token is None:
        raise ValueError("auth='token' needs a TokenServer")
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "storage").mkdir(exist_ok=True)
    htpasswd: Path | None = None
    if auth == "htpasswd":
        assert users is not None
        htpasswd = workdir / "htpasswd"
        write_htpasswd(htpasswd, users)
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    config_path = workdir / "config.yml"
    log_path = workdir / "registry.log"

    last_error = ""
    for _attempt in range(attempts):
        port = free_port()
        config_path.write_text(
            yaml.safe_dump(_config(workdir, port, auth, delete_enabled, htpasswd, token))
        )
        with log_path.open("ab") as log:
            proc = subprocess.Popen(
                [binary, "serve", str(config_path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=workdir,
                env=env,
                preexec_fn=_die_with_parent(),
            )
        registry = Distribution(
            host=f"127.0.0.1:{port}",
            url=f"http://127.0.0.1:{port}",
            port=port,
            pid=proc.pid,
            workdir=workdir,
            storage=workdir / "storage",
            config_path=config_path,
            log_path=log_path,
            auth=auth,
            delete_enabled=delete_enabled,
            users=dict(users or {}),
            token=token,
            _process=proc,
        )
        try:
            wait_for_http(
                "127.0.0.1",
                port,
                "/v2/",
                accept=(200, 401),
                timeout=START_TIMEOUT,
                alive=_still_running(proc),
            )
            return registry
        except (RuntimeError, TimeoutError) as exc:
            registry.stop()
            tail = "\n".join(registry.log_text().splitlines()[-15:])
            last_error = f"{exc}\n--- {log_path} (tail) ---\n{tail}"
            # Another process took the port between free_port() and the bind: try again.
            if "address already in use" not in tail:
                break
            time.sleep(0.05)
    raise DistributionError(f"docker-registry did not start: {last_error}")
