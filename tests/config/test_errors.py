"""Every bad config is one line ``file:line: message`` naming the key path."""

from __future__ import annotations

from pathlib import Path

import pytest

from hoist.config import load_config
from hoist.errors import InputError

HEAD = "apiVersion: skaffold/v4beta14\nkind: Config\n"


def error(tmp_path: Path, text: str) -> str:
    p = tmp_path / "skaffold.yaml"
    p.write_text(text)
    with pytest.raises(InputError) as e:
        load_config(str(p), environ={})
    message = str(e.value)
    assert "\n" not in message
    return message.removeprefix(str(p))


@pytest.mark.parametrize(("body", "message"), [
    ("build:\n  artifacts:\n  - image: a\n    docker:\n      dockerFile: x\n",
     ":7: unknown key 'dockerFile' in build.artifacts[0].docker (did you mean 'dockerfile'?)"),
    ("build:\n  local:\n    concurrency: two\n",
     ":5: build.local.concurrency must be an integer, not 'two'"),
    ("build:\n  local:\n    concurrency: '2'\n",  # quoted: a string, as Go's decoder says
     ":5: build.local.concurrency must be an integer, not '2'"),
    ("build:\n  local:\n    concurrency: -1\n",
     ":5: build.local.concurrency must be 0 (no limit) or more, not -1"),
    ("build:\n  local:\n    push: yes\n",  # YAML 1.1's yes is a string to Go
     ":5: build.local.push must be true or false, not 'yes'"),
    ("build:\n  artifacts:\n  - image: a\n    context: [x]\n",
     ":6: build.artifacts[0].context must be a string, not a list"),
    ("build:\n  artifacts: {}\n  insecureRegistries: reg\n",
     ":5: build.insecureRegistries must be a list, not 'reg'"),
    ("build:\n  artifacts: yes\n",
     ":4: build.artifacts must be a list or a mapping, not 'yes'"),
    ("build:\n  artifacts:\n  - context: x\n",
     ":5: build.artifacts[0] has no 'image'"),
    ("build:\n  artifacts:\n  - image: ''\n", ":5: build.artifacts[0] has no image"),
    ("build:\n  artifacts:\n  - image: a\n  - image: b\n  - image: a:v2\n",
     ":7: build.artifacts[2]: image 'a:v2' is already built by build.artifacts[0] (line 5); "
     "an image is one artifact"),
    ("build:\n  artifacts:\n  - image: app\n    requires:\n    - image: bse\n  - image: base\n",
     ":7: build.artifacts[0].requires[0]: no artifact has image 'bse' (did you mean 'base'?)"),
    ("build:\n  artifacts:\n  - image: a\n    requires: [{image: b}]\n  - image: b\n"
     "    requires: [{image: c}]\n  - image: c\n    requires: [{image: a}]\n",
     ":10: build.artifacts[2].requires[0]: artifacts require each other in a cycle: "
     "a -> b -> c -> a"),
    ("build:\n  artifacts:\n  - image: a\n    requires: [{image: a, alias: SELF}]\n",
     ":6: build.artifacts[0].requires[0]: artifacts require each other in a cycle: a -> a"),
    ("build:\n  artifacts:\n  - image: a\n    requires: [{alias: X}]\n",
     ":6: build.artifacts[0].requires[0] has no 'image'"),
    ("build:\n  artifacts:\n  - image: a\n    docker: {}\n    jib: {}\n",
     ":7: build.artifacts[0] sets both 'docker' (line 6) and 'jib': only one builder per "
     "artifact is allowed"),
    ("build:\n  local: {}\n  cluster: {}\n",
     ":5: build sets both 'local' (line 4) and 'cluster': only one build environment is "
     "allowed"),
    ("build:\n  tagPolicy:\n    sha256: {}\n    gitCommit: {}\n",
     ":6: build.tagPolicy sets both 'sha256' (line 5) and 'gitCommit': only one tag policy "
     "is allowed"),
    ("build:\n  tagPolicy:\n    gitcommit: {}\n",
     ":5: unknown key 'gitcommit' in build.tagPolicy (did you mean 'gitCommit'?)"),
    ("build:\n  tagPolicy: sha256\n",
     ":4: build.tagPolicy must be a mapping, not 'sha256'"),
    ("build:\n  artifacts:\n  - image: a\n    hoist: {builder: kaniko}\n",
     ":6: build.artifacts[0].hoist.builder must be one of native, buildah, podman, docker, "
     "auto, not 'kaniko'"),
    ("build:\n  artifacts:\n  - image: a\n    hoist: {builer: native}\n",
     ":6: unknown key 'builer' in build.artifacts[0].hoist (did you mean 'builder'?)"),
    ("profiles:\n- name: dev\n  build:\n    artifacts:\n    - image: a\n      contxt: x\n",
     ":8: unknown key 'contxt' in profiles[0].build.artifacts[0] (did you mean 'context'?)"),
    ("profiles:\n- build: {}\n", ":4: profiles[0] has no 'name'"),
    ("profiles:\n- name: dev\n  activation: [{env: FOO}]\n",
     ":5: profiles[0] (dev).activation[0].env must be KEY=VALUE, not 'FOO'"),
    ("profiles:\n- name: dev\n  patches:\n  - {op: merge, path: /build}\n",
     ":6: profiles[0].patches[0].op must be one of add, remove, replace, move, copy, test, "
     "not 'merge'"),
    ("build:\n  artifacts: []\nbuild: {}\n",
     ":5: key 'build' appears twice in one mapping (first at line 3)"),
    ("manifests:\n  rawYml: [a.yaml]\n",
     ":4: unknown key 'rawYml' in manifests (did you mean 'rawYaml'?)"),
    ("deploy:\n  kubectl:\n    manifest: [a.yaml]\n",
     ":5: unknown key 'manifest' in deploy.kubectl (did you mean 'manifests'?)"),
    ("portForward:\n- resourceType: service\n  locaPort: 80\n",
     ":5: unknown key 'locaPort' in portForward[0] (did you mean 'localPort'?)"),
    ("requires:\n- pth: ../other\n",
     ":4: unknown key 'pth' in requires[0] (did you mean 'path'?)"),
    ("defaultRepo: [a]\n", ":3: defaultRepo must be a string, not a list"),
    ("metadata:\n  nam: x\n", ":4: unknown key 'nam' in metadata (did you mean 'name'?)"),
])
def test_bad_config(tmp_path: Path, body: str, message: str) -> None:
    assert error(tmp_path, HEAD + body) == message


@pytest.mark.parametrize(("text", "message"), [
    ("apiVersion: skaffold/v5\nkind: Config\n",
     ":1: apiVersion 'skaffold/v5' is not one hoist reads (accepted: skaffold/v1*, "
     "skaffold/v2alpha*, skaffold/v2beta1..29, skaffold/v3alpha*, skaffold/v3, "
     "skaffold/v4beta1..14, skaffold.dev/v2beta10)"),
    ("kind: Config\n", ":1: the config has no apiVersion (hoist reads skaffold/v1*, "
     "skaffold/v2alpha*, skaffold/v2beta1..29, skaffold/v3alpha*, skaffold/v3, "
     "skaffold/v4beta1..14, skaffold.dev/v2beta10)"),
    ("apiVersion: skaffold/v3\nkind: Deployment\n", ":2: kind must be Config, not 'Deployment'"),
    ("apiVersion: skaffold/v3\n", ":1: kind must be Config (the config has no kind)"),
    ("- a\n", ":1: a config must be a mapping"),
    ("apiVersion: skaffold/v1alpha2\nkind: Config\nbuild:\n  artifacts:\n  - imageName: x\n",
     ":5: unknown key 'imageName' in build.artifacts[0] (did you mean 'image'? it was "
     "renamed)"),
    ("apiVersion: skaffold/v3\nkind: Config\n---\napiVersion: skaffold/v9\nkind: Config\n",
     ":4: apiVersion 'skaffold/v9' is not one hoist reads (accepted: skaffold/v1*, "
     "skaffold/v2alpha*, skaffold/v2beta1..29, skaffold/v3alpha*, skaffold/v3, "
     "skaffold/v4beta1..14, skaffold.dev/v2beta10)"),
    ("# nothing\n", ": empty config"),
    ("apiVersion: skaffold/v3\nkind: [\n", ":3: not valid YAML: "),
])
def test_bad_header(tmp_path: Path, text: str, message: str) -> None:
    assert error(tmp_path, text).startswith(message)


@pytest.mark.parametrize("version", [
    "skaffold/v1", "skaffold/v1alpha1", "skaffold/v1beta17", "skaffold/v2alpha4",
    "skaffold/v2beta1", "skaffold/v2beta29", "skaffold/v3alpha1", "skaffold/v3",
    "skaffold/v4beta1", "skaffold/v4beta14", "skaffold.dev/v2beta10",
])
def test_accepted_api_versions(tmp_path: Path, version: str) -> None:
    p = tmp_path / "skaffold.yaml"
    p.write_text(f"apiVersion: {version}\nkind: Config\n")
    assert load_config(str(p)).api_version == version


@pytest.mark.parametrize("version", [
    "skaffold/v2beta30", "skaffold/v4beta15", "skaffold/v4", "skaffold/v2", "Skaffold/v3",
    "skaffold.dev/v2beta11", "skaffold/v3beta1", "v1", "skaffold/v1beta",
])
def test_refused_api_versions(tmp_path: Path, version: str) -> None:
    assert f"apiVersion {version!r} is not one hoist reads" in error(
        tmp_path, f"apiVersion: {version}\nkind: Config\n")


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(InputError) as e:
        load_config(str(tmp_path / "missing.yaml"))
    assert str(e.value) == f"{tmp_path / 'missing.yaml'}: No such file or directory"
