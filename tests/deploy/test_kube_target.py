"""The kube target against a recording stand-in for kubectl (no Kubernetes API server can
run on this machine): what it asks kubectl to do, and how it reads the answers."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from hoist.deploy.kube import KubectlTarget, kind_cluster, never_refusal
from hoist.deploy.target import RUN_ID_LABEL, ResourceRef, label_documents
from hoist.errors import OperationError
from tests.support.kubectl_standin import KubectlStandIn, make_kubectl_standin


@pytest.fixture
def standin(tmp_path: Path) -> KubectlStandIn:
    return make_kubectl_standin(tmp_path)


def _deployment(name: str) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"selector": {"matchLabels": {"app": name}}, "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "reg/app@sha256:" + "a" * 64}]}}}}


def test_apply_is_server_side_with_hoist_as_field_manager_recording_standin(
        standin: KubectlStandIn) -> None:
    target = KubectlTarget("kind-dev", kubectl=str(standin.path), kubeconfig="/k/config")
    docs = label_documents([_deployment("web")], "run7", "team")
    applied = target.apply(docs)
    assert applied == [(ResourceRef("Deployment", "team", "web"), "applied")]
    (call,) = standin.calls()
    argv = call["argv"]
    assert argv[:4] == ["--kubeconfig", "/k/config", "--context", "kind-dev"]
    assert "--server-side" in argv and "--field-manager=hoist" in argv
    sent = json.loads(call["stdin"])
    assert sent["kind"] == "List"
    assert sent["items"][0]["metadata"]["labels"][RUN_ID_LABEL] == "run7"
    assert sent["items"][0]["metadata"]["namespace"] == "team"


def test_apply_falls_back_to_client_side_recording_standin(standin: KubectlStandIn) -> None:
    (standin.state / "fail-server-side").touch()
    lines: list[str] = []
    target = KubectlTarget(None, kubectl=str(standin.path), log=lines.append)
    target.apply([_deployment("web")])
    first, second = standin.calls()
    assert "--server-side" in first["argv"] and "--server-side" not in second["argv"]
    assert lines == ["the server refused server-side apply; applying client-side"]


def test_delete_takes_only_what_still_carries_the_run_id_recording_standin(
        standin: KubectlStandIn) -> None:
    mine = label_documents([_deployment("web")], "run7", "default")[0]
    theirs = label_documents([_deployment("api")], "run8", "default")[0]
    standin.set_objects("deployment", [mine, theirs])
    target = KubectlTarget(None, kubectl=str(standin.path))
    gone = target.delete([ResourceRef("Deployment", "default", "web"),
                          ResourceRef("Deployment", "default", "api")], "run7")
    assert gone == ["deployment/web"]
    (call,) = standin.calls()
    assert call["argv"][:2] == ["delete", "deployment"]
    assert f"{RUN_ID_LABEL}=run7" in call["argv"]


def test_kubectl_errors_name_the_command_recording_standin(tmp_path: Path) -> None:
    target = KubectlTarget(None, kubectl=str(tmp_path / "missing-kubectl"))
    with pytest.raises(OperationError, match="not found"):
        target.apply([_deployment("web")])


def test_never_needs_a_node_hoist_can_load(standin: KubectlStandIn, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    assert kind_cluster("kind-dev") == "dev" and kind_cluster("prod") is None
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no `kind` here
    target = KubectlTarget("prod", kubectl=str(standin.path))
    with pytest.raises(OperationError, match="needs the image preloaded"):
        target.preload("reg/app:v1", tmp_path)
    assert "'prod' is neither" in never_refusal("prod")
    # a kind context without `kind` installed is refused the same way
    with pytest.raises(OperationError, match="needs the image preloaded"):
        KubectlTarget("kind-dev", kubectl=str(standin.path)).preload("reg/app:v1", tmp_path)


# -- a whole deploy through the stand-in, fed Kubernetes-shaped state ---------------------

DIGEST = "sha256:" + "b" * 64
REF = f"reg.example:5000/app:v1@{DIGEST}"


def _project(tmp_path: Path) -> Any:
    from hoist.config import load_config

    (tmp_path / "k8s").mkdir()
    (tmp_path / "k8s" / "app.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n"
        "  replicas: 1\n  selector:\n    matchLabels:\n      app: web\n  template:\n"
        "    metadata:\n      labels:\n        app: web\n    spec:\n      containers:\n"
        "      - name: app\n        image: app\n")
    (tmp_path / "skaffold.yaml").write_text(
        "apiVersion: skaffold/v4beta11\nkind: Config\nbuild:\n  artifacts:\n  - image: app\n"
        "manifests:\n  rawYaml:\n  - k8s/app.yaml\n")
    return load_config(str(tmp_path / "skaffold.yaml"))


def _state(standin: KubectlStandIn, sent: dict[str, Any], *, image_id: str,
           waiting: dict[str, str] | None = None) -> None:
    dep = json.loads(json.dumps(sent))
    dep["metadata"].update(generation=1, uid="d-1")
    ready = waiting is None
    dep["status"] = {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1,
                     "readyReplicas": 1 if ready else 0,
                     "availableReplicas": 1 if ready else 0}
    template = dep["spec"]["template"]
    rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
          "metadata": {"name": "web-7d9f", "namespace": "default", "uid": "rs-1",
                       "labels": {"app": "web", "pod-template-hash": "7d9f"},
                       "annotations": {"deployment.kubernetes.io/revision": "1"},
                       "ownerReferences": [{"kind": "Deployment", "name": "web",
                                            "uid": "d-1", "controller": True}]},
          "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                   "template": {**template, "metadata": {"labels": {
                       "app": "web", "pod-template-hash": "7d9f"}}}},
          "status": {"replicas": 1, "readyReplicas": 1 if ready else 0}}
    dep["metadata"].setdefault("annotations", {})["deployment.kubernetes.io/revision"] = "1"
    state: dict[str, Any] = {"running": {"startedAt": "2025-03-14T10:46:02Z"}} if ready \
        else {"waiting": waiting}
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "web-7d9f-x2x4z", "namespace": "default",
                        "labels": {"app": "web", "pod-template-hash": "7d9f"},
                        "ownerReferences": [{"kind": "ReplicaSet", "name": "web-7d9f",
                                             "uid": "rs-1", "controller": True}]},
           "spec": template["spec"],
           "status": {"phase": "Running" if ready else "Pending",
                      "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
                      "containerStatuses": [{"name": "app", "image": REF, "imageID": image_id,
                                             "ready": ready, "restartCount": 0,
                                             "state": state}]}}
    standin.set_objects("deployment", [dep])
    standin.set_objects("replicasets", [rs])
    standin.set_objects("pods", [pod])
    standin.set_objects("events", [])


def _deploy(tmp_path: Path, standin: KubectlStandIn, **state: Any) -> Any:
    from hoist.deploy.deployer import DeployOptions, deploy, render_documents
    from hoist.deploy.target import label_documents

    config = _project(tmp_path)
    builds = [{"imageName": "app", "tag": REF}]
    (sent,) = label_documents(render_documents(config, builds), "run1", None)
    sent["metadata"]["namespace"] = "default"
    _state(standin, sent, **state)
    target = KubectlTarget("kind-dev", kubectl=str(standin.path))
    return deploy(config, builds, DeployOptions(run_id="run1", runs_dir=tmp_path / "runs",
                                                status_deadline=5), target=target)


def test_deploy_waits_and_verifies_through_kubectl_recording_standin(
        tmp_path: Path, standin: KubectlStandIn) -> None:
    report = _deploy(tmp_path, standin, image_id=f"reg.example:5000/app@{DIGEST}")
    assert report.status.ok
    assert report.running == {"web-7d9f-x2x4z": [f"reg.example:5000/app@{DIGEST}"]}
    verbs = [c["argv"][2] for c in standin.calls()]  # after --context kind-dev
    assert verbs[0] == "apply" and "get" in verbs


def test_a_stale_node_image_is_a_mismatch_recording_standin(
        tmp_path: Path, standin: KubectlStandIn) -> None:
    from hoist.deploy.deployer import DeployFailed

    other = "sha256:" + "c" * 64
    with pytest.raises(DeployFailed) as e:
        _deploy(tmp_path, standin, image_id=f"reg.example:5000/app@{other}")
    text = str(e.value)
    assert "web-7d9f-x2x4z" in text and DIGEST in text and other in text


def test_a_pull_failure_stops_the_wait_with_the_kubelets_message_recording_standin(
        tmp_path: Path, standin: KubectlStandIn) -> None:
    from hoist.deploy.deployer import DeployFailed

    message = (f'Back-off pulling image "{REF}": ErrImagePull: failed to pull and unpack '
               f'image "{REF}": not found')
    with pytest.raises(DeployFailed) as e:
        _deploy(tmp_path, standin, image_id="",
                waiting={"reason": "ImagePullBackOff", "message": message})
    text = str(e.value)
    assert "ImagePullBackOff: " + message in text
    assert "hoist doctor --pod web-7d9f-x2x4z -n default" in text


@pytest.mark.skipif(not os.environ.get("HOIST_TEST_KUBECONFIG"),
                    reason="HOIST_TEST_KUBECONFIG does not point at a cluster")
def test_a_real_cluster_stops_at_the_pull_error(tmp_path: Path) -> None:
    """Against a real API server: apply a Deployment whose image no node can pull (a
    closed loopback port); the status check must stop at the kubelet's pull error."""
    from hoist.deploy.deployer import DeployFailed, DeployOptions, deploy

    config = _project(tmp_path)
    builds = [{"imageName": "app", "tag": f"127.0.0.1:1/app:none@{DIGEST}"}]
    target = KubectlTarget(None, kubeconfig=os.environ["HOIST_TEST_KUBECONFIG"])
    try:
        with pytest.raises(DeployFailed, match=r"ErrImagePull|ImagePullBackOff"):
            deploy(config, builds, DeployOptions(run_id="hoisttest", runs_dir=tmp_path,
                                                 status_deadline=120), target=target)
    finally:
        from hoist.deploy.target import ResourceRef

        target.delete([ResourceRef("Deployment", "default", "web")], "hoisttest")
