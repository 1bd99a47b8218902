"""Authentication against real registries: Distribution behind htpasswd (Basic) and behind
the test token server (Bearer), with credentials from config.json, a credential helper
and a Kubernetes pull Secret; ``hoist login``; the token cache and its refresh; and that
no credential reaches another host or any message."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hoist.auth.credential import Credential
from hoist.registry.auth import TokenCache, repository_scope
from hoist.registry.client import RegistryClient, new_session
from hoist.registry.transport import Transport
from hoist.store import ContentStore
from tests.registry._support import (
    BEARER,
    HELPER_NAME,
    JWT,
    CliRun,
    creds_of,
    hoist,
    install_helper,
    leaked,
    unique,
    write_auths,
    write_helper_config,
    write_identity_token,
    write_pull_secret,
)
from tests.support.distribution import Distribution
from tests.support.faultproxy import FaultProxy
from tests.support.images import ImageInfo, make_image
from tests.support.recording import RecordingServer
from tests.support.registry_http import basic_auth, request
from tests.support.secret import Secret, new_password
from tests.support.skopeo import Skopeo
from tests.support.tokenserver import TokenServer

REGISTRIES = ["distribution_basic", "distribution_bearer"]
SOURCES = ["authfile", "helper", "secret"]
StartRegistry = Callable[..., Distribution]
StartProxy = Callable[[Distribution | str], FaultProxy]


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "home" / ".docker"))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)


@dataclass(frozen=True)
class Seeded:
    registry: Distribution
    repo: str
    ref: str  # host/repo:tag
    image: ImageInfo

    @property
    def host(self) -> str:
        return self.registry.host


def _seed(registry: Distribution, skopeo: Skopeo, workdir: Path, name: str,
          layers: tuple[int, ...] = (3000, 5000)) -> Seeded:
    image = make_image(workdir / "layout", name, layers=layers)
    repo = unique(name)
    ref = f"{registry.host}/{repo}:v1"
    skopeo.copy(image.ref, f"docker://{ref}", creds=creds_of(registry))
    return Seeded(registry, repo, ref, image)


@pytest.fixture(scope="module")
def _seed_cache() -> dict[str, Seeded]:
    return {}


@pytest.fixture
def seeded(
    request: pytest.FixtureRequest,
    _seed_cache: dict[str, Seeded],
    skopeo: Skopeo,
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[[str], Seeded]:
    """One image per session registry, pushed once for this module's read-only tests."""

    def get(registry_name: str) -> Seeded:
        if registry_name not in _seed_cache:
            registry: Distribution = request.getfixturevalue(registry_name)
            workdir = tmp_path_factory.mktemp("auth-seed")
            _seed_cache[registry_name] = _seed(registry, skopeo, workdir, "auth-shared")
        return _seed_cache[registry_name]

    return get


def _credential_args(
    source: str, host: str, user: str, password: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> list[str]:
    empty = tmp_path / "empty-config.json"
    if source == "authfile":
        return ["--authfile", str(write_auths(tmp_path / "config.json", host, user, password))]
    if source == "helper":
        install_helper(tmp_path / "bin", monkeypatch, user, password)
        return ["--authfile", str(write_helper_config(tmp_path / "config.json", host))]
    assert source == "secret"
    secret = write_pull_secret(tmp_path / "regcred.json", host, user, password)
    return ["--secret", str(secret), "--authfile", str(empty)]


def _one_line(run: CliRun) -> bool:
    return len(run.err.strip().splitlines()) == 1


def _token_server(registry: Distribution) -> TokenServer:
    assert registry.token is not None
    return registry.token


# ---------------------------------------------------------------------- credential sources


@pytest.mark.parametrize("registry_name", REGISTRIES)
@pytest.mark.parametrize("source", SOURCES)
def test_each_credential_source_pulls_and_pushes(
    seeded: Callable[[str], Seeded],
    skopeo: Skopeo,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    registry_name: str,
    source: str,
) -> None:
    s = seeded(registry_name)
    user, password = creds_of(s.registry)
    args = _credential_args(source, s.host, user, password, tmp_path, monkeypatch)
    store = ["--store", str(tmp_path / "store"), "-q"]
    before = len(s.registry.token.requests) if s.registry.token else 0

    pulled = hoist(capsys, "pull", s.ref, *store, *args, "-o", "json")
    assert pulled.code == 0, pulled.err
    assert json.loads(pulled.out)["digest"] == s.image.digest

    dst = f"{s.host}/{unique('auth-push')}:v1"
    pushed = hoist(capsys, "push", s.ref, dst, *store, *args)
    assert pushed.code == 0, pushed.err
    assert skopeo.inspect_raw(f"docker://{dst}", creds=(user, password)) == s.image.manifest

    if s.registry.token is not None:
        # Every token came for this user's password, none anonymously.
        mine = s.registry.token.requests[before:]
        assert mine and all((r.grant, r.username, r.status) == ("basic", user, 200) for r in mine)


@pytest.mark.parametrize("registry_name", REGISTRIES)
@pytest.mark.parametrize("source", SOURCES)
def test_wrong_credentials_fail_on_one_line_without_the_password(
    seeded: Callable[[str], Seeded],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    registry_name: str,
    source: str,
) -> None:
    s = seeded(registry_name)
    user, password = creds_of(s.registry)
    wrong = Secret("wrong-" + password[::-1])
    args = _credential_args(source, s.host, user, wrong, tmp_path, monkeypatch)

    run = hoist(capsys, "pull", s.ref, "--store", str(tmp_path / "store"), "-q", *args)
    assert run.code == 1
    assert run.out == ""
    assert _one_line(run), "the error is not one line"
    assert s.host in run.err and user in run.err
    assert not leaked([run.err, run.out], [password, wrong]), "a password is in the message"
    with ContentStore(tmp_path / "store") as store:
        assert store.images() == []


@pytest.mark.parametrize("auth", ["htpasswd", "token"])
def test_anonymous_pull_suggests_login(
    fresh_distribution: StartRegistry,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    auth: str,
) -> None:
    # A registry of its own: the shared token server's records stay free of anonymous
    # grants, which other tests (tests/support_tests) do not expect there.
    registry = fresh_distribution(auth)
    run = hoist(capsys, "pull", f"{registry.host}/private/app:v1", "--store",
                str(tmp_path / "store"), "-q", "--authfile", str(tmp_path / "missing.json"))
    assert run.code == 1
    assert _one_line(run)
    assert f"hoist login {registry.host}" in run.err
    if registry.token is not None:
        # The token server was asked, anonymously, and granted nothing.
        assert [(r.grant, r.status) for r in registry.token.requests] == [("anonymous", 200)]
        assert registry.token.requests[0].access == ()


# ---------------------------------------------------------------------- hoist login


@pytest.mark.parametrize("registry_name", REGISTRIES)
def test_login_writes_the_authfile_a_pull_then_uses(
    seeded: Callable[[str], Seeded],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    registry_name: str,
) -> None:
    s = seeded(registry_name)
    user, password = creds_of(s.registry)
    authfile = tmp_path / "auth" / "config.json"

    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{password}\n"))
    run = hoist(capsys, "login", s.host, "-u", user, "--authfile", str(authfile))
    assert run.code == 0, run.err
    assert "Login Succeeded" in run.out and str(authfile) in run.out
    assert not leaked([run.out, run.err], [password])
    entry = json.loads(authfile.read_text())["auths"][s.host]
    stored = base64.b64decode(entry["auth"]).decode() == f"{user}:{password}"
    assert stored, "the authfile does not hold base64(user:password)"

    pulled = hoist(capsys, "pull", s.ref, "--store", str(tmp_path / "store"), "-q",
                   "--authfile", str(authfile))
    assert pulled.code == 0, pulled.err


@pytest.mark.parametrize("registry_name", REGISTRIES)
def test_login_with_a_wrong_password_writes_nothing(
    seeded: Callable[[str], Seeded],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    registry_name: str,
) -> None:
    s = seeded(registry_name)
    user, password = creds_of(s.registry)
    wrong = "nope-" + password[:5]
    authfile = tmp_path / "config.json"

    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{wrong}\n"))
    run = hoist(capsys, "login", s.host, "-u", user, "--authfile", str(authfile))
    assert run.code == 1
    assert _one_line(run) and s.host in run.err
    assert not leaked([run.out, run.err], [password, wrong])
    assert not authfile.exists()


def test_login_stores_through_the_configured_helper(
    distribution_basic: Distribution,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    user, password = creds_of(distribution_basic)
    bindir = tmp_path / "bin"
    install_helper(bindir, monkeypatch, "someone-else", "unused")
    authfile = write_helper_config(tmp_path / "config.json", distribution_basic.host)

    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{password}\n"))
    run = hoist(capsys, "login", distribution_basic.host, "-u", user, "--authfile", str(authfile))
    assert run.code == 0, run.err
    assert f"docker-credential-{HELPER_NAME}" in run.out
    stored = json.loads((bindir / "stored.json").read_text())
    assert stored["ServerURL"] == distribution_basic.host and stored["Username"] == user
    secret_ok = stored["Secret"] == password
    assert secret_ok, "the helper was not given the password"
    config = json.loads(authfile.read_text())
    assert config["auths"] == {distribution_basic.host: {}}  # no password in the file


# ---------------------------------------------------------------------- bearer tokens


def test_one_token_per_scope_for_a_multi_blob_pull_and_push(
    distribution_bearer: Distribution,
    skopeo: Skopeo,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    server = _token_server(distribution_bearer)
    s = _seed(distribution_bearer, skopeo, tmp_path, "token-cache", layers=(1000, 2000, 3000, 4000))
    user, password = creds_of(distribution_bearer)
    args = ["--authfile", str(write_auths(tmp_path / "c.json", s.host, user, password)),
            "--store", str(tmp_path / "store"), "-q", "-j", "6"]

    before = len(server.requests)
    pulled = hoist(capsys, "pull", s.ref, *args, "-o", "json")
    assert pulled.code == 0, pulled.err
    assert json.loads(pulled.out)["blobs"] == {"copied": 5}  # config + 4 layers
    fetched = server.requests[before:]
    assert [r.scopes for r in fetched] == [(repository_scope(s.repo, ["pull"]),)]

    dst_repo = unique("token-cache-dst")
    before = len(server.requests)
    pushed = hoist(capsys, "push", s.ref, f"{s.host}/{dst_repo}:v1", *args, "-o", "json")
    assert pushed.code == 0, pushed.err
    assert json.loads(pushed.out)["blobs"] == {"uploaded": 5}
    scopes = [r.scopes for r in server.requests[before:]]
    assert len(scopes) == len(set(scopes)), f"a scope was fetched twice: {scopes}"
    assert (repository_scope(dst_repo, ["pull", "push"]),) in scopes
    assert len(scopes) <= 2


@pytest.mark.parametrize(
    "settings",
    [
        pytest.param({"expires_in": None}, id="no-expires_in"),
        pytest.param({"token_fields": ("access_token",)}, id="access_token-only"),
        pytest.param({"token_fields": ("token",), "expires_in": None}, id="token-only"),
    ],
)
def test_token_response_shapes(
    fresh_distribution: StartRegistry,
    token_server: Callable[..., TokenServer],
    skopeo: Skopeo,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    settings: dict[str, Any],
) -> None:
    server = token_server(users={"bob": new_password()}, **settings)
    registry = fresh_distribution("token", token=server)
    s = _seed(registry, skopeo, tmp_path, "shapes")
    user, password = creds_of(registry)
    before = len(server.requests)
    run = hoist(capsys, "pull", s.ref, "--store", str(tmp_path / "store"), "-q", "-o", "json",
                "--authfile", str(write_auths(tmp_path / "c.json", s.host, user, password)))
    assert run.code == 0, run.err
    assert json.loads(run.out)["digest"] == s.image.digest
    assert [r.status for r in server.requests[before:]] == [200]  # and cached after that


@pytest.mark.parametrize("where", ["manifest", "blob"])
def test_a_refused_cached_token_is_fetched_again_once(
    distribution_bearer: Distribution,
    skopeo: Skopeo,
    fault_proxy: StartProxy,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    where: str,
) -> None:
    """The registry stops accepting the token it accepted a moment ago (revoked): the client
    drops it, fetches exactly one fresh token and the request succeeds."""
    server = _token_server(distribution_bearer)
    s = _seed(distribution_bearer, skopeo, tmp_path, f"revoked-{where}")
    proxy = fault_proxy(distribution_bearer)
    user, password = creds_of(distribution_bearer)
    scope = repository_scope(s.repo, ["pull"])
    challenge = (f'Bearer realm="{server.realm}",service="{server.service}",'
                 f'scope="{scope}",error="invalid_token"')
    path = r"/manifests/sha256:" if where == "manifest" else r"/blobs/sha256:"
    rule = proxy.http_status(401, {"WWW-Authenticate": challenge}, path=path, method="GET")

    before = len(server.requests)
    run = hoist(capsys, "pull", f"{proxy.host}/{s.repo}:v1", "--store", str(tmp_path / "store"),
                "-q", "-j", "1", "-o", "json",
                "--authfile", str(write_auths(tmp_path / "c.json", proxy.host, user, password)))
    assert run.code == 0, run.err
    assert json.loads(run.out)["digest"] == s.image.digest
    assert rule.fired == 1
    fetched = server.requests[before:]
    assert [(r.scopes, r.status) for r in fetched] == [((scope,), 200)] * 2


def test_an_expired_cached_token_is_replaced_once(
    distribution_bearer: Distribution,
    skopeo: Skopeo,
    tmp_path: Path,
) -> None:
    """A token the cache still holds but the registry finds expired (issued with a negative
    lifetime, beyond Distribution's 60 s leeway) costs one token fetch, then succeeds."""
    server = _token_server(distribution_bearer)
    s = _seed(distribution_bearer, skopeo, tmp_path, "expired")
    user, password = creds_of(distribution_bearer)
    scope = repository_scope(s.repo, ["pull"])
    tokens = TokenCache()

    async def scenario() -> tuple[int, int]:
        async with new_session() as http:
            transport = Transport(s.host, http, tokens=tokens, credentials=Credential(
                username=user, password=password))
            client = RegistryClient(transport)
            first = await client.resolve(s.repo, "v1")
            assert str(first.digest) == s.image.digest
            fetched_first = len(server.requests)
            server.token_lifetime = -3600
            try:
                expired = server.issue(user, server.grant(user, [scope]))
            finally:
                server.token_lifetime = None
            tokens.put(server.realm, server.service, (scope,), expired, 300)
            manifest = await client.get_manifest(s.repo, "v1")
            assert manifest.raw == s.image.manifest
            return fetched_first, len(server.requests)

    before = len(server.requests)
    after_first, after_second = asyncio.run(scenario())
    assert after_first - before == 1
    assert after_second - after_first == 1
    assert server.requests[-1].status == 200 and server.requests[-1].scopes == (scope,)


def _refresh_token(server: TokenServer, user: str, password: str) -> str:
    answer = request(f"{server.realm}?service={server.service}&offline_token=true",
                     headers=basic_auth(user, password))
    assert answer.status == 200
    token = answer.json()["refresh_token"]
    assert isinstance(token, str)
    return token


@pytest.mark.parametrize("source", ["helper", "authfile"])
def test_identity_token_is_exchanged_with_a_refresh_grant(
    seeded: Callable[[str], Seeded],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    source: str,
) -> None:
    s = seeded("distribution_bearer")
    server = _token_server(s.registry)
    user, password = creds_of(s.registry)
    refresh = _refresh_token(server, user, password)
    if source == "helper":
        install_helper(tmp_path / "bin", monkeypatch, "<token>", refresh)
        authfile = write_helper_config(tmp_path / "config.json", s.host)
    else:
        authfile = write_identity_token(tmp_path / "config.json", s.host, refresh)

    before = len(server.requests)
    run = hoist(capsys, "pull", s.ref, "--store", str(tmp_path / "store"), "-q", "-o", "json",
                "--authfile", str(authfile))
    assert run.code == 0, run.err
    assert json.loads(run.out)["digest"] == s.image.digest
    fetched = server.requests[before:]
    assert fetched
    assert all((r.method, r.grant, r.status, r.username) == ("POST", "refresh_token", 200, user)
               for r in fetched)
    assert fetched[0].scopes == (repository_scope(s.repo, ["pull"]),)
    assert not leaked([run.out, run.err], [refresh])


# ---------------------------------------------------------------------- nothing leaks


@pytest.fixture
def issued_tokens(monkeypatch: pytest.MonkeyPatch) -> Callable[[TokenServer], list[str]]:
    """Record every token a TokenServer signs from now on."""

    def watch(server: TokenServer) -> list[str]:
        tokens: list[str] = []
        original = server.issue

        def issue(subject: str | None, access: list[dict[str, Any]]) -> str:
            token = original(subject, access)
            tokens.append(token)
            return token

        monkeypatch.setattr(server, "issue", issue)
        return tokens

    return watch


@pytest.fixture
def registry_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    # -v sets the hoist.registry logger to DEBUG; caplog restores its level afterwards.
    caplog.set_level(logging.DEBUG, logger="hoist.registry")
    yield caplog


@pytest.mark.parametrize("registry_name", REGISTRIES)
def test_credentials_never_follow_a_blob_redirect(
    request: pytest.FixtureRequest,
    skopeo: Skopeo,
    fault_proxy: StartProxy,
    recording_server: RecordingServer,
    issued_tokens: Callable[[TokenServer], list[str]],
    registry_log: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    registry_name: str,
) -> None:
    registry: Distribution = request.getfixturevalue(registry_name)
    s = _seed(registry, skopeo, tmp_path, "redirect", layers=(2000, 70_000))
    user, password = creds_of(registry)
    tokens = issued_tokens(registry.token) if registry.token else []
    # The "object storage" serves the real bytes, so the pull succeeds with right digests.
    paths = set()
    for blob in s.image.blobs:
        path = f"/v2/{s.repo}/blobs/{blob.digest}"
        recording_server.add(path, blob.path.read_bytes(),
                             headers={"Content-Type": "application/octet-stream"})
        paths.add(path)
    proxy = fault_proxy(registry)
    proxy.redirect_blobs(recording_server.url, times=None)

    run = hoist(capsys, "pull", f"{proxy.host}/{s.repo}:v1", "--store", str(tmp_path / "store"),
                "-q", "-v", "-o", "json",
                "--authfile", str(write_auths(tmp_path / "c.json", proxy.host, user, password)))
    assert run.code == 0, run.err
    assert json.loads(run.out)["digest"] == s.image.digest

    got = recording_server.requests
    assert {r.path for r in got} == paths and all(r.method == "GET" for r in got)
    assert not any(r.has_authorization for r in got), "a credential went to another host"
    assert sum(e.kind == "redirect" for e in proxy.stats.events) == len(paths)
    with ContentStore(tmp_path / "store") as store:
        assert {str(d) for d in store.blobs.digests()} == {s.image.digest, *s.image.blob_digests}

    # The verbose log shows the requests, and neither the password nor any token.
    texts = [run.err, run.out, registry_log.text]
    assert "GET /v2/" in registry_log.text
    assert not leaked(texts, [password, *tokens]), "a secret is in the output or the log"
    assert not any(JWT.search(t) or BEARER.search(t) for t in texts)
    if registry.token is not None:
        assert tokens, "no token was issued: the test did not exercise Bearer auth"


@pytest.mark.parametrize("registry_name", REGISTRIES)
def test_error_messages_and_verbose_log_hold_no_secret(
    seeded: Callable[[str], Seeded],
    issued_tokens: Callable[[TokenServer], list[str]],
    registry_log: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    registry_name: str,
) -> None:
    s = seeded(registry_name)
    user, password = creds_of(s.registry)
    tokens = issued_tokens(s.registry.token) if s.registry.token else []
    authfile = str(write_auths(tmp_path / "c.json", s.host, user, password))
    missing_tag = f"{s.host}/{s.repo}:no-such-tag"
    missing_repo = f"{s.host}/{unique('never-pushed')}:v1"
    runs = [
        hoist(capsys, "pull", missing_tag, "--store", str(tmp_path / "s"), "-q", "-v",
              "--authfile", authfile),
        hoist(capsys, "inspect", f"docker://{missing_repo}", "-v", "--authfile", authfile),
        hoist(capsys, "tags", f"{s.host}/{s.repo}", "-v", "--authfile", authfile),
    ]
    assert [r.code for r in runs] == [1, 1, 0]
    assert "no-such-tag" in runs[0].err and "manifest unknown" in runs[0].err.lower()
    assert s.host in runs[1].err
    assert runs[2].out.split() == ["v1"]
    texts = [t for r in runs for t in (r.out, r.err)] + [registry_log.text]
    assert not leaked(texts, [password, *tokens]), "a secret is in a message or the log"
    assert not any(JWT.search(t) or BEARER.search(t) for t in texts)
    if s.registry.token is not None:
        assert tokens
