"""Drive the real ``skopeo`` as a reference client for push and pull.

Credentials never go on skopeo's command line (where any local process could read them
from /proc): they are written to a private auth file in a temporary directory that is
removed after the run. Without credentials an empty auth file is passed all the same,
so the machine's own ``~/.docker/config.json`` or ``auth.json`` cannot leak into a test.
Failures raise :class:`SkopeoError` with stderr, passwords replaced by ``<redacted>``.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from tests.support._net import redact

MISSING_SKOPEO = "skopeo not installed (Debian package skopeo)"
Creds = tuple[str, str]  # (username, password)
MultiArch = Literal["system", "all", "index-only"]
# Variables through which the machine's own registry credentials could reach skopeo.
_AUTH_ENV = frozenset({"REGISTRY_AUTH_FILE", "DOCKER_CONFIG"})


@dataclass(frozen=True)
class SkopeoResult:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    raw_stdout: bytes = b""  # exact bytes, for ``inspect --raw``


class SkopeoError(RuntimeError):
    def __init__(self, result: SkopeoResult) -> None:
        self.result = result
        super().__init__(
            f"skopeo exited {result.returncode}: {' '.join(result.args)}\n{result.stderr.strip()}"
        )


def skopeo_binary() -> str | None:
    return shutil.which("skopeo")


def skopeo_version() -> str:
    binary = skopeo_binary()
    if binary is None:
        raise FileNotFoundError(MISSING_SKOPEO)
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def _registry_host(ref: str) -> str | None:
    """``docker://127.0.0.1:5000/app:tag`` → ``127.0.0.1:5000``; None for other transports."""
    if not ref.startswith("docker://"):
        return None
    return ref[len("docker://") :].split("/", 1)[0]


def write_authfile(path: Path, entries: dict[str, Creds]) -> Path:
    """A containers-auth.json / docker config with one ``auth`` entry per registry host."""
    auths = {
        host: {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}
        for host, (user, password) in entries.items()
    }
    path.write_text(json.dumps({"auths": auths}))
    path.chmod(0o600)
    return path


def _run(
    args: list[str], secrets: Sequence[str], timeout: float, check: bool = True
) -> SkopeoResult:
    binary = skopeo_binary()
    if binary is None:
        raise FileNotFoundError(MISSING_SKOPEO)
    started = time.monotonic()
    out = subprocess.run(
        [binary, *args],
        capture_output=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
        env={k: v for k, v in os.environ.items() if k not in _AUTH_ENV},
    )
    result = SkopeoResult(
        args=tuple(redact(a, secrets) for a in ["skopeo", *args]),
        returncode=out.returncode,
        stdout=redact(out.stdout.decode(errors="replace"), secrets),
        stderr=redact(out.stderr.decode(errors="replace"), secrets),
        seconds=time.monotonic() - started,
        raw_stdout=out.stdout,
    )
    if check and out.returncode != 0:
        raise SkopeoError(result)
    return result


def _auth_args(
    tmp: Path, flag: str, ref: str, creds: Creds | None, authfile: Path | None
) -> list[str]:
    host = _registry_host(ref)
    if creds is not None and host is not None:
        path = write_authfile(tmp / f"{flag.strip('-')}.json", {host: creds})
    elif authfile is not None:
        return [f"{flag}={authfile}"]
    else:
        path = write_authfile(tmp / f"{flag.strip('-')}-empty.json", {})
    return [f"{flag}={path}"]


def skopeo_copy(
    src: str,
    dst: str,
    *,
    creds: Creds | None = None,
    src_creds: Creds | None = None,
    dest_creds: Creds | None = None,
    authfile: Path | None = None,
    preserve_digests: bool = True,
    multi_arch: MultiArch = "all",
    extra_args: Sequence[str] = (),
    timeout: float = 300,
) -> SkopeoResult:
    """``skopeo copy src dst`` against plain-HTTP registries.

    ``creds`` applies to whichever side is a ``docker://`` reference (both, if both are);
    ``src_creds``/``dest_creds`` override it per side. ``authfile`` is used for a side
    that has no creds.
    """
    src_creds = src_creds or creds
    dest_creds = dest_creds or creds
    secrets = [c[1] for c in (src_creds, dest_creds) if c is not None]
    with tempfile.TemporaryDirectory(prefix="hoist-skopeo-") as tmpdir:
        tmp = Path(tmpdir)
        args = ["--insecure-policy", "copy", "--retry-times=0"]
        args += _auth_args(tmp, "--src-authfile", src, src_creds, authfile)
        args += _auth_args(tmp, "--dest-authfile", dst, dest_creds, authfile)
        if src.startswith("docker://"):
            args.append("--src-tls-verify=false")
        if dst.startswith("docker://"):
            args.append("--dest-tls-verify=false")
        if preserve_digests:
            args.append("--preserve-digests")
        args += [f"--multi-arch={multi_arch}", *extra_args, src, dst]
        return _run(args, secrets, timeout)


def _inspect(
    ref: str, raw: bool, creds: Creds | None, authfile: Path | None, timeout: float
) -> SkopeoResult:
    with tempfile.TemporaryDirectory(prefix="hoist-skopeo-") as tmpdir:
        args = ["--insecure-policy", "inspect", "--retry-times=0"]
        args += _auth_args(Path(tmpdir), "--authfile", ref, creds, authfile)
        if ref.startswith("docker://"):
            args.append("--tls-verify=false")
        if raw:
            args.append("--raw")
        args.append(ref)
        return _run(args, [creds[1]] if creds else [], timeout)


def skopeo_inspect_raw(
    ref: str, *, creds: Creds | None = None, authfile: Path | None = None, timeout: float = 60
) -> bytes:
    """The manifest (or index) bytes exactly as the source serves them."""
    return _inspect(ref, True, creds, authfile, timeout).raw_stdout


def skopeo_inspect(
    ref: str, *, creds: Creds | None = None, authfile: Path | None = None, timeout: float = 60
) -> dict[str, Any]:
    """skopeo's own summary (Digest, RepoTags, Layers, …)."""
    result: dict[str, Any] = json.loads(_inspect(ref, False, creds, authfile, timeout).stdout)
    return result


class Skopeo:
    """What the ``skopeo`` fixture hands out: the helpers plus the binary's version."""

    def __init__(self) -> None:
        binary = skopeo_binary()
        if binary is None:
            raise FileNotFoundError(MISSING_SKOPEO)
        self.path = binary
        self.version = skopeo_version()

    def copy(self, src: str, dst: str, **kwargs: Any) -> SkopeoResult:
        return skopeo_copy(src, dst, **kwargs)

    def inspect_raw(self, ref: str, **kwargs: Any) -> bytes:
        return skopeo_inspect_raw(ref, **kwargs)

    def inspect(self, ref: str, **kwargs: Any) -> dict[str, Any]:
        return skopeo_inspect(ref, **kwargs)

    def __repr__(self) -> str:
        return f"Skopeo({self.version!r})"
