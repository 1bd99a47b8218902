"""The status check: pure rules over kubectl-shaped JSON (tests/deploy/data, as kubectl 1.32
and a containerd node write them), the wait loop with a scripted clock, and the embedded
cluster with the builtin runtime feeding real snapshots."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from hoist.cluster.agent import NodeOptions
from hoist.deploy.status import (
    ClusterStatusSource,
    PodFailure,
    Snapshot,
    WorkloadRef,
    WorkloadState,
    assess,
    pull_note,
    selector_matches,
    snapshot_from_objects,
    status_deadline,
    wait_for_ready,
    workload_refs,
)
from hoist.deploy.verify import verify_running
from hoist.errors import InputError
from hoist.transfer.copy import Options
from hoist.transfer.copy import copy as copy_image
from tests.kubelet._node import RunningNode
from tests.support.distribution import Distribution
from tests.support.images import ImageFactory

DATA = Path(__file__).parent / "data"
REG = "127.0.0.1:5000"
NEW = f"{REG}/my-service:4f2a9c1"
DIGEST_NEW = "sha256:4f71a7e011db222b2bd44d053d5eba095005c7bade526a52e8b7036033eee37e"
PINNED = f"{NEW}@{DIGEST_NEW}"
MY_SERVICE = WorkloadRef("Deployment", "default", "my-service")
# The kubelet's texts (facts/kubelet.md) around containerd's error for a missing tag.
NOT_FOUND = (f'rpc error: code = NotFound desc = failed to pull and unpack image "{NEW}": '
             f'failed to resolve reference "{NEW}": {NEW}: not found')


def load(name: str) -> list[dict[str, Any]]:
    doc = json.loads((DATA / name).read_text())
    return list(doc["items"])


def snap(*names: str) -> Snapshot:
    return snapshot_from_objects([json.loads((DATA / n).read_text()) for n in names])


def items(snapshot: Snapshot) -> list[dict[str, Any]]:
    """A mutable copy of everything in a snapshot, for variants of a fixture."""
    return [copy.deepcopy(dict(o)) for o in (*snapshot.workloads, *snapshot.pods,
                                             *snapshot.events)]


def named(objs: Sequence[Mapping[str, Any]], kind: str, name: str) -> dict[str, Any]:
    for o in objs:
        if o["kind"] == kind and o["metadata"]["name"] == name:
            assert isinstance(o, dict)
            return o
    raise AssertionError(f"no {kind} {name}")


def one(ref: WorkloadRef, snapshot: Snapshot, images_only: bool = False) -> WorkloadState:
    [state] = assess([ref], snapshot, images_only=images_only)
    return state


# --------------------------------------------------------------------------- Deployment


def test_a_rolled_out_deployment_is_ready() -> None:
    state = one(MY_SERVICE, snap("deployment_rolled_out.json",
                                 "deployment_rolled_out.events.json"))
    assert state.phase == "ready"
    assert (state.desired, state.updated, state.ready) == (2, 2, 2)
    assert state.detail == "2/2 ready"
    assert state.pods == ("my-service-7c9d6f4b8d-x7k2p", "my-service-7c9d6f4b8d-q9m4t")
    assert state.failures == ()


def test_a_rollout_waits_while_a_pod_of_the_old_template_runs() -> None:
    objs = items(snap("deployment_rollout_old_pods.json"))
    state = one(MY_SERVICE, snapshot_from_objects(objs))
    assert state.phase == "waiting"
    # The old pod that is already terminating does not count; the running one does.
    assert state.detail == "2/2 ready (1 pod of an older template still there)"
    assert state.pods == ("my-service-7c9d6f4b8d-x7k2p", "my-service-7c9d6f4b8d-q9m4t")

    # The old pod goes; until the controller's status agrees the wait goes on.
    objs = [o for o in objs if o["metadata"]["name"] != "my-service-5d8f7b9c4f-h2l6v"]
    state = one(MY_SERVICE, snapshot_from_objects(objs))
    assert state.phase == "waiting"
    assert "the Deployment reports 2 updated, 3 available of 2" in state.detail
    dep = named(objs, "Deployment", "my-service")
    dep["status"].update(replicas=2, availableReplicas=2, readyReplicas=2)
    assert one(MY_SERVICE, snapshot_from_objects(objs)).phase == "ready"


def test_without_replicasets_the_current_pods_are_those_of_the_template_images() -> None:
    # What a kubectl source sees when it lists only the Deployment and the pods.
    objs = [o for o in items(snap("deployment_rollout_old_pods.json"))
            if o["kind"] != "ReplicaSet"]
    state = one(MY_SERVICE, snapshot_from_objects(objs))
    assert state.phase == "waiting"
    assert state.updated == 2
    assert state.detail.endswith("(1 pod of an older template still there)")


def test_the_current_replicaset_is_the_one_with_the_deployments_template() -> None:
    # Only an env var changed: old and new pods run the same image, and the template
    # (as the ReplicaSet holds it) is what tells them apart.
    objs = items(snap("deployment_rollout_old_pods.json"))
    env = [{"name": "LOG_LEVEL", "value": "debug"}]
    for o in objs:
        if o["kind"] == "Pod":
            o["spec"]["containers"][0]["image"] = NEW
        if o["kind"] == "ReplicaSet":
            o["spec"]["template"]["spec"]["containers"][0]["image"] = NEW
        if o["kind"] in ("Deployment", "ReplicaSet") and o["metadata"]["name"] in (
                "my-service", "my-service-7c9d6f4b8d"):
            o["spec"]["template"]["spec"]["containers"][0]["env"] = env
    state = one(MY_SERVICE, snapshot_from_objects(objs))
    assert state.phase == "waiting"
    assert state.pods == ("my-service-7c9d6f4b8d-x7k2p", "my-service-7c9d6f4b8d-q9m4t")
    assert "older template" in state.detail


def test_a_spec_the_controller_has_not_seen_is_not_ready() -> None:
    objs = items(snap("deployment_rolled_out.json"))
    named(objs, "Deployment", "my-service")["metadata"]["generation"] = 3
    state = one(MY_SERVICE, snapshot_from_objects(objs))
    assert state.phase == "waiting"
    assert "observe the latest spec" in state.detail


def test_progress_names_the_image_being_pulled() -> None:
    state = one(MY_SERVICE, snap("deployment_pulling.json", "deployment_pulling.events.json"))
    assert state.phase == "waiting"
    assert state.detail == f"0/1 ready (pulling {PINNED})"
    assert str(state) == f"deployment/my-service: 0/1 ready (pulling {PINNED})"


def test_without_events_progress_names_the_waiting_reason() -> None:
    state = one(MY_SERVICE, snap("deployment_pulling.json"))
    assert state.detail == "0/1 ready (ContainerCreating)"


def test_image_pull_back_off_fails_at_once_with_the_kubelets_message() -> None:
    state = one(MY_SERVICE, snap("deployment_image_pull_backoff.json",
                                 "deployment_image_pull_backoff.events.json"))
    assert state.phase == "failed"
    message = f'Back-off pulling image "{NEW}": ErrImagePull: {NOT_FOUND}'
    assert state.failures == (PodFailure("default", "my-service-7c9d6f4b8d-m2g7c",
                                         "my-service", NEW, "ImagePullBackOff", message),)
    assert state.failures[0].hint == "hoist doctor --pod my-service-7c9d6f4b8d-m2g7c -n default"
    assert state.detail == f"0/1 ready (ImagePullBackOff: {message})"


def test_a_failing_pod_of_a_spec_not_yet_observed_is_not_a_failure() -> None:
    # Applied again (with a fixed image, say): the pod failing now may be on its way out.
    objs = items(snap("deployment_image_pull_backoff.json"))
    named(objs, "Deployment", "my-service")["metadata"]["generation"] = 2
    state = one(MY_SERVICE, snapshot_from_objects(objs))
    assert (state.phase, state.failures) == ("waiting", ())


def test_an_exceeded_progress_deadline_fails() -> None:
    objs = items(snap("deployment_pulling.json"))
    dep = named(objs, "Deployment", "my-service")
    dep["status"]["conditions"][1].update(
        status="False", reason="ProgressDeadlineExceeded",
        message='ReplicaSet "my-service-6f4c8b7d9f" has timed out progressing.')
    state = one(MY_SERVICE, snapshot_from_objects(objs))
    assert state.phase == "failed"
    assert state.detail == ('0/1 ready (ReplicaSet "my-service-6f4c8b7d9f" has timed out '
                            "progressing.)")
    # Applied again: until the controller sees the new spec the condition is the old one's.
    dep["metadata"]["generation"] = 2
    assert one(MY_SERVICE, snapshot_from_objects(objs)).phase == "waiting"


def test_images_only_ready_means_every_image_is_on_the_node() -> None:
    objs = items(snap("deployment_rolled_out.json"))
    for o in objs:  # as the builtin runtime leaves them: images there, nothing running
        if o["kind"] == "Pod":
            for c in o["status"]["conditions"]:
                if c["type"] in ("Ready", "ContainersReady"):
                    c["status"] = "False"
            o["status"]["containerStatuses"][0]["state"] = {"waiting": {
                "reason": "ImagePresent"}}
    snapshot = snapshot_from_objects(objs)
    assert one(MY_SERVICE, snapshot).phase == "waiting"
    state = one(MY_SERVICE, snapshot, images_only=True)
    assert state.phase == "ready"
    assert state.ready == 2
    # No imageID yet on one pod: not ready, even with images_only.
    objs[-1]["status"]["containerStatuses"][0]["imageID"] = ""
    assert one(MY_SERVICE, snapshot_from_objects(objs), images_only=True).phase == "waiting"


def test_images_only_trusts_the_embedded_kubelets_condition() -> None:
    objs = items(snap("deployment_pulling.json"))
    pod = next(o for o in objs if o["kind"] == "Pod")
    assert one(MY_SERVICE, snapshot_from_objects(objs), images_only=True).phase == "waiting"
    pod["status"]["conditions"].append({"type": "hoist.dev/ImagesReady", "status": "True",
                                        "lastProbeTime": None,
                                        "lastTransitionTime": "2025-03-14T10:10:09Z"})
    # The controller status has nothing ready: images_only does not ask it.
    assert one(MY_SERVICE, snapshot_from_objects(objs), images_only=True).phase == "ready"


# --------------------------------------------------------------------------- bare pods

FAILING = snap("pods_failing.json", "pods_failing.events.json")
MIGRATE = f"{REG}/migrate:4f2a9c1"


@pytest.mark.parametrize(("pod", "container", "image", "reason", "message"), [
    ("never-pull", "app", "my-service:dev", "ErrImageNeverPull",
     'Container image "my-service:dev" is not present with pull policy of Never'),
    ("bad-name", "app", f"{REG}/My-Service:v1", "InvalidImageName",
     f'Failed to apply default image tag "{REG}/My-Service:v1": couldn\'t parse image '
     f'reference "{REG}/My-Service:v1": invalid reference format: repository name '
     "(My-Service) must be lowercase"),
    ("crash-loop", "app", NEW, "CrashLoopBackOff",
     "back-off 40s restarting failed container=app pod=crash-loop_default("
     "82c8f556-5a31-599c-aac5-79390b2658ea)"),
    ("create-error", "app", NEW, "CreateContainerError",
     'failed to generate container "'),
    ("init-pull", "migrate", MIGRATE, "ErrImagePull",
     f'rpc error: code = Unknown desc = failed to pull and unpack image "{MIGRATE}": failed to '
     f'resolve reference "{MIGRATE}": failed to do request: Head '
     f'"https://{REG}/v2/migrate/manifests/4f2a9c1": http: server gave HTTP response to HTTPS '
     "client"),
])
def test_a_container_that_will_not_start_fails_at_once(pod: str, container: str, image: str,
                                                        reason: str, message: str) -> None:
    state = one(WorkloadRef("Pod", "default", pod), FAILING)
    assert state.phase == "failed"
    [failure] = state.failures
    assert (failure.pod, failure.container, failure.image, failure.reason) == (
        pod, container, image, reason)
    if reason == "CreateContainerError":
        assert failure.message.startswith(message)
        assert failure.message.endswith("read-only file system")
    else:
        assert failure.message == message
    assert state.detail == f"0/1 ready ({reason}: {failure.message})"
    assert str(failure) == f"pod {pod} container {container}: {reason}: {failure.message}"


def test_the_kubelets_own_rate_limit_is_waited_out() -> None:
    objs = items(FAILING)
    pod = named(objs, "Pod", "init-pull")
    pod["status"]["initContainerStatuses"][0]["state"]["waiting"]["message"] = \
        "pull QPS exceeded"
    state = one(WorkloadRef("Pod", "default", "init-pull"), snapshot_from_objects(objs))
    assert (state.phase, state.failures) == ("waiting", ())


def test_an_unschedulable_pod_waits_and_says_why() -> None:
    state = one(WorkloadRef("Pod", "default", "too-big"), FAILING)
    assert state.phase == "waiting"
    assert state.detail.startswith("0/1 ready (0/1 nodes are available: 1 Insufficient cpu.")


def test_a_pod_that_ran_to_completion_is_ready_and_one_killed_failed() -> None:
    done, killed = assess([WorkloadRef("pod", "default", "one-shot"),
                           WorkloadRef("Pod", "default", "oom")], FAILING)
    assert (done.phase, killed.phase) == ("ready", "failed")
    assert killed.detail == "0/1 ready (container app: OOMKilled (exit code 137))"


# --------------------------------------------------------------------------- other kinds


def test_a_statefulset_waits_for_pods_of_the_update_revision() -> None:
    web = WorkloadRef("StatefulSet", "default", "web")
    objs = items(snap("statefulset_updating.json"))
    state = one(web, snapshot_from_objects(objs))
    assert state.phase == "waiting"
    assert state.pods == ("web-0",)
    assert state.detail == ("1/2 ready (1 pod to be created, 1 pod of an older template "
                            "still there)")
    named(objs, "Pod", "web-1")["metadata"]["labels"]["controller-revision-hash"] = \
        "web-7b9cdd8c6f"
    sts = named(objs, "StatefulSet", "web")
    assert one(web, snapshot_from_objects(objs)).detail == (
        "2/2 ready (the StatefulSet reports 1 updated, 2 ready of 2)")
    sts["status"].update(updatedReplicas=2, currentRevision="web-7b9cdd8c6f")
    assert one(web, snapshot_from_objects(objs)).phase == "ready"


def test_a_daemonset_is_ready_when_its_pods_carry_the_template_generation() -> None:
    agent = WorkloadRef("DaemonSet", "default", "node-agent")
    objs = items(snap("daemonset_rolled_out.json"))
    assert one(agent, snapshot_from_objects(objs)).detail == "1/1 ready"
    named(objs, "Pod", "node-agent-k8v2q")["metadata"]["labels"][
        "pod-template-generation"] = "1"
    state = one(agent, snapshot_from_objects(objs))
    assert state.phase == "waiting"
    assert state.pods == ()


def test_jobs_complete_or_fail() -> None:
    done, failed = assess([WorkloadRef("Job", "default", "migrate"),
                           WorkloadRef("Job", "default", "seed-data")], snap("jobs.json"))
    assert (done.phase, done.detail) == ("ready", "1/1 complete")
    assert (failed.phase, failed.detail) == (
        "failed", "0/1 complete (Job has reached the specified backoff limit)")


def test_a_running_job_waits() -> None:
    objs = items(snap("jobs.json"))
    job = named(objs, "Job", "migrate")
    job["status"] = {"active": 1, "ready": 1, "startTime": "2025-03-14T10:50:00Z"}
    pod = named(objs, "Pod", "migrate-b7x2k")
    pod["status"]["phase"] = "Running"
    for c in pod["status"]["conditions"]:
        c["status"] = "True"
    pod["status"]["containerStatuses"][0]["state"] = {
        "running": {"startedAt": "2025-03-14T10:50:04Z"}}
    state = one(WorkloadRef("Job", "default", "migrate"), snapshot_from_objects(objs))
    assert (state.phase, state.detail) == ("waiting", "0/1 complete (running)")


def test_a_replicaset_of_its_own() -> None:
    state = one(WorkloadRef("ReplicaSet", "default", "cache"), snap("replicaset_ready.json"))
    assert (state.phase, state.pods) == ("ready", ("cache-t7f4d",))


def test_a_workload_not_yet_there_waits() -> None:
    state = one(WorkloadRef("Deployment", "default", "elsewhere"),
                snap("deployment_rolled_out.json"))
    assert (state.phase, state.detail) == ("waiting", "not found")


def test_kinds_without_a_rollout_are_refused() -> None:
    with pytest.raises(InputError, match="service/web"):
        assess([WorkloadRef("Service", "default", "web")], snap("replicaset_ready.json"))


def test_refs_from_manifests() -> None:
    docs = [{"kind": "Service", "metadata": {"name": "a"}},
            {"kind": "Deployment", "metadata": {"name": "b", "namespace": "team"}},
            {"kind": "Job", "metadata": {"name": "c"}}]
    refs = workload_refs(docs)
    assert refs == [WorkloadRef("Deployment", "team", "b"), WorkloadRef("Job", "default", "c")]
    assert [str(r) for r in refs] == ["deployment/b", "job/c"]
    assert WorkloadRef("deployment", "x", "y").kind == "Deployment"


def test_status_deadline_is_the_shortest_progress_deadline() -> None:
    deployment = load("deployment_rolled_out.json")[0]
    assert status_deadline([deployment]) == 600.0
    assert status_deadline([deployment], default=90.0) == 90.0
    short = copy.deepcopy(deployment)
    short["spec"]["progressDeadlineSeconds"] = 120
    job = {"kind": "Job", "spec": {"progressDeadlineSeconds": 5}}
    assert status_deadline([deployment, short, job]) == 120.0
    assert status_deadline([]) == 600.0


def test_selectors() -> None:
    labels = {"app": "web", "tier": "front"}
    assert selector_matches({"matchLabels": {"app": "web"}}, labels)
    assert not selector_matches({"matchLabels": {"app": "db"}}, labels)
    assert selector_matches({"matchExpressions": [
        {"key": "tier", "operator": "In", "values": ["front", "back"]},
        {"key": "canary", "operator": "DoesNotExist"}]}, labels)
    assert not selector_matches({"matchExpressions": [
        {"key": "tier", "operator": "NotIn", "values": ["front"]}]}, labels)
    assert not selector_matches({"matchExpressions": [
        {"key": "canary", "operator": "Exists"}]}, labels)


def test_pull_notes() -> None:
    pulled = next(e for e in snap("deployment_rolled_out.events.json").events
                  if e["reason"] == "Pulled")
    assert pull_note(pulled) == f"pulled {NEW}"
    present = {"reason": "Pulled", "message": f'Container image "{NEW}" already present on '
                                              "machine"}
    assert pull_note(present) == f"{NEW} already present on the node"
    back_off = {"reason": "BackOff", "message": f'Back-off pulling image "{NEW}"'}
    assert pull_note(back_off) == f'Back-off pulling image "{NEW}"'


def test_the_latest_image_event_wins() -> None:
    # Pulling, then Failed, then BackOff: the back-off (newest) is the detail — unless the
    # pod's own waiting reason ends the wait first.
    objs = items(snap("deployment_image_pull_backoff.json",
                      "deployment_image_pull_backoff.events.json"))
    pod = next(o for o in objs if o["kind"] == "Pod")
    pod["status"]["containerStatuses"][0]["state"] = {"waiting": {
        "reason": "ContainerCreating"}}
    state = one(MY_SERVICE, snapshot_from_objects(objs))
    assert state.detail == f'0/1 ready (Back-off pulling image "{NEW}")'


# --------------------------------------------------------------------------- waiting


class Scripted:
    """A status source that plays back snapshots (the last one repeats) on a clock that
    only moves when the waiter sleeps."""

    def __init__(self, *snapshots: Snapshot) -> None:
        self.snapshots = list(snapshots)
        self.now = 100.0
        self.sleeps: list[float] = []
        self.calls = 0

    def snapshot(self, refs: Sequence[WorkloadRef]) -> Snapshot:
        self.calls += 1
        return self.snapshots.pop(0) if len(self.snapshots) > 1 else self.snapshots[0]

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


PULLING = snap("deployment_pulling.json", "deployment_pulling.events.json")
READY = snap("deployment_rolled_out.json", "deployment_rolled_out.events.json")
BACKOFF = snap("deployment_image_pull_backoff.json", "deployment_image_pull_backoff.events.json")


def wait(source: Scripted, deadline: float = 10.0,
         refs: Sequence[WorkloadRef] = (MY_SERVICE,)) -> tuple[Any, list[str]]:
    lines: list[str] = []
    result = wait_for_ready(source, refs, deadline=deadline, poll=0.5,
                            on_progress=lambda s: lines.append(str(s)),
                            clock=source.clock, sleep=source.sleep)
    return result, lines


def test_waiting_reports_each_change_once_and_ends_ready() -> None:
    source = Scripted(PULLING, PULLING, PULLING, READY)
    result, lines = wait(source)
    assert result.ok and not result.timed_out
    assert lines == [f"deployment/my-service: 0/1 ready (pulling {PINNED})",
                     "deployment/my-service: 2/2 ready"]
    assert result.elapsed == pytest.approx(1.5)
    assert result.message == "1 workload ready after 1.5s"
    assert [s.phase for s in result.states] == ["ready"]


def test_waiting_stops_at_the_first_failure() -> None:
    source = Scripted(PULLING, BACKOFF, READY)
    result, lines = wait(source)
    assert not result.ok and not result.timed_out
    assert source.calls == 2
    assert result.message.splitlines() == [
        f'deployment/my-service failed: 0/1 ready (ImagePullBackOff: Back-off pulling image '
        f'"{NEW}": ErrImagePull: {NOT_FOUND})',
        f'  pod my-service-7c9d6f4b8d-m2g7c container my-service: ImagePullBackOff: Back-off '
        f'pulling image "{NEW}": ErrImagePull: {NOT_FOUND}',
        "  next: hoist doctor --pod my-service-7c9d6f4b8d-m2g7c -n default",
    ]
    assert len(lines) == 2


def test_waiting_times_out_naming_what_is_not_ready() -> None:
    source = Scripted(PULLING)
    other = WorkloadRef("Deployment", "default", "not-applied")
    result, lines = wait(source, deadline=2.0, refs=(MY_SERVICE, other))
    assert result.timed_out and not result.ok
    assert result.elapsed == pytest.approx(2.0)
    assert sum(source.sleeps) == pytest.approx(2.0)
    assert result.message.splitlines() == [
        "timed out after 2.0s waiting for 2 workloads:",
        f"  deployment/my-service: 0/1 ready (pulling {PINNED})",
        "  deployment/not-applied: not found",
    ]
    assert len(lines) == 2  # nothing changed after the first look


def test_waiting_for_nothing_is_done() -> None:
    result, lines = wait(Scripted(PULLING), refs=())
    assert result.ok and lines == []


# --------------------------------------------------------------------------- embedded cluster


def test_cluster_source_reads_the_store(tmp_path: Path) -> None:
    from hoist.cluster.store import Cluster

    with Cluster.open(tmp_path / "cluster") as cluster:
        cluster.apply(deployment("web", f"{REG}/web:v1"))
        cluster.apply({"apiVersion": "v1", "kind": "Pod",
                       "metadata": {"name": "solo", "namespace": "default"},
                       "spec": {"containers": [{"name": "app", "image": f"{REG}/solo:v1"}]}})
        refs = [WorkloadRef("Deployment", "default", "web"), WorkloadRef("Pod", "", "solo"),
                WorkloadRef("StatefulSet", "default", "db")]
        snapshot = ClusterStatusSource(cluster).snapshot(refs)
        assert [w["metadata"]["name"] for w in snapshot.workloads] == ["web"]
        web, solo, db = assess(refs, snapshot)
        # No node runs: the controller made the pod, nothing bound it.
        [web_pod] = web.pods
        assert web_pod.startswith("web-")
        assert sorted(p["metadata"]["name"] for p in snapshot.pods) == ["solo", web_pod]
        assert (web.phase, web.detail) == ("waiting", "0/1 ready (not scheduled yet)")
        assert (solo.phase, solo.pods) == ("waiting", ("solo",))
        assert (db.phase, db.detail) == ("waiting", "not found")

SCALE = 0.01  # kubelet durations at 1/100


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Callable[[], RunningNode]]:
    started: list[RunningNode] = []

    def start() -> RunningNode:
        n = RunningNode(tmp_path / "cluster", NodeOptions(runtime="builtin", time_scale=SCALE))
        started.append(n)
        return n

    yield start
    for n in started:
        n.close()


def deployment(name: str, image: str) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "app", "image": image}]}}}}


def test_embedded_cluster_with_the_builtin_runtime(
        node: Callable[[], RunningNode], distribution_open: Distribution,
        image_factory: ImageFactory) -> None:
    info = image_factory.make_image("status-good", layers=[1024], seed="status-good")
    good = f"{distribution_open.host}/status-good:v1"
    copy_image(f"oci:{image_factory.layout_dir}:status-good", f"docker://{good}", Options())
    absent = f"{distribution_open.host}/status-absent:v1"
    n = node()
    source = ClusterStatusSource(n.cluster)
    good_ref = WorkloadRef("Deployment", "default", "good")
    absent_ref = WorkloadRef("Deployment", "default", "absent")
    n.cluster.apply(deployment("good", good))

    lines: list[str] = []
    result = wait_for_ready(source, [good_ref], deadline=30.0, images_only=True, poll=0.02,
                            on_progress=lambda s: lines.append(str(s)))
    assert result.ok, result.message
    [state] = result.states
    assert state.detail == ("1/1 ready (images on the node; the builtin runtime runs no "
                            "containers)")
    [pod_name] = state.pods
    assert pod_name.startswith("good-")
    assert lines[-1] == f"deployment/good: {state.detail}"
    # Without images_only the same snapshot is not ready: nothing runs.
    [strict] = assess([good_ref], source.snapshot([good_ref]))
    assert strict.phase == "waiting"
    # And the node runs the digest that was pushed.
    pods = [p for p in n.cluster.list("Pod", "default") if p["metadata"]["name"] == pod_name]
    assert verify_running(pods, {f"{distribution_open.host}/status-good": info.digest}) == []
    assert [m.running_digest for m in verify_running(
        pods, {f"{distribution_open.host}/status-good": "sha256:" + "0" * 64})] == [info.digest]

    # A new template: the old pod goes, and ready means the new one has its image.
    info2 = image_factory.make_image("status-good-2", layers=[1024], seed="status-good-2")
    good2 = f"{distribution_open.host}/status-good:v2"
    copy_image(f"oci:{image_factory.layout_dir}:status-good-2", f"docker://{good2}",
               Options())
    n.cluster.apply(deployment("good", good2))
    result = wait_for_ready(source, [good_ref], deadline=30.0, images_only=True, poll=0.02)
    assert result.ok, result.message
    [new_pod] = result.states[0].pods
    assert new_pod != pod_name
    pods = [p for p in n.cluster.list("Pod", "default") if p["metadata"]["name"] == new_pod]
    assert verify_running(pods, {f"{distribution_open.host}/status-good": info2.digest}) == []

    n.cluster.apply(deployment("absent", absent))
    result = wait_for_ready(source, [good_ref, absent_ref], deadline=30.0, images_only=True,
                            poll=0.02)
    assert not result.ok and not result.timed_out, result.message
    good_state, absent_state = result.states
    assert good_state.phase == "ready"
    assert absent_state.phase == "failed"
    [failure] = absent_state.failures
    assert failure.reason in ("ErrImagePull", "ImagePullBackOff")
    assert failure.container == "app" and failure.image == absent
    pod = n.cluster.get("Pod", "default", failure.pod)
    assert pod is not None
    events = n.cluster.events("default", involved_uid=pod["metadata"]["uid"])
    pulled = [e["message"] for e in events if e["reason"] == "Failed"
              and e["message"].startswith("Failed to pull image")]
    assert pulled, events
    kubelet_error = pulled[0].removeprefix(f'Failed to pull image "{absent}": ')
    assert failure.message.endswith(kubelet_error)
    if failure.reason == "ErrImagePull":
        assert failure.message == kubelet_error
    else:
        assert failure.message == (f'Back-off pulling image "{absent}": ErrImagePull: '
                                   f"{kubelet_error}")
    assert failure.hint == f"hoist doctor --pod {failure.pod} -n default"
