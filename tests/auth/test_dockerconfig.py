"""docker CLI credential lookup, login and logout on config.json.

Key normalisation cases are ported from docker/cli credentials/file_store_test.go
(TestConvertToHostname) and configfile/file_test.go; the credential helper used here is the
fake ``docker-credential-hoisttest`` of test_credhelper.
"""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hoist.auth.credential import Credential
from hoist.auth.dockerconfig import (
    DockerConfig,
    config_key,
    convert_to_hostname,
    parse_go_url,
    resolve_config_path,
)
from hoist.errors import InputError, OperationError
from tests.auth.test_credhelper import FakeHelper, install_helper

HUB = "https://index.docker.io/v1/"
SECRET = "S3cr3t-PW-7f1c"  # distinctive, so "never appears" checks mean something


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def write_config(path: Path, doc: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return path


@pytest.fixture
def cfg_path(tmp_path: Path) -> Path:
    return tmp_path / "docker" / "config.json"


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeHelper:
    return install_helper(tmp_path, monkeypatch)


# --------------------------------------------------------------------------- where the file is


def test_config_path_resolution(tmp_path: Path) -> None:
    """cli/config/config.go: --authfile, then $DOCKER_CONFIG, then ~/.docker."""
    env = {"HOME": str(tmp_path / "home"), "DOCKER_CONFIG": str(tmp_path / "dc")}
    assert resolve_config_path("x.json", env) == Path("x.json")
    assert resolve_config_path(None, env) == tmp_path / "dc" / "config.json"
    assert resolve_config_path(None, {"HOME": str(tmp_path / "home")}) == (
        tmp_path / "home" / ".docker" / "config.json")
    assert resolve_config_path(None, {"HOME": "/h", "DOCKER_CONFIG": ""}) == Path(
        "/h/.docker/config.json")


def test_load_uses_env(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_config(home / ".docker" / "config.json", {"auths": {"r.io": {"auth": b64("u:p")}}})
    config = DockerConfig.load(env={"HOME": str(home)})
    assert config.path == home / ".docker" / "config.json"
    assert config.credential_for("r.io") == Credential("u", "p", source=str(config.path))


def test_missing_file_is_empty(cfg_path: Path) -> None:
    config = DockerConfig.load(cfg_path)
    cred = config.credential_for("docker.io")
    assert cred.is_anonymous
    assert cred.source == str(cfg_path)


# --------------------------------------------------------------------------- lookups


@pytest.mark.parametrize(
    ("registry", "expected"),
    [
        ("docker.io", HUB),
        ("index.docker.io", HUB),
        ("registry-1.docker.io", HUB),  # hoist's addition: the API host too
        (HUB, HUB),
        ("https://registry-1.docker.io", HUB),
        ("index.docker.io/v1/", HUB),
        ("myreg:5000", "myreg:5000"),
        ("https://myreg:5000/v1/", "myreg:5000"),
        ("ghcr.io", "ghcr.io"),
        ("localhost", "localhost"),
    ],
)
def test_config_key(registry: str, expected: str) -> None:
    """registry.go getAuthConfigKey (+ ConvertToHostname for URLs, as login does)."""
    assert config_key(registry) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("::1", "::1"),
        ("[::1]", "[::1]"),
        ("example.com", "example.com"),
        ("http://example.com", "example.com"),
        ("https://example.com", "example.com"),
        ("https://example.com/", "example.com"),
        ("https://example.com/v2/", "example.com"),
        ("unix:///var/run/docker.sock", "unix:"),
        ("ftp://example.com", "example.com"),
        ("127.0.0.1:6556", "127.0.0.1:6556"),
        ("::1:6556", "::1:6556"),
        ("[::1]:6556", "[::1]:6556"),
        ("example.com:6555", "example.com:6555"),
        ("https://127.0.0.1:6555/v2/", "127.0.0.1:6555"),
        ("https://::1:6555/v2/", "[::1]:6555"),
        ("https://[::1]:6555/v2/", "[::1]:6555"),
        ("http://example.com:6555", "example.com:6555"),
        ("https://example.com:6555", "example.com:6555"),
        ("https://example.com:6555/v2/", "example.com:6555"),
    ],
)
def test_convert_to_hostname(value: str, expected: str) -> None:
    """docker/cli credentials/file_store_test.go TestConvertToHostname."""
    assert convert_to_hostname(value) == expected


@pytest.mark.parametrize(
    ("stored_key", "registry", "found"),
    [
        ("myreg:5000", "myreg:5000", True),
        ("https://myreg:5000/v1/", "myreg:5000", True),  # legacy key, normalised
        ("http://myreg:5000", "myreg:5000", True),
        ("myreg:5000/some/path", "myreg:5000", True),  # ConvertToHostname cuts at "/"
        ("myreg", "myreg:5000", False),  # the port is part of the host
        (HUB, "docker.io", True),
        (HUB, "index.docker.io", True),
        (HUB, "registry-1.docker.io", True),
        # docker/cli asks for https://index.docker.io/v1/ only: these keys are not read
        ("docker.io", "docker.io", False),
        ("https://index.docker.io/v2/", "docker.io", False),
    ],
)
def test_auths_key_matching(cfg_path: Path, stored_key: str, registry: str, found: bool) -> None:
    write_config(cfg_path, {"auths": {stored_key: {"auth": b64("u:" + SECRET)}}})
    cred = DockerConfig.load(cfg_path).credential_for(registry)
    assert (cred.username, cred.password) == (("u", SECRET) if found else ("", ""))
    assert cred.source == str(cfg_path)


def test_exact_key_wins_over_legacy_forms(cfg_path: Path) -> None:
    write_config(cfg_path, {"auths": {
        "https://myreg/v1/": {"auth": b64("legacy:1")},
        "myreg": {"auth": b64("exact:2")},
    }})
    assert DockerConfig.load(cfg_path).credential_for("myreg").username == "exact"


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"auth": b64("user:pa:ss")}, ("user", "pa:ss", "", "")),  # first colon
        ({"username": "a", "password": "b", "auth": b64("c:d")}, ("c", "d", "", "")),
        ({"username": "a", "password": "b"}, ("a", "b", "", "")),
        ({"auth": b64("u:p\x00\x00")}, ("u", "p", "", "")),  # decodeAuth trims NULs
        ({"identitytoken": "idt"}, ("", "", "idt", "")),
        ({"registrytoken": "rt"}, ("", "", "", "rt")),
        ({"auth": ""}, ("", "", "", "")),
        # encoding/json: names are case-insensitive; the later duplicate wins
        ({"Auth": b64("x:y"), "IdentityToken": "i"}, ("x", "y", "i", "")),
        ({"username": "first", "USERNAME": "second"}, ("second", "", "", "")),
        ({"username": "kept", "username ": "other"}, ("kept", "", "", "")),
        ({"username": None, "password": None}, ("", "", "", "")),
    ],
)
def test_entry_fields(
    cfg_path: Path, entry: dict[str, Any], expected: tuple[str, str, str, str]
) -> None:
    """configfile/file.go LoadFromReader: auth wins over username/password."""
    write_config(cfg_path, {"auths": {"r.io": entry}})
    cred = DockerConfig.load(cfg_path).credential_for("r.io")
    assert (cred.username, cred.password, cred.identity_token, cred.registry_token) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"auths": [1]}', "auths is not a JSON object"),
        ('{"auths": {"r.io": "x"}}', "auths['r.io'] is not a JSON object"),
        ('{"auths": {"r.io": {"password": 1}}}', "auths['r.io']: field password is not a string"),
        ('{"auths": {"r.io": {"auth": "%%%%"}}}', "auths['r.io']: auth is not valid base64"),
        ('{"auths": {"r.io": {"auth": "' + b64(":" + SECRET) + '"}}}',
         "auth is not base64(username:password)"),  # empty username
        ('{"auths": {"r.io": {"auth": "' + b64(SECRET) + '"}}}',
         "auth is not base64(username:password)"),  # no colon
        ('{"auths": {"r.io": {"auth": "' + b64("u:" + SECRET).rstrip("=") + '"}}}',
         "not valid base64"),  # the CLI wants padding
        ('{"credsStore": 5}', "credsStore is not a string"),
        ('{"credHelpers": {"r.io": 5}}', "credHelpers['r.io'] is not a string"),
        ('{"credHelpers": "pass"}', "credHelpers is not a JSON object"),
        ('{"auths": {}, "x": NaN}', "not valid JSON"),
    ],
)
def test_malformed_files(cfg_path: Path, text: str, fragment: str) -> None:
    write_config(cfg_path, text)
    with pytest.raises(InputError) as info:
        DockerConfig.load(cfg_path)
    message = str(info.value)
    assert message.startswith(f"{cfg_path}: ")
    assert fragment in message
    assert "\n" not in message
    assert SECRET not in message and b64(SECRET)[:12] not in message


@pytest.mark.parametrize(
    ("text", "username"),
    [
        ("", ""),
        ("  \n", ""),
        # json.Decoder.Decode reads one value; what follows is never looked at
        ('{"auths": {"r.io": {"auth": "' + b64("u:p") + '"}}} trailing garbage', "u"),
        ('{"auths": null}', ""),
        ("null", ""),
        ('{"psFormat": "table", "auths": {"r.io": {"username": "u"}}, "unknown": [1]}', "u"),
    ],
)
def test_files_the_cli_accepts(cfg_path: Path, text: str, username: str) -> None:
    write_config(cfg_path, text)
    assert DockerConfig.load(cfg_path).credential_for("r.io").username == username


def test_duplicate_auths_objects_merge(cfg_path: Path) -> None:
    """Go decodes a repeated map field into the same map: the entries accumulate."""
    write_config(cfg_path, '{"auths": {"a.io": {"auth": "' + b64("a:1") + '"}},'
                           ' "Auths": {"b.io": {"auth": "' + b64("b:2") + '"}}}')
    config = DockerConfig.load(cfg_path)
    assert config.credential_for("a.io").username == "a"
    assert config.credential_for("b.io").username == "b"


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is a directory"):
        DockerConfig.load(tmp_path)


def test_secrets_never_in_repr(cfg_path: Path) -> None:
    write_config(cfg_path, {"auths": {"r.io": {"auth": b64("u:" + SECRET),
                                               "identitytoken": SECRET + "i"}}})
    config = DockerConfig.load(cfg_path)
    assert SECRET not in repr(config)
    assert SECRET not in repr(config.credential_for("r.io"))
    assert SECRET not in str(config.credential_for("r.io"))


# --------------------------------------------------------------------------- helpers


def test_cred_helper_for_host(cfg_path: Path, fake: FakeHelper) -> None:
    """credHelpers[host] first; the helper is asked for the bare host."""
    write_config(cfg_path, {"credHelpers": {"myreg:5000": "hoisttest"},
                            "auths": {"myreg:5000": {"auth": b64("file:pw")}}})
    fake.state.write_text(json.dumps({"myreg:5000": {"Username": "helped", "Secret": SECRET}}))
    cred = DockerConfig.load(cfg_path).credential_for("myreg:5000")
    assert (cred.username, cred.password) == ("helped", SECRET)
    assert cred.source == "credential helper docker-credential-hoisttest"
    assert fake.calls() == [{"action": "get", "stdin": "myreg:5000"}]


def test_creds_store_for_docker_hub(cfg_path: Path, fake: FakeHelper) -> None:
    """credsStore serves every registry; Docker Hub is asked as https://index.docker.io/v1/."""
    write_config(cfg_path, {"credsStore": "hoisttest"})
    fake.state.write_text(json.dumps({HUB: {"Username": "<token>", "Secret": "refresh"}}))
    cred = DockerConfig.load(cfg_path).credential_for("docker.io")
    assert (cred.username, cred.identity_token) == ("", "refresh")
    assert fake.calls() == [{"action": "get", "stdin": HUB}]


def test_helper_not_found_is_anonymous_keeping_registry_token(
    cfg_path: Path, fake: FakeHelper
) -> None:
    """native_store.go Get: the helper's fields replace the file's; registrytoken stays."""
    write_config(cfg_path, {"credsStore": "hoisttest",
                            "auths": {"r.io": {"auth": b64("file:pw"), "registrytoken": "rt"}}})
    cred = DockerConfig.load(cfg_path).credential_for("r.io")
    assert (cred.username, cred.password, cred.registry_token) == ("", "", "rt")


def test_empty_cred_helper_means_the_file(cfg_path: Path, fake: FakeHelper) -> None:
    """getConfiguredCredentialStore: a credHelpers entry that exists wins, even empty."""
    write_config(cfg_path, {"credsStore": "hoisttest", "credHelpers": {"r.io": ""},
                            "auths": {"r.io": {"auth": b64("file:pw")}}})
    cred = DockerConfig.load(cfg_path).credential_for("r.io")
    assert (cred.username, cred.source) == ("file", str(cfg_path))
    assert fake.calls() == []


def test_missing_helper_is_an_operation_error(cfg_path: Path, fake: FakeHelper) -> None:
    write_config(cfg_path, {"credHelpers": {"r.io": "absent-helper-xyz"}})
    with pytest.raises(OperationError, match="docker-credential-absent-helper-xyz"):
        DockerConfig.load(cfg_path).credential_for("r.io")


# --------------------------------------------------------------------------- login


def test_store_login_writes_the_file(tmp_path: Path) -> None:
    path = tmp_path / "new" / "dir" / "config.json"
    config = DockerConfig.load(path)
    where = config.store_login("myreg:5000", "alice", SECRET)
    assert where == str(path)
    expected = {"auths": {"myreg:5000": {"auth": b64("alice:" + SECRET)}}}
    assert json.loads(path.read_text()) == expected
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    again = DockerConfig.load(path).credential_for("myreg:5000")
    assert (again.username, again.password) == ("alice", SECRET)
    assert [p.name for p in path.parent.iterdir()] == ["config.json"]  # no temp file left


def test_store_login_keeps_every_other_key(cfg_path: Path) -> None:
    original = {
        "psFormat": "table {{.ID}}",
        "auths": {"other.io": {"auth": b64("o:p"), "email": "x@y"}, HUB: {"auth": b64("o:q")}},
        "proxies": {"default": {"httpProxy": "http://proxy:3128"}},
        "someFutureKey": [1, {"nested": True}],
    }
    write_config(cfg_path, original)
    DockerConfig.load(cfg_path).store_login("docker.io", "bob", "pw")
    written = json.loads(cfg_path.read_text())
    expected = json.loads(json.dumps(original))
    expected["auths"][HUB] = {"auth": b64("bob:pw")}
    assert written == expected


def test_store_login_unchanged_does_not_rewrite(cfg_path: Path) -> None:
    config = DockerConfig.load(cfg_path)
    config.store_login("r.io", "u", "p")
    before = cfg_path.stat().st_ino
    config.store_login("r.io", "u", "p")
    assert cfg_path.stat().st_ino == before  # a rewrite would rename a new inode in


def test_store_login_follows_a_symlink(tmp_path: Path) -> None:
    real = write_config(tmp_path / "dotfiles" / "docker.json", {"auths": {}})
    link = tmp_path / "docker" / "config.json"
    link.parent.mkdir()
    link.symlink_to(real)
    DockerConfig.load(link).store_login("r.io", "u", "p")
    assert link.is_symlink()
    assert "r.io" in json.loads(real.read_text())["auths"]


def test_store_login_refuses_to_clobber_a_broken_file(cfg_path: Path) -> None:
    write_config(cfg_path, '{"auths": {}}')
    config = DockerConfig.load(cfg_path)
    cfg_path.write_text("{broken")
    with pytest.raises(InputError, match="not rewriting it"):
        config.store_login("r.io", "u", "p")
    assert cfg_path.read_text() == "{broken"


@pytest.mark.parametrize("username", ["", "a:b"])
def test_store_login_rejects_usernames_docker_cannot_read_back(
    cfg_path: Path, username: str
) -> None:
    with pytest.raises(InputError):
        DockerConfig.load(cfg_path).store_login("r.io", username, SECRET)
    assert not cfg_path.exists()


def test_store_login_through_helper(cfg_path: Path, fake: FakeHelper) -> None:
    """native_store.go Store: the secret goes to the helper; the file keeps an empty
    entry, dropping any plain-text password it had."""
    write_config(cfg_path, {"credsStore": "hoisttest",
                            "auths": {"r.io": {"auth": b64("old:" + SECRET)}}})
    where = DockerConfig.load(cfg_path).store_login("r.io", "alice", "new-pw")
    assert where == "credential helper docker-credential-hoisttest"
    assert fake.stored() == {"r.io": {"Username": "alice", "Secret": "new-pw"}}
    assert json.loads(cfg_path.read_text())["auths"] == {"r.io": {}}
    assert SECRET not in cfg_path.read_text()
    cred = DockerConfig.load(cfg_path).credential_for("r.io")
    assert (cred.username, cred.password) == ("alice", "new-pw")


def test_store_login_helper_failure(cfg_path: Path, fake: FakeHelper,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(cfg_path, {"credsStore": "hoisttest"})
    monkeypatch.setenv("HOISTTEST_MODE", "fail")
    with pytest.raises(OperationError) as info:
        DockerConfig.load(cfg_path).store_login("r.io", "alice", SECRET)
    assert SECRET not in str(info.value)
    assert json.loads(cfg_path.read_text()) == {"credsStore": "hoisttest"}


# --------------------------------------------------------------------------- logout


def test_erase_login_removes_legacy_forms(cfg_path: Path) -> None:
    """logout.go also erases host, http://host and https://host."""
    write_config(cfg_path, {"auths": {
        "r.io": {"auth": b64("a:1")},
        "https://r.io": {"auth": b64("b:2")},
        "http://r.io": {"auth": b64("c:3")},
        "https://r.io/v1/": {"auth": b64("d:4")},  # not one of the forms logout tries
        "keep.io": {"auth": b64("e:5")},
    }})
    where = DockerConfig.load(cfg_path).erase_login("r.io")
    assert where == str(cfg_path)
    assert set(json.loads(cfg_path.read_text())["auths"]) == {"https://r.io/v1/", "keep.io"}


def test_erase_login_docker_hub(cfg_path: Path) -> None:
    write_config(cfg_path, {"auths": {HUB: {"auth": b64("a:1")}, "docker.io": {}}})
    DockerConfig.load(cfg_path).erase_login("docker.io")
    assert set(json.loads(cfg_path.read_text())["auths"]) == {"docker.io"}


def test_erase_login_nothing_stored(cfg_path: Path) -> None:
    assert DockerConfig.load(cfg_path).erase_login("r.io") == "nothing stored for r.io"
    assert not cfg_path.exists()


def test_erase_login_through_helper(cfg_path: Path, fake: FakeHelper) -> None:
    write_config(cfg_path, {"credsStore": "hoisttest", "auths": {"r.io": {}}})
    fake.state.write_text(json.dumps({"r.io": {"Username": "u", "Secret": SECRET}}))
    where = DockerConfig.load(cfg_path).erase_login("r.io")
    assert where == f"credential helper docker-credential-hoisttest, {cfg_path}"
    assert fake.stored() == {}
    assert json.loads(cfg_path.read_text())["auths"] == {}
    assert [c["stdin"] for c in fake.calls()] == ["r.io", "http://r.io", "https://r.io"]


def test_erase_login_helper_failure(cfg_path: Path, fake: FakeHelper,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(cfg_path, {"credsStore": "hoisttest"})
    monkeypatch.setenv("HOISTTEST_MODE", "fail")
    with pytest.raises(OperationError, match="erase failed"):
        DockerConfig.load(cfg_path).erase_login("r.io")


# --------------------------------------------------------------------------- properties

_LABEL = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8)
_HOSTPORT = st.builds(
    lambda labels, port: ".".join(labels) + port,
    st.lists(_LABEL, min_size=1, max_size=4),
    st.one_of(st.just(""), st.integers(1, 65535).map(lambda p: f":{p}")),
)


@given(hostport=_HOSTPORT, scheme=st.sampled_from(["", "http://", "https://"]),
       path=st.sampled_from(["", "/", "/v1/", "/v2/", "/some/path"]))
def test_convert_to_hostname_recovers_host(hostport: str, scheme: str, path: str) -> None:
    assert convert_to_hostname(scheme + hostport + path) == hostport
    assert config_key(scheme + hostport + path) == hostport


@given(text=st.text(max_size=40))
def test_url_parsing_never_raises(text: str) -> None:
    parse_go_url(text)
    convert_to_hostname(text)
    config_key(text)


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    registry=_HOSTPORT,
    username=st.text(min_size=1, max_size=20).filter(lambda u: ":" not in u),
    password=st.text(max_size=20),
)
def test_login_round_trip(tmp_path: Path, registry: str, username: str, password: str) -> None:
    """What store_login writes, load reads back unchanged (the CLI's own encoding)."""
    path = tmp_path / f"rt-{os.getpid()}" / "config.json"
    if path.exists():
        path.unlink()
    DockerConfig.load(path).store_login(registry, username, password)
    cred = DockerConfig.load(path).credential_for(registry)
    assert (cred.username, cred.password) == (username, password.strip("\x00"))


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(registry=st.text(max_size=40))
def test_lookup_never_raises_on_a_file_config(cfg_path: Path, registry: str) -> None:
    if not cfg_path.exists():
        write_config(cfg_path, {"auths": {"https://r.io/v1/": {"auth": b64("u:p")},
                                          "[::1]:5000": {}, "weird key": {}}})
    cred = DockerConfig.load(cfg_path).credential_for(registry)
    assert cred.source == str(cfg_path)
