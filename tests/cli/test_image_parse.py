"""`hoist image parse`: the JSON fields DESIGN §3 promises, and the exit code."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from hoist.cli.main import main

FIELDS = ["input", "valid", "error", "reference", "name", "domain", "path", "tag", "digest",
          "familiar", "default_pull_policy"]
DIGEST = "sha256:" + "0123456789abcdef" * 4


def parse_json(capsys: pytest.CaptureFixture[str], *refs: str) -> tuple[int, list[dict]]:  # type: ignore[type-arg]
    code = main(["image", "parse", "-o", "json", *refs])
    return code, json.loads(capsys.readouterr().out)


def test_fields_for_valid_references(capsys: pytest.CaptureFixture[str]) -> None:
    code, rows = parse_json(capsys, "nginx", f"localhost:5000/team/app:v1@{DIGEST}",
                            f"nginx:latest@{DIGEST}")
    assert code == 0
    assert all(list(r) == FIELDS for r in rows)
    assert rows[0] == {
        "input": "nginx", "valid": True, "error": "", "reference": "docker.io/library/nginx",
        "name": "docker.io/library/nginx", "domain": "docker.io", "path": "library/nginx",
        "tag": "", "digest": "", "familiar": "nginx", "default_pull_policy": "Always",
    }
    assert rows[1]["domain"] == "localhost:5000"
    assert rows[1]["path"] == "team/app"
    assert (rows[1]["tag"], rows[1]["digest"]) == ("v1", DIGEST)
    assert rows[1]["default_pull_policy"] == "IfNotPresent"
    assert rows[2]["default_pull_policy"] == "Always"  # the API server looks at the tag


def test_invalid_reference_exit_1_with_upstream_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, rows = parse_json(capsys, "nginx", "Uppercase:1", "a" * 64, "x@sha256:abc")
    assert code == 1
    assert [r["valid"] for r in rows] == [True, False, False, False]
    assert rows[1]["error"] == ("invalid reference format: repository name (library/Uppercase) "
                                "must be lowercase")
    assert "cannot specify 64-byte hexadecimal strings" in rows[2]["error"]
    assert rows[3]["error"] == "invalid reference format"
    assert rows[1]["reference"] == "" and rows[1]["default_pull_policy"] == "IfNotPresent"


def test_console_script_runs() -> None:
    out = subprocess.run([sys.executable, "-m", "hoist", "image", "parse", "busybox:1.36"],
                         capture_output=True, text=True, check=True).stdout
    assert "docker.io/library/busybox:1.36" in out
    assert out.splitlines()[0].startswith("INPUT")


def test_no_arguments_is_usage_error() -> None:
    with pytest.raises(SystemExit) as e:
        main(["image", "parse"])
    assert e.value.code == 2
