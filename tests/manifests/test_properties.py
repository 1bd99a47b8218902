"""Properties of ``render`` over generated manifests written in random YAML styles, and
the identity over the real-world corpus.

(a) no rules (or rules that match nothing) is the identity, byte for byte;
(b) with a rule, the re-parsed output equals the input objects except for the images of
    matching containers and the policies written for them: no other value changes;
(c) rendering the output again with a rule whose new reference it matches changes nothing;
(d) the corpus: every file that parses comes back byte for byte.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hoist.cli.main import main
from hoist.core.policy import PullPolicy
from hoist.core.reference import repository_name
from hoist.manifests import (
    ImageRule,
    iter_image_sites,
    read_source,
    read_sources,
    render_file,
    rules_by_repository,
)
from hoist.manifests.workloads import POD_SPEC_PATHS
from hoist.render import document_filter

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
DIGEST = "sha256:" + "0123456789abcdef" * 4

APP = "example.com/team/app"
IMAGES = [
    # the artifact, spelled every way
    APP, f"{APP}:v1", f"{APP}@{DIGEST}", f"{APP}:v1@{DIGEST}",
    # nginx, normalized in different ways
    "nginx", "nginx:1.25", "docker.io/library/nginx", "library/nginx:latest",
    f"docker.io/nginx@{DIGEST}", "index.docker.io/library/nginx:1",
    # third party, some of them look-alikes
    "busybox", "quay.io/prometheus/node-exporter:v1.8.0", "nginx-unprivileged:1",
    f"{APP}2:v1", "myorg/nginx", "registry:5000/team/app:1", "<image_url>", "example.com/app",
]
POLICIES = ["Always", "IfNotPresent", "Never"]

# Printable text YAML keeps as is in quoted scalars (no NEL/LS/PS, which fold lines).
ALPHABET = st.sampled_from(
    [*"abcxyz019 _-./:@#&*!|>%'\"{}[],?`~=+<\\\t", "é", "日", "😀"])
TEXT = st.text(ALPHABET, max_size=12)
NAME = st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True)
LABEL_KEY = st.from_regex(r"[a-z][a-z0-9./-]{0,10}", fullmatch=True)


# ---- objects ----------------------------------------------------------------------------------

def container() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"name": NAME, "image": st.sampled_from([*IMAGES, None])},
        optional={
            "imagePullPolicy": st.sampled_from(POLICIES),
            "args": st.lists(TEXT, max_size=3),
            "env": st.lists(st.fixed_dictionaries({"name": NAME, "value": TEXT}), max_size=2),
            "ports": st.lists(st.fixed_dictionaries({"containerPort": st.integers(1, 65535)}),
                              max_size=2),
            "tty": st.booleans(),
        },
    )


def volume() -> st.SearchStrategy[dict[str, Any]]:
    image = st.fixed_dictionaries({"reference": st.sampled_from(IMAGES)},
                                  optional={"pullPolicy": st.sampled_from(POLICIES)})
    return st.one_of(
        st.fixed_dictionaries({"name": NAME, "image": image}),
        st.fixed_dictionaries({"name": NAME, "emptyDir": st.just({})}),
    )


POD_SPEC = st.fixed_dictionaries(
    {"containers": st.lists(container(), min_size=1, max_size=3)},
    optional={
        "initContainers": st.lists(container(), min_size=1, max_size=2),
        "ephemeralContainers": st.lists(container(), min_size=1, max_size=1),
        "volumes": st.lists(volume(), min_size=1, max_size=2),
        "restartPolicy": st.just("Always"),
    },
)
METADATA = st.fixed_dictionaries(
    {"name": NAME},
    optional={"labels": st.dictionaries(LABEL_KEY, TEXT, max_size=2),
              "annotations": st.dictionaries(LABEL_KEY, TEXT, max_size=2)},
)


@st.composite
def workload(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(sorted(POD_SPEC_PATHS)))
    obj: dict[str, Any] = {"apiVersion": "v1", "kind": kind, "metadata": draw(METADATA)}
    path = POD_SPEC_PATHS[kind]
    node = obj
    for key in path[:-1]:
        node = node.setdefault(key, {})
        if key == "template":
            node["metadata"] = {"labels": {"app": draw(NAME)}}
        if key == "spec" and kind != "Pod":
            node["replicas"] = draw(st.integers(0, 5))
    node[path[-1]] = draw(POD_SPEC)
    return obj


DECOY_LINE = st.sampled_from([
    "containers:", "- image: nginx:1", f"  image: {APP}:v1", "imagePullPolicy: Never",
    "--- not a separator when indented", "# comment", "x: {y: z}",
])
CONFIGMAP = st.fixed_dictionaries({
    "apiVersion": st.just("v1"), "kind": st.just("ConfigMap"), "metadata": METADATA,
    "data": st.dictionaries(LABEL_KEY, st.one_of(
        TEXT, st.lists(DECOY_LINE, min_size=1, max_size=4).map(lambda ls: "\n".join(ls) + "\n"),
    ), max_size=3),
})


@st.composite
def document(draw: st.DrawFn) -> Any:
    kind = draw(st.sampled_from(["workload", "workload", "workload", "list", "configmap"]))
    if kind == "list":
        return {"apiVersion": "v1", "kind": "List",
                "items": draw(st.lists(st.one_of(workload(), CONFIGMAP), max_size=3))}
    return draw(CONFIGMAP) if kind == "configmap" else draw(workload())


# ---- writing objects as YAML in random styles -------------------------------------------------

_PLAIN = re.compile(r"[A-Za-z0-9_./<][A-Za-z0-9_./<>@=+:-]*( [A-Za-z0-9_./<>@=+-]+)*")


def _loads(text: str) -> Any:
    try:
        return yaml.load(text, Loader=LOADER)
    except yaml.YAMLError:
        return object()


def plain_ok(s: str, flow: bool) -> bool:
    if not _PLAIN.fullmatch(s) or s.endswith(":") or ": " in s:
        return False
    return bool(_loads(f"[{s}]" if flow else f"k: {s}") == ([s] if flow else {"k": s}))


def block_literal_ok(s: str) -> bool:
    lines = s.split("\n")
    return (s.endswith("\n") and not s.endswith("\n\n") and "\r" not in s
            and all(ln and not ln[0].isspace() and ln == ln.rstrip() for ln in lines[:-1]))


class Writer:
    """Writes one document's objects with styles drawn from hypothesis."""

    def __init__(self, draw: st.DrawFn) -> None:
        self.draw = draw
        self.anchors: dict[str, str] = {}  # image value -> anchor name
        self.count = 0

    def flip(self, p: float = 0.5) -> bool:
        return bool(self.draw(st.integers(0, 99)) < p * 100)

    def comment(self) -> str:
        return " # " + self.draw(st.sampled_from(["c", "image: nginx", "---", "x: {a: b}"]))

    def scalar(self, v: Any, flow: bool, image: bool = False) -> str:
        if v is None:
            return self.draw(st.sampled_from(["null", "~"]))
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int):
            return str(v)
        assert isinstance(v, str)
        props = ""
        if image:
            if v in self.anchors and self.flip(0.5):
                return "*" + self.anchors[v]
            if self.flip(0.2):
                self.count += 1
                name = f"i{self.count}"
                self.anchors[v] = name
                props = f"&{name} "
        styles = ["single", "double", "escaped"]
        if plain_ok(v, flow):
            styles += ["plain", "plain"]
        if not flow and "\n" not in v and v and v == v.strip() and not image:
            styles.append("folded")  # a one-line `>-` block scalar
        if not flow and block_literal_ok(v):
            styles += ["literal"] * 3
        style = self.draw(st.sampled_from(styles))
        if "\n" in v and style == "single":
            style = "double"
        if style == "plain":
            return props + v
        if style == "single":
            return props + "'" + v.replace("'", "''") + "'"
        if style == "double":
            return props + json.dumps(v, ensure_ascii=False)
        if style == "escaped":  # `"\u006eginx"` is `"nginx"`: a text search does not see it
            quoted = json.dumps(v, ensure_ascii=False)
            if "\\" not in quoted:
                quoted = quoted.replace("a", "\\u0061").replace("n", "\\u006e")
            return props + quoted
        if style == "folded":
            return props + ">-\n" + "\0" + v + "\n"  # \0: indent placeholder
        return props + "|\n" + "".join("\0" + ln + "\n" for ln in v.split("\n")[:-1])

    def flow(self, v: Any, key: str = "") -> str:
        if isinstance(v, dict):
            return "{" + ", ".join(f"{self.key(k, True)}: {self.flow(x, k)}"
                                   for k, x in v.items()) + "}"
        if isinstance(v, list):
            return "[" + ", ".join(self.flow(x) for x in v) + "]"
        return self.scalar(v, True, image=key in ("image", "reference"))

    def key(self, k: str, flow: bool) -> str:
        if plain_ok(k, flow) and self.flip(0.9):
            return k
        return json.dumps(k) if self.flip() else "'" + k + "'"

    def block_value(self, k: str, v: Any, ind: int) -> str:
        """``key: value`` at indentation ``ind`` (the key already written)."""
        pad = " " * ind
        if isinstance(v, dict | list) and v and not self.flip(0.25):
            comment = self.comment() if self.flip(0.2) else ""
            if isinstance(v, dict):
                return ":" + comment + "\n" + self.block_map(v, ind + 2)
            deeper = self.draw(st.sampled_from([0, 2]))  # `- ` may stay at the key's column
            return ":" + comment + "\n" + self.block_seq(v, ind + deeper)
        if isinstance(v, dict | list):
            text = self.flow(v, k)
        else:
            text = self.scalar(v, False, image=k in ("image", "reference"))
        if "\0" in text:  # a block scalar: its lines go deeper than the key
            return ": " + text.replace("\0", pad + "  ")
        comment = self.comment() if self.flip(0.2) else ""
        return ": " + text + comment + "\n"

    def block_map(self, d: dict[str, Any], ind: int) -> str:
        pad = " " * ind
        out = []
        for k, v in d.items():
            if self.flip(0.1):
                out.append(pad + "#" + self.comment()[2:] + "\n")
            out.append(pad + self.key(k, False) + self.block_value(k, v, ind))
        return "".join(out)

    def block_seq(self, items: list[Any], ind: int) -> str:
        pad = " " * ind
        out = []
        for item in items:
            if isinstance(item, dict) and item and self.flip(0.8):
                body = self.block_map(item, ind + 2)
                if body.startswith(" " * (ind + 2) + "#") or self.flip(0.2):
                    out.append(pad + "-\n" + body)
                else:  # compact: the first pair on the dash line
                    out.append(pad + "- " + body[ind + 2:])
            elif isinstance(item, dict | list):
                out.append(pad + "- " + self.flow(item) + "\n")
            else:
                text = self.scalar(item, False)
                out.append(pad + "- " + text.replace("\0", pad + "  ") +
                           ("" if "\0" in text else "\n"))
        return "".join(out)

    def document(self, obj: Any) -> str:
        how = self.draw(st.sampled_from(["block", "block", "block", "flow", "json", "json1"]))
        if how == "json":
            return json.dumps(obj, indent=self.draw(st.sampled_from([1, 2, 4])),
                              ensure_ascii=False) + "\n"
        if how == "json1":
            return json.dumps(obj, ensure_ascii=False) + "\n"
        if how == "flow":
            return self.flow(obj) + "\n"
        return self.block_map(obj, 0)


@st.composite
def stream(draw: st.DrawFn) -> tuple[list[Any], bytes]:
    """(objects, file bytes): documents in random styles, separators, comments, line ends."""
    objs = draw(st.lists(document(), min_size=1, max_size=3))
    parts = []
    for i, obj in enumerate(objs):
        text = Writer(draw).document(obj)
        lead = draw(st.sampled_from(["", "# leading comment\n", "\n"]))
        sep = "---\n" if i else draw(st.sampled_from(["", "---\n", "%YAML 1.1\n---\n"]))
        end = draw(st.sampled_from(["", "", "...\n"])) if i < len(objs) - 1 else ""
        parts.append(lead + sep + text + end)
    text = "".join(parts)
    if draw(st.booleans()):
        # No final line break: only where that keeps the meaning (a literal block scalar
        # that ends the stream keeps its last line break only when one is there).
        stripped = text.rstrip("\n")
        if list(yaml.safe_load_all(stripped)) == list(yaml.safe_load_all(text)):
            text = stripped
    if draw(st.booleans()):
        text = text.replace("\n", "\r\n")
    data = text.encode()
    if draw(st.integers(0, 9)) == 0:
        data = b"\xef\xbb\xbf" + data
    return objs, data


# ---- what a render must change in the objects -------------------------------------------------

def expected(objs: list[Any], rule: ImageRule) -> list[Any]:
    want = repository_name(rule.repository)
    out = copy.deepcopy(objs)

    def pod_specs(obj: Any) -> list[dict[str, Any]]:
        if not isinstance(obj, dict):
            return []
        kind = obj.get("kind")
        if isinstance(kind, str) and kind.endswith("List") and isinstance(obj.get("items"), list):
            return [s for item in obj["items"] for s in pod_specs(item)]
        node: Any = obj
        for key in POD_SPEC_PATHS.get(kind, ("-",)) if isinstance(kind, str) else ("-",):
            node = node.get(key) if isinstance(node, dict) else None
        return [node] if isinstance(node, dict) else []

    def fix(owner: dict[str, Any], image_key: str, policy_key: str) -> None:
        image = owner.get(image_key)
        if not isinstance(image, str) or repository_name(image) != want:
            return
        owner[image_key] = rule.new_image
        if rule.policy is not None and (policy_key not in owner or rule.override):
            owner[policy_key] = rule.policy.value

    for obj in out:
        for spec in pod_specs(obj):
            for key in ("initContainers", "containers", "ephemeralContainers"):
                for c in spec.get(key) or []:
                    fix(c, "image", "imagePullPolicy")
            for v in spec.get("volumes") or []:
                if isinstance(v.get("image"), dict):
                    fix(v["image"], "reference", "pullPolicy")
    return out


def load_all(data: bytes) -> list[Any]:
    return [d for d in yaml.load_all(data.decode("utf-8-sig"), Loader=LOADER) if d is not None]


RULES = st.builds(
    ImageRule,
    repository=st.sampled_from([APP, f"{APP}:v0", "nginx", "docker.io/library/nginx"]),
    new_image=st.sampled_from([f"{APP}:built@{DIGEST}", "reg.local:5000/nginx:dev",
                               "nginx:1.27", f"{APP}", "example.com/other:1"]),
    policy=st.sampled_from([None, *PullPolicy]),
    override=st.booleans(),
)
SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def render_bytes(data: bytes, *rules: ImageRule) -> bytes:
    return render_file(read_source("gen.yaml", data), rules_by_repository(rules)).encode()


# ---- (a)–(c) -------------------------------------------------------------------------------------

@SETTINGS
@given(stream())
def test_generated_streams_mean_what_they_were_written_from(case: tuple[list[Any], bytes]) -> None:
    # The generator's own check: every style it writes reads back as the objects.
    objs, data = case
    assert load_all(data) == [o for o in objs if o is not None]


@SETTINGS
@given(stream())
def test_a_no_rules_is_the_identity(case: tuple[list[Any], bytes]) -> None:
    _, data = case
    assert render_bytes(data) == data
    # Nor do rules for repositories the stream does not use change a byte.
    assert render_bytes(data, ImageRule("example.com/unused", "x:1", PullPolicy.NEVER,
                                        True)) == data


@SETTINGS
@given(stream(), RULES)
def test_b_only_matching_images_and_their_policies_change(
    case: tuple[list[Any], bytes], rule: ImageRule
) -> None:
    objs, data = case
    out = render_bytes(data, rule)
    assert load_all(out) == expected(objs, rule)
    # And the document filter the CLI uses parses every document that matters.
    source = read_source("gen.yaml", data, want=document_filter([rule]))
    assert render_file(source, rules_by_repository([rule])).encode() == out


@SETTINGS
@given(stream(), RULES)
def test_c_rendering_twice_changes_nothing_more(
    case: tuple[list[Any], bytes], rule: ImageRule
) -> None:
    _, data = case
    # A built reference of the artifact itself, as `hoist dev` renders on every loop.
    rule = ImageRule(rule.repository, repository_name(rule.repository) + ":built@" + DIGEST,
                     rule.policy, rule.override)
    once = render_bytes(data, rule)
    assert render_bytes(once, rule) == once


# ---- (d) the corpus ------------------------------------------------------------------------------

CORPUS_FILES = sorted(
    str(p.relative_to(CORPUS)) for p in CORPUS.rglob("*")
    if p.suffix in (".yaml", ".yml", ".json") and p.is_file()
) if CORPUS.is_dir() else []
needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(),
                                  reason=f"the shared manifest corpus is not at {CORPUS}")


@needs_corpus
@pytest.mark.parametrize("rel", CORPUS_FILES or ["<none>"])
def test_d_corpus_file_comes_back_byte_for_byte(rel: str) -> None:
    path = CORPUS / rel
    files, problems = read_sources([str(path)])
    if problems:
        # Two vitess templates with bare `{{var}}` placeholders: not manifests.
        # (`hoist render` without --images still copies them: see the next test.)
        assert "templated" in rel and all("template" in p.message for p in problems)
        return
    assert render_file(files[0], {}).encode() == path.read_bytes()


@needs_corpus
def test_d_corpus_through_the_command_line(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["render", str(CORPUS), "-o", str(out)]) == 0
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert written == CORPUS_FILES
    for rel in CORPUS_FILES:
        assert (out / rel).read_bytes() == (CORPUS / rel).read_bytes(), rel


@needs_corpus
def test_d_corpus_rewrite_changes_only_images_and_policies() -> None:
    # Every image repository of each corpus file gets a rule (policies and override vary):
    # re-parsed, the file differs from before in exactly those images and policies.
    files, _ = read_sources([str(CORPUS)])
    count = 0
    for source in files:
        repos = sorted({repository_name(s.image) for s in iter_image_sites([source])
                        if s.image})
        if not repos:
            continue
        rules = [ImageRule(repo, f"hoist.test/r{i}:1", [*PullPolicy][i % 3], bool(i % 2))
                 for i, repo in enumerate(repos)]
        result = render_file(source, rules_by_repository(rules))
        assert result.changed, source.name
        want = load_all(source.encode())
        for rule in rules:
            want = expected(want, rule)
        assert load_all(result.encode()) == want, source.name
        count += len(rules)
    assert count > 200
