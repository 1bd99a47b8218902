"""Run a real containerd (Debian's ``containerd`` 1.6 + ``runc``) for a test session.

The launcher is the product's (:mod:`hoist.node.cri.managed`): each instance gets its own
root, state, socket, config and log under ``workdir`` and is stopped by its PID. Here it is
tied to the test process (it gets SIGTERM should pytest be killed) and a stop removes its
images too, so nothing of a session is left behind.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from hoist.node.cri.managed import (
    CONTAINERD_BINARY,
    DISABLED_PLUGINS,
    MISSING_CONTAINERD,
    MISSING_MOUNT,
    MISSING_RUNC,
    MISSING_SHIM,
    SEARCH_PATH,
    SHIM_BINARY,
    START_TIMEOUT,
    ContainerdError,
    ManagedContainerd,
    config_text,
    overlay_works,
    toml_string,
)
from hoist.node.cri.managed import missing_requirements as _missing_requirements
from hoist.node.cri.managed import (
    start_containerd as _start_managed,
)

MISSING_ROOT = "containerd tests need root (containerd and runc run containers as root)"

__all__ = ["CONTAINERD_BINARY", "DISABLED_PLUGINS", "MISSING_CONTAINERD", "MISSING_MOUNT",
           "MISSING_ROOT", "MISSING_RUNC", "MISSING_SHIM", "SEARCH_PATH", "SHIM_BINARY",
           "START_TIMEOUT", "Containerd", "ContainerdError", "config_text",
           "missing_requirements", "overlay_works", "running_containerd", "start_containerd",
           "toml_string"]


def missing_requirements() -> str | None:
    """Why containerd cannot run pods here, or None when it can."""
    reason = _missing_requirements()
    if reason is not None and reason.startswith("containerd needs root"):
        return MISSING_ROOT
    return reason


class Containerd(ManagedContainerd):
    """A session's containerd: a stop removes its root (images, snapshots) as well."""

    def stop(self, timeout: float = 15.0, *, remove_root: bool = True) -> None:
        super().stop(timeout, remove_root=remove_root)


def start_containerd(workdir: Path, *, sandbox_image: str) -> Containerd:
    """Start containerd under ``workdir``; return once its socket answers CRI Version."""
    started = _start_managed(Path(workdir), sandbox_image=sandbox_image, detach=False)
    return Containerd(
        workdir=started.workdir, root=started.root, state=started.state,
        socket=started.socket, config_path=started.config_path, log_path=started.log_path,
        snapshotter=started.snapshotter, sandbox_image=started.sandbox_image,
        pid=started.pid, _process=started._process)


@contextlib.contextmanager
def running_containerd(workdir: Path, *, sandbox_image: str) -> Iterator[Containerd]:
    node = start_containerd(workdir, sandbox_image=sandbox_image)
    try:
        yield node
    finally:
        node.stop()
