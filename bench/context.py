"""What every benchmark gets: paths of the tools and the corpus, and a scratch directory."""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.runner import BenchError

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = REPO_ROOT.parent / "shared" / "corpus"
DEFAULT_HOIST = REPO_ROOT / ".venv" / "bin" / "hoist"
DEFAULT_CHECKOV = REPO_ROOT / ".venv-checkov" / "bin" / "checkov"
ENSURE_CHECKOV = REPO_ROOT / "scripts" / "ensure-checkov"


@dataclass(frozen=True)
class Context:
    corpus: Path
    hoist: Path
    checkov: Path
    kubectl: str
    workdir: Path
    skopeo: str = "skopeo"


def _first_line(argv: list[str]) -> str:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"unknown ({e})"
    text = (proc.stdout or proc.stderr).strip()
    return text.splitlines()[0] if text else f"unknown (exit {proc.returncode})"


def hoist_version(hoist: Path) -> str:
    return _first_line([str(hoist), "--version"]).removeprefix("hoist ")


def checkov_version(checkov: Path) -> str:
    return _first_line([str(checkov), "--version"])


def kubectl_versions(kubectl: str) -> dict[str, str]:
    try:
        proc = subprocess.run(
            [kubectl, "version", "--client", "-o", "json"],
            capture_output=True, text=True, check=False, timeout=60,
        )
        data = json.loads(proc.stdout)
    except (OSError, ValueError, subprocess.TimeoutExpired) as e:
        return {"kubectl": f"unknown ({e})"}
    return {
        "kubectl": str(data.get("clientVersion", {}).get("gitVersion", "unknown")),
        "kustomize": str(data.get("kustomizeVersion", "unknown")),
    }


def require_hoist_command(hoist: Path, command: str) -> None:
    """Fail early, with a clear message, when ``hoist COMMAND`` does not exist yet."""
    if not hoist.exists():
        raise BenchError(f"hoist not found at {hoist} (give --hoist PATH)")
    proc = subprocess.run(
        [str(hoist), command, "--help"], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise BenchError(
            f"`{hoist} {command} --help` exited {proc.returncode}: hoist {command} is not "
            f"available in this build"
        )


@functools.cache
def network_isolation_prefix() -> tuple[str, ...]:
    """``unshare -n`` (or ``-rn`` without root) when it works here, else nothing."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return ()
    for flags in (("-n",), ("-r", "-n")):
        argv = (unshare, *flags)
        try:
            ok = subprocess.run(
                [*argv, "true"], capture_output=True, check=False, timeout=30
            ).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            ok = False
        if ok:
            return argv
    return ()


def ensure_checkov(checkov: Path) -> None:
    """Install checkov into .venv-checkov when the default path is asked for and missing."""
    if checkov.exists():
        return
    if checkov != DEFAULT_CHECKOV:
        raise BenchError(f"checkov not found at {checkov}")
    proc = subprocess.run([str(ENSURE_CHECKOV)], capture_output=True, text=True, check=False)
    if proc.returncode != 0 or not checkov.exists():
        raise BenchError(f"scripts/ensure-checkov failed:\n{proc.stderr[-2000:]}")
