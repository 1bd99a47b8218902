"""The deploy's own decisions: labels and namespaces, build.json entries, the target
choice, run records, and the policy gates (Always needs the registry to serve the digest;
Never loads the node and pushes nothing) against a real registry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hoist.core.policy import PullPolicy
from hoist.deploy.deployer import (
    BuiltArtifact,
    DeployFailed,
    DeployOptions,
    built_artifacts,
    check_policies,
    choose_target,
    registry_serves,
    render_documents,
)
from hoist.deploy.runs import RunRecord, RunStore
from hoist.deploy.target import (
    MANAGED_BY_LABEL,
    RUN_ID_LABEL,
    ResourceRef,
    label_documents,
    new_run_id,
    resource_ref,
)
from hoist.errors import InputError
from hoist.transfer.copy import Options, copy
from tests.support.distribution import Distribution
from tests.support.images import ImageFactory

DIGEST = "sha256:" + "a" * 64


def _deployment(name: str = "web", namespace: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": {"app": name}}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
            "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "x"}]}}}}


def test_labels_mark_every_resource_and_keep_its_own() -> None:
    docs = [_deployment(), {"apiVersion": "v1", "kind": "Namespace",
                            "metadata": {"name": "team"}}]
    out = label_documents(docs, "run1", "team")
    assert out[0]["metadata"]["labels"] == {"app": "web", MANAGED_BY_LABEL: "hoist",
                                            RUN_ID_LABEL: "run1"}
    assert out[0]["metadata"]["namespace"] == "team"
    assert "namespace" not in out[1]["metadata"]  # cluster-scoped
    assert "labels" not in docs[0]["metadata"] or RUN_ID_LABEL not in docs[0]["metadata"][
        "labels"]  # the input is not modified
    assert resource_ref(out[0]) == ResourceRef("Deployment", "team", "web")


def test_a_resource_in_another_namespace_is_refused() -> None:
    with pytest.raises(InputError, match="'other' does not match --namespace 'team'"):
        label_documents([_deployment(namespace="other")], "r", "team")


def test_run_ids_differ() -> None:
    assert len({new_run_id() for _ in range(100)}) == 100


def test_build_entries_need_a_digest() -> None:
    (a,) = built_artifacts([{"imageName": "app", "tag": f"reg:5000/app:v1@{DIGEST}"}], None)
    assert (a.repository, a.tag, a.digest) == ("reg:5000/app", "v1", DIGEST)
    assert a.store_name == "reg:5000/app:v1"
    with pytest.raises(InputError, match="has no digest"):
        built_artifacts([{"imageName": "app", "tag": "reg:5000/app:v1"}], None)
    with pytest.raises(InputError, match="build artifact 'app'"):
        built_artifacts([{"imageName": "app", "tag": "UPPER/x:v1@sha256:1"}], None)


def test_embedded_unless_a_kube_context_is_configured(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    assert choose_target(DeployOptions(), None) == "embedded"
    assert choose_target(DeployOptions(kube_context="kind-dev"), None) == "kube"
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\ncurrent-context: prod\n")
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    assert choose_target(DeployOptions(), None) == "kube"
    assert choose_target(DeployOptions(target="embedded"), None) == "embedded"
    with pytest.raises(InputError, match="--target 'moon'"):
        choose_target(DeployOptions(target="moon"), None)


def test_run_records_round_trip_and_merge(tmp_path: Path) -> None:
    runs = RunStore(tmp_path)
    record = RunRecord("abc", "embedded", cluster_dir="/c")
    record.merge([ResourceRef("Deployment", "default", "web")])
    runs.save(record)
    again = runs.load()  # the last one
    again.merge([ResourceRef("Pod", "default", "p"), ResourceRef("Deployment", "default",
                                                                 "web")])
    runs.save(again)
    assert [str(r) for r in runs.load("abc").resources] == ["deployment/web", "pod/p"]
    runs.forget("abc")
    with pytest.raises(InputError, match="no hoist run recorded"):
        runs.load()
    with pytest.raises(InputError, match="not a run id"):
        runs.load("../etc")


def test_render_documents_rewrites_only_the_artifact(tmp_path: Path) -> None:
    from hoist.config import load_config

    (tmp_path / "k8s").mkdir()
    (tmp_path / "k8s" / "app.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n"
        "  - name: app\n    image: app\n  - name: side\n    image: nginx:1.25\n")
    (tmp_path / "skaffold.yaml").write_text(
        "apiVersion: skaffold/v4beta11\nkind: Config\nbuild:\n  artifacts:\n  - image: app\n"
        "    hoist:\n      builder: native\nmanifests:\n  rawYaml:\n  - k8s/app.yaml\n")
    (tmp_path / "hoist.yaml").unlink(missing_ok=True)
    config = load_config(str(tmp_path / "skaffold.yaml"))
    ref = f"reg:5000/app:v1@{DIGEST}"
    (doc,) = render_documents(config, [{"imageName": "app", "tag": ref}])
    containers = doc["spec"]["containers"]
    assert containers[0]["image"] == ref
    assert containers[1] == {"name": "side", "image": "nginx:1.25"}


class _PreloadRecorder:
    """A target that records preloads: the gate's decision is what is tested here."""

    name = "recorder"
    images_only = False

    def __init__(self) -> None:
        self.loaded: list[str] = []

    def preload(self, reference: str, store_root: Any) -> str:
        self.loaded.append(reference)
        return DIGEST


def test_always_is_refused_when_the_registry_lacks_the_digest(
        distribution_open: Distribution, image_factory: ImageFactory, tmp_path: Path) -> None:
    image = image_factory.make_image("v1", layers=[500])
    repo = f"{distribution_open.host}/deploy-gate"
    copy(f"oci:{image.layout_dir}:v1", f"docker://{repo}:v1",
         Options(store_root=tmp_path / "store"))
    assert registry_serves(f"{repo}@{image.digest}")
    assert not registry_serves(f"{repo}@{DIGEST}")

    lines: list[str] = []
    target = _PreloadRecorder()
    good = BuiltArtifact("app", "app", repo, "v1", image.digest, PullPolicy.ALWAYS)
    notes = check_policies([good], target, tmp_path, lines.append)  # type: ignore[arg-type]
    assert notes == [f"app: registry serves {repo}@{image.digest} (Always)"] == lines
    missing = BuiltArtifact("app", "app", repo, "v2", DIGEST, PullPolicy.ALWAYS)
    with pytest.raises(DeployFailed, match=f"does not serve {repo}@{DIGEST}"):
        check_policies([missing], target, tmp_path, lines.append)  # type: ignore[arg-type]
    assert target.loaded == []


def test_never_loads_the_node_and_asks_nothing_of_the_registry(tmp_path: Path) -> None:
    target = _PreloadRecorder()
    asked: list[str] = []

    def serves(ref: str) -> bool:
        asked.append(ref)
        return False

    never = BuiltArtifact("app", "app", "nowhere.invalid/app", "v1", DIGEST, PullPolicy.NEVER)
    notes = check_policies([never], target, tmp_path, lambda line: None,  # type: ignore[arg-type]
                           serves=serves)
    assert target.loaded == ["nowhere.invalid/app:v1"] and asked == []
    assert "nothing pushed (Never)" in notes[0]
    plain = BuiltArtifact("app", "app", "nowhere.invalid/app", "v1", DIGEST,
                          PullPolicy.IF_NOT_PRESENT)
    assert check_policies([plain], target, tmp_path, lambda line: None,  # type: ignore[arg-type]
                          serves=serves) == []
    assert asked == []
