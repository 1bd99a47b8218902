"""The benchmark harness itself: statistics, JSON/markdown output, kustomization grouping.

Needs neither checkov, hoist's lint/render nor the corpus; one test uses kubectl when present.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:  # `bench` lives at the repo root, outside src/
    sys.path.insert(0, str(REPO_ROOT))

import bench.render_kustomize as rk  # noqa: E402
from bench.runner import (  # noqa: E402
    BenchError,
    Outputs,
    Plan,
    Step,
    Variant,
    format_table,
    ratio,
    run_plan,
    summarize,
    write_result,
    write_summary,
)

TRUE = shutil.which("true") or "/bin/true"
SLEEP = shutil.which("sleep") or "/bin/sleep"
ECHO = shutil.which("echo") or "/bin/echo"


def _plan(check_seen: dict[str, list[Path]]) -> Plan:
    def check(outputs: Outputs) -> dict[str, object]:
        check_seen.update({k: list(v) for k, v in outputs.items()})
        return {"ok": True, "echo": outputs["fast"][1].read_text().strip()}

    return Plan(
        name="trivial",
        description="sleep vs true",
        peer=Variant("slow", "peer", (Step((SLEEP, "0.01")),)),
        hoists=[Variant("fast", "hoist", (Step((TRUE,)), Step((ECHO, "hello"))))],
        versions={"sleep": "coreutils"},
        info={"note": "test"},
        check=check,
    )


def test_run_plan_statistics_json_and_summary(tmp_path: Path) -> None:
    seen: dict[str, list[Path]] = {}
    doc = run_plan(_plan(seen), repeat=3, warmup=1, outdir=tmp_path / "out")

    slow, fast = doc["variants"]["slow"], doc["variants"]["fast"]
    assert len(slow["timings_s"]) == 3 and len(fast["timings_s"]) == 3
    assert len(slow["warmup_s"]) == 1 and len(fast["warmup_s"]) == 1
    assert slow["median_s"] == statistics.median(slow["timings_s"])
    assert slow["min_s"] <= slow["median_s"] <= slow["max_s"]
    assert min(slow["timings_s"]) >= 0.01  # sleep 0.01 cannot take less
    # a run of a multi-step variant is the sum of its steps
    for total, steps in zip(fast["timings_s"], fast["step_timings_s"], strict=True):
        assert len(steps) == 2
        assert total == pytest.approx(sum(steps))
    assert doc["ratios"]["slow/fast"] == pytest.approx(slow["median_s"] / fast["median_s"])
    assert doc["ratios"]["slow/fast"] > 1
    assert doc["machine"]["nproc"] >= 1
    assert doc["check"] == {"ok": True, "echo": "hello"}
    assert [p.name for p in seen["fast"]] == ["step-0000.out", "step-0001.out"]

    results = tmp_path / "results"
    path = write_result(doc, results)
    assert path == results / "trivial.json"
    loaded = json.loads(path.read_text())
    assert loaded["variants"]["slow"]["timings_s"] == slow["timings_s"]
    assert loaded["versions"] == {"sleep": "coreutils"}
    assert loaded["info"] == {"note": "test"}

    summary, table = write_summary(results)
    assert summary.read_text().count("| trivial | slow |") == 1
    assert "| fast |" in table and "| ok |" in table


def test_failing_step_is_reported(tmp_path: Path) -> None:
    false = shutil.which("false") or "/bin/false"
    plan = Plan("bad", "", Variant("p", "peer", (Step((false,)),)), [])
    with pytest.raises(BenchError, match="exited 1"):
        run_plan(plan, repeat=1, warmup=0, outdir=tmp_path)
    ok_plan = Plan("ok", "", Variant("p", "peer", (Step((false,), ok_codes=frozenset({1})),)), [])
    doc = run_plan(ok_plan, repeat=1, warmup=0, outdir=tmp_path)
    assert doc["variants"]["p"]["returncodes"] == [1]


def test_summarize_and_ratio() -> None:
    s = summarize([3.0, 1.0, 2.0, 10.0])
    assert s["median_s"] == 2.5 and s["min_s"] == 1.0 and s["max_s"] == 10.0
    assert summarize([4.0])["stdev_s"] == 0.0
    assert ratio(10.0, 2.0) == 5.0
    assert ratio(1.0, 0.0) is None
    with pytest.raises(ValueError):
        summarize([])


def test_format_table_rows_per_hoist_variant() -> None:
    doc = {
        "benchmark": "b", "peer": "k",
        "variants": {
            "k": {"role": "peer", "median_s": 4.0, "timings_s": [4.0]},
            "h1": {"role": "hoist", "median_s": 2.0, "timings_s": [2.0]},
            "h2": {"role": "hoist", "median_s": 0.5, "timings_s": [0.5]},
        },
        "check": {"ok": False},
    }
    rows = format_table([doc]).splitlines()[2:]
    assert rows == [
        "| b | k | 4.000 | h1 | 2.000 | 2.00 | 1 | MISMATCH |",
        "| b | k | 4.000 | h2 | 0.500 | 8.00 | 1 | MISMATCH |",
    ]


# --------------------------------------------------------------------------- grouping

WEB = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      containers:
      - name: app
        image: nginx:1.25
---
apiVersion: v1
kind: Service
metadata:
  name: web
"""
WEB_AGAIN = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
spec:
  template:
    spec:
      initContainers:
      - name: init
        image: busybox
      containers:
      - name: app
        image: docker.io/library/nginx
"""
CONFIG = """\
{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web"}, "data": {"a": "b"}}
"""
SYNTHETIC = [("a.yaml", WEB), ("b.yaml", WEB_AGAIN), ("c.json", CONFIG)]


def test_group_manifests_separates_duplicate_ids() -> None:
    grouping = rk.group_manifests(SYNTHETIC)
    # b.yaml's Deployment web (namespace default == no namespace) clashes with a.yaml's;
    # the ConfigMap clashes with nothing and joins the first group.
    assert grouping.groups == [["a.yaml", "c.json"], ["b.yaml"]]
    assert grouping.rejected == {}


def test_group_manifests_rejects_what_kustomize_refuses() -> None:
    grouping = rk.group_manifests([
        ("dup.yaml", WEB + "---\n" + WEB),
        ("noname.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n"),
        ("twice.yaml", "kind: ConfigMap\nmetadata:\n  name: x\n  name: y\n"),
        ("broken.yaml", "kind: [\n"),
        ("list.yaml", "kind: ConfigMapList\nitems:\n- kind: ConfigMap\n  metadata: {name: z}\n"),
    ])
    assert grouping.groups == [["list.yaml"]]
    assert set(grouping.rejected) == {"dup.yaml", "noname.yaml", "twice.yaml", "broken.yaml"}
    assert "twice" in grouping.rejected["dup.yaml"]
    assert "metadata.name" in grouping.rejected["noname.yaml"]
    assert "'name' appears twice" in grouping.rejected["twice.yaml"]


def test_kustomization_text_and_new_image() -> None:
    img = rk.new_image("registry.k8s.io/ingress-nginx/controller")
    assert img.new_name == "registry.example/ingress-nginx/controller"
    assert img.reference.startswith("registry.example/ingress-nginx/controller:bench@sha256:")
    assert len(img.digest) == len("sha256:") + 64
    assert rk.new_image("nginx").new_name == "registry.example/nginx"
    assert img.hoist_arg() == f"registry.k8s.io/ingress-nginx/controller={img.reference}"
    k = yaml.safe_load(rk.kustomization_text(["a.yaml"], [img]))
    assert k["resources"] == ["a.yaml"]
    assert k["images"] == [{
        "name": img.name, "newName": img.new_name, "newTag": "bench", "digest": img.digest,
    }]


def test_repository_names() -> None:
    assert rk.repository_of("nginx") == "nginx"
    assert rk.repository_of("reg:5000/a/b:1.0@sha256:00") == "reg:5000/a/b"
    assert rk.normalize_repository("nginx") == "docker.io/library/nginx"
    assert rk.normalize_repository("docker.io/redis") == "docker.io/library/redis"
    assert rk.normalize_repository("quay.io/x/y") == "quay.io/x/y"
    problems = rk.uniformity_problems(
        ["nginx", "busybox"], ["nginx:1", "docker.io/library/nginx:2", "busybox"]
    )
    assert problems == {"nginx": ["docker.io/library/nginx"]}


def test_compare_outputs_finds_mismatches() -> None:
    originals = [rk.container_images(rk.load_documents(WEB))[0]]
    kustomized = WEB.replace("nginx:1.25", "registry.example/nginx:bench@sha256:" + "a" * 64)
    good = rk.compare_outputs(rk.Expectations(originals, ("nginx",)), [kustomized], [kustomized],
                              kustomized)
    assert good["ok"] and good["kustomize_rewrites"] == 1
    wrong = kustomized.replace(":bench@", "@")
    bad = rk.compare_outputs(rk.Expectations(originals, ("nginx",)), [kustomized], [wrong], WEB)
    assert not bad["ok"]
    assert bad["per_group"]["mismatches"][0]["container"] == "app"
    assert bad["per_group"]["mismatches"][0]["hoist"] == wrong.split("image: ")[1].split()[0]
    assert bad["all_at_once"]["mismatch_count"] == 1


@pytest.mark.system
def test_groups_build_with_kustomize(tmp_path: Path) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip(reason="kubectl not installed")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, text in SYNTHETIC:
        (corpus / name).write_text(text)
    images = [rk.new_image("nginx"), rk.new_image("busybox")]
    layout = rk.settle_layout(corpus, [n for n, _ in SYNTHETIC], kubectl, tmp_path / "w", images)
    assert layout.dropped == {}
    assert [len(f) for f in layout.group_files] == [2, 1]
    out = subprocess.run([kubectl, "kustomize", str(layout.group_dirs[1])], capture_output=True,
                         text=True, check=True).stdout
    got, _ = rk.container_images(rk.load_documents(out))
    # kustomize matches names literally: docker.io/library/nginx is left alone
    assert got[("Deployment", "default", "web", "app")] == "docker.io/library/nginx"
    assert got[("Deployment", "default", "web", "init")] == images[1].reference


def test_untimed_steps_run_in_order_but_are_not_timed(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    seen: dict[str, list[Path]] = {}

    def check(outputs: Outputs) -> dict[str, object]:
        seen.update({k: list(v) for k, v in outputs.items()})
        return {"ok": True}

    touch = shutil.which("touch") or "/usr/bin/touch"
    test = shutil.which("test") or "/usr/bin/test"
    plan = Plan(
        name="untimed",
        description="",
        # the untimed sleep is far longer than the timed step: it must not count
        peer=Variant("p", "peer", (
            Step((SLEEP, "0.2"), timed=False),
            Step((TRUE,)),
        )),
        hoists=[Variant("h", "hoist", (
            Step((touch, str(marker)), timed=False),
            Step((test, "-e", str(marker))),  # fails unless the untimed step ran first
            Step((ECHO, "after"), timed=False),
        ))],
        check=check,
    )
    doc = run_plan(plan, repeat=2, warmup=0, outdir=tmp_path / "out")
    p, h = doc["variants"]["p"], doc["variants"]["h"]
    assert max(p["timings_s"]) < 0.2
    assert p["commands_per_run"] == 1 and p["first_command"] == [TRUE]
    assert [len(s) for s in p["step_timings_s"]] == [1, 1]
    assert all(u[0] >= 0.2 for u in p["untimed_step_timings_s"])
    assert p["untimed_commands"] == [[SLEEP, "0.2"]]
    assert h["first_command"] == [test, "-e", str(marker)]
    for total, steps in zip(h["timings_s"], h["step_timings_s"], strict=True):
        assert total == pytest.approx(sum(steps)) and len(steps) == 1
    assert [len(u) for u in h["untimed_step_timings_s"]] == [2, 2]
    # outputs keep one file per step, untimed ones included
    assert len(seen["h"]) == 3 and seen["h"][2].read_text().strip() == "after"
    # a plan without untimed steps has no untimed fields
    plain = run_plan(Plan("plain", "", Variant("p", "peer", (Step((TRUE,)),)), []),
                     repeat=1, warmup=0, outdir=tmp_path / "plain")
    assert "untimed_commands" not in plain["variants"]["p"]


def test_cli_calls_cleanup_even_when_the_plan_fails(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import bench.cli as cli

    stopped: list[str] = []
    false = shutil.which("false") or "/bin/false"

    def failing(ctx: object) -> Plan:
        return Plan("failing", "", Variant("p", "peer", (Step((false,)),)), [],
                    cleanup=lambda: stopped.append("failing"))

    def passing(ctx: object) -> Plan:
        return Plan("passing", "", Variant("p", "peer", (Step((TRUE,)),)), [],
                    cleanup=lambda: stopped.append("passing"))

    monkeypatch.setattr(cli, "BENCHMARKS", {"failing": failing, "passing": passing})
    code = cli.main(["--repeat", "1", "--warmup", "0", "--results", str(tmp_path / "r"),
                     "--workdir", str(tmp_path / "w")])
    assert code == 1
    assert stopped == ["failing", "passing"]
    assert json.loads((tmp_path / "r" / "passing.json").read_text())["benchmark"] == "passing"
