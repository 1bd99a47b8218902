"""hoist.config: both shapes load into one model; bad input names file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from hoist.config import find_config, load_config
from hoist.core import PullPolicy
from hoist.errors import InputError

SEED = Path(__file__).resolve().parents[2] / "examples" / "seed" / "skaffold.yaml"


def test_seed_form_loads() -> None:
    cfg = load_config(str(SEED))
    [art] = cfg.artifacts
    assert (art.name, art.image, art.pull_policy, art.override_policy) == (
        "my-service", "my-registry/my-service", PullPolicy.ALWAYS, False)
    assert cfg.manifests == ("k8s/deployment.yaml",)
    assert cfg.manifest_paths() == [str(SEED.parent / "k8s/deployment.yaml")]


def write(tmp_path: Path, text: str) -> str:
    p = tmp_path / "skaffold.yaml"
    p.write_text(text)
    return str(p)


def test_skaffold_list_form_and_defaults(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, (
        "apiVersion: skaffold/v2beta29\nkind: Config\nbuild:\n  artifacts:\n"
        "  - image: gcr.io/x/app\n    context: app\n  - image: gcr.io/x/web\n"
        "deploy:\n  kubectl: {}\n")))
    assert [a.image for a in cfg.artifacts] == ["gcr.io/x/app", "gcr.io/x/web"]
    assert cfg.artifacts[0].context == "app"
    assert all(a.pull_policy is None for a in cfg.artifacts)
    assert cfg.manifests == ("k8s/*.yaml",)  # Skaffold v2's default


@pytest.mark.parametrize(("body", "message"), [
    ("bogus: 1\n", "skaffold.yaml:3: unknown key 'bogus' in the config"),
    ("build:\n  artifacts:\n  - image: a\n    imagePulPolicy: {value: Always}\n",
     "skaffold.yaml:6: unknown key 'imagePulPolicy' in build.artifacts[0]"),
    ("build:\n  artifacts:\n  - image: a\n    imagePullPolicy: {value: always}\n",
     'skaffold.yaml:6: build.artifacts[0].imagePullPolicy.value: Unsupported value: "always"'),
    ("build:\n  artifacts:\n    svc:\n      docker: {}\n",
     "skaffold.yaml:6: build.artifacts.svc has no image (docker.image in this form)"),
    ("build:\n  artifacts:\n  - image: a\n    imagePullPolicy: {value: Never, override: 3}\n",
     "skaffold.yaml:6: build.artifacts[0].imagePullPolicy.override must be true or false"),
])
def test_bad_config_names_file_line_and_key(tmp_path: Path, body: str, message: str) -> None:
    path = write(tmp_path, "apiVersion: skaffold/v4beta11\nkind: Config\n" + body)
    with pytest.raises(InputError) as e:
        load_config(path)
    assert str(e.value).startswith(str(tmp_path / message.split(":")[0]) + message[
        len(message.split(":")[0]):])


def test_find_config_prefers_hoist_yaml(tmp_path: Path) -> None:
    assert find_config(directory=str(tmp_path)) is None
    (tmp_path / "skaffold.yaml").write_text("kind: Config\n")
    assert find_config(directory=str(tmp_path)) == str(tmp_path / "skaffold.yaml")
    (tmp_path / "hoist.yaml").write_text("kind: Config\n")
    assert find_config(directory=str(tmp_path)) == str(tmp_path / "hoist.yaml")
    assert find_config("x.yaml", str(tmp_path)) == "x.yaml"


def test_model_is_frozen_and_hashable(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, (
        "apiVersion: skaffold/v4beta14\nkind: Config\nbuild:\n  tagPolicy: {sha256: {}}\n"
        "  artifacts:\n  - image: a\n    docker: {buildArgs: {X: '1'}}\n    sync: {infer: [x]}\n"
        "profiles:\n- name: p\n  build: {local: {push: true}}\n")))
    assert hash(cfg) == hash(load_config(cfg.path))
    assert cfg == load_config(cfg.path)
    with pytest.raises(AttributeError):
        cfg.artifacts[0].image = "b"  # type: ignore[misc]
    with pytest.raises(TypeError):
        cfg.artifacts[0].docker.build_args["X"] = "2"  # type: ignore[index,union-attr]


def test_a_config_with_builders_hoist_lacks_still_explains(tmp_path: Path) -> None:
    from hoist.explain import explain
    from hoist.manifests.source import read_source

    (tmp_path / "k8s").mkdir()
    (tmp_path / "k8s" / "pod.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n"
        "  - {name: app, image: java/app}\n")
    cfg = load_config(write(tmp_path, (
        "apiVersion: skaffold/v2beta29\nkind: Config\nbuild:\n  artifacts:\n"
        "  - image: java/app\n    jib: {}\n    imagePullPolicy: Never\n"
        "deploy:\n  kubectl:\n    manifests: [k8s/pod.yaml]\n")))
    sources = [read_source(p, Path(p).read_bytes()) for p in cfg.manifest_paths()]
    [row] = explain(sources, cfg)
    assert (row.effective_policy, row.policy_source) == ("Never", "hoist-config")
    with pytest.raises(InputError, match=r"skaffold.yaml:6: not supported yet: "
                                         r"build.artifacts\[0\]\.jib$"):
        cfg.require_supported("build", cfg.artifacts[0])
