"""pytest fixtures over real registries, a token server, a fault proxy and images.

Loaded from tests/conftest.py with ``pytest_plugins``. A fixture that needs a missing
piece skips with a reason naming it (binary and Debian package). Tests that use a
fixture needing an external tool get the ``system`` marker automatically.

Session-scoped (shared; push to a repository name unique to your test):
    distribution_open    Distribution, no auth
    distribution_basic   Distribution, htpasswd; .users == {"alice": <random password>}
                         (passwords are tests.support.secret.Secret: repr '<redacted>')
    distribution_bearer  Distribution, token auth; .token is its TokenServer,
                         .users == .token.users == {"bob": <random password>}
Function-scoped:
    fresh_distribution(auth="none", *, users=None, token=None, delete_enabled=True)
        → a new, empty Distribution (htpasswd defaults to a random "alice", token to a
          new TokenServer with a random "bob")
    token_server(*, users=None, **TokenServer options) → TokenServer
    fault_proxy(upstream: Distribution | "host:port" | URL) → FaultProxy
    recording_server → RecordingServer on 127.0.0.2
    skopeo → Skopeo
    image_factory → ImageFactory writing into an OCI layout under tmp_path
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.distribution import (
    AuthMode,
    Distribution,
    missing_requirements,
    start_distribution,
)
from tests.support.faultproxy import FaultProxy
from tests.support.images import ImageFactory
from tests.support.recording import RecordingServer
from tests.support.secret import new_password
from tests.support.skopeo import MISSING_SKOPEO, Skopeo, skopeo_binary
from tests.support.tokenserver import MISSING_CRYPTOGRAPHY, TokenServer

# Fixtures that run an external tool: their tests are system tests.
SYSTEM_FIXTURES = frozenset(
    {
        "distribution_open",
        "distribution_basic",
        "distribution_bearer",
        "fresh_distribution",
        "skopeo",
    }
)


@pytest.hookimpl(tryfirst=True)  # before `-m` deselection looks at the markers
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SYSTEM_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.system)


def _require(auth: AuthMode) -> None:
    reason = missing_requirements(auth)
    if reason is not None:
        pytest.skip(reason=reason)


def _require_cryptography() -> None:
    try:
        import cryptography  # noqa: F401
    except ImportError:
        pytest.skip(reason=MISSING_CRYPTOGRAPHY)


@pytest.fixture(scope="session")
def distribution_open(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Distribution]:
    _require("none")
    with start_distribution(tmp_path_factory.mktemp("distribution-open"), "none") as registry:
        yield registry


@pytest.fixture(scope="session")
def distribution_basic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Distribution]:
    _require("htpasswd")
    workdir = tmp_path_factory.mktemp("distribution-basic")
    with start_distribution(workdir, "htpasswd", users={"alice": new_password()}) as registry:
        yield registry


@pytest.fixture(scope="session")
def distribution_bearer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Distribution]:
    _require("token")
    workdir = tmp_path_factory.mktemp("distribution-bearer")
    with (
        TokenServer(workdir / "token", users={"bob": new_password()}) as token,
        start_distribution(workdir / "registry", "token", token=token) as registry,
    ):
        registry.users = token.users
        yield registry


@pytest.fixture
def token_server(tmp_path: Path) -> Iterator[Callable[..., TokenServer]]:
    _require_cryptography()
    servers: list[TokenServer] = []

    def start(*, users: dict[str, str] | None = None, **options: Any) -> TokenServer:
        server = TokenServer(tmp_path / f"token-{len(servers)}", users=users, **options)
        servers.append(server)
        return server

    yield start
    for server in reversed(servers):
        server.stop()


@pytest.fixture
def fresh_distribution(tmp_path: Path) -> Iterator[Callable[..., Distribution]]:
    registries: list[Distribution] = []
    tokens: list[TokenServer] = []  # the ones made here; a caller's own it stops itself

    def start(
        auth: AuthMode = "none",
        *,
        users: dict[str, str] | None = None,
        token: TokenServer | None = None,
        delete_enabled: bool = True,
    ) -> Distribution:
        _require(auth)
        if auth == "htpasswd" and users is None:
            users = {"alice": new_password()}
        if auth == "token" and token is None:
            token = TokenServer(
                tmp_path / f"token-{len(tokens)}", users=users or {"bob": new_password()}
            )
            tokens.append(token)
        registry = start_distribution(
            tmp_path / f"distribution-{len(registries)}",
            auth,
            users=users,
            token=token,
            delete_enabled=delete_enabled,
        )
        if token is not None:
            registry.users = token.users
        registries.append(registry)
        return registry

    yield start
    for registry in reversed(registries):
        registry.stop()
    for token in tokens:
        token.stop()


@pytest.fixture
def fault_proxy() -> Iterator[Callable[[Distribution | str], FaultProxy]]:
    proxies: list[FaultProxy] = []

    def start(upstream: Distribution | str) -> FaultProxy:
        target = upstream.host if isinstance(upstream, Distribution) else upstream
        proxy = FaultProxy(target)
        proxies.append(proxy)
        return proxy

    yield start
    for proxy in reversed(proxies):
        proxy.stop()


@pytest.fixture
def recording_server() -> Iterator[RecordingServer]:
    with RecordingServer() as server:
        yield server


@pytest.fixture(scope="session")
def _skopeo_session() -> Skopeo | None:
    return Skopeo() if skopeo_binary() is not None else None


@pytest.fixture
def skopeo(_skopeo_session: Skopeo | None) -> Skopeo:
    if _skopeo_session is None:
        pytest.skip(reason=MISSING_SKOPEO)
    return _skopeo_session


@pytest.fixture
def image_factory(tmp_path: Path) -> ImageFactory:
    return ImageFactory(tmp_path / "oci-layout")
