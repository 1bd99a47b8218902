"""The object store: apply/create/get/list/delete, pod deletion with and without a node,
status updates, revisions, several processes, event aggregation."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from hoist.cluster import (
    AlreadyExistsError,
    BadRequestError,
    Cluster,
    ForbiddenError,
    InvalidError,
    default_cluster_dir,
)
from hoist.cluster.store import LAST_APPLIED
from tests.cluster.conftest import Clock, pod


def test_default_cluster_dir_respects_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_cluster_dir() == tmp_path / "hoist" / "cluster"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cluster_dir() == tmp_path / "home" / ".local" / "share" / "hoist" / "cluster"


def test_a_new_cluster_has_default_namespace_and_service_accounts(cluster: Cluster) -> None:
    names = [n["metadata"]["name"] for n in cluster.list("Namespace")]
    assert "default" in names and "kube-system" in names
    assert {sa["metadata"]["namespace"] for sa in cluster.list("ServiceAccount")} == set(names)
    assert (cluster.cluster_dir / "cluster.db").is_file()


def test_apply_created_unchanged_configured(cluster: Cluster) -> None:
    stored, outcome = cluster.apply(pod())
    assert outcome == "created"
    meta = stored["metadata"]
    assert meta["namespace"] == "default" and meta["uid"] and meta["resourceVersion"]
    assert meta["creationTimestamp"] == "2027-01-15T08:00:00Z"
    assert stored["status"] == {"phase": "Pending", "qosClass": "BestEffort"}
    assert LAST_APPLIED in meta["annotations"]
    again, outcome = cluster.apply(pod())
    assert outcome == "unchanged" and again["metadata"]["resourceVersion"] == \
        meta["resourceVersion"]
    labelled = pod()
    labelled["metadata"]["labels"] = {"tier": "web"}
    updated, outcome = cluster.apply(labelled)
    assert outcome == "configured"
    assert updated["metadata"]["uid"] == meta["uid"]
    assert updated["metadata"]["labels"] == {"tier": "web"}
    # Dropping the label from the configuration removes it (three-way merge).
    assert cluster.apply(pod())[0]["metadata"].get("labels") is None


def test_apply_keeps_the_defaulted_policy_when_the_tag_changes(cluster: Cluster) -> None:
    """kubernetes #47775: a policy defaulted from ``latest`` stays Always after the image
    moves to a pinned tag, because kubectl apply never sent it."""
    cluster.apply(pod(image="nginx"))
    updated, outcome = cluster.apply(pod(image="nginx:1.27"))
    assert outcome == "configured"
    assert updated["spec"]["containers"][0]["imagePullPolicy"] == "Always"
    assert updated["metadata"]["generation"] == 2  # a spec change a node can see


def test_create_refuses_an_existing_object(cluster: Cluster) -> None:
    cluster.create(pod())
    with pytest.raises(AlreadyExistsError, match=r'^pods "web" already exists$'):
        cluster.create(pod())


def test_pod_spec_is_immutable_but_for_images(cluster: Cluster) -> None:
    cluster.apply(pod())
    with pytest.raises(InvalidError, match="spec: Forbidden: pod updates may not change"):
        cluster.apply(pod(restartPolicy="Never"))


def test_unknown_kind_and_wrong_version(cluster: Cluster) -> None:
    with pytest.raises(BadRequestError, match='no matches for kind "ConfigMap"'):
        cluster.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}})
    with pytest.raises(BadRequestError, match='in version "extensions/v1beta1"'):
        cluster.apply({"apiVersion": "extensions/v1beta1", "kind": "Deployment",
                       "metadata": {"name": "x"}})


def test_list_by_namespace_and_labels(cluster: Cluster) -> None:
    cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}})
    a = pod("a")
    a["metadata"]["labels"] = {"app": "a"}
    b = pod("b")
    b["metadata"].update(namespace="team", labels={"app": "b"})
    cluster.apply(a)
    cluster.apply(b)
    assert [p["metadata"]["name"] for p in cluster.list("Pod")] == ["a", "b"]
    assert [p["metadata"]["name"] for p in cluster.list("Pod", "team")] == ["b"]
    assert [p["metadata"]["name"] for p in cluster.list("Pod", None, {"app": "a"})] == ["a"]
    # The new namespace got its default ServiceAccount.
    assert cluster.get("ServiceAccount", "team", "default") is not None


def test_pod_delete_without_a_node_is_immediate(cluster: Cluster) -> None:
    cluster.apply(pod())
    assert not cluster.node_alive()
    assert cluster.delete("Pod", "default", "web")
    assert cluster.get("Pod", "default", "web") is None
    assert not cluster.delete("Pod", "default", "web")


def test_pod_delete_with_a_live_node_waits_for_finalize(cluster: Cluster, clock: Clock) -> None:
    created = cluster.apply(pod())[0]
    cluster.heartbeat("node-1", "builtin", {"version": "test"})
    assert cluster.node_alive()
    before = cluster.revision()
    assert cluster.delete("Pod", "default", "web")
    marked = cluster.get("Pod", "default", "web")
    assert marked is not None
    assert marked["metadata"]["deletionTimestamp"] == "2027-01-15T08:00:00Z"
    assert marked["metadata"]["deletionGracePeriodSeconds"] == 30
    assert cluster.revision() > before
    assert not cluster.finalize_pod("default", "web", "another-uid")
    assert cluster.finalize_pod("default", "web", created["metadata"]["uid"])
    assert cluster.get("Pod", "default", "web") is None
    clock.advance(11)
    assert not cluster.node_alive()


def test_update_pod_status_checks_the_uid_and_leaves_revision(cluster: Cluster) -> None:
    uid = cluster.apply(pod())[0]["metadata"]["uid"]
    rev = cluster.revision()
    status = {"phase": "Running", "podIP": "10.0.0.5"}
    assert cluster.update_pod_status("default", "web", uid, status)
    assert cluster.revision() == rev
    stored = cluster.get("Pod", "default", "web")
    assert stored is not None
    assert stored["status"] == {**status, "qosClass": "BestEffort"}
    assert not cluster.update_pod_status("default", "web", "stale", {"phase": "Failed"})
    assert not cluster.update_pod_status("default", "gone", uid, {"phase": "Failed"})


def test_revision_and_wait_for_change_across_threads(cluster: Cluster) -> None:
    rev = cluster.revision()
    assert cluster.wait_for_change(rev, 0.05) == rev
    timer = threading.Timer(0.1, lambda: cluster.apply(pod()))
    timer.start()
    try:
        assert cluster.wait_for_change(rev, 5.0) > rev
    finally:
        timer.join()


def test_two_processes_share_one_cluster(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from hoist.cluster import Cluster\n"
        "c = Cluster.open(sys.argv[1])\n"
        "for i in range(15):\n"
        "    c.apply({'apiVersion': 'v1', 'kind': 'Pod',"
        " 'metadata': {'name': f'{sys.argv[2]}-{i}'},"
        " 'spec': {'containers': [{'name': 'a', 'image': 'busybox'}]}})\n"
        "c.close()\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path), who])
             for who in ("a", "b")]
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    with Cluster.open(tmp_path) as c:
        assert len(c.list("Pod")) == 30
        versions = [int(p["metadata"]["resourceVersion"]) for p in c.list("Pod")]
        assert len(set(versions)) == 30


def test_namespaces_default_may_not_be_deleted(cluster: Cluster) -> None:
    with pytest.raises(ForbiddenError, match='namespaces "default" is forbidden'):
        cluster.delete("Namespace", None, "default")


def test_deleting_the_default_service_account_brings_it_back(cluster: Cluster) -> None:
    old = cluster.get("ServiceAccount", "default", "default")
    assert old is not None
    assert cluster.delete("ServiceAccount", "default", "default")
    new = cluster.get("ServiceAccount", "default", "default")
    assert new is not None and new["metadata"]["uid"] != old["metadata"]["uid"]


def test_patch_service_account_pull_secrets_then_pods_get_them(cluster: Cluster) -> None:
    stored, changed = cluster.patch("ServiceAccount", "default", "default",
                                    {"imagePullSecrets": [{"name": "myregistrykey"}]})
    assert changed and stored["imagePullSecrets"] == [{"name": "myregistrykey"}]
    assert not cluster.patch("ServiceAccount", "default", "default",
                             {"imagePullSecrets": [{"name": "myregistrykey"}]})[1]
    created = cluster.create(pod())
    assert created["spec"]["imagePullSecrets"] == [{"name": "myregistrykey"}]


def test_secret_string_data_is_stored_as_data(cluster: Cluster) -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
              "stringData": {"token": "abc"}}
    stored = cluster.create(secret)
    assert stored["data"] == {"token": "YWJj"} and stored["type"] == "Opaque"
    assert "stringData" not in stored
    bad = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "t"},
           "data": {"k": "not base64!"}}
    with pytest.raises(BadRequestError, match="illegal base64 data"):
        cluster.create(bad)


# --------------------------------------------------------------------------- events


def test_identical_events_aggregate(cluster: Cluster, clock: Clock) -> None:
    p = cluster.apply(pod())[0]
    for _ in range(3):
        cluster.record_event(p, "Normal", "BackOff", 'Back-off pulling image "nginx:1.27"',
                             host="node-1", field_path="spec.containers{app}")
        clock.advance(10)
    cluster.record_event(p, "Warning", "Failed", "Error: ImagePullBackOff", host="node-1",
                         field_path="spec.containers{app}")
    events = cluster.events("default", p["metadata"]["uid"])
    assert [(e["reason"], e["count"]) for e in events] == [("BackOff", 3), ("Failed", 1)]
    backoff = events[0]
    assert backoff["firstTimestamp"] == "2027-01-15T08:00:00Z"
    assert backoff["lastTimestamp"] == "2027-01-15T08:00:20Z"
    assert backoff["metadata"]["name"].startswith("web.")
    int(backoff["metadata"]["name"].split(".", 1)[1], 16)
    assert backoff["involvedObject"] == {
        "kind": "Pod", "namespace": "default", "name": "web", "uid": p["metadata"]["uid"],
        "apiVersion": "v1", "resourceVersion": p["metadata"]["resourceVersion"],
        "fieldPath": "spec.containers{app}"}
    assert backoff["source"] == {"component": "kubelet", "host": "node-1"}
    assert backoff["reportingComponent"] == "kubelet"
    assert backoff["reportingInstance"] == "node-1"
    # Another field path is another event.
    cluster.record_event(p, "Normal", "BackOff", 'Back-off pulling image "nginx:1.27"',
                         host="node-1", field_path="spec.initContainers{init}")
    assert len(cluster.events("default", p["metadata"]["uid"])) == 3


def test_similar_events_are_combined_after_ten(cluster: Cluster, clock: Clock) -> None:
    p = cluster.apply(pod())[0]
    for i in range(13):
        cluster.record_event(p, "Warning", "Failed", f"attempt {i}")
        clock.advance(1)
    events = cluster.events("default")
    assert len(events) == 11
    combined = events[-1]
    assert combined["message"] == "(combined from similar events): attempt 12"
    assert combined["count"] == 3


def test_events_expire_after_an_hour(cluster: Cluster, clock: Clock) -> None:
    p = cluster.apply(pod())[0]
    cluster.record_event(p, "Normal", "Pulling", 'Pulling image "nginx:1.27"')
    clock.advance(3601)
    cluster.record_event(p, "Normal", "Pulled", "done")
    assert [e["reason"] for e in cluster.events()] == ["Pulled"]
