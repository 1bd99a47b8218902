"""Profiles as Skaffold applies them: activation, field-by-field overlay, JSON patches,
several configs in one file; errors keep naming the line the user wrote."""

from __future__ import annotations

from pathlib import Path

import pytest

from hoist.config import Config, load_config
from hoist.errors import InputError

HEAD = "apiVersion: skaffold/v4beta14\nkind: Config\n"


def load(tmp_path: Path, text: str, *profiles: str, command: str = "",
         environ: dict[str, str] | None = None) -> Config:
    p = tmp_path / "skaffold.yaml"
    p.write_text(text)
    return load_config(str(p), profiles, command=command, environ=environ or {})


def error(tmp_path: Path, text: str, *profiles: str) -> str:
    with pytest.raises(InputError) as e:
        load(tmp_path, text, *profiles)
    return str(e.value).removeprefix(str(tmp_path / "skaffold.yaml"))


BASE = HEAD + """\
build:
  artifacts:
  - image: app
    docker: {dockerfile: Dockerfile}
  tagPolicy:
    sha256: {}
  googleCloudBuild: {projectId: p}
manifests:
  rawYaml: [k8s/*.yaml]
deploy:
  kubeContext: main
  kubectl:
    defaultNamespace: ns
profiles:
"""


def test_profile_sections_are_laid_over_not_swapped(tmp_path: Path) -> None:
    # Only tagPolicy given: the artifacts, manifests and deploy settings stay.
    cfg = load(tmp_path, BASE + "- name: p\n  build:\n    tagPolicy: {inputDigest: {}}\n", "p")
    assert [a.image for a in cfg.artifacts] == ["app"]
    assert cfg.tag_policy == {"inputDigest": {}}
    assert (cfg.manifests, cfg.kube_context, cfg.default_namespace) == (
        ("k8s/*.yaml",), "main", "ns")
    assert cfg.problems("build")[0].feature == "build.googleCloudBuild"


def test_build_environment_is_one_of(tmp_path: Path) -> None:
    # `local` in the profile replaces the config's googleCloudBuild: one environment only.
    cfg = load(tmp_path, BASE + "- name: p\n  build:\n    local: {push: false}\n", "p")
    assert cfg.problems("build") == []
    assert cfg.local.push is False


def test_lists_and_objects_replace_when_given_and_empty_ones_do_not(tmp_path: Path) -> None:
    text = BASE + """\
- name: empty
  build:
    artifacts: []
  deploy:
    kubeContext: ""
- name: kubectl
  deploy:
    kubectl: {flags: {apply: [--server-side]}}
  manifests:
    rawYaml: [other/*.yaml]
"""
    same = load(tmp_path, text, "empty")
    assert ([a.image for a in same.artifacts], same.kube_context) == (["app"], "main")
    other = load(tmp_path, text, "kubectl")
    # deploy.kubectl is replaced whole (its defaultNamespace is gone), deploy merged
    assert (other.default_namespace, other.kube_context) == (None, "main")
    assert other.manifests == ("other/*.yaml",)
    assert [u.feature for u in other.problems("deploy")] == ["deploy.kubectl.flags"]


def test_patches_apply_after_the_overlay_in_profile_order(tmp_path: Path) -> None:
    text = HEAD + """\
build:
  artifacts:
  - image: base
manifests:
  rawYaml: [base/*.yaml]
profiles:
- name: hello
  patches:
  - {op: add, path: /build/artifacts/1, value: {image: hello}}
  - {op: add, path: /manifests/rawYaml/-, value: hello/*.yaml}
- name: world
  patches:
  - {op: add, path: /build/artifacts/1, value: {image: world, context: w}}
  - {op: add, path: /manifests/rawYaml/-, value: world/*.yaml}
- name: rename
  build:
    artifacts:
    - image: one
    - image: two
  patches:
  - {op: replace, path: /build/artifacts/1/image, value: three}
  - {op: remove, path: /manifests}
"""
    both = load(tmp_path, text, "hello,world")
    assert [a.image for a in both.artifacts] == ["base", "world", "hello"]
    assert both.manifests == ("base/*.yaml", "hello/*.yaml", "world/*.yaml")
    assert both.active_profiles == ("hello", "world")
    renamed = load(tmp_path, text, "rename")
    assert [a.image for a in renamed.artifacts] == ["one", "three"]
    assert renamed.manifests == ()


def test_patch_selector_move_copy_and_test(tmp_path: Path) -> None:
    text = HEAD + """\
build:
  artifacts:
  - image: a
    context: ctx-a
  - image: b
    docker: {target: t}
profiles:
- name: p
  patches:
  - {op: test, path: /build/artifacts/0/image, value: a}
  - {op: add, path: /build/artifacts/image=b/context, value: ctx-b}
  - {op: copy, from: /build/artifacts/1/docker, path: /build/artifacts/0/docker}
  - {op: move, from: /build/artifacts/0/context, path: /build/artifacts/1/context}
- name: failing-test
  patches:
  - {op: test, path: /build/artifacts/0/image, value: zzz}
- name: remove-missing
  patches:
  - {op: remove, path: /deploy/helm}
"""
    cfg = load(tmp_path, text, "p")
    a, b = cfg.artifacts
    assert (a.context, b.context) == (".", "ctx-a")  # moved over ctx-b
    assert a.docker is not None and a.docker.target == "t"
    # yaml-patch ignores a remove under a missing parent
    assert [x.image for x in load(tmp_path, text, "remove-missing").artifacts] == ["a", "b"]
    assert error(tmp_path, text, "failing-test") == (
        ":18: profiles[1] (failing-test).patches[0] (test /build/artifacts/0/image): "
        "test failed: '/build/artifacts/0/image' holds another value")


@pytest.mark.parametrize(("patch", "message"), [
    ("{op: replace, path: /build/artifacts/4/image, value: x}",
     "'/build/artifacts/4' does not exist: the list has 1 item"),
    ("{op: replace, path: /deploy/kubeContext, value: x}", "'/deploy' does not exist"),
    ("{op: add, path: /build/artifacts/7, value: {image: x}}",
     "index 7 is out of range: the list has 1 item"),
    ("{op: add, path: build/artifacts, value: []}", "path 'build/artifacts' must start with '/'"),
    ("{op: move, path: /build/tagPolicy}", "a 'move' patch needs 'from'"),
    ("{op: replace, path: /build/artifacts/name=zz, value: {}}",
     "no element matches '/build/artifacts/name=zz'"),
])
def test_a_patch_that_does_not_apply_names_the_profile_and_line(
        tmp_path: Path, patch: str, message: str) -> None:
    text = HEAD + "build:\n  artifacts:\n  - image: a\nprofiles:\n- name: p\n  patches:\n  - " \
        + patch + "\n"
    got = error(tmp_path, text, "p")
    assert got.startswith(":9: profiles[0] (p).patches[0] (")
    assert message in got


def test_what_a_patch_writes_is_checked_and_reported_at_the_patch(tmp_path: Path) -> None:
    text = HEAD + """\
build:
  artifacts:
  - image: a
profiles:
- name: p
  patches:
  - op: add
    path: /build/artifacts/0/docker
    value:
      dockerfile: D
      targt: x
"""
    assert error(tmp_path, text, "p") == (
        ":13: unknown key 'targt' in build.artifacts[0].docker (did you mean 'target'?) "
        "(with profile p applied)")
    load(tmp_path, text)  # inactive, the patch value is not a config section


ACTIVATED = HEAD + """\
build:
  artifacts:
  - image: a
profiles:
- name: by-env
  activation: [{env: STAGE=prod}]
- name: by-negated-env
  activation: [{env: "STAGE=!prod"}]
- name: by-unset
  activation: [{env: "TOKEN="}]
- name: by-command
  activation: [{command: dev}]
- name: all-of
  requiresAllActivations: true
  activation: [{env: STAGE=prod}, {command: "^run$"}]
- name: by-context
  activation: [{kubeContext: minikube}]
"""


@pytest.mark.parametrize(("environ", "command", "requested", "active"), [
    ({}, "", (), ("by-negated-env", "by-unset")),
    ({"STAGE": "production", "TOKEN": "x"}, "", (), ("by-env",)),  # regex found in value
    ({"STAGE": "prod"}, "dev", (), ("by-env", "by-unset", "by-command")),
    ({"STAGE": "prod"}, "run", (), ("by-env", "by-unset", "all-of")),
    ({"STAGE": "prod"}, "run", ("-by-unset", "by-context"), ("by-env", "all-of", "by-context")),
])
def test_activation(tmp_path: Path, environ: dict[str, str], command: str,
                    requested: tuple[str, ...], active: tuple[str, ...]) -> None:
    cfg = load(tmp_path, ACTIVATED, *requested, command=command, environ=environ)
    assert cfg.active_profiles == active
    kube_notes = [n for n in cfg.notes if "kubeContext" in n]
    assert bool(kube_notes) == ("by-context" not in active)


def test_unknown_profile_names_the_ones_there_are(tmp_path: Path) -> None:
    assert error(tmp_path, ACTIVATED, "by-envv") == (
        ": no profile named 'by-envv' (profiles: by-env, by-negated-env, by-unset, "
        "by-command, all-of, by-context) (did you mean 'by-env'?)")


def test_profile_defined_twice(tmp_path: Path) -> None:
    text = HEAD + "profiles:\n- name: p\n- name: q\n- name: p\n"
    assert error(tmp_path, text) == (
        ":6: profiles[2]: profile 'p' is defined twice (first at line 4)")


MULTI = """\
apiVersion: skaffold/v4beta14
kind: Config
metadata: {name: one}
build:
  artifacts:
  - image: one
profiles:
- name: only-here
  build:
    artifacts:
    - image: one-prime
---
apiVersion: skaffold/v2beta29
kind: Config
metadata: {name: two}
build:
  artifacts:
  - image: two
    requires: [{image: one}]
deploy:
  kubectl:
    manifests: [two/*.yaml]
"""


def test_configs_in_one_file(tmp_path: Path) -> None:
    cfg = load(tmp_path, MULTI)
    assert [a.image for a in cfg.artifacts] == ["one", "two"]
    assert (cfg.documents, cfg.metadata_name, cfg.manifests) == (2, "one", ("two/*.yaml",))
    assert cfg.artifacts[1].line == 18
    # a profile of one document applies to that document only; requires see across them
    assert error(tmp_path, MULTI, "only-here") == (
        ":19: build.artifacts[0].requires[0]: no artifact has image 'one'")


def test_configs_in_one_file_must_agree_on_file_wide_settings(tmp_path: Path) -> None:
    text = MULTI.replace("  - image: one\n", "  - image: one\n  tagPolicy: {sha256: {}}\n", 1) \
        .replace("deploy:", "  tagPolicy: {inputDigest: {}}\ndeploy:")
    assert error(tmp_path, text) == (
        ":21: build.tagPolicy differs from the one at line 7: hoist keeps one per file, "
        "so the documents must agree")
    dup = MULTI.replace("- image: two\n", "- image: docker.io/library/one:v2\n")
    assert error(tmp_path, dup) == (
        ":18: build.artifacts[0]: image 'docker.io/library/one:v2' is already built by "
        "build.artifacts[0] (line 6); an image is one artifact")
