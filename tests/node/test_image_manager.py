"""EnsureImageExists over both runtimes (hoist's store, and containerd over CRI) and a
real Distribution: the kubelet's decisions, event reasons and message texts, back-off and
credential order. The same tests run against each runtime where the behaviour is the same."""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hoist.auth.credential import Credential
from hoist.core.policy import PullPolicy
from hoist.node.backoff import Backoff
from hoist.node.builtin import BuiltinRuntime
from hoist.node.events import ListRecorder, ObjectRef
from hoist.node.image_manager import EnsureResult, ImageError, ImageManager, PodIdentity
from hoist.node.puller import SerialImagePuller, TokenBucket
from hoist.node.runtime import ImageService
from hoist.transfer.copy import Options, copy
from tests.support.distribution import Distribution
from tests.support.images import ImageFactory

POD = PodIdentity(uid="uid-1", namespace="default", name="web")
REF = ObjectRef("Pod", "default", "web", "uid-1", field_path="spec.containers{app}")


class Clock:
    """A hand-driven clock for the back-off (the image manager reads time through it)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def push(factory: ImageFactory, registry: Distribution, repo: str, tag: str = "v1",
         credential: Credential | None = None, seed: str | None = None) -> str:
    info = factory.make_image(f"{repo}-{tag}-{seed or ''}", layers=[2048], seed=seed)
    dest = f"{registry.host}/{repo}:{tag}"
    copy(f"oci:{factory.layout_dir}:{repo}-{tag}-{seed or ''}", f"docker://{dest}",
         Options(credentials=credential or Credential()))
    return info.digest


@pytest.fixture(params=["builtin", "cri"])
def runtime(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ImageService]:
    """The same behaviour over both runtimes: hoist's store, and a real containerd (whose
    images outlive a test, so each test's repositories carry the runtime's name)."""
    if request.param == "cri":
        yield request.getfixturevalue("cri_runtime")
        return
    builtin = BuiltinRuntime(tmp_path / "node-images")
    yield builtin
    builtin.close()


def manager(where: Path | ImageService, clock: Clock | None = None,
            qps: float = 0) -> tuple[ImageManager, ListRecorder, ImageService]:
    runtime = BuiltinRuntime(where / "node-images") if isinstance(where, Path) else where
    recorder = ListRecorder()
    limiter = TokenBucket(qps, 1) if qps else None
    backoff = Backoff(10, 300, clock=clock or Clock())
    return (ImageManager(runtime, SerialImagePuller(runtime, limiter), backoff, recorder),
            recorder, runtime)


def seen(recorder: ListRecorder) -> list[tuple[str, str, str]]:
    out = [(t, r, m) for _ref, t, r, m in recorder.events]
    recorder.events.clear()
    return out


def ensure(m: ImageManager, image: str, policy: PullPolicy,
           secrets: list[dict[str, Any]] | None = None, pod: PodIdentity = POD) -> EnsureResult:
    return m.ensure_image(REF, pod, image, secrets or [], policy)


PULLED = re.compile(r'Successfully pulled image "(.+)" in (\d+(\.\d+)?m?s) '
                    r"\((\d+(\.\d+)?m?s) including waiting\)\. Image size: (\d+) bytes\.")


# ----------------------------------------------------------------- the policy matrix


@pytest.mark.parametrize("policy", list(PullPolicy))
def test_present_image(distribution_open: Distribution, image_factory: ImageFactory,
                       runtime: ImageService, policy: PullPolicy) -> None:
    repo = f"present-{policy.value.lower()}-{runtime.name}"
    image = f"{distribution_open.host}/{repo}:v1"
    push(image_factory, distribution_open, repo)
    m, rec, _ = manager(runtime)
    runtime.pull_image(image)  # preloaded
    result = ensure(m, image, policy)
    assert result.ok and result.image_ref.startswith("sha256:")
    events = seen(rec)
    if policy is PullPolicy.ALWAYS:
        assert [e[:2] for e in events] == [("Normal", "Pulling"), ("Normal", "Pulled")]
        assert events[0][2] == f'Pulling image "{image}"'
        match = PULLED.fullmatch(events[1][2])
        assert match and match.group(1) == image and int(match.group(6)) > 2048
    else:
        assert events == [("Normal", "Pulled",
                           f'Container image "{image}" already present on machine')]
        assert result.message == f'Container image "{image}" already present on machine'


@pytest.mark.parametrize("policy", list(PullPolicy))
def test_absent_image(distribution_open: Distribution, image_factory: ImageFactory,
                      runtime: ImageService, policy: PullPolicy) -> None:
    repo = f"absent-{policy.value.lower()}-{runtime.name}"
    image = f"{distribution_open.host}/{repo}:v1"
    push(image_factory, distribution_open, repo)
    m, rec, _ = manager(runtime)
    result = ensure(m, image, policy)
    events = seen(rec)
    if policy is PullPolicy.NEVER:
        msg = f'Container image "{image}" is not present with pull policy of Never'
        assert result == EnsureResult("", msg, ImageError.NEVER_PULL)
        assert events == [("Warning", "ErrImageNeverPull", msg)]
        assert runtime.image_status(image) is None
    else:
        assert result.ok
        assert [e[1] for e in events] == ["Pulling", "Pulled"]
        assert runtime.image_status(image) is not None


@pytest.mark.parametrize("policy", [PullPolicy.ALWAYS, PullPolicy.IF_NOT_PRESENT])
def test_unpullable_image_backs_off_and_recovers(
        distribution_open: Distribution, image_factory: ImageFactory, runtime: ImageService,
        policy: PullPolicy) -> None:
    repo = f"later-{policy.value.lower()}-{runtime.name}"
    image = f"{distribution_open.host}/{repo}:v1"
    clock = Clock()
    m, rec, _ = manager(runtime, clock)

    first = ensure(m, image, policy)
    assert first.error is ImageError.PULL
    events = seen(rec)
    assert [e[:2] for e in events] == [("Normal", "Pulling"), ("Warning", "Failed")]
    failed = events[1][2]
    assert failed.startswith(f'Failed to pull image "{image}": ')
    assert "not found" in failed.lower() or "unknown" in failed.lower()
    assert first.message == failed.removeprefix(f'Failed to pull image "{image}": ')

    # Inside the back-off: BackOff event, ImagePullBackOff with the last error attached.
    for delay in (10, 20, 40):
        clock.now += delay - 0.5
        waiting = ensure(m, image, policy)
        assert waiting.error is ImageError.PULL_BACK_OFF
        assert waiting.message == (f'Back-off pulling image "{image}": ErrImagePull: '
                                   f"{first.message}")
        assert seen(rec) == [("Normal", "BackOff", f'Back-off pulling image "{image}"')]
        clock.now += 0.5  # the back-off has run out: the next sync pulls again
        again = ensure(m, image, policy)
        assert again.error is ImageError.PULL
        assert [e[1] for e in seen(rec)] == ["Pulling", "Failed"]
    assert m.backoff.get(f"{POD.uid}_{image}") == 80

    push(image_factory, distribution_open, repo)
    clock.now += 80
    recovered = ensure(m, image, policy)
    assert recovered.ok
    assert [e[1] for e in seen(rec)] == ["Pulling", "Pulled"]


def test_never_and_absent_on_a_registry_that_does_not_exist(tmp_path: Path) -> None:
    m, rec, _ = manager(tmp_path)
    msg = 'Container image "127.0.0.1:9/nothing:v1" is not present with pull policy of Never'
    assert ensure(m, "127.0.0.1:9/nothing:v1", PullPolicy.NEVER) == EnsureResult(
        "", msg, ImageError.NEVER_PULL)
    assert seen(rec) == [("Warning", "ErrImageNeverPull", msg)]


def test_backoff_is_per_pod_and_image(distribution_open: Distribution, tmp_path: Path) -> None:
    image = f"{distribution_open.host}/missing-per-pod:v1"
    m, _rec, _ = manager(tmp_path)
    assert ensure(m, image, PullPolicy.IF_NOT_PRESENT).error is ImageError.PULL
    other = PodIdentity("uid-2", "default", "other")
    # Another pod's first try pulls at once: the key is "<pod UID>_<image>".
    assert ensure(m, image, PullPolicy.IF_NOT_PRESENT, pod=other).error is ImageError.PULL
    assert ensure(m, image, PullPolicy.IF_NOT_PRESENT).error is ImageError.PULL_BACK_OFF


# ----------------------------------------------------------------- names and defaults


def test_invalid_image_name(tmp_path: Path) -> None:
    m, rec, _ = manager(tmp_path)
    result = ensure(m, "Not A Valid/Image", PullPolicy.IF_NOT_PRESENT)
    assert result.error is ImageError.INVALID_NAME
    assert result.message.startswith('Failed to apply default image tag "Not A Valid/Image": ')
    assert seen(rec) == [("Warning", "InspectFailed", result.message)]


def test_default_tag_is_added_but_events_name_the_image_as_written(
        distribution_open: Distribution, image_factory: ImageFactory,
        runtime: ImageService) -> None:
    push(image_factory, distribution_open, f"untagged-{runtime.name}", tag="latest")
    image = f"{distribution_open.host}/untagged-{runtime.name}"
    m, rec, _ = manager(runtime)
    assert ensure(m, image, PullPolicy.IF_NOT_PRESENT).ok
    assert seen(rec)[0] == ("Normal", "Pulling", f'Pulling image "{image}"')
    assert runtime.image_status(f"{image}:latest") is not None


def test_digest_reference_is_present_by_digest(
        distribution_open: Distribution, image_factory: ImageFactory,
        runtime: ImageService) -> None:
    repo = f"bydigest-{runtime.name}"
    digest = push(image_factory, distribution_open, repo)
    image = f"{distribution_open.host}/{repo}@{digest}"
    m, rec, _ = manager(runtime)
    assert ensure(m, image, PullPolicy.IF_NOT_PRESENT).ok
    seen(rec)
    assert ensure(m, image, PullPolicy.NEVER).ok
    assert seen(rec) == [("Normal", "Pulled",
                          f'Container image "{image}" already present on machine')]
    # Presence is by exact name (#72401): the tag was never pulled.
    assert runtime.image_status(f"{distribution_open.host}/{repo}:v1") is None


# ----------------------------------------------------------------- credentials


def _secret(name: str, server: str, user: str, password: str) -> dict[str, Any]:
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    config = {"auths": {server: {"username": user, "password": password, "auth": auth}}}
    return {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
            "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}"},
            "data": {".dockerconfigjson": base64.b64encode(
                json.dumps(config).encode()).decode()}}


def test_private_image_needs_the_right_secret(
        distribution_basic: Distribution, image_factory: ImageFactory,
        runtime: ImageService) -> None:
    password = distribution_basic.users["alice"]
    repo = f"private-{runtime.name}"
    push(image_factory, distribution_basic, repo, credential=Credential("alice", password))
    image = f"{distribution_basic.host}/{repo}:v1"

    m, _rec, _ = manager(runtime)
    denied = ensure(m, image, PullPolicy.IF_NOT_PRESENT)
    assert denied.error is ImageError.PULL
    assert "401 Unauthorized" in denied.message  # both runtimes carry the registry's answer
    assert password not in denied.message

    m2, rec2, _ = manager(runtime)
    wrong = _secret("wrong", distribution_basic.host, "alice", "not-the-password")
    right = _secret("right", distribution_basic.host, "alice", password)
    # Both match the same key: the kubelet tries each until one works.
    result = ensure(m2, image, PullPolicy.IF_NOT_PRESENT, [wrong, right])
    assert result.ok, result.message
    assert [e[1] for e in seen(rec2)] == ["Pulling", "Pulled"]


def test_every_credential_failing_aggregates_the_errors(
        distribution_basic: Distribution, tmp_path: Path) -> None:
    image = f"{distribution_basic.host}/private-missing:v1"
    m, _rec, _ = manager(tmp_path)
    secrets = [_secret(n, distribution_basic.host, "alice", f"bad-{n}") for n in ("a", "b")]
    result = ensure(m, image, PullPolicy.ALWAYS, secrets)
    assert result.error is ImageError.PULL
    # Two identical failures collapse into one text, as utilerrors.NewAggregate does.
    assert not result.message.startswith("[")


# ----------------------------------------------------------------- pullers and limits


def test_qps_limit_fails_the_pull_at_once(distribution_open: Distribution,
                                          image_factory: ImageFactory, tmp_path: Path) -> None:
    push(image_factory, distribution_open, "qps")
    image = f"{distribution_open.host}/qps:v1"
    m, rec, _ = manager(tmp_path, qps=0.001)  # burst 1, then nothing for ~1000 s
    assert ensure(m, image, PullPolicy.ALWAYS).ok
    other = PodIdentity("uid-q", "default", "q")
    result = ensure(m, image, PullPolicy.ALWAYS, pod=other)
    assert result == EnsureResult("", "pull QPS exceeded", ImageError.PULL)
    assert seen(rec)[-1] == ("Warning", "Failed", f'Failed to pull image "{image}": '
                             "pull QPS exceeded")


def test_serial_puller_pulls_one_at_a_time(distribution_open: Distribution,
                                           image_factory: ImageFactory,
                                           tmp_path: Path) -> None:
    images = []
    for i in range(3):
        push(image_factory, distribution_open, f"serial{i}")
        images.append(f"{distribution_open.host}/serial{i}:v1")
    runtime = BuiltinRuntime(tmp_path / "imgs")
    active = []
    peak = [0]
    lock = threading.Lock()
    original = runtime.pull_image

    def counting_pull(image: str, auth: Any = None) -> str:
        with lock:
            active.append(image)
            peak[0] = max(peak[0], len(active))
        try:
            time.sleep(0.05)
            return original(image, auth)
        finally:
            with lock:
                active.remove(image)

    runtime.pull_image = counting_pull  # type: ignore[method-assign]
    puller = SerialImagePuller(runtime)
    futures = [puller.pull(img, []) for img in images]
    results = [f.result(timeout=30) for f in futures]
    assert all(r.error is None and r.image_size > 0 for r in results)
    assert peak[0] == 1
    puller.close()
