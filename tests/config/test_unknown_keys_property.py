"""Property: a valid config with one unknown key inserted into any mapping whose keys are
fixed (at any depth, inactive profiles included) always fails with an InputError naming
the file, the line of the key, and the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hoist.config import load_config
from hoist.errors import InputError

VERSIONS = ["skaffold/v2beta29", "skaffold/v3", "skaffold/v4beta11", "skaffold/v4beta14",
            "skaffold.dev/v2beta10"]
NAMES = st.text("abcdefgh", min_size=1, max_size=6)
STRINGS = st.text("abcdefgh-./{}", min_size=1, max_size=8)


class Built:
    """A generated config and the mappings in it that take any key (left out of the
    places an unknown key goes)."""

    def __init__(self) -> None:
        self.free: list[int] = []

    def free_form(self, d: dict[str, Any]) -> dict[str, Any]:
        self.free.append(id(d))
        return d


@st.composite
def docker(draw: st.DrawFn, b: Built) -> dict[str, Any]:
    d: dict[str, Any] = {}
    if draw(st.booleans()):
        d["dockerfile"] = draw(STRINGS)
    if draw(st.booleans()):
        d["target"] = draw(NAMES)
    if draw(st.booleans()):
        d["buildArgs"] = b.free_form(draw(st.dictionaries(
            st.text("ABC_", min_size=1, max_size=4), st.none() | STRINGS, max_size=3)))
    if draw(st.booleans()):
        d["noCache"] = draw(st.booleans())
    if draw(st.booleans()):
        d["secrets"] = [{"id": draw(NAMES), "src": draw(STRINGS)}]
    return d


@st.composite
def artifacts(draw: st.DrawFn, b: Built, prefix: str) -> list[dict[str, Any]]:
    count = draw(st.integers(1, 3))
    out: list[dict[str, Any]] = []
    for i in range(count):
        a: dict[str, Any] = {"image": f"{prefix}img{i}"}
        if draw(st.booleans()):
            a["context"] = draw(STRINGS)
        if draw(st.booleans()):
            a["docker"] = draw(docker(b))
        if draw(st.booleans()):
            a["hoist"] = {"builder": draw(st.sampled_from(["auto", "native", "buildah"]))}
        if draw(st.booleans()):
            a["imagePullPolicy"] = {"value": draw(st.sampled_from(
                ["Always", "IfNotPresent", "Never"])), "override": draw(st.booleans())}
        if i and draw(st.booleans()):
            a["requires"] = [{"image": f"{prefix}img0", "alias": "BASE"}]
        if draw(st.booleans()):
            a["platforms"] = ["linux/amd64"]
        out.append(a)
    return out


@st.composite
def build(draw: st.DrawFn, b: Built, prefix: str = "") -> dict[str, Any]:
    d: dict[str, Any] = {"artifacts": draw(artifacts(b, prefix))}
    if draw(st.booleans()):
        d["local"] = {"push": draw(st.booleans()), "concurrency": draw(st.integers(0, 4))}
    if draw(st.booleans()):
        tagger = draw(st.sampled_from(["gitCommit", "sha256", "inputDigest"]))
        d["tagPolicy"] = {tagger: b.free_form({})}
    if draw(st.booleans()):
        d["insecureRegistries"] = ["reg:5000"]
    return d


@st.composite
def configs(draw: st.DrawFn) -> tuple[dict[str, Any], Built]:
    b = Built()
    cfg: dict[str, Any] = {"apiVersion": draw(st.sampled_from(VERSIONS)), "kind": "Config"}
    if draw(st.booleans()):
        cfg["metadata"] = {"name": draw(NAMES)}
    cfg["build"] = draw(build(b))
    if draw(st.booleans()):
        cfg["manifests"] = {"rawYaml": ["k8s/*.yaml"]}
    else:
        cfg["deploy"] = {"kubectl": {"manifests": ["k8s/a.yaml"]}}
    if draw(st.booleans()):
        cfg["portForward"] = [{"resourceType": "service", "resourceName": draw(NAMES),
                               "port": 80}]
    if draw(st.booleans()):
        cfg["profiles"] = [{
            "name": "p",
            "activation": [{"env": "NEVER_SET_HOIST_VAR=x"}],
            "build": draw(build(b, "p")),
            "patches": [{"op": "replace", "path": "/build/artifacts/0/image",
                         "value": "other"}],
        }]
    return cfg, b


def mappings(node: Any, free: list[int]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if id(node) not in free:
            found.append(node)
        for v in node.values():
            found.extend(mappings(v, free))
    elif isinstance(node, list):
        for v in node:
            found.extend(mappings(v, free))
    return found


@settings(deadline=None, max_examples=200,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(generated=configs(), data=st.data(),
       key=st.from_regex(r"zz[a-zA-Z0-9]{1,8}", fullmatch=True),
       value=st.none() | st.integers() | STRINGS | st.lists(STRINGS, max_size=2)
       | st.dictionaries(NAMES, STRINGS, max_size=2))
def test_unknown_key_anywhere_names_file_line_and_key(
        tmp_path: Path, generated: tuple[dict[str, Any], Built], data: st.DataObject,
        key: str, value: Any) -> None:
    cfg, built = generated
    path = tmp_path / "skaffold.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    load_config(str(path), environ={})  # valid as generated

    targets = mappings(cfg, built.free)
    target = data.draw(st.sampled_from(targets))
    target[key] = value
    text = yaml.safe_dump(cfg, sort_keys=False)
    path.write_text(text)
    [line] = [n for n, ln in enumerate(text.splitlines(), 1)
              if ln.lstrip(" -").startswith(f"{key}:")]
    try:
        load_config(str(path), environ={})
    except InputError as e:
        message = str(e)
    else:
        raise AssertionError(f"unknown key {key!r} loaded:\n{text}")
    assert message.startswith(f"{path}:{line}: unknown key {key!r} in "), message
