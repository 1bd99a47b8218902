"""The node's container runtime over CRI: gRPC to containerd (or any CRI runtime.v1
server) on a unix socket, as the kubelet talks to it.

Every call has a deadline (``timeout``). A failed call raises RuntimeFailure whose text
is the error as the kubelet's Go gRPC client renders it, so events built from it read
like the kubelet's; an unreachable runtime raises RuntimeUnavailable.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, TypeVar, cast

import grpc

from hoist.node.cri import api_pb2 as pb
from hoist.node.cri import api_pb2_grpc
from hoist.node.runtime import (
    AuthConfig,
    ContainerSpec,
    ContainerState,
    ContainerStatus,
    FsUsage,
    ImageInfo,
    PodSandboxSpec,
    RuntimeFailure,
    RuntimeUnavailable,
)

# containerd's own socket serves CRI too (containerd/containerd defaults/defaults_unix.go
# DefaultAddress).
DEFAULT_CRI_SOCKET = "/run/containerd/containerd.sock"

# What the kubelet sends in VersionRequest.version (pkg/kubelet/kuberuntime
# kuberuntime_manager.go, kubeRuntimeAPIVersion).
KUBE_RUNTIME_API_VERSION = "0.1.0"

# The kubelet's CRI client caps messages at 16 MiB (k8s.io/cri-client pkg/utils.go,
# maxMsgSize); a node with many images lists more than gRPC's 4 MiB default.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024

# Go's names of the gRPC status codes (grpc-go codes/code_string.go), which the Go
# client puts in "rpc error: code = %s desc = %s" (grpc-go internal/status/status.go).
GO_CODE_NAMES: Mapping[int, str] = {
    0: "OK",
    1: "Canceled",
    2: "Unknown",
    3: "InvalidArgument",
    4: "DeadlineExceeded",
    5: "NotFound",
    6: "AlreadyExists",
    7: "PermissionDenied",
    8: "ResourceExhausted",
    9: "FailedPrecondition",
    10: "Aborted",
    11: "OutOfRange",
    12: "Unimplemented",
    13: "Internal",
    14: "Unavailable",
    15: "DataLoss",
    16: "Unauthenticated",
}

_STATES: Mapping[int, ContainerState] = {
    pb.CONTAINER_CREATED: ContainerState.CREATED,
    pb.CONTAINER_RUNNING: ContainerState.RUNNING,
    pb.CONTAINER_EXITED: ContainerState.EXITED,
    pb.CONTAINER_UNKNOWN: ContainerState.UNKNOWN,
}

Request = TypeVar("Request")
Response = TypeVar("Response")
Rpc = grpc.UnaryUnaryMultiCallable


class _RuntimeRpcs(Protocol):
    """The typed face of the generated RuntimeServiceStub (api_pb2_grpc.py is untyped)."""

    Version: Rpc[pb.VersionRequest, pb.VersionResponse]
    RunPodSandbox: Rpc[pb.RunPodSandboxRequest, pb.RunPodSandboxResponse]
    StopPodSandbox: Rpc[pb.StopPodSandboxRequest, pb.StopPodSandboxResponse]
    RemovePodSandbox: Rpc[pb.RemovePodSandboxRequest, pb.RemovePodSandboxResponse]
    PodSandboxStatus: Rpc[pb.PodSandboxStatusRequest, pb.PodSandboxStatusResponse]
    ListPodSandbox: Rpc[pb.ListPodSandboxRequest, pb.ListPodSandboxResponse]
    CreateContainer: Rpc[pb.CreateContainerRequest, pb.CreateContainerResponse]
    StartContainer: Rpc[pb.StartContainerRequest, pb.StartContainerResponse]
    StopContainer: Rpc[pb.StopContainerRequest, pb.StopContainerResponse]
    RemoveContainer: Rpc[pb.RemoveContainerRequest, pb.RemoveContainerResponse]
    ListContainers: Rpc[pb.ListContainersRequest, pb.ListContainersResponse]
    ContainerStatus: Rpc[pb.ContainerStatusRequest, pb.ContainerStatusResponse]


class _ImageRpcs(Protocol):
    """The typed face of the generated ImageServiceStub."""

    ListImages: Rpc[pb.ListImagesRequest, pb.ListImagesResponse]
    ImageStatus: Rpc[pb.ImageStatusRequest, pb.ImageStatusResponse]
    PullImage: Rpc[pb.PullImageRequest, pb.PullImageResponse]
    RemoveImage: Rpc[pb.RemoveImageRequest, pb.RemoveImageResponse]
    ImageFsInfo: Rpc[pb.ImageFsInfoRequest, pb.ImageFsInfoResponse]


@dataclass(frozen=True)
class RuntimeVersion:
    """CRI VersionResponse: e.g. containerd, v1.6.20, API v1."""

    runtime_name: str
    runtime_version: str
    runtime_api_version: str


def go_error_text(code: grpc.StatusCode, details: str) -> str:
    """``rpc error: code = NotFound desc = <details>``: a gRPC error as Go prints it."""
    number = code.value[0]
    name = GO_CODE_NAMES.get(number, f"Code({number})")
    return f"rpc error: code = {name} desc = {details}"


def failure_from_rpc_error(error: grpc.RpcError) -> RuntimeFailure:
    """The RuntimeFailure (RuntimeUnavailable for code Unavailable) for a failed call."""
    if isinstance(error, grpc.Call):
        code = error.code()
        details = error.details() or ""
    else:  # no status to read (not a finished call): report it as Unknown
        code, details = grpc.StatusCode.UNKNOWN, str(error)
    kind = RuntimeUnavailable if code is grpc.StatusCode.UNAVAILABLE else RuntimeFailure
    failure = kind(go_error_text(code, details))
    failure.code = GO_CODE_NAMES.get(code.value[0], "")
    return failure


def _seconds(nanoseconds: int) -> float:
    return nanoseconds / 1e9


def _host_network() -> pb.NamespaceOption:
    # Host network with the pid and ipc modes the kubelet gives a hostNetwork pod
    # (pkg/kubelet/kuberuntime/util/util.go NamespacesForPod): containerd here cannot
    # make pod networks (facts/environment.md).
    return pb.NamespaceOption(network=pb.NODE, pid=pb.CONTAINER, ipc=pb.POD)


def sandbox_config(spec: PodSandboxSpec) -> pb.PodSandboxConfig:
    """The PodSandboxConfig for ``spec``: host network and an empty hostname (CRI allows
    that only with host network; the sandbox keeps the node's UTS namespace, which
    containerd here needs, facts/environment.md)."""
    return pb.PodSandboxConfig(
        metadata=pb.PodSandboxMetadata(
            name=spec.name, uid=spec.uid, namespace=spec.namespace, attempt=spec.attempt
        ),
        hostname="",
        log_directory=spec.log_directory,
        labels=dict(spec.labels),
        linux=pb.LinuxPodSandboxConfig(
            security_context=pb.LinuxSandboxSecurityContext(namespace_options=_host_network())
        ),
    )


def container_config(spec: ContainerSpec) -> pb.ContainerConfig:
    return pb.ContainerConfig(
        metadata=pb.ContainerMetadata(name=spec.name, attempt=spec.attempt),
        image=pb.ImageSpec(image=spec.image),
        command=list(spec.command),
        args=list(spec.args),
        working_dir=spec.working_dir,
        envs=[pb.KeyValue(key=k, value=v) for k, v in spec.env.items()],
        log_path=spec.log_path,
        linux=pb.LinuxContainerConfig(
            security_context=pb.LinuxContainerSecurityContext(namespace_options=_host_network())
        ),
    )


def _auth_config(auth: AuthConfig) -> pb.AuthConfig:
    return pb.AuthConfig(
        username=auth.username,
        password=auth.password,
        auth=auth.auth,
        server_address=auth.server_address,
        identity_token=auth.identity_token,
        registry_token=auth.registry_token,
    )


def _image_info(image: pb.Image) -> ImageInfo:
    return ImageInfo(
        id=image.id,
        repo_tags=tuple(image.repo_tags),
        repo_digests=tuple(image.repo_digests),
        size=image.size,
        pinned=image.pinned,
    )


def _container_status(status: pb.ContainerStatus) -> ContainerStatus:
    return ContainerStatus(
        id=status.id,
        name=status.metadata.name,
        state=_STATES.get(status.state, ContainerState.UNKNOWN),
        image=status.image.image,
        image_ref=status.image_ref,
        created_at=_seconds(status.created_at),
        started_at=_seconds(status.started_at),
        finished_at=_seconds(status.finished_at),
        exit_code=status.exit_code,
        reason=status.reason,
        message=status.message,
        log_path=status.log_path,
    )


def _channel(socket_path: str) -> grpc.Channel:
    return grpc.insecure_channel(
        f"unix://{socket_path}",
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ],
    )


def probe_cri_socket(path: str = DEFAULT_CRI_SOCKET, timeout: float = 1.0) -> bool:
    """Whether ``path`` is a unix socket where a CRI runtime.v1 server answers Version
    within ``timeout`` seconds (what ``--runtime auto`` asks)."""
    try:
        if not stat.S_ISSOCK(os.stat(path).st_mode):
            return False
    except OSError:
        return False
    channel = _channel(path)
    try:
        rpcs = cast(_RuntimeRpcs, api_pb2_grpc.RuntimeServiceStub(channel))  # type: ignore[no-untyped-call]
        rpcs.Version(pb.VersionRequest(version=KUBE_RUNTIME_API_VERSION), timeout=timeout)
    except grpc.RpcError:
        return False
    finally:
        channel.close()
    return True


class CriRuntime:
    """ImageService and ContainerRuntime over CRI. Thread-safe (one gRPC channel)."""

    name = "cri"

    def __init__(self, socket_path: str, *, timeout: float = 120.0) -> None:
        self.socket_path = socket_path
        self.timeout = timeout
        self._channel = _channel(socket_path)
        self._runtime = cast(
            _RuntimeRpcs,
            api_pb2_grpc.RuntimeServiceStub(self._channel),  # type: ignore[no-untyped-call]
        )
        self._images = cast(
            _ImageRpcs,
            api_pb2_grpc.ImageServiceStub(self._channel),  # type: ignore[no-untyped-call]
        )

    def __repr__(self) -> str:
        return f"CriRuntime(socket_path={self.socket_path!r})"

    @classmethod
    def connect(
        cls,
        socket_path: str = DEFAULT_CRI_SOCKET,
        *,
        timeout: float = 120.0,
        connect_timeout: float = 5.0,
    ) -> CriRuntime:
        """A runtime whose socket answered Version; RuntimeUnavailable naming the socket
        when nothing (or nothing that speaks CRI runtime.v1) answers there."""
        runtime = cls(socket_path, timeout=timeout)
        try:
            runtime.version(timeout=connect_timeout)
        except RuntimeFailure as e:
            runtime.close()
            unavailable = RuntimeUnavailable(f"no CRI runtime answers at {socket_path}: {e}")
            unavailable.code = e.code
            raise unavailable from None
        return runtime

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> CriRuntime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(
        self,
        rpc: Rpc[Request, Response],
        request: Request,
        timeout: float | None = None,
    ) -> Response:
        try:
            return rpc(request, timeout=self.timeout if timeout is None else timeout)
        except grpc.RpcError as e:
            raise failure_from_rpc_error(e) from None

    # ---- version

    def version(self, timeout: float | None = None) -> RuntimeVersion:
        answer = self._call(
            self._runtime.Version, pb.VersionRequest(version=KUBE_RUNTIME_API_VERSION), timeout
        )
        return RuntimeVersion(
            runtime_name=answer.runtime_name,
            runtime_version=answer.runtime_version,
            runtime_api_version=answer.runtime_api_version,
        )

    # ---- ImageService

    def list_images(self) -> list[ImageInfo]:
        answer = self._call(self._images.ListImages, pb.ListImagesRequest())
        return [_image_info(image) for image in answer.images]

    def image_status(self, image: str) -> ImageInfo | None:
        answer = self._call(
            self._images.ImageStatus, pb.ImageStatusRequest(image=pb.ImageSpec(image=image))
        )
        # CRI: an absent image is a response without one (or an empty one).
        if not answer.HasField("image") or not answer.image.id:
            return None
        return _image_info(answer.image)

    def pull_image(self, image: str, auth: AuthConfig | None = None) -> str:
        request = pb.PullImageRequest(image=pb.ImageSpec(image=image))
        if auth is not None:
            request.auth.CopyFrom(_auth_config(auth))
        # Not through _call: a request holding a password must not be an argument of any
        # frame, or a traceback printer (pytest's long format) would show it.
        try:
            return str(self._images.PullImage(request, timeout=self.timeout).image_ref)
        except grpc.RpcError as e:
            raise failure_from_rpc_error(e) from None

    def remove_image(self, image: str) -> None:
        self._call(self._images.RemoveImage, pb.RemoveImageRequest(image=pb.ImageSpec(image=image)))

    def image_fs_info(self) -> FsUsage:
        answer = self._call(self._images.ImageFsInfo, pb.ImageFsInfoRequest())
        if not answer.image_filesystems:
            raise RuntimeFailure(
                f"the CRI runtime at {self.socket_path} reported no image filesystem"
            )
        usage = answer.image_filesystems[0]
        mountpoint = usage.fs_id.mountpoint
        # CRI reports only what images use; capacity and free space are the filesystem's
        # (the kubelet asks cAdvisor for those, by the same mountpoint).
        try:
            fs = os.statvfs(mountpoint)
        except OSError as e:
            raise RuntimeFailure(
                f"image filesystem {mountpoint}: cannot read its size ({e.strerror})"
            ) from None
        return FsUsage(
            mountpoint=mountpoint,
            used_bytes=usage.used_bytes.value,
            inodes_used=usage.inodes_used.value,
            capacity_bytes=fs.f_blocks * fs.f_frsize,
            available_bytes=fs.f_bavail * fs.f_frsize,
        )

    # ---- RuntimeService

    def run_pod_sandbox(self, spec: PodSandboxSpec) -> str:
        answer = self._call(
            self._runtime.RunPodSandbox, pb.RunPodSandboxRequest(config=sandbox_config(spec))
        )
        return answer.pod_sandbox_id

    def stop_pod_sandbox(self, sandbox_id: str) -> None:
        self._call(
            self._runtime.StopPodSandbox, pb.StopPodSandboxRequest(pod_sandbox_id=sandbox_id)
        )

    def remove_pod_sandbox(self, sandbox_id: str) -> None:
        self._call(
            self._runtime.RemovePodSandbox, pb.RemovePodSandboxRequest(pod_sandbox_id=sandbox_id)
        )

    def pod_sandbox_ready(self, sandbox_id: str) -> bool:
        answer = self._call(
            self._runtime.PodSandboxStatus, pb.PodSandboxStatusRequest(pod_sandbox_id=sandbox_id)
        )
        return answer.status.state == pb.SANDBOX_READY

    def list_pod_sandboxes(
        self, *, include_not_ready: bool = False
    ) -> list[tuple[str, dict[str, str]]]:
        """(id, labels) of the ready sandboxes; with ``include_not_ready``, of the stopped
        ones too (which still hold their containers and logs until removed)."""
        sandbox_filter = pb.PodSandboxFilter()
        if not include_not_ready:
            sandbox_filter.state.state = pb.SANDBOX_READY
        request = pb.ListPodSandboxRequest(filter=sandbox_filter)
        answer = self._call(self._runtime.ListPodSandbox, request)
        return [(item.id, dict(item.labels)) for item in answer.items]

    def create_container(
        self, sandbox_id: str, spec: ContainerSpec, sandbox: PodSandboxSpec
    ) -> str:
        request = pb.CreateContainerRequest(
            pod_sandbox_id=sandbox_id,
            config=container_config(spec),
            sandbox_config=sandbox_config(sandbox),
        )
        return self._call(self._runtime.CreateContainer, request).container_id

    def start_container(self, container_id: str) -> None:
        self._call(
            self._runtime.StartContainer, pb.StartContainerRequest(container_id=container_id)
        )

    def stop_container(self, container_id: str, timeout: int = 10) -> None:
        # The runtime waits up to ``timeout`` seconds before it kills: the call's deadline
        # must outlast that.
        self._call(
            self._runtime.StopContainer,
            pb.StopContainerRequest(container_id=container_id, timeout=timeout),
            self.timeout + timeout,
        )

    def remove_container(self, container_id: str) -> None:
        self._call(
            self._runtime.RemoveContainer, pb.RemoveContainerRequest(container_id=container_id)
        )

    def container_status(self, container_id: str) -> ContainerStatus:
        answer = self._call(
            self._runtime.ContainerStatus, pb.ContainerStatusRequest(container_id=container_id)
        )
        return _container_status(answer.status)

    def list_containers(self, sandbox_id: str | None = None) -> list[ContainerStatus]:
        request = pb.ListContainersRequest(
            filter=pb.ContainerFilter(pod_sandbox_id=sandbox_id or "")
        )
        listed = self._call(self._runtime.ListContainers, request).containers
        statuses: list[ContainerStatus] = []
        for container in listed:
            # The list lacks start and finish times and exit codes: ask for each status.
            try:
                statuses.append(self.container_status(container.id))
            except RuntimeFailure as e:
                if e.code != "NotFound":  # removed since it was listed
                    raise
        return statuses
