"""Reading manifest inputs: files, directories, stdin; encodings; limits; bad input."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

from hoist.errors import InputError
from hoist.manifests import SourceFile, read_source, read_sources
from hoist.manifests.source import MAX_FILE_BYTES

POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  containers:
  - name: c
    image: {image}
"""


def pod(name: str = "p", image: str = "nginx") -> str:
    return POD.format(name=name, image=image)


def mapping_value(root: yaml.Node, key: str) -> yaml.Node:
    assert isinstance(root, yaml.MappingNode)
    for k, v in root.value:
        if k.value == key:
            return v
    raise KeyError(key)


def kinds(src: SourceFile) -> list[str]:
    """The kinds of the documents that are mappings (an empty document may be kept as a
    null node; it is no resource)."""
    return [mapping_value(d.root, "kind").value for d in src.documents
            if isinstance(d.root, yaml.MappingNode)]


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        content = content.encode()
    path.write_bytes(content)
    return path


def line_of(text: str, needle: str) -> int:
    """1-based line of the first occurrence of needle."""
    return text[: text.index(needle)].count("\n") + 1


# ---- what is read ----------------------------------------------------------------------------

def test_multi_document_yaml_keeps_every_document_with_file_positions() -> None:
    text = (
        "# leading comment\n"
        + pod("a", "nginx:1")
        + "---\n"
        + "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n"
        + "---\n"
        + "# only a comment\n"
        + "---\n"
        + pod("b", "busybox:2")
    )
    src = read_source("m.yaml", text.encode())
    assert kinds(src) == ["Pod", "ConfigMap", "Pod"]
    # Document indexes count the pieces of the stream, empty ones included.
    mappings = [d for d in src.documents if isinstance(d.root, yaml.MappingNode)]
    assert [d.index for d in mappings] == [0, 1, 3]
    last = src.documents[-1]
    spec = mapping_value(last.root, "spec")
    image = mapping_value(mapping_value(spec, "containers").value[0], "image")
    assert last.line(image) == line_of(text, "busybox:2")
    start, end = last.span(image)
    assert text[start:end] == "busybox:2"


def test_json_file_single_and_pretty() -> None:
    obj = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "j"},
           "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
    for text in (json.dumps(obj), json.dumps(obj, indent=2)):
        src = read_source("p.json", text.encode())
        assert kinds(src) == ["Pod"]
        assert src.encode() == text.encode()


def test_directory_recursion_sorted_hidden_skipped_only_manifest_suffixes(
    tmp_path: Path,
) -> None:
    write(tmp_path / "b.yaml", pod("b"))
    write(tmp_path / "a.yml", pod("a"))
    write(tmp_path / "c.json", json.dumps({"kind": "ConfigMap", "metadata": {"name": "c"}}))
    write(tmp_path / "b-dir" / "x.yaml", pod("x"))
    write(tmp_path / "sub" / "z.yaml", pod("z"))
    write(tmp_path / "sub" / "deeper" / "y.yaml", pod("y"))
    write(tmp_path / ".hidden.yaml", pod("hidden-file"))
    write(tmp_path / ".git" / "x.yaml", pod("hidden-dir"))
    write(tmp_path / "README.md", "# not a manifest\n")
    write(tmp_path / "notes.txt", "kind: Pod\n")
    write(tmp_path / "chart.yaml.tpl", "{{ .Values }}\n")

    files, problems = read_sources([str(tmp_path)])
    assert problems == []
    rel = [f.relpath for f in files]
    # By name at every level, as `kubectl apply -R` walks: a directory where it sorts.
    assert rel == ["a.yml", "b-dir/x.yaml", "b.yaml", "c.json", "sub/deeper/y.yaml",
                   "sub/z.yaml"]
    assert [f.name for f in files] == [str(tmp_path / r) for r in rel]


def test_file_argument_relpath_is_its_name(tmp_path: Path) -> None:
    f = write(tmp_path / "dir" / "one.yaml", pod())
    files, problems = read_sources([str(f)])
    assert problems == []
    assert files[0].relpath == "one.yaml"
    assert files[0].name == str(f)


def test_stdin() -> None:
    text = pod("from-stdin") + "---\n" + pod("two")
    files, problems = read_sources(["-"], stdin=text.encode())
    assert problems == []
    assert [f.name for f in files] == ["-"]
    assert kinds(files[0]) == ["Pod", "Pod"]
    assert files[0].encode() == text.encode()


def test_stdin_mixed_with_files(tmp_path: Path) -> None:
    f = write(tmp_path / "f.yaml", pod("f"))
    files, problems = read_sources([str(f), "-"], stdin=pod("s").encode())
    assert problems == []
    assert [x.name for x in files] == [str(f), "-"]


def test_byte_order_mark_is_kept_for_writing_but_not_in_text() -> None:
    data = b"\xef\xbb\xbf" + pod("bom").encode()
    src = read_source("bom.yaml", data)
    assert not src.text.startswith("\ufeff")
    assert src.encode() == data
    assert kinds(src) == ["Pod"]
    spec = mapping_value(src.documents[0].root, "spec")
    image = mapping_value(mapping_value(spec, "containers").value[0], "image")
    assert src.documents[0].line(image) == 8
    start, end = src.documents[0].span(image)
    assert src.text[start:end] == "nginx"


def test_crlf_line_endings() -> None:
    text = (pod("a", "one") + "---\n" + pod("b", "two")).replace("\n", "\r\n")
    src = read_source("crlf.yaml", text.encode())
    assert src.encode() == text.encode()
    assert kinds(src) == ["Pod", "Pod"]
    doc = src.documents[1]
    spec = mapping_value(doc.root, "spec")
    image = mapping_value(mapping_value(spec, "containers").value[0], "image")
    assert doc.line(image) == 17
    start, end = doc.span(image)
    assert src.text[start:end] == "two"


def test_yaml_directive_before_document_marker() -> None:
    text = "%YAML 1.1\n---\n" + pod("a", "one") + "---\n" + pod("b", "two")
    src = read_source("d.yaml", text.encode())
    # The directive belongs to the first document; it is not a document of its own.
    assert kinds(src) == ["Pod", "Pod"]
    assert src.documents[0].char_offset == 0
    doc = src.documents[1]
    spec = mapping_value(doc.root, "spec")
    image = mapping_value(mapping_value(spec, "containers").value[0], "image")
    assert doc.line(image) == line_of(text, "two")


def test_document_end_markers() -> None:
    text = pod("a") + "...\n---\n" + pod("b")
    assert kinds(read_source("e.yaml", text.encode())) == ["Pod", "Pod"]


def test_empty_and_comment_only_files_have_no_documents(tmp_path: Path) -> None:
    write(tmp_path / "empty.yaml", b"")
    write(tmp_path / "comment.yaml", "# nothing here\n")
    files, problems = read_sources([str(tmp_path)])
    assert problems == []
    assert [f.documents for f in files] == [[], []]


# ---- bad input: one problem per file, the rest still read -----------------------------------

def test_helm_template_among_good_files(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", pod("a"))
    helm = (
        "{{- if .Values.enabled }}\n"
        "apiVersion: v1\n"
        "kind: Pod\n"
        "{{- end }}\n"
    )
    write(tmp_path / "b-template.yaml", helm)
    write(tmp_path / "c.yaml", pod("c"))
    files, problems = read_sources([str(tmp_path)])
    assert [f.relpath for f in files] == ["a.yaml", "c.yaml"]
    assert len(problems) == 1
    p = problems[0]
    assert p.name == str(tmp_path / "b-template.yaml")
    assert p.line == 1
    assert "template" in p.message
    assert str(p).startswith(f"{tmp_path / 'b-template.yaml'}:1: ")


def test_helm_placeholder_that_is_valid_yaml_syntax_is_still_refused(tmp_path: Path) -> None:
    # `{{ .Values.image }}` parses as a flow mapping used as a key: YAML, but not a
    # manifest (kubectl refuses non-string keys). It must not pass as a container with no
    # image.
    text = pod("t", "{{ .Values.image }}")
    write(tmp_path / "t.yaml", text)
    write(tmp_path / "u.yaml", pod("u"))
    files, problems = read_sources([str(tmp_path)])
    assert [f.relpath for f in files] == ["u.yaml"]
    assert len(problems) == 1
    assert problems[0].line == line_of(text, "{{")
    assert "template" in problems[0].message


def test_read_source_raises_input_error_naming_file_and_line() -> None:
    with pytest.raises(InputError, match=r"^x\.yaml:3: not valid YAML"):
        read_source("x.yaml", b"a: 1\nb: 2\nc: d: e\n")


def test_non_utf8_file(tmp_path: Path) -> None:
    write(tmp_path / "latin1.yaml", "a: 1\nb: caf\xe9\n".encode("latin-1"))
    write(tmp_path / "ok.yaml", pod())
    files, problems = read_sources([str(tmp_path)])
    assert [f.relpath for f in files] == ["ok.yaml"]
    assert len(problems) == 1
    assert problems[0].line == 2
    assert "UTF-8" in problems[0].message


def billion_laughs(levels: int = 9) -> bytes:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return ("\n".join(lines) + "\n").encode()


def test_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    write(tmp_path / "bomb.yaml", billion_laughs())
    write(tmp_path / "good.yaml", pod())
    t0 = time.monotonic()
    files, problems = read_sources([str(tmp_path)])
    assert time.monotonic() - t0 < 2
    assert [f.relpath for f in files] == ["good.yaml"]
    assert len(problems) == 1
    msg = problems[0].message
    assert "alias" in msg and "bomb" in msg


def test_alias_bomb_through_merge_keys_is_refused_quickly() -> None:
    lines = ["a0: &a0 {x: 1, y: 2}"]
    for i in range(1, 12):
        lines.append(f"a{i}: &a{i} {{<<: [" + ", ".join([f"*a{i - 1}"] * 6) + "]}")
    t0 = time.monotonic()
    with pytest.raises(InputError, match="bomb"):
        read_source("merge-bomb.yaml", ("\n".join(lines) + "\n").encode())
    assert time.monotonic() - t0 < 2


def test_moderate_alias_use_is_fine() -> None:
    text = "x: &img nginx\ny: *img\nz: [*img, *img]\n"
    src = read_source("ok.yaml", text.encode())
    assert len(src.documents) == 1


@pytest.mark.parametrize("text", [
    "a: &x\n  b: *x\n",
    "&x [*x]\n",
    "a: &m {<<: *m}\n",
])
def test_recursive_alias_is_refused(text: str) -> None:
    t0 = time.monotonic()
    with pytest.raises(InputError, match="recursive"):
        read_source("rec.yaml", text.encode())
    assert time.monotonic() - t0 < 2


def test_file_over_the_size_limit_is_refused_without_reading_it(tmp_path: Path) -> None:
    # Sparse: 8 GiB that take no disk. Reading it would take minutes and all the memory.
    big = tmp_path / "big.yaml"
    with open(big, "wb") as fh:
        fh.truncate(8 * 2**30)
    write(tmp_path / "good.yaml", pod())
    t0 = time.monotonic()
    files, problems = read_sources([str(tmp_path)])
    assert time.monotonic() - t0 < 2
    assert [f.relpath for f in files] == ["good.yaml"]
    assert len(problems) == 1
    assert problems[0].name == str(big)
    assert "MiB limit" in problems[0].message


def test_just_over_the_limit_refused_and_bytes_input_too(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    with open(big, "wb") as fh:
        fh.truncate(MAX_FILE_BYTES + 1)
    _, problems = read_sources([str(big)])
    assert len(problems) == 1 and "limit" in problems[0].message
    with pytest.raises(InputError, match="limit"):
        read_source("-", b"#" * (MAX_FILE_BYTES + 1))


@pytest.mark.parametrize("text", [
    "[" * 100_000,
    "[" * 100_000 + "]" * 100_000,
    "a: " + "{a: " * 100_000 + "}" * 100_000,
    "- " * 100_000 + "x\n",
    "".join(" " * i + "-\n" for i in range(3000)),
], ids=["open-flow-seqs", "closed-flow-seqs", "flow-maps", "compact-block-seqs",
        "indented-block-seqs"])
def test_deep_nesting_is_refused_cleanly_and_quickly(text: str) -> None:
    # Unchecked, the first crashes the interpreter (C recursion) and the second takes
    # ~30 s in libyaml's scanner.
    t0 = time.monotonic()
    with pytest.raises(InputError, match="nest"):
        read_source("deep.yaml", text.encode())
    assert time.monotonic() - t0 < 2


def test_reasonable_nesting_is_accepted() -> None:
    flow = "a: " + "[" * 500 + "]" * 500 + "\n"
    block = "".join(" " * i + f"k{i}:\n" for i in range(300)) + " " * 300 + "leaf: 1\n"
    for text in (flow, block):
        assert len(read_source("ok.yaml", text.encode()).documents) == 1


def test_nonexistent_path_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        read_sources([str(tmp_path / "missing.yaml")])
