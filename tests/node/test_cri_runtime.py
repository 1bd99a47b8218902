"""hoist.node.cri against a real containerd 1.6 (one per session) pulling from a real
Distribution; the error texts are containerd's own, rendered as Go's gRPC client does."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hoist.auth.credential import Credential
from hoist.node.cri import CriRuntime, go_error_text, probe_cri_socket
from hoist.node.runtime import (
    AuthConfig,
    ContainerRuntime,
    ContainerSpec,
    ContainerState,
    ContainerStatus,
    ImageService,
    PodSandboxSpec,
    RuntimeFailure,
    RuntimeUnavailable,
)
from tests.support.cri_fixtures import ContainerdNode, PushedImage
from tests.support.distribution import Distribution

# The kubelet's container log format (CRI logging, kubernetes
# pkg/kubelet/kuberuntime/logs): RFC 3339 nano timestamp, stream, tag (F full, P partial).
CRI_LOG_LINE = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+(Z|[+-]\d\d:\d\d) (stdout|stderr) [FP] "
)


# ---- without a runtime


@pytest.mark.parametrize(
    ("code", "go_name"),
    [
        (grpc.StatusCode.CANCELLED, "Canceled"),  # Go spells it with one l
        (grpc.StatusCode.UNKNOWN, "Unknown"),
        (grpc.StatusCode.INVALID_ARGUMENT, "InvalidArgument"),
        (grpc.StatusCode.DEADLINE_EXCEEDED, "DeadlineExceeded"),
        (grpc.StatusCode.NOT_FOUND, "NotFound"),
        (grpc.StatusCode.ALREADY_EXISTS, "AlreadyExists"),
        (grpc.StatusCode.PERMISSION_DENIED, "PermissionDenied"),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, "ResourceExhausted"),
        (grpc.StatusCode.FAILED_PRECONDITION, "FailedPrecondition"),
        (grpc.StatusCode.ABORTED, "Aborted"),
        (grpc.StatusCode.OUT_OF_RANGE, "OutOfRange"),
        (grpc.StatusCode.UNIMPLEMENTED, "Unimplemented"),
        (grpc.StatusCode.INTERNAL, "Internal"),
        (grpc.StatusCode.UNAVAILABLE, "Unavailable"),
        (grpc.StatusCode.DATA_LOSS, "DataLoss"),
        (grpc.StatusCode.UNAUTHENTICATED, "Unauthenticated"),
    ],
)
def test_error_text_uses_go_code_names(code: grpc.StatusCode, go_name: str) -> None:
    assert go_error_text(code, "it broke") == f"rpc error: code = {go_name} desc = it broke"


@given(st.text())
def test_error_text_keeps_the_details_verbatim(details: str) -> None:
    text = go_error_text(grpc.StatusCode.NOT_FOUND, details)
    assert text == "rpc error: code = NotFound desc = " + details


def test_connect_to_a_missing_socket_fails_at_once_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "containerd.sock"
    started = time.monotonic()
    with pytest.raises(RuntimeUnavailable) as failure:
        CriRuntime.connect(str(missing))
    assert time.monotonic() - started < 3.0
    assert str(failure.value).startswith(
        f"no CRI runtime answers at {missing}: rpc error: code = Unavailable desc = "
    )
    assert failure.value.code == "Unavailable"


def test_calls_to_a_runtime_that_went_away_raise_unavailable(tmp_path: Path) -> None:
    runtime = CriRuntime(str(tmp_path / "gone.sock"), timeout=2.0)
    try:
        with pytest.raises(RuntimeUnavailable) as failure:
            runtime.image_status("busybox")
    finally:
        runtime.close()
    assert str(failure.value).startswith("rpc error: code = Unavailable desc = ")
    assert str(tmp_path / "gone.sock") in str(failure.value)


@pytest.fixture
def silent_socket(tmp_path: Path) -> Iterator[Path]:
    """A unix socket that accepts connections and never says a word."""
    path = tmp_path / "silent.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(8)
    try:
        yield path
    finally:
        server.close()


def test_connect_to_a_socket_that_does_not_answer_gives_up_at_the_deadline(
    silent_socket: Path,
) -> None:
    started = time.monotonic()
    with pytest.raises(RuntimeUnavailable) as failure:
        CriRuntime.connect(str(silent_socket), connect_timeout=0.5)
    assert time.monotonic() - started < 3.0
    assert str(silent_socket) in str(failure.value)
    assert failure.value.code == "DeadlineExceeded"


def test_probe_says_no_to_what_is_not_a_cri_socket(tmp_path: Path, silent_socket: Path) -> None:
    regular = tmp_path / "file.sock"
    regular.write_text("")
    assert not probe_cri_socket(str(tmp_path / "absent.sock"))
    assert not probe_cri_socket(str(regular))
    assert not probe_cri_socket(str(silent_socket), timeout=0.3)


# ---- against containerd


def test_connects_and_probes_a_real_containerd(
    containerd: ContainerdNode, cri_runtime: CriRuntime
) -> None:
    assert probe_cri_socket(containerd.socket)
    version = cri_runtime.version()
    assert (version.runtime_name, version.runtime_api_version) == ("containerd", "v1")
    assert isinstance(cri_runtime, ImageService)
    assert isinstance(cri_runtime, ContainerRuntime)
    assert cri_runtime.name == "cri"


@pytest.fixture
def app_image(containerd: ContainerdNode) -> PushedImage:
    return containerd.push_image("hoist-cri/app")


def test_pull_anonymous_then_status_list_and_remove(
    cri_runtime: CriRuntime, app_image: PushedImage
) -> None:
    cri_runtime.remove_image(app_image.reference)  # another test may have pulled it
    assert cri_runtime.image_status(app_image.reference) is None

    image_ref = cri_runtime.pull_image(app_image.reference)

    # containerd's image ID (and PullImage's image_ref) is the config digest
    assert image_ref == app_image.config_digest
    status = cri_runtime.image_status(app_image.reference)
    assert status is not None
    assert status.id == image_ref
    assert status.repo_tags == (app_image.reference,)
    assert status.repo_digests == (app_image.digest_reference,)
    assert status.size > 0
    assert cri_runtime.image_status(image_ref) == status  # found by ID too
    assert image_ref in {image.id for image in cri_runtime.list_images()}

    cri_runtime.remove_image(app_image.reference)
    assert cri_runtime.image_status(app_image.reference) is None
    assert image_ref not in {image.id for image in cri_runtime.list_images()}
    cri_runtime.remove_image(app_image.reference)  # idempotent


def test_status_of_an_image_never_pulled_is_none(
    containerd: ContainerdNode, cri_runtime: CriRuntime
) -> None:
    assert cri_runtime.image_status(f"{containerd.registry.host}/hoist-cri/never:1") is None


def test_pull_of_a_missing_tag_fails_with_containerds_not_found(
    containerd: ContainerdNode, cri_runtime: CriRuntime
) -> None:
    image = f"{containerd.registry.host}/hoist-cri/app:missing"
    with pytest.raises(RuntimeFailure) as failure:
        cri_runtime.pull_image(image)
    assert not isinstance(failure.value, RuntimeUnavailable)
    assert failure.value.code == "NotFound"
    assert str(failure.value) == (
        f'rpc error: code = NotFound desc = failed to pull and unpack image "{image}": '
        f'failed to resolve reference "{image}": {image}: not found'
    )


@pytest.fixture
def private_image(containerd: ContainerdNode, distribution_basic: Distribution) -> PushedImage:
    password = distribution_basic.users["alice"]
    return containerd.push_image(
        "hoist-cri/private", registry=distribution_basic, credential=Credential("alice", password)
    )


def _unauthorized(image: PushedImage) -> str:
    host = image.reference.partition("/")[0]
    return (
        f'rpc error: code = Unknown desc = failed to pull and unpack image "{image.reference}": '
        f'failed to resolve reference "{image.reference}": pulling from host {host} failed '
        "with status code [manifests 1]: 401 Unauthorized"
    )


def test_pull_from_a_registry_with_basic_auth(
    cri_runtime: CriRuntime, private_image: PushedImage, distribution_basic: Distribution
) -> None:
    password = distribution_basic.users["alice"]
    with pytest.raises(RuntimeFailure) as anonymous:
        cri_runtime.pull_image(private_image.reference)
    assert str(anonymous.value) == _unauthorized(private_image)

    wrong = AuthConfig(username="alice", password=password + "-not")
    with pytest.raises(RuntimeFailure) as refused:
        cri_runtime.pull_image(private_image.reference, wrong)
    assert str(refused.value) == _unauthorized(private_image)
    assert refused.value.code == "Unknown"
    leaked = wrong.password in str(refused.value) or wrong.password in repr(wrong)
    assert not leaked, "the password shows in the error or the AuthConfig repr"

    right = AuthConfig(username="alice", password=password)
    assert cri_runtime.pull_image(private_image.reference, right) == private_image.config_digest
    cri_runtime.remove_image(private_image.reference)


def test_image_fs_info_reports_the_snapshotter_filesystem(
    containerd: ContainerdNode, cri_runtime: CriRuntime, app_image: PushedImage
) -> None:
    cri_runtime.pull_image(app_image.reference)
    usage = cri_runtime.image_fs_info()
    assert usage.mountpoint == str(
        containerd.root / f"io.containerd.snapshotter.v1.{containerd.snapshotter}"
    )
    assert 0 < usage.available_bytes <= usage.capacity_bytes
    # containerd refreshes the usage every stats_collect_period (1 s in the test config)
    deadline = time.monotonic() + 5.0
    while usage.used_bytes == 0 and time.monotonic() < deadline:
        time.sleep(0.2)
        usage = cri_runtime.image_fs_info()
    assert usage.used_bytes > 0
    assert usage.inodes_used > 0


# ---- pods


@pytest.fixture
def pod(
    cri_runtime: CriRuntime, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[str, PodSandboxSpec]]:
    """A running host-network sandbox, removed afterwards."""
    spec = PodSandboxSpec(
        name=request.node.name[:40].lower().replace("_", "-"),
        namespace="default",
        uid=f"uid-{time.monotonic_ns()}",
        labels={"app": "hoist-test", "test": request.node.name[:60]},
        log_directory=str(tmp_path / "logs"),
    )
    sandbox_id = cri_runtime.run_pod_sandbox(spec)
    try:
        yield sandbox_id, spec
    finally:
        cri_runtime.stop_pod_sandbox(sandbox_id)
        cri_runtime.remove_pod_sandbox(sandbox_id)


def _wait_for(
    runtime: CriRuntime, container_id: str, done: Callable[[ContainerStatus], bool]
) -> ContainerStatus:
    deadline = time.monotonic() + 10.0
    status = runtime.container_status(container_id)
    while not done(status) and time.monotonic() < deadline:
        time.sleep(0.05)
        status = runtime.container_status(container_id)
    return status


def test_a_container_runs_logs_stops_and_is_removed(
    cri_runtime: CriRuntime, app_image: PushedImage, pod: tuple[str, PodSandboxSpec]
) -> None:
    sandbox_id, sandbox = pod
    assert (sandbox_id, sandbox.labels) in cri_runtime.list_pod_sandboxes()
    image_ref = cri_runtime.pull_image(app_image.reference)
    spec = ContainerSpec(
        name="main",
        image=image_ref,
        command=["/bin/sh", "-c"],
        args=['echo "hello from $GREETING in $(pwd)"; sleep 300'],
        env={"GREETING": "hoist"},
        working_dir="/tmp",
        log_path="main/0.log",
    )
    container_id = cri_runtime.create_container(sandbox_id, spec, sandbox)
    created = cri_runtime.container_status(container_id)
    assert created.state is ContainerState.CREATED
    assert created.created_at > 0 and created.started_at == 0

    cri_runtime.start_container(container_id)
    log = Path(sandbox.log_directory) / "main" / "0.log"
    running = _wait_for(
        cri_runtime, container_id, lambda _: log.is_file() and log.stat().st_size > 0
    )
    assert running.state is ContainerState.RUNNING
    assert running.name == "main"
    assert running.image_ref == app_image.digest_reference
    assert running.log_path == str(log)
    assert created.created_at <= running.started_at <= time.time()
    assert abs(running.started_at - time.time()) < 60  # seconds, not nanoseconds
    lines = log.read_text().splitlines()
    assert len(lines) == 1 and CRI_LOG_LINE.match(lines[0]), lines
    assert lines[0].endswith(" stdout F hello from hoist in /tmp")
    assert [c.id for c in cri_runtime.list_containers(sandbox_id)] == [container_id]
    assert container_id in {c.id for c in cri_runtime.list_containers()}

    # The shell is PID 1 and ignores SIGTERM: with no grace period it is killed at once.
    cri_runtime.stop_container(container_id, timeout=0)
    stopped = cri_runtime.container_status(container_id)
    assert stopped.state is ContainerState.EXITED
    assert stopped.exit_code == 137  # 128 + SIGKILL
    assert stopped.finished_at >= stopped.started_at == running.started_at

    cri_runtime.remove_container(container_id)
    assert cri_runtime.list_containers(sandbox_id) == []
    with pytest.raises(RuntimeFailure) as gone:
        cri_runtime.container_status(container_id)
    assert str(gone.value) == (
        "rpc error: code = NotFound desc = an error occurred when try to find container "
        f'"{container_id}": not found'
    )
    cri_runtime.remove_container(container_id)  # idempotent


def test_a_container_that_exits_3_is_exited_with_code_3(
    containerd: ContainerdNode, cri_runtime: CriRuntime, pod: tuple[str, PodSandboxSpec]
) -> None:
    sandbox_id, sandbox = pod
    image = containerd.push_image("hoist-cri/exit3", command="echo bye >&2; exit 3")
    image_ref = cri_runtime.pull_image(image.reference)
    spec = ContainerSpec(name="short", image=image_ref, log_path="short/0.log")
    container_id = cri_runtime.create_container(sandbox_id, spec, sandbox)
    cri_runtime.start_container(container_id)

    status = _wait_for(cri_runtime, container_id, lambda s: s.state is ContainerState.EXITED)

    assert status.state is ContainerState.EXITED
    assert status.exit_code == 3
    assert status.reason == "Error"
    # containerd stamps started_at when its start call returns and finished_at with the
    # exit event's time: for a process this short, finished_at can come first.
    assert status.started_at > 0
    assert status.finished_at >= status.created_at > 0
    log_lines = (Path(sandbox.log_directory) / "short" / "0.log").read_text().splitlines()
    assert [line.split(" ", 1)[1] for line in log_lines] == ["stderr F bye"]


def test_removed_sandboxes_are_not_listed(
    cri_runtime: CriRuntime, tmp_path: Path
) -> None:
    spec = PodSandboxSpec(
        name="short-lived", namespace="default", uid=f"uid-{time.monotonic_ns()}",
        labels={"hoist.dev/test": "removed"}, log_directory=str(tmp_path),
    )
    sandbox_id = cri_runtime.run_pod_sandbox(spec)
    assert cri_runtime.pod_sandbox_ready(sandbox_id)
    cri_runtime.stop_pod_sandbox(sandbox_id)
    assert not cri_runtime.pod_sandbox_ready(sandbox_id)
    assert sandbox_id not in dict(cri_runtime.list_pod_sandboxes())
    assert sandbox_id in dict(cri_runtime.list_pod_sandboxes(include_not_ready=True))
    cri_runtime.remove_pod_sandbox(sandbox_id)
    assert sandbox_id not in dict(cri_runtime.list_pod_sandboxes(include_not_ready=True))
    cri_runtime.remove_pod_sandbox(sandbox_id)  # idempotent
