"""``hoist render``: the command line contract (exit codes, --check, -o DIR, stdin)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from hoist.cli.main import main

HOIST = Path(sys.executable).with_name("hoist")
NEW = "registry.local:5000/app:v2@sha256:" + "d" * 64


def pod(image: str, extra: str = "", name: str = "p") -> str:
    return (f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}  # keep me\nspec:\n"
            f"  containers:\n  - name: c\n    image: {image}\n{extra}")


@pytest.fixture(autouse=True)
def _no_config_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # No hoist.yaml/skaffold.yaml of the repository may leak into these runs.
    monkeypatch.chdir(tmp_path)


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def make_inputs(root: Path) -> Path:
    src = root / "in"
    (src / "sub").mkdir(parents=True)
    (src / "a.yaml").write_text(pod("app:v1") + "---\n" + pod("nginx", name="q"))
    (src / "sub" / "b.yml").write_bytes(
        b"\xef\xbb\xbf" + pod("'app'", "    imagePullPolicy: Always\n").replace(
            "\n", "\r\n").encode())
    (src / "sub" / "c.json").write_text(
        '{"kind": "Pod", "spec": {"containers": [{"name": "x", "image": "app@sha256:'
        + "e" * 64 + '"}]}}')
    return src


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([str(HOIST), *args], input=stdin, capture_output=True, timeout=60,
                          check=False)


# ---- the identity and the rewrite -------------------------------------------------------------

def test_without_images_is_the_identity_byte_for_byte(tmp_path: Path) -> None:
    src = make_inputs(tmp_path)
    before = tree(src)
    assert main(["render", str(src), "-o", str(tmp_path / "out")]) == 0
    assert tree(tmp_path / "out") == before
    for rel, data in before.items():
        p = run("render", str(src / rel))
        assert p.returncode == 0, p.stderr
        assert p.stdout == data


def test_rewrite_to_stdout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "a.yaml"
    f.write_text(pod("app:v1") + "---\n" + pod("nginx", name="q"))
    assert main(["render", str(f), "--images", f"app={NEW}", "--pull-policy", "Never"]) == 0
    cap = capsys.readouterr()
    assert cap.err == ""
    assert cap.out == pod(NEW, "    imagePullPolicy: Never\n") + "---\n" + pod("nginx", name="q")


def test_several_files_to_stdout_are_separate_documents(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.yaml").write_text(pod("app:v1"))
    (tmp_path / "b.yaml").write_text(pod("web:v1").rstrip("\n"))  # no final newline
    (tmp_path / "c.yaml").write_text(pod("db:v1"))
    assert main(["render", str(tmp_path), "--images", "app=app:v2"]) == 0
    assert capsys.readouterr().out == (
        pod("app:v2") + "---\n" + pod("web:v1") + "---\n" + pod("db:v1"))


def test_override_policy(tmp_path: Path) -> None:
    f = tmp_path / "a.yaml"
    f.write_text(pod("app:v1", "    imagePullPolicy: Always\n")
                 + "---\n" + pod("app:v1", name="q"))
    p = run("render", str(f), "--images", "app=app:v2", "--pull-policy", "IfNotPresent")
    assert p.stdout.decode() == (pod("app:v2", "    imagePullPolicy: Always\n") + "---\n"
                                 + pod("app:v2", "    imagePullPolicy: IfNotPresent\n",
                                       name="q"))
    p = run("render", str(f), "--images", "app=app:v2", "--pull-policy", "IfNotPresent",
            "--override-policy")
    assert p.stdout.decode() == (pod("app:v2", "    imagePullPolicy: IfNotPresent\n")
                                 + "---\n"
                                 + pod("app:v2", "    imagePullPolicy: IfNotPresent\n",
                                       name="q"))


def test_stdin(tmp_path: Path) -> None:
    data = pod("docker.io/library/app:v1").replace("\n", "\r\n").encode()
    p = run("render", "-", "--images", "app=app:v2", "--pull-policy", "Always", stdin=data)
    assert p.returncode == 0, p.stderr
    assert p.stdout == pod("app:v2", "    imagePullPolicy: Always\n").replace(
        "\n", "\r\n").encode()
    p = run("render", "-", stdin=data)
    assert p.returncode == 0 and p.stdout == data


def test_images_given_by_repository_with_tag_and_digest_in_the_key(tmp_path: Path) -> None:
    f = tmp_path / "a.yaml"
    f.write_text(pod("nginx:1.25"))
    p = run("render", str(f), "--images", f"docker.io/library/nginx:0@sha256:{'f' * 64}=n:v2")
    assert p.returncode == 0, p.stderr
    assert p.stdout.decode() == pod("n:v2")


# ---- --check -------------------------------------------------------------------------------

def test_check_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "a.yaml"
    f.write_text(pod("app:v1"))
    before = f.read_bytes()

    assert main(["render", str(f), "--check"]) == 0
    assert main(["render", str(f), "--check", "--images", "other=other:v2"]) == 0
    assert main(["render", str(f), "--check", "--images", "app=app:v1"]) == 0
    assert capsys.readouterr().out == ""

    assert main(["render", str(f), "--check", "--images", "app=app:v2"]) == 1
    diff = capsys.readouterr().out
    assert "-    image: app:v1\n" in diff and "+    image: app:v2\n" in diff
    assert main(["render", str(f), "--check", "--images", "app=app:v1",
                 "--pull-policy", "Never"]) == 1
    assert "+    imagePullPolicy: Never\n" in capsys.readouterr().out
    assert f.read_bytes() == before  # --check writes nothing


def test_check_on_rendered_output_is_clean(tmp_path: Path) -> None:
    f = tmp_path / "a.yaml"
    f.write_text(pod("app:v1"))
    args = ["--images", "app=app:v2", "--pull-policy", "Never"]
    assert main(["render", str(f), *args, "-o", str(tmp_path / "out")]) == 0
    assert main(["render", str(tmp_path / "out" / "a.yaml"), *args, "--check"]) == 0


def test_check_with_an_unreadable_input_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.yaml").write_text(pod("app:v1"))
    (tmp_path / "t.yaml").write_text("{{- if .Values.x }}\n" + pod("app:v1"))
    assert main(["render", str(tmp_path), "--check", "--images", "app=app:v2"]) == 2
    assert f"{tmp_path / 't.yaml'}:1:" in capsys.readouterr().err


# ---- -o DIR -----------------------------------------------------------------------------------

def test_output_dir_keeps_relative_paths(tmp_path: Path) -> None:
    src = make_inputs(tmp_path)
    out = tmp_path / "out"
    assert main(["render", str(src), "-o", str(out), "--images", f"app={NEW}"]) == 0
    got = tree(out)
    assert sorted(got) == ["a.yaml", "sub/b.yml", "sub/c.json"]
    assert got["a.yaml"].decode() == pod(NEW) + "---\n" + pod("nginx", name="q")
    assert got["sub/b.yml"] == b"\xef\xbb\xbf" + pod(
        f"'{NEW}'", "    imagePullPolicy: Always\n").replace("\n", "\r\n").encode()
    assert got["sub/c.json"].decode() == (
        '{"kind": "Pod", "spec": {"containers": [{"name": "x", "image": "' + NEW + '"}]}}')


def test_output_dir_for_file_arguments_and_stdin(tmp_path: Path) -> None:
    f = tmp_path / "deep" / "er" / "one.yaml"
    f.parent.mkdir(parents=True)
    f.write_text(pod("app:v1"))
    out = tmp_path / "out"
    p = run("render", str(f), "-", "-o", str(out), "--images", "app=app:v2",
            stdin=pod("app").encode())
    assert p.returncode == 0, p.stderr
    assert p.stdout == b""
    assert tree(out) == {"one.yaml": pod("app:v2").encode(),
                         "stdin.yaml": pod("app:v2").encode()}


def test_output_dir_replaces_files_atomically(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.yaml").write_text(pod("app:v1"))
    out = tmp_path / "out"
    out.mkdir()
    old = pod("old-content:1") * 50
    (out / "a.yaml").write_text(old)
    with open(out / "a.yaml") as reader:  # a reader that opened the old file
        assert main(["render", str(src), "-o", str(out), "--images", "app=app:v2"]) == 0
        # The old file was replaced by a rename, not rewritten in place: the open reader
        # still reads all of it, and nothing else is left in the directory.
        assert reader.read() == old
    assert tree(out) == {"a.yaml": pod("app:v2").encode()}


def test_output_dir_with_a_bad_file_writes_the_others_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.yaml").write_text(pod("app:v1"))
    (src / "b.yaml").write_text(pod("app:v1") + "  - name: x\n    image: {{ .Values.img }}\n")
    out = tmp_path / "out"
    assert main(["render", str(src), "-o", str(out), "--images", "app=app:v2"]) == 2
    err = capsys.readouterr().err
    assert f"{src / 'b.yaml'}:10:" in err and "template" in err
    assert tree(out) == {"a.yaml": pod("app:v2").encode()}


# ---- bad usage ---------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [
    "app", "=app:v2", "app=", "app=Not A Ref", "app=Upper:v1", "app=x:tag:tag",
])
def test_bad_images_value_is_a_one_line_error_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    (tmp_path / "a.yaml").write_text(pod("app:v1"))
    assert main(["render", str(tmp_path / "a.yaml"), "--images", value]) == 2
    cap = capsys.readouterr()
    assert cap.out == ""
    lines = cap.err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("hoist: ") and value in lines[0]


def test_bad_images_value_via_the_executable(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(pod("app:v1"))
    p = run("render", str(tmp_path / "a.yaml"), "--images", "app=Bad Ref")
    assert p.returncode == 2
    assert p.stdout == b""
    assert len(p.stderr.decode().splitlines()) == 1 and "app=Bad Ref" in p.stderr.decode()


def test_missing_path_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", str(tmp_path / "nope.yaml")]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "nope.yaml" in err


HELM_TEMPLATE = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "app.fullname" . }}
spec:
  template:
    spec:
      containers:
      - name: app
        image: "app:{{ .Values.tag }}"
        {{- with .Values.resources }}
        resources: {{- toYaml . | nindent 10 }}
        {{- end }}
"""


def test_helm_template_among_good_files_is_reported_and_the_rest_rendered(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.yaml").write_text(pod("app:v1"))
    (tmp_path / "b.yaml").write_text(HELM_TEMPLATE)
    (tmp_path / "c.yaml").write_text(pod("app:v3"))
    assert main(["render", str(tmp_path), "--images", "app=app:v2"]) == 2
    cap = capsys.readouterr()
    assert cap.out == pod("app:v2") + "---\n" + pod("app:v2")
    err = cap.err.splitlines()
    assert len(err) == 1
    # The line the parser stopped at, near the first `{{-` that breaks the YAML.
    assert re.match(rf"hoist: {re.escape(str(tmp_path / 'b.yaml'))}:1[123]: ", err[0])
    assert "template" in err[0]
