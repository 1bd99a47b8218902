"""``hoist cluster …`` round trips through hoist.cli.main.main, and against kubectl."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from hoist.cli.main import main
from hoist.cluster import Cluster
from hoist.cluster.printers import to_json, to_yaml

POD_YAML = """\
apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  containers:
  - name: web
    image: nginx:latest@sha256:{digest}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
spec:
  replicas: 2
  selector: {{matchLabels: {{app: a}}}}
  template:
    metadata: {{labels: {{app: a}}}}
    spec:
      containers: [{{name: a, image: busybox:1.36}}]
""".format(digest="b" * 64)


def run(capsys: pytest.CaptureFixture[str], cluster_dir: Path, *args: str) -> tuple[int, str,
                                                                                   str]:
    code = main(["cluster", "--cluster-dir", str(cluster_dir), *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def manifests(tmp_path: Path) -> Path:
    path = tmp_path / "app.yaml"
    path.write_text(POD_YAML)
    return path


def test_apply_get_describe_delete_round_trip(tmp_path: Path, manifests: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    cdir = tmp_path / "c"
    code, out, _ = run(capsys, cdir, "apply", "-f", str(manifests))
    assert code == 0
    assert out == "pod/web created\ndeployment.apps/app created\n"
    assert run(capsys, cdir, "apply", "-f", str(manifests))[1] == (
        "pod/web unchanged\ndeployment.apps/app unchanged\n")
    code, out, _ = run(capsys, cdir, "get", "po")
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert len(lines) == 4 and lines[-1].startswith("web ")
    code, out, _ = run(capsys, cdir, "get", "deploy", "app", "-o", "json")
    dep = json.loads(out)
    assert dep["kind"] == "Deployment" and dep["status"]["replicas"] == 2
    code, out, _ = run(capsys, cdir, "get", "pods", "-l", "app=a", "-o", "yaml")
    listed = yaml.safe_load(out)
    assert listed["kind"] == "List" and len(listed["items"]) == 2
    assert listed["metadata"] == {"resourceVersion": ""}
    code, out, _ = run(capsys, cdir, "get", "pod", "web", "-o", "json")
    assert json.loads(out)["spec"]["containers"][0]["imagePullPolicy"] == "Always"
    code, out, _ = run(capsys, cdir, "describe", "pod", "web")
    assert out.startswith("Name:             web\nNamespace:        default\n")
    code, out, _ = run(capsys, cdir, "delete", "pod", "web")
    assert (code, out) == (0, 'pod "web" deleted\n')
    code, out, err = run(capsys, cdir, "delete", "pod", "web")
    assert code == 1 and 'Error from server (NotFound): pods "web" not found' in err
    code, out, err = run(capsys, cdir, "get", "secrets")
    assert (code, out, err) == (0, "", "No resources found in default namespace.\n")
    code, out, _ = run(capsys, cdir, "delete", "-f", str(manifests))
    assert 'deployment.apps "app" deleted' in out


def test_apply_errors_name_file_and_line_and_go_on(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: ok}\nspec:\n"
                    "  containers: [{name: a, image: busybox}]\n---\n"
                    "apiVersion: v1\nkind: Pod\nmetadata: {name: bad}\nspec:\n"
                    "  containers: [{name: a, image: busybox, imagePullPolicy: Sometimes}]\n")
    code, out, err = run(capsys, tmp_path / "c", "apply", "-f", str(path))
    assert code == 2
    assert out == "pod/ok created\n"
    assert err == (f'hoist: {path}:7: The Pod "bad" is invalid: '
                   'spec.containers[0].imagePullPolicy: Unsupported value: "Sometimes": '
                   'supported values: "Always", "IfNotPresent", "Never"\n')
    broken = tmp_path / "broken.yaml"
    broken.write_text("kind: Pod\nmetadata: [\n")
    code, _, err = run(capsys, tmp_path / "c", "apply", "-f", str(broken))
    assert code == 2 and err.startswith(f"hoist: {broken}:")


def test_kind_list_namespace_flag_and_mismatch(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "list.json"
    items = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}},
             {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "builder"}}]
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
    code, out, _ = run(capsys, tmp_path / "c", "apply", "-f", str(path), "-n", "team")
    assert (code, out) == (0, "namespace/team created\nserviceaccount/builder created\n")
    code, out, _ = run(capsys, tmp_path / "c", "get", "sa", "-n", "team", "-o", "name")
    assert out == "serviceaccount/builder\nserviceaccount/default\n"
    other = tmp_path / "other.yaml"
    other.write_text("apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: x, namespace: a}\n")
    code, _, err = run(capsys, tmp_path / "c", "apply", "-f", str(other), "-n", "b")
    assert code == 2 and 'the namespace from the provided object "a" does not match' in err


def test_patch_service_account_as_the_seed_does(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    cdir = tmp_path / "c"
    patch = '{"imagePullSecrets": [{"name": "myregistrykey"}]}'
    code, out, _ = run(capsys, cdir, "patch", "serviceaccount", "default", "-p", patch)
    assert (code, out) == (0, "serviceaccount/default patched\n")
    code, out, _ = run(capsys, cdir, "patch", "sa", "default", "-p", patch)
    assert out == "serviceaccount/default patched (no change)\n"
    code, _, err = run(capsys, cdir, "patch", "sa", "nobody", "-p", patch)
    assert code == 1 and 'serviceaccounts "nobody" not found' in err
    code, _, err = run(capsys, cdir, "patch", "sa", "default", "-p", "{nope")
    assert code == 2 and err.startswith("hoist: -p: not valid JSON")


def test_events_and_get_events(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cdir = tmp_path / "c"
    with Cluster.open(cdir) as c:
        p = c.apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
                     "spec": {"containers": [{"name": "a", "image": "busybox"}]}})[0]
        for _ in range(2):
            c.record_event(p, "Normal", "Pulling", 'Pulling image "busybox"')
    code, out, _ = run(capsys, cdir, "events")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert "(x2 over" in lines[1] and "Pod/web" in lines[1]
    _, out, _ = run(capsys, cdir, "get", "events")
    assert "pod/web" in out.splitlines()[1]
    _, _, err = run(capsys, cdir, "events", "-n", "kube-system")
    assert err == "No events found in kube-system namespace.\n"


def test_unknown_kind_and_describe_only_pods(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, tmp_path / "c", "get", "configmaps")
    assert code == 2 and 'doesn\'t have a resource type "configmaps"' in err
    code, _, err = run(capsys, tmp_path / "c", "describe", "deploy", "x")
    assert code == 2


def test_delete_waits_for_the_node_to_finalize(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    import threading

    cdir = tmp_path / "c"
    with Cluster.open(cdir) as c:
        c.heartbeat("node-1", "builtin", {})
        for name in ("a", "b"):
            c.apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                     "spec": {"containers": [{"name": "x", "image": "busybox"}]}})
        code, out, _ = run(capsys, cdir, "delete", "pod", "a", "--no-wait")
        assert (code, out) == (0, 'pod "a" deleted\n')
        _, table, _ = run(capsys, cdir, "get", "pods")
        assert table.splitlines()[1].split()[:3] == ["a", "0/1", "Terminating"]
        b = c.get("Pod", "default", "b")
        assert b is not None

        def node_finishes() -> None:
            c.wait_for_change(c.revision(), 5.0)  # the deletion mark
            c.finalize_pod("default", "b", b["metadata"]["uid"])

        worker = threading.Thread(target=node_finishes)
        worker.start()
        code, out, _ = run(capsys, cdir, "delete", "pod", "b", "--timeout", "10")
        worker.join()
        assert (code, out) == (0, 'pod "b" deleted\n')
        assert c.get("Pod", "default", "b") is None
        code, _, err = run(capsys, cdir, "delete", "pod", "a", "--timeout", "0.2")
        assert code == 1 and 'timed out waiting for the deletion of pod "a"' in err


def test_node_verbs_check_their_arguments(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """The node verbs parse their options before handing over to hoist.cluster.agent."""
    with pytest.raises(SystemExit) as bad:
        run(capsys, tmp_path / "c", "up", "--runtime", "podman")
    assert bad.value.code == 2
    assert "invalid choice: 'podman'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run(capsys, tmp_path / "c", "up", "--verification-policy", "Sometimes")
    with pytest.raises(SystemExit):
        run(capsys, tmp_path / "c", "up", "--max-parallel-image-pulls", "two")


# --------------------------------------------------------------------------- kubectl

requires_kubectl = pytest.mark.skipif(
    shutil.which("kubectl") is None,
    reason="kubectl not installed (these tests compare with a kubectl 1.32 client)")


@pytest.fixture
def kubectl_env(tmp_path: Path) -> dict[str, str]:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("")
    return {**os.environ, "KUBECONFIG": str(kubeconfig)}


def kubectl(env: dict[str, str], *args: str, stdin: bytes | None = None) -> bytes:
    proc = subprocess.run(["kubectl", *args], input=stdin, capture_output=True, env=env,
                          timeout=60, check=True)
    return proc.stdout


def hoist(cluster_dir: Path, *args: str, stdin: bytes | None = None) -> str:
    proc = subprocess.run([sys.executable, "-m", "hoist", "cluster", "--cluster-dir",
                           str(cluster_dir), *args], input=stdin, capture_output=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout.decode()


@pytest.mark.system
@requires_kubectl
def test_kubectl_created_objects_apply(tmp_path: Path, kubectl_env: dict[str, str]) -> None:
    secret = kubectl(kubectl_env, "create", "secret", "docker-registry", "regcred",
                     "--docker-server=localhost:5000", "--docker-username=alice",
                     "--docker-password=S3cr3t-PW", "--dry-run=client", "-o", "yaml")
    cdir = tmp_path / "c"
    assert hoist(cdir, "apply", "-f", "-", stdin=secret) == "secret/regcred created\n"
    deploy = kubectl(kubectl_env, "create", "deployment", "web", "--image=nginx",
                     "--replicas=2", "--dry-run=client", "-o", "yaml")
    assert hoist(cdir, "apply", "-f", "-", stdin=deploy) == "deployment.apps/web created\n"
    table = hoist(cdir, "get", "secrets")
    assert table.splitlines()[1].split()[:3] == ["regcred", "kubernetes.io/dockerconfigjson",
                                                 "1"]
    with Cluster.open(cdir) as c:
        pods = c.list("Pod", "default", {"app": "web"})
        assert len(pods) == 2
        assert {p["spec"]["containers"][0]["imagePullPolicy"] for p in pods} == {"Always"}
        stored = c.get("Secret", "default", "regcred")
        assert stored is not None and stored["type"] == "kubernetes.io/dockerconfigjson"
    assert "S3cr3t-PW" not in table


def _kubectl_reprint(env: dict[str, str], obj: dict[str, Any], output: str,
                     tmp_path: Path) -> str:
    """kubectl's own -o json / -o yaml of an object, offline: ``label --local`` prints the
    object (as an unstructured map, as kubectl get does) with one label added."""
    path = tmp_path / "obj.json"
    path.write_text(json.dumps(obj))
    return kubectl(env, "label", "-f", str(path), "probe=1", "--overwrite", "--local",
                   "-o", output).decode()


@pytest.mark.system
@requires_kubectl
def test_json_and_yaml_output_byte_for_byte_as_kubectl(tmp_path: Path,
                                                       kubectl_env: dict[str, str]) -> None:
    with Cluster.open(tmp_path / "c") as c:
        c.apply(yaml.safe_load(POD_YAML.split("---")[0]))
        dep = yaml.safe_load(POD_YAML.split("---")[1])
        dep["metadata"]["annotations"] = {"note": "a <b> & c", "yes": "y", "on": "off"}
        c.apply(dep)
        objects = [c.get("Pod", "default", "web"), c.get("Deployment", "default", "app")]
    for obj in objects:
        assert obj is not None
        theirs_json = _kubectl_reprint(kubectl_env, obj, "json", tmp_path)
        theirs_yaml = _kubectl_reprint(kubectl_env, obj, "yaml", tmp_path)
        obj["metadata"].setdefault("labels", {})["probe"] = "1"
        assert to_json(obj) == theirs_json
        assert to_yaml(obj) == theirs_yaml
