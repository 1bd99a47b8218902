"""The Deployment controller: hashes, pod names, rollout plans, status and conditions."""

from __future__ import annotations

import re
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from hoist.cluster import Cluster
from hoist.cluster.admission import default_deployment
from hoist.cluster.controllers import (
    SAFE_ALPHANUMS,
    deployment_status,
    fnv32a,
    max_unavailable,
    plan_rollout,
    safe_encode,
    scaled_value,
    template_hash,
)
from tests.cluster.conftest import Clock, deployment, ready_status


def test_fnv32a_known_values() -> None:
    # FNV-1a 32-bit test vectors (offset basis for the empty input; "a" → 0xe40c292c).
    assert fnv32a(b"") == 0x811C9DC5
    assert fnv32a(b"a") == 0xE40C292C
    assert fnv32a(b"foobar") == 0xBF9CF968


def test_safe_encode_maps_each_digit_like_apimachinery() -> None:
    # rand.SafeEncodeString: alphanums[int(b) % 27]; '0' is 48 → 48 % 27 = 21 → '4'. So a
    # decimal hash is spelled with 4-9 and b, c, d, f only, as in "7c5ddbdf54".
    assert safe_encode("0") == SAFE_ALPHANUMS[48 % 27] == "4"
    assert safe_encode("0123456789") == "456789bcdf"
    assert safe_encode("123") == "".join(SAFE_ALPHANUMS[ord(c) % 27] for c in "123")


@given(st.dictionaries(st.text(min_size=1, max_size=5), st.text(max_size=5), max_size=4))
def test_template_hash_is_stable_and_ignores_its_own_label(labels: dict[str, str]) -> None:
    template: dict[str, Any] = {"metadata": {"labels": dict(labels)},
                                "spec": {"containers": [{"name": "a", "image": "x"}]}}
    first = template_hash(template)
    assert re.fullmatch("[4-9bcdf]{1,10}", first)
    template["metadata"]["labels"]["pod-template-hash"] = first
    assert template_hash(template) == first
    template["spec"]["containers"][0]["image"] = "y"
    assert template_hash(template) != first


def test_scaled_values_round_like_intstr() -> None:
    assert scaled_value("25%", 3, True) == 1
    assert scaled_value("25%", 3, False) == 0
    assert scaled_value(2, 10, False) == 2
    dep = deployment(replicas=1)
    default_deployment(dep)
    assert max_unavailable(dep) == 0
    dep["spec"]["replicas"] = 4
    assert max_unavailable(dep) == 1
    dep["spec"]["strategy"] = {"type": "Recreate"}
    assert max_unavailable(dep) == 0


def _owned(cluster: Cluster, name: str = "app") -> list[dict[str, Any]]:
    dep = cluster.get("Deployment", "default", name)
    assert dep is not None
    uid = dep["metadata"]["uid"]
    return [p for p in cluster.list("Pod") if any(
        r["uid"] == uid for r in p["metadata"].get("ownerReferences", []))]


def test_deployment_creates_named_owned_pods(cluster: Cluster) -> None:
    _, outcome = cluster.apply(deployment(replicas=3))
    assert outcome == "created"
    pods = _owned(cluster)
    assert len(pods) == 3
    stored = cluster.get("Deployment", "default", "app")
    assert stored is not None
    hash_ = template_hash(stored["spec"]["template"])
    for p in pods:
        meta = p["metadata"]
        assert re.fullmatch(f"app-{hash_}-[{SAFE_ALPHANUMS}]{{5}}", meta["name"])
        assert meta["labels"] == {"app": "app", "pod-template-hash": hash_}
        ref = meta["ownerReferences"][0]
        assert ref["kind"] == "Deployment" and ref["controller"] is True
        assert p["spec"]["serviceAccountName"] == "default"
    assert stored["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    status = stored["status"]
    assert status["replicas"] == 3 and status["updatedReplicas"] == 3
    assert status["unavailableReplicas"] == 3 and "readyReplicas" not in status
    assert [(c["type"], c["status"], c["reason"]) for c in status["conditions"]] == [
        ("Available", "False", "MinimumReplicasUnavailable"),
        ("Progressing", "True", "NewReplicaSetCreated")]


def test_deleted_pods_are_replaced_and_extra_ones_removed(cluster: Cluster) -> None:
    cluster.apply(deployment(replicas=2))
    victim = _owned(cluster)[0]["metadata"]["name"]
    cluster.delete("Pod", "default", victim)
    cluster.reconcile()
    names = [p["metadata"]["name"] for p in _owned(cluster)]
    assert len(names) == 2 and victim not in names
    cluster.apply(deployment(replicas=1))
    assert len(_owned(cluster)) == 1


def test_ready_pods_make_the_deployment_available(cluster: Cluster, clock: Clock) -> None:
    cluster.apply(deployment(replicas=2))
    for p in _owned(cluster):
        assert cluster.update_pod_status("default", p["metadata"]["name"], p["metadata"]["uid"],
                                         ready_status())
    cluster.reconcile()
    dep = cluster.get("Deployment", "default", "app")
    assert dep is not None
    status = dep["status"]
    assert (status["readyReplicas"], status["availableReplicas"]) == (2, 2)
    assert "unavailableReplicas" not in status
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["Available"]["reason"] == "MinimumReplicasAvailable"
    assert conditions["Progressing"]["reason"] == "NewReplicaSetAvailable"
    assert conditions["Progressing"]["message"] == (
        f'ReplicaSet "app-{template_hash(dep["spec"]["template"])}" has successfully progressed.')


def test_progress_deadline_exceeded(cluster: Cluster, clock: Clock) -> None:
    cluster.apply(deployment(replicas=1, progressDeadlineSeconds=60))
    clock.advance(30)
    cluster.reconcile()
    dep = cluster.get("Deployment", "default", "app")
    assert dep is not None
    assert {c["type"]: c["reason"] for c in dep["status"]["conditions"]}["Progressing"] == \
        "NewReplicaSetCreated"
    clock.advance(31)
    cluster.reconcile()
    dep = cluster.get("Deployment", "default", "app")
    assert dep is not None
    progressing = {c["type"]: c for c in dep["status"]["conditions"]}["Progressing"]
    assert (progressing["status"], progressing["reason"]) == ("False",
                                                            "ProgressDeadlineExceeded")
    assert progressing["message"].endswith("has timed out progressing.")


def test_rolling_update_keeps_ready_old_pods_while_new_ones_fail(cluster: Cluster) -> None:
    cluster.apply(deployment(replicas=1, image="busybox:1.36"))
    old = _owned(cluster)[0]
    cluster.update_pod_status("default", old["metadata"]["name"], old["metadata"]["uid"],
                              ready_status())
    cluster.apply(deployment(replicas=1, image="busybox:1.37"))
    pods = _owned(cluster)
    images = sorted(p["spec"]["containers"][0]["image"] for p in pods)
    assert images == ["busybox:1.36", "busybox:1.37"]  # old still serving, new one pending
    dep = cluster.get("Deployment", "default", "app")
    assert dep is not None
    assert dep["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    assert dep["metadata"]["generation"] == 2
    new = next(p for p in pods if p["spec"]["containers"][0]["image"] == "busybox:1.37")
    cluster.update_pod_status("default", new["metadata"]["name"], new["metadata"]["uid"],
                              ready_status())
    cluster.reconcile()
    assert [p["metadata"]["name"] for p in _owned(cluster)] == [new["metadata"]["name"]]


def test_recreate_waits_for_old_pods_to_be_gone(cluster: Cluster) -> None:
    cluster.heartbeat("node-1", "builtin", {})
    cluster.apply(deployment(replicas=1, image="busybox:1.36", strategy={"type": "Recreate"}))
    old = _owned(cluster)[0]
    cluster.apply(deployment(replicas=1, image="busybox:1.37", strategy={"type": "Recreate"}))
    pods = _owned(cluster)
    assert len(pods) == 1 and pods[0]["metadata"]["deletionTimestamp"]
    cluster.finalize_pod("default", old["metadata"]["name"], old["metadata"]["uid"])
    cluster.reconcile()
    pods = _owned(cluster)
    assert [p["spec"]["containers"][0]["image"] for p in pods] == ["busybox:1.37"]


def test_deleting_a_deployment_deletes_its_pods(cluster: Cluster) -> None:
    cluster.apply(deployment(replicas=2))
    assert cluster.delete("Deployment", "default", "app")
    assert cluster.list("Pod") == []


def test_missing_service_account_is_a_failed_create_event(cluster: Cluster) -> None:
    dep = deployment(replicas=1)
    dep["spec"]["template"]["spec"]["serviceAccountName"] = "builder"
    cluster.apply(dep)
    assert cluster.list("Pod") == []
    events = cluster.events("default")
    assert [(e["type"], e["reason"], e["source"]["component"]) for e in events] == [
        ("Warning", "FailedCreate", "replicaset-controller")]
    assert "error looking up service account default/builder" in events[0]["message"]


def test_scheduler_binds_pods_to_the_live_node(cluster: Cluster) -> None:
    cluster.heartbeat("node-1", "builtin", {})
    cluster.apply(deployment(replicas=1))
    pod = _owned(cluster)[0]
    assert pod["spec"]["nodeName"] == "node-1"
    scheduled = [e for e in cluster.events("default") if e["reason"] == "Scheduled"]
    assert scheduled[0]["message"] == (
        f"Successfully assigned default/{pod['metadata']['name']} to node-1")
    assert scheduled[0]["source"]["component"] == "default-scheduler"


def test_plan_is_pure_and_scales_down_unready_first() -> None:
    dep = deployment(replicas=1)
    default_deployment(dep)
    hash_ = template_hash(dep["spec"]["template"])

    def p(name: str, ready: bool, created: str) -> dict[str, Any]:
        return {"metadata": {"name": name, "creationTimestamp": created,
                             "labels": {"pod-template-hash": hash_}},
                "status": ready_status(ready)}

    pods = [p("a", True, "2027-01-01T00:00:00Z"), p("b", False, "2027-01-01T00:00:01Z")]
    plan = plan_rollout(dep, pods)
    assert plan.create == 0 and [x["metadata"]["name"] for x in plan.delete] == ["b"]
    status = deployment_status(dep, pods, 1_800_000_000.0)
    assert status["replicas"] == 2 and status["readyReplicas"] == 1
