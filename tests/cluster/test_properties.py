"""Properties of the pure pieces: table alignment, merge patches, the apply merge."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from hoist.cluster.printers import human_duration, table_text
from hoist.cluster.store import _three_way, merge_patch

cell = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1,
               max_size=12)


@given(st.integers(1, 5).flatmap(lambda n: st.lists(st.lists(cell, min_size=n, max_size=n),
                                                    min_size=1, max_size=6)))
def test_table_columns_start_at_one_offset_for_every_row(rows: list[list[str]]) -> None:
    lines = table_text(rows).splitlines()
    assert len(lines) == len(rows)
    offsets = []
    for row, line in zip(rows, lines, strict=True):
        starts, pos = [], 0
        for value in row:
            pos = line.index(value, pos)
            starts.append(pos)
            pos += len(value)
        offsets.append(starts)
        assert line == line.rstrip()  # the last cell is never padded
    assert all(o == offsets[0] for o in offsets)
    # Every column is at least 3 blanks wider than its widest cell, and at least 6 wide.
    for col in range(len(rows[0]) - 1):
        width = offsets[0][col + 1] - offsets[0][col]
        assert width == max(6, max(len(r[col]) for r in rows) + 3)


json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=4),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=3), children, max_size=3),
    max_leaves=10)
json_object = st.dictionaries(st.text(max_size=3), json_value, max_size=4)


@given(json_object, json_object)
def test_merge_patch_is_idempotent_and_drops_nulls(target: dict[str, Any],
                                                   patch: dict[str, Any]) -> None:
    once = merge_patch(target, patch)
    assert merge_patch(once, patch) == once
    for key, value in patch.items():
        if value is None:
            assert key not in once


@given(json_object, json_object)
def test_three_way_merge_with_itself_changes_nothing(current: dict[str, Any],
                                                     config: dict[str, Any]) -> None:
    merged = _three_way(config, current, config)
    # What the configuration says is what results, for every key it sets.
    for key in config:
        assert key in merged
    # Applying the same configuration again is a no-op.
    assert _three_way(config, merged, config) == merged


@given(st.integers(-1, 10**9))
def test_human_duration_is_compact(seconds: int) -> None:
    text = human_duration(seconds)
    assert 2 <= len(text) <= 8 and text[0].isdigit()
