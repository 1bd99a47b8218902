"""The docker-credential-helpers protocol, against a real helper executable.

Each test writes ``docker-credential-hoisttest`` (a small Python program keeping its store in
a JSON file) into a temporary directory put first on PATH. It behaves like the helpers built
on docker-credential-helpers: errors on stdout, exit status 1, the standard not-found text.
Its ``HOISTTEST_MODE`` makes it misbehave in the ways real helpers do.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from hoist.auth.credential import Credential
from hoist.auth.credhelper import (
    NOT_FOUND_MESSAGE,
    CredentialHelper,
    failure_summary,
    helper_program,
    is_not_found,
)
from hoist.errors import OperationError

SECRET = "S3cr3t-PW-7f1c"  # distinctive, so "never appears" checks mean something

HELPER_SOURCE = textwrap.dedent(
    '''\
    import json, os, sys, time

    action = sys.argv[1]
    data = sys.stdin.buffer.read()
    with open(os.environ["HOISTTEST_LOG"], "a") as log:
        log.write(json.dumps({"action": action, "stdin": data.decode()}) + "\\n")
    mode = os.environ.get("HOISTTEST_MODE", "")
    if mode == "fail":
        sys.stderr.write("keychain locked: unlock it first\\nsecond line\\n")
        sys.exit(3)
    if mode == "stdout-fail":
        print("error talking to the keychain")
        sys.exit(1)
    if mode == "leak":
        sys.stderr.write("refused " + data.decode().strip() + "\\n")
        print(json.dumps({"Username": "u", "Secret": "LEAKED-" + data.decode()}))
        sys.exit(1)
    if mode == "garbage":
        print("Username=u Secret=" + os.environ.get("HOISTTEST_GARBAGE", ""))
        sys.exit(0)
    if mode == "raw":
        sys.stdout.write(os.environ["HOISTTEST_RAW"])
        sys.exit(0)
    if mode == "slow":
        time.sleep(10)
    path = os.environ["HOISTTEST_STATE"]
    state = json.load(open(path)) if os.path.exists(path) else {}
    def save():
        with open(path, "w") as out:
            json.dump(state, out)
    if action == "store":
        creds = json.loads(data)
        state[creds["ServerURL"]] = {"Username": creds["Username"], "Secret": creds["Secret"]}
        save()
    elif action in ("get", "erase"):
        url = data.decode()
        if url not in state:
            print("credentials not found in native keychain")
            sys.exit(1)
        if action == "get":
            print(json.dumps(dict(ServerURL=url, **state[url])))
        else:
            del state[url]
            save()
    else:
        print("unknown action")
        sys.exit(1)
    '''
)


@dataclass
class FakeHelper:
    """The installed ``docker-credential-hoisttest`` and what it saw."""

    name: str
    state: Path
    log: Path
    program: Path

    def calls(self) -> list[dict[str, str]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def stored(self) -> dict[str, dict[str, str]]:
        if not self.state.exists():
            return {}
        data: dict[str, dict[str, str]] = json.loads(self.state.read_text())
        return data


def install_helper(directory: Path, monkeypatch: pytest.MonkeyPatch) -> FakeHelper:
    """Write the helper into ``directory/bin``, put that first on PATH, point its state
    and call log into ``directory``. Shared with test_dockerconfig."""
    bin_dir = directory / "bin"
    bin_dir.mkdir(exist_ok=True)
    program = bin_dir / helper_program("hoisttest")
    program.write_text(f"#!{sys.executable}\n" + HELPER_SOURCE)
    program.chmod(program.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    helper = FakeHelper("hoisttest", directory / "helper-state.json",
                        directory / "helper-log.jsonl", program)
    monkeypatch.setenv("HOISTTEST_STATE", str(helper.state))
    monkeypatch.setenv("HOISTTEST_LOG", str(helper.log))
    monkeypatch.delenv("HOISTTEST_MODE", raising=False)
    return helper


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeHelper:
    return install_helper(tmp_path, monkeypatch)


def test_store_then_get(fake: FakeHelper) -> None:
    helper = CredentialHelper("hoisttest")
    helper.store("myreg:5000", "alice", SECRET)
    cred = helper.get("myreg:5000")
    assert (cred.username, cred.password, cred.identity_token) == ("alice", SECRET, "")
    assert cred.source == "credential helper docker-credential-hoisttest"
    assert fake.stored() == {"myreg:5000": {"Username": "alice", "Secret": SECRET}}


def test_wire_format(fake: FakeHelper) -> None:
    """client.go: get/erase send the bare server URL; store sends json.Encoder output
    (compact, HTML-escaped, one newline)."""
    helper = CredentialHelper("hoisttest")
    helper.store("https://index.docker.io/v1/", "bob<&>", "pw")
    helper.get("https://index.docker.io/v1/")
    helper.erase("https://index.docker.io/v1/")
    assert fake.calls() == [
        {"action": "store",
         "stdin": '{"ServerURL":"https://index.docker.io/v1/","Username":"bob\\u003c\\u0026'
                  '\\u003e","Secret":"pw"}\n'},
        {"action": "get", "stdin": "https://index.docker.io/v1/"},
        {"action": "erase", "stdin": "https://index.docker.io/v1/"},
    ]


def test_identity_token(fake: FakeHelper) -> None:
    """native_store.go: Username "<token>" carries an identity token in Secret."""
    helper = CredentialHelper("hoisttest")
    helper.store("reg.example", "ignored", "refresh-tok", identity_token=True)
    assert fake.stored()["reg.example"]["Username"] == "<token>"
    cred = helper.get("reg.example")
    assert (cred.username, cred.password, cred.identity_token) == ("", "", "refresh-tok")
    assert not cred.is_anonymous


def test_not_found_is_anonymous(fake: FakeHelper) -> None:
    cred = CredentialHelper("hoisttest").get("nothing.example")
    assert cred == Credential(source="credential helper docker-credential-hoisttest")
    assert cred.is_anonymous


def test_erase(fake: FakeHelper) -> None:
    helper = CredentialHelper("hoisttest")
    helper.store("reg.example", "u", SECRET)
    assert helper.erase("reg.example") is True
    assert fake.stored() == {}
    assert helper.erase("reg.example") is False  # "credentials not found": nothing to do
    assert helper.get("reg.example").is_anonymous


@pytest.mark.parametrize("action", ["get", "store", "erase"])
def test_failure_names_helper_and_first_stderr_line(
    fake: FakeHelper, monkeypatch: pytest.MonkeyPatch, action: str
) -> None:
    monkeypatch.setenv("HOISTTEST_MODE", "fail")
    helper = CredentialHelper("hoisttest")
    with pytest.raises(OperationError) as info:
        if action == "store":
            helper.store("reg.example", "u", SECRET)
        else:
            getattr(helper, action)("reg.example")
    message = str(info.value)
    assert message == (f"credential helper docker-credential-hoisttest {action} failed "
                       "(exit status 3): keychain locked: unlock it first")
    assert SECRET not in message


def test_failure_on_stdout_is_reported(fake: FakeHelper, monkeypatch: pytest.MonkeyPatch) -> None:
    """Helpers built on docker-credential-helpers print their error on stdout."""
    monkeypatch.setenv("HOISTTEST_MODE", "stdout-fail")
    with pytest.raises(OperationError, match=r"error talking to the keychain$"):
        CredentialHelper("hoisttest").get("reg.example")


def test_secret_never_in_failure(fake: FakeHelper, monkeypatch: pytest.MonkeyPatch) -> None:
    """A helper that echoes what it was sent (stderr) and prints JSON (stdout) on failure."""
    monkeypatch.setenv("HOISTTEST_MODE", "leak")
    with pytest.raises(OperationError) as info:
        CredentialHelper("hoisttest").store("reg.example", "u", SECRET)
    assert SECRET not in str(info.value)
    assert "LEAKED" not in str(info.value)
    assert "***" in str(info.value)
    assert SECRET not in repr(info.value)


def test_output_that_is_not_json(fake: FakeHelper, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOISTTEST_MODE", "garbage")
    monkeypatch.setenv("HOISTTEST_GARBAGE", SECRET)
    with pytest.raises(OperationError) as info:
        CredentialHelper("hoisttest").get("reg.example")
    assert "not the expected JSON" in str(info.value)
    assert SECRET not in str(info.value)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # encoding/json: field names are case-insensitive, the last duplicate wins
        ('{"username": "u", "secret": "s"}', ("u", "s", "")),
        ('{"Username": "a", "USERNAME": "b", "Secret": "s"}', ("b", "s", "")),
        # json.Decoder reads the first value only
        ('{"Username": "u", "Secret": "s"}\ntrailing words', ("u", "s", "")),
        ('{"Username": "<token>", "Secret": "t"}', ("", "", "t")),
        ('{"ServerURL": "x"}', ("", "", "")),
    ],
)
def test_get_output_decoding(
    fake: FakeHelper, monkeypatch: pytest.MonkeyPatch, raw: str, expected: tuple[str, str, str]
) -> None:
    monkeypatch.setenv("HOISTTEST_MODE", "raw")
    monkeypatch.setenv("HOISTTEST_RAW", raw)
    cred = CredentialHelper("hoisttest").get("reg.example")
    assert (cred.username, cred.password, cred.identity_token) == expected


@pytest.mark.parametrize("raw", ['{"Username": 5, "Secret": "s"}', "[1, 2]", ""])
def test_get_output_wrong_shape(fake: FakeHelper, monkeypatch: pytest.MonkeyPatch,
                                raw: str) -> None:
    monkeypatch.setenv("HOISTTEST_MODE", "raw")
    monkeypatch.setenv("HOISTTEST_RAW", raw)
    if raw == "":
        # An empty answer decodes to nothing at all: no username, no secret.
        assert CredentialHelper("hoisttest").get("reg.example").is_anonymous
        return
    with pytest.raises(OperationError, match="not the expected JSON"):
        CredentialHelper("hoisttest").get("reg.example")


def test_missing_helper(fake: FakeHelper) -> None:
    with pytest.raises(OperationError) as info:
        CredentialHelper("no-such-helper-xyz").get("reg.example")
    assert "docker-credential-no-such-helper-xyz not found on PATH" in str(info.value)


def test_helper_not_executable(fake: FakeHelper) -> None:
    fake.program.chmod(0o644)
    with pytest.raises(OperationError, match=r"(not executable|not found)"):
        CredentialHelper("hoisttest").get("reg.example")


def test_timeout(fake: FakeHelper, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOISTTEST_MODE", "slow")
    with pytest.raises(OperationError, match=r"did not answer within 0\.5 s"):
        CredentialHelper("hoisttest", timeout=0.5).get("reg.example")


def test_explicit_env(fake: FakeHelper, tmp_path: Path) -> None:
    """``env`` replaces the environment: without our PATH the helper is not found."""
    helper = CredentialHelper("hoisttest", env={"PATH": str(tmp_path / "empty")})
    with pytest.raises(OperationError, match="not found on PATH"):
        helper.get("reg.example")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (NOT_FOUND_MESSAGE, True),
        (f"  {NOT_FOUND_MESSAGE}\n", True),
        ("Credentials not found in native keychain", False),  # exact, as upstream
        (f"error: {NOT_FOUND_MESSAGE}", False),
    ],
)
def test_is_not_found(text: str, expected: bool) -> None:
    """credentials/error.go IsErrCredentialsNotFoundMessage."""
    assert is_not_found(text) is expected


def test_failure_summary() -> None:
    assert failure_summary("", "\n  first  \nsecond") == "first"
    assert failure_summary("from stdout\n", "") == "from stdout"
    assert failure_summary('{"Secret": "x"}', "") == ""
    assert failure_summary("", f"bad {SECRET} here", (SECRET,)) == "bad *** here"
    long = failure_summary("", "x" * 500)
    assert len(long) == 201 and long.endswith("…")


def test_repr_hides_env() -> None:
    helper = CredentialHelper("x", env={"TOKEN": SECRET})
    assert SECRET not in repr(helper)
