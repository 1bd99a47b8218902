"""Fixtures running hoist's own registry server (``hoist registry serve``).

Loaded from tests/conftest.py ``pytest_plugins``. Each server is a subprocess
(``python -m hoist registry serve`` on a free 127.0.0.1 port, its own store directory,
stopped by PID) unless said otherwise.

    hoist_registry         session-scoped, no auth (push to a repository name unique to
                           your test)
    hoist_registry_factory function-scoped: start(*, auth="none"|"basic"|"token",
                           users=None, read_only=False, store=None, in_thread=False)
                           → HoistRegistry
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from hoist.registry.server import RegistryServer, ServerOptions
from tests.support.secret import new_password

ServerAuth = Literal["none", "basic", "token"]
MISSING_HTPASSWD = "htpasswd not installed (Debian package apache2-utils)"


@dataclass(repr=False)
class HoistRegistry:
    server: RegistryServer
    store: Path
    log_path: Path | None
    auth: ServerAuth = "none"
    users: dict[str, str] = field(default_factory=dict)  # never in repr

    def __repr__(self) -> str:
        return f"HoistRegistry(url={self.url!r}, auth={self.auth!r})"

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def host(self) -> str:
        return self.server.address

    @property
    def pid(self) -> int | None:
        return self.server.pid

    def log_text(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        self.server.stop()


def write_htpasswd(path: Path, users: dict[str, str]) -> None:
    """bcrypt entries made by Apache's ``htpasswd -B`` (the password on stdin)."""
    lines = []
    for user, password in users.items():
        out = subprocess.run(["htpasswd", "-niB", user], input=password.encode(),
                             capture_output=True, check=True, timeout=30)
        lines.append(out.stdout.decode().strip())
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)


def start_hoist_registry(workdir: Path, *, auth: ServerAuth = "none",
                         users: dict[str, str] | None = None, read_only: bool = False,
                         store: Path | None = None, in_thread: bool = False) -> HoistRegistry:
    workdir.mkdir(parents=True, exist_ok=True)
    store = store or workdir / "store"
    args: list[str] = []
    htpasswd: Path | None = None
    if auth != "none":
        if shutil.which("htpasswd") is None:
            pytest.skip(reason=MISSING_HTPASSWD)
        users = users or {"alice": new_password()}
        htpasswd = workdir / "htpasswd"
        write_htpasswd(htpasswd, users)
        args += ["--htpasswd", str(htpasswd)]
        if auth == "token":
            args.append("--token-auth")
    if read_only:
        args.append("--read-only")
    if in_thread:
        server = RegistryServer.in_thread(ServerOptions(
            store_root=store, htpasswd=htpasswd, token_auth=auth == "token",
            read_only=read_only))
        return HoistRegistry(server, store, None, auth, dict(users or {}))
    log_path = workdir / "registry.log"
    server = RegistryServer.subprocess(store, args=args, log_path=log_path,
                                       python=sys.executable)
    return HoistRegistry(server, store, log_path, auth, dict(users or {}))


@pytest.fixture(scope="session")
def hoist_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HoistRegistry]:
    registry = start_hoist_registry(tmp_path_factory.mktemp("hoist-registry"))
    yield registry
    registry.stop()


@pytest.fixture
def hoist_registry_factory(tmp_path: Path) -> Iterator[Callable[..., HoistRegistry]]:
    started: list[HoistRegistry] = []

    def start(**kwargs: object) -> HoistRegistry:
        registry = start_hoist_registry(tmp_path / f"hoist-registry-{len(started)}",
                                        **kwargs)  # type: ignore[arg-type]
        started.append(registry)
        return registry

    yield start
    for registry in reversed(started):
        registry.stop()
