"""The container runtime as the node sees it: the CRI ImageService shape (list, status,
pull with auth, remove, filesystem usage) and, where the runtime can run containers, the
RuntimeService subset the node agent drives.

Two implementations: ``hoist.node.cri.CriRuntime`` (gRPC to containerd) and
``hoist.node.builtin.BuiltinRuntime`` (hoist's own store and registry client, no
containers). Everything is synchronous: the node agent calls from worker threads, as the
kubelet calls from goroutines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, runtime_checkable

from hoist.errors import OperationError


class RuntimeFailure(OperationError):
    """A runtime call failed. ``str()`` is the runtime's own text: the kubelet puts it
    verbatim into events ("Failed to pull image %q: <text>"), so it must read the way the
    runtime's error reads (containerd's gRPC errors render as
    ``rpc error: code = NotFound desc = …``)."""

    # The gRPC status code's Go name ("NotFound", "Unknown") when the runtime answered
    # with one; empty otherwise.
    code: str = ""


class RuntimeUnavailable(RuntimeFailure):
    """The runtime cannot be reached (socket missing, connection refused)."""


@dataclass(frozen=True)
class AuthConfig:
    """CRI AuthConfig (api.proto field numbers 1-6). ``__repr__`` hides the secrets."""

    username: str = ""
    password: str = field(default="", repr=False)
    auth: str = field(default="", repr=False)
    server_address: str = ""
    identity_token: str = field(default="", repr=False)
    registry_token: str = field(default="", repr=False)


@dataclass(frozen=True)
class ImageInfo:
    """CRI Image: ``id`` is the image ID (config digest for containerd, ``sha256:…``),
    ``repo_digests`` are ``name@sha256:<manifest digest>``."""

    id: str
    repo_tags: tuple[str, ...] = ()
    repo_digests: tuple[str, ...] = ()
    size: int = 0
    pinned: bool = False


@dataclass(frozen=True)
class FsUsage:
    """CRI FilesystemUsage of the image filesystem, plus the capacity the GC needs."""

    mountpoint: str
    used_bytes: int
    inodes_used: int
    capacity_bytes: int
    available_bytes: int


@runtime_checkable
class ImageService(Protocol):
    name: str  # "cri" or "builtin", shown by `hoist cluster up`

    def list_images(self) -> list[ImageInfo]: ...

    def image_status(self, image: str) -> ImageInfo | None:
        """None when absent (CRI answers an empty image)."""

    def pull_image(self, image: str, auth: AuthConfig | None = None) -> str:
        """Pull and return the image ref (ID). Raises RuntimeFailure."""

    def remove_image(self, image: str) -> None:
        """Idempotent, as CRI RemoveImage is."""

    def image_fs_info(self) -> FsUsage: ...

    def close(self) -> None: ...


class ContainerState(StrEnum):
    CREATED = "created"
    RUNNING = "running"
    EXITED = "exited"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class PodSandboxSpec:
    """What RunPodSandbox needs here: host network, empty hostname (containerd on this
    machine kind cannot run pods otherwise, see facts/environment.md)."""

    name: str
    namespace: str
    uid: str
    attempt: int = 0
    labels: dict[str, str] = field(default_factory=dict)
    log_directory: str = ""


@dataclass(frozen=True)
class ContainerSpec:
    name: str
    image: str  # the image ref EnsureImage returned
    command: Sequence[str] = ()
    args: Sequence[str] = ()
    env: dict[str, str] = field(default_factory=dict)
    working_dir: str = ""
    attempt: int = 0
    log_path: str = ""  # relative to the sandbox's log_directory


@dataclass(frozen=True)
class ContainerStatus:
    id: str
    name: str
    state: ContainerState
    image: str
    image_ref: str
    created_at: float = 0.0  # unix seconds
    started_at: float = 0.0
    finished_at: float = 0.0
    exit_code: int = 0
    reason: str = ""
    message: str = ""
    log_path: str = ""


@runtime_checkable
class ContainerRuntime(Protocol):
    """The RuntimeService subset the node agent uses (cri only)."""

    def run_pod_sandbox(self, spec: PodSandboxSpec) -> str: ...

    def stop_pod_sandbox(self, sandbox_id: str) -> None: ...

    def remove_pod_sandbox(self, sandbox_id: str) -> None: ...

    def create_container(
        self, sandbox_id: str, spec: ContainerSpec, sandbox: PodSandboxSpec
    ) -> str: ...

    def start_container(self, container_id: str) -> None: ...

    def stop_container(self, container_id: str, timeout: int = 10) -> None: ...

    def remove_container(self, container_id: str) -> None: ...

    def container_status(self, container_id: str) -> ContainerStatus: ...

    def list_containers(self, sandbox_id: str | None = None) -> list[ContainerStatus]: ...

    def list_pod_sandboxes(self) -> list[tuple[str, dict[str, str]]]:
        """(sandbox id, labels) of every ready sandbox, for cleaning up after a restart."""
