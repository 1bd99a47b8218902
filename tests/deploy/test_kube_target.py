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
    assert os.environ["PATH"] == str(tmp_path / "empty")
