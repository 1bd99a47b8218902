"""Helpers shared by the registry acceptance tests (test_interop, test_auth_registry,
test_client_registry and tests/transfer/test_cli_registry): running the CLI in process,
writing credentials in each of the forms hoist reads, and reading Distribution's access
log. Secrets are written to files and never printed."""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import stat
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from hoist.auth.k8s_secret import docker_registry_secret
from hoist.cli.main import main
from tests.support.distribution import Distribution

# Distribution's access log (combined log format): `"GET /v2/… HTTP/1.1" 200 123 "" "hoist"`.
_ACCESS = re.compile(r'"([A-Z]+) (\S+) HTTP/1\.[01]" (\d{3}) \S+ "[^"]*" "([^"]*)"')
JWT = re.compile(r"eyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]{4,}")
BEARER = re.compile(r"Bearer\s+[\w.~+/-]{8,}")


def unique(prefix: str) -> str:
    """A repository path no other test uses (the session registries are shared)."""
    return f"accept/{prefix}-{secrets.token_hex(4)}"


@dataclass(frozen=True)
class CliRun:
    code: int
    out: str
    err: str


def hoist(capsys: pytest.CaptureFixture[str], *args: str) -> CliRun:
    """``hoist ARGS`` in process; stdout and stderr of this call only."""
    capsys.readouterr()
    code = main(list(args))
    captured = capsys.readouterr()
    return CliRun(code, captured.out, captured.err)


def creds_of(registry: Distribution) -> tuple[str, str]:
    user, password = next(iter(registry.users.items()))
    return user, password


# ---------------------------------------------------------------------- credentials


def _private(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o600)
    return path


def write_auths(path: Path, host: str, user: str, password: str) -> Path:
    """A docker config.json with one ``auths`` entry (``auth`` = base64(user:password))."""
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    return _private(path, json.dumps({"auths": {host: {"auth": auth}}}))


def write_identity_token(path: Path, host: str, token: str) -> Path:
    return _private(path, json.dumps({"auths": {host: {"identitytoken": token}}}))


HELPER_NAME = "hoisttest"


def install_helper(
    bindir: Path, monkeypatch: pytest.MonkeyPatch, username: str, secret: str
) -> Path:
    """``docker-credential-hoisttest`` on PATH answering ``get`` with this credential (for
    any server) and ``store`` by recording what it was given in ``bindir/stored.json``."""
    bindir.mkdir(parents=True, exist_ok=True)
    _private(bindir / "answer.json", json.dumps({"Username": username, "Secret": secret}))
    script = bindir / f"docker-credential-{HELPER_NAME}"
    script.write_text(
        "#!/bin/sh\n"
        f'dir="{bindir}"\n'
        'case "$1" in\n'
        '  get) read -r server; printf \'{"ServerURL":"%s",\' "$server";'
        ' tail -c +2 "$dir/answer.json" ;;\n'
        '  store) cat > "$dir/stored.json" ;;\n'
        '  erase) exit 0 ;;\n'
        '  *) echo "unknown action" >&2; exit 1 ;;\n'
        "esac\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", str(bindir), prepend=os.pathsep)
    return script


def write_helper_config(path: Path, host: str) -> Path:
    return _private(path, json.dumps({"credHelpers": {host: HELPER_NAME}}))


def write_pull_secret(path: Path, host: str, user: str, password: str) -> Path:
    """A ``kubernetes.io/dockerconfigjson`` Secret as ``kubectl create secret
    docker-registry`` writes it (JSON, which the YAML reader takes too)."""
    secret = docker_registry_secret("regcred", host, user, password, namespace="default")
    return _private(path, json.dumps(secret))


# ---------------------------------------------------------------------- access log


@dataclass(frozen=True)
class Access:
    method: str
    path: str
    status: int
    agent: str


class AccessLog:
    """Requests Distribution logged after this object was made."""

    def __init__(self, registry: Distribution) -> None:
        self.registry = registry
        self.start = len(registry.log_text())

    def entries(self, agent: str | None = "hoist") -> list[Access]:
        text = self.registry.log_text()[self.start :]
        out = [
            Access(m.group(1), m.group(2), int(m.group(3)), m.group(4))
            for m in _ACCESS.finditer(text)
        ]
        return [a for a in out if agent is None or a.agent == agent]

    def settled(self, agent: str | None = "hoist", quiet: float = 0.2,
                timeout: float = 5.0) -> list[Access]:
        """The entries once no new one has appeared for ``quiet`` seconds: Distribution
        writes a line after it has sent the response, so a client can be faster."""
        deadline = time.monotonic() + timeout
        last = self.entries(agent)
        stable_since = time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.03)
            now = self.entries(agent)
            if len(now) != len(last):
                last, stable_since = now, time.monotonic()
            elif time.monotonic() - stable_since >= quiet:
                break
        return last


def leaked(texts: Sequence[str], secrets_: Sequence[str]) -> bool:
    """Whether any secret occurs in any text (a bool, so a failure prints no secret)."""
    return any(s and s in t for t in texts for s in secrets_)
