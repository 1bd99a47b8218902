"""JSON patch operations on the config tree (yaml-patch's behaviour where it departs from
RFC 6902), and the tree keeping lines through them."""

from __future__ import annotations

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from hoist.config.patch import PatchError, apply_op, expand, split_pointer
from hoist.config.tree import YMap, YNode, from_yaml, same, to_python


def tree(text: str, first_line: int = 0) -> YNode:
    node = yaml.compose(text)
    assert node is not None
    return from_yaml(node, first_line, "t.yaml")


def data(node: YNode) -> object:
    return to_python(node)


def test_pointer_tokens_are_decoded() -> None:
    assert split_pointer("/a~1b/c~0d/0") == ["a/b", "c~d", "0"]
    assert split_pointer("/") == []


def test_add_inserts_into_lists_and_sets_in_mappings() -> None:
    t = tree("a: [1, 3]\nm: {x: 1}\n")
    apply_op(t, "add", "/a/1", tree("2"))
    apply_op(t, "add", "/a/-", tree("4"))
    apply_op(t, "add", "/m/x", tree("9"))
    apply_op(t, "add", "/m/y", tree("[z]"))
    assert data(t) == {"a": (1, 2, 3, 4), "m": {"x": 9, "y": ("z",)}}


def test_replace_needs_the_target_and_remove_forgives_a_missing_parent() -> None:
    t = tree("a: {b: 1}\n")
    try:
        apply_op(t, "replace", "/a/c", tree("2"))
        raise AssertionError("replace of a missing key applied")
    except PatchError as e:
        assert str(e) == "'/a/c' does not exist"
    apply_op(t, "remove", "/nope/deeper")  # no parent: nothing happens
    try:
        apply_op(t, "remove", "/a/c")
        raise AssertionError("remove of a missing key applied")
    except PatchError as e:
        assert str(e) == "'/a/c' does not exist"
    assert data(t) == {"a": {"b": 1}}


def test_selector_matches_recursively_and_stops_at_a_match() -> None:
    t = tree("releases:\n- name: a\n  sub: {name: a}\n- - name: a\n- name: b\n")
    assert expand(t, "/releases/name=a") == [["releases", "0"], ["releases", "1", "0"]]
    apply_op(t, "remove", "/releases/name=a")
    assert data(t) == {"releases": ((), {"name": "b"})}


def test_values_are_copied_and_keep_the_line_they_were_written_on() -> None:
    t = tree("a: []\n")
    value = tree("{k: v}\n", first_line=41)
    apply_op(t, "add", "/a/-", value)
    apply_op(t, "add", "/a/-", value)
    assert isinstance(t, YMap)
    added = t.get("a")
    assert added is not None and not isinstance(added, YMap)
    first, second = added.items  # type: ignore[union-attr]
    assert first is not second and first.line == 42


def test_move_and_copy() -> None:
    t = tree("a: {x: 1}\nb: []\n")
    apply_op(t, "copy", "/b/0", from_path="/a/x")
    apply_op(t, "move", "/c", from_path="/a")
    assert data(t) == {"b": (1,), "c": {"x": 1}}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text("abc", max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.text("xyz", min_size=1, max_size=2), inner, max_size=3),
    max_leaves=8)


@settings(deadline=None, max_examples=150)
@given(items=st.lists(json_values, max_size=5), value=json_values, data_=st.data())
def test_add_then_remove_at_an_index_restores_the_list(
        items: list[object], value: object, data_: st.DataObject) -> None:
    index = data_.draw(st.integers(0, len(items)))
    text = yaml.safe_dump({"l": items})
    t, original = tree(text), tree(text)
    apply_op(t, "add", f"/l/{index}", tree(yaml.safe_dump(value)))
    assert data(t)["l"][index] == data(tree(yaml.safe_dump(value)))  # type: ignore[index]
    apply_op(t, "remove", f"/l/{index}")
    assert same(t, original)
