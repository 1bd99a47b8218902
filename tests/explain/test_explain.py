"""hoist.explain: effective policy and its source, secrets after ServiceAccount admission,
node action, notes, config injection."""

from __future__ import annotations

from pathlib import Path

from hoist.cli.main import main
from hoist.config import load_config
from hoist.explain import explain
from hoist.manifests import read_source

DIGEST = "sha256:" + "a" * 64


def pod(containers: str, extra: str = "", name: str = "p", ns: str = "") -> str:
    meta = f"  name: {name}\n" + (f"  namespace: {ns}\n" if ns else "")
    return f"apiVersion: v1\nkind: Pod\nmetadata:\n{meta}spec:\n{extra}  containers:\n{containers}"


def rows_for(text: str, config=None):  # type: ignore[no-untyped-def]
    return explain([read_source("t.yaml", text.encode())], config)


def test_sources_of_effective_policy() -> None:
    text = pod(
        "  - {name: a, image: nginx}\n"
        "  - {name: b, image: 'nginx:latest'}\n"
        "  - {name: c, image: 'nginx:1.25'}\n"
        f"  - {{name: d, image: 'nginx@{DIGEST}'}}\n"
        f"  - {{name: e, image: 'nginx:latest@{DIGEST}'}}\n"
        "  - {name: f, image: 'nginx:Latest'}\n"
        "  - {name: g, image: nginx, imagePullPolicy: Never}\n"
    )
    got = {r.container: (r.effective_policy, r.policy_source) for r in rows_for(text)}
    assert got == {
        "a": ("Always", "default:no-tag"),
        "b": ("Always", "default:latest-tag"),
        "c": ("IfNotPresent", "default:tagged"),
        "d": ("IfNotPresent", "default:digest"),
        "e": ("Always", "default:latest-tag"),
        "f": ("IfNotPresent", "default:tagged"),
        "g": ("Never", "manifest"),
    }


def test_node_action_words_and_notes() -> None:
    text = pod(
        "  - {name: stale, image: 'app:v1', imagePullPolicy: IfNotPresent}\n"
        "  - {name: latest, image: 'app:latest', imagePullPolicy: IfNotPresent}\n"
        f"  - {{name: pinned, image: 'app@{DIGEST}', imagePullPolicy: Always}}\n"
        "  - {name: never, image: 'app:v1', imagePullPolicy: Never}\n"
        "  - {name: bad, image: 'App:v1'}\n"
    )
    rows = {r.container: r for r in rows_for(text)}
    assert rows["stale"].node_action == "pulls only when absent"
    assert any("mutable tag 'v1' with IfNotPresent" in n for n in rows["stale"].notes)
    assert any("':latest' with IfNotPresent" in n for n in rows["latest"].notes)
    assert rows["pinned"].node_action == "pulls on every container start"
    assert any("digest-pinned with Always" in n for n in rows["pinned"].notes)
    assert rows["never"].node_action == "never pulls; fails with ErrImageNeverPull when absent"
    assert any("preloaded on every node" in n for n in rows["never"].notes)
    assert rows["bad"].policy_source == "default:invalid-image"
    assert any("InvalidImageName" in n for n in rows["bad"].notes)


def test_invalid_declared_policy_is_called_out() -> None:
    [row] = rows_for(pod("  - {name: a, image: 'x:1', imagePullPolicy: always}\n"))
    assert row.effective_policy is None
    assert row.declared_policy == "always"
    assert any("API server rejects this pod" in n for n in row.notes)


def test_pull_secrets_after_service_account_admission() -> None:
    sa = ("apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: {name}\n  namespace: {ns}\n"
          "imagePullSecrets:\n- name: {secret}\n---\n")
    text = (
        sa.format(name="default", ns="default", secret="from-default")
        + sa.format(name="builder", ns="team", secret="from-builder")
        + pod("  - {name: a, image: 'x:1'}\n", name="uses-default") + "---\n"
        + pod("  - {name: a, image: 'x:1'}\n", extra="  serviceAccountName: builder\n",
              name="uses-builder", ns="team") + "---\n"
        + pod("  - {name: a, image: 'x:1'}\n",
              extra="  serviceAccountName: builder\n  imagePullSecrets:\n  - name: own\n",
              name="own-wins", ns="team") + "---\n"
        + pod("  - {name: a, image: 'x:1'}\n", extra="  serviceAccountName: builder\n",
              name="other-namespace", ns="elsewhere")
    )
    got = {r.name: r.pull_secrets for r in rows_for(text)}
    assert got == {
        "uses-default": ["from-default"],
        "uses-builder": ["from-builder"],
        "own-wins": ["own"],  # replace, not merge
        "other-namespace": [],
    }


def test_every_container_kind_and_workload(tmp_path: Path) -> None:
    text = (
        "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: cj}\nspec:\n  jobTemplate:\n"
        "    spec:\n      template:\n        spec:\n"
        "          initContainers: [{name: i, image: 'a:1'}]\n"
        "          containers: [{name: c, image: 'b:1'}]\n"
        "          ephemeralContainers: [{name: e, image: 'c:1'}]\n"
        "          volumes: [{name: v, image: {reference: 'd:latest'}}]\n"
    )
    rows = rows_for(text)
    assert [(r.container, r.container_type, r.effective_policy) for r in rows] == [
        ("i", "init", "IfNotPresent"), ("c", "regular", "IfNotPresent"),
        ("e", "ephemeral", "IfNotPresent"), ("v", "image-volume", "Always"),
    ]
    assert [r.line for r in rows] == [9, 10, 11, 12]


SEED = Path(__file__).resolve().parents[2] / "examples" / "seed"


def test_seed_without_and_with_config() -> None:
    source = read_source(str(SEED / "k8s/deployment.yaml"),
                         (SEED / "k8s/deployment.yaml").read_bytes())
    [plain] = explain([source])
    assert (plain.container, plain.effective_policy, plain.policy_source) == (
        "my-service", "Always", "default:latest-tag")
    [configured] = explain([source], load_config(str(SEED / "skaffold.yaml")))
    assert (configured.effective_policy, configured.policy_source) == ("Always", "hoist-config")
    assert any("config injects Always" in n for n in configured.notes)


def test_config_policy_kept_where_declared_unless_override(tmp_path: Path) -> None:
    (tmp_path / "k8s").mkdir()
    (tmp_path / "k8s/app.yaml").write_text(pod(
        "  - {name: app, image: 'me/app:dev', imagePullPolicy: Always}\n"
        "  - {name: sidecar, image: 'envoy:1'}\n"))
    cfg = tmp_path / "skaffold.yaml"
    for override, expect in (("false", ("Always", "manifest")),
                             ("true", ("IfNotPresent", "hoist-config"))):
        cfg.write_text(
            "apiVersion: skaffold/v4beta11\nkind: Config\nbuild:\n  artifacts:\n"
            "  - image: me/app\n    imagePullPolicy: {value: IfNotPresent, override: "
            + override + "}\nmanifests:\n  rawYaml: [k8s/*.yaml]\n")
        config = load_config(str(cfg))
        sources = [read_source(p, Path(p).read_bytes()) for p in config.manifest_paths()]
        rows = {r.container: r for r in explain(sources, config)}
        assert (rows["app"].effective_policy, rows["app"].policy_source) == expect
        # third-party images are never touched by the config
        assert rows["sidecar"].policy_source == "default:tagged"


def test_cli_json_and_exit_codes(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    import json

    good = tmp_path / "good.yaml"
    good.write_text(pod("  - {name: a, image: nginx}\n"))
    bad = tmp_path / "chart.yaml"
    bad.write_text("kind: Pod\nspec:\n  containers:\n  - image: {{ .Values.image }}\n")
    assert main(["explain", "-o", "json", str(good)]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert list(row) == ["file", "line", "kind", "namespace", "name", "container",
                         "container_type", "image", "declared_policy", "effective_policy",
                         "policy_source", "pull_secrets", "node_action", "notes"]
    assert main(["explain", "-o", "json", str(good), str(bad)]) == 2
    captured = capsys.readouterr()
    assert len(json.loads(captured.out)) == 1  # the good file still explained
    assert "chart.yaml:4" in captured.err and "template" in captured.err


def test_corpus_container_counts_match_its_stats(corpus: Path) -> None:
    """Every container entry the corpus' own STATS.md counts, explain finds, by type; the
    two vitess `{{var}}` templates STATS.md could not parse are reported, not guessed at."""
    import re

    from hoist import api

    stats = (corpus / "STATS.md").read_text()
    m = re.search(r"Container entries: \*\*(\d+)\*\* \(containers (\d+), initContainers (\d+), "
                  r"ephemeralContainers (\d+)\)", stats)
    assert m is not None, "STATS.md no longer states the container counts"
    total, regular, init, ephemeral = map(int, m.groups())
    result = api.explain([str(corpus)])
    types = [r.container_type for r in result.rows if r.container_type != "image-volume"]
    assert (len(types), types.count("regular"), types.count("init"),
            types.count("ephemeral")) == (total, regular, init, ephemeral)
    assert sorted(Path(p.name).name for p in result.problems) == [
        "etcd-controller-template.yaml", "vtgate-controller-template.yaml"]
