"""The body check skips its walk only for bodies the walk could not refuse."""

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policy_service.api.input_limits import (
    _reject_constant,
    check_value,
    may_be_refused,
    parse_json,
)
from policy_service.domain.errors import BadRequest, InvalidInput

MAX_CHARS = 40
MAX_DEPTH = 4

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**60), max_value=2**60)
    | st.floats(allow_nan=False)
    | st.text(max_size=50),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=50), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=500, derandomize=True)
@given(value=json_values, ascii_only=st.booleans())
def test_a_body_the_fast_path_lets_through_is_one_the_walk_accepts(
    value: Any, ascii_only: bool
) -> None:
    raw = json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    if may_be_refused(raw, MAX_CHARS, MAX_DEPTH):
        return  # the walk runs
    try:
        parsed = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError):
        return  # refused as JSON (Infinity included) before any walk
    check_value(parsed, MAX_CHARS, max_depth=MAX_DEPTH)  # must not raise: nothing was lost


def test_each_thing_the_walk_refuses_sends_a_body_down_the_walk() -> None:
    for raw in (
        b'{"a": "\\u0000"}',
        b'{"a": "\\ud800"}',
        b'{"a": 9007199254740993}',
        b'{"a": 1e400}',
        b'{"a": "' + b"x" * 60 + b'"}',
        b"[[[[[1]]]]]",
    ):
        assert may_be_refused(raw, MAX_CHARS, MAX_DEPTH), raw
        with pytest.raises((InvalidInput, BadRequest)):
            check_value(json.loads(raw), MAX_CHARS, max_depth=MAX_DEPTH)


def test_nesting_is_counted_by_the_walk_and_past_the_parser_refused_alike() -> None:
    assert parse_json(b"[[[[1]]]]", MAX_DEPTH, MAX_CHARS) == [[[[1]]]]
    for raw in (b"[[[[[1]]]]]", b"[" * 100_000 + b"]" * 100_000):
        with pytest.raises(BadRequest, match="nests deeper than 4 levels"):
            parse_json(raw, MAX_DEPTH, MAX_CHARS)


def test_a_large_body_is_always_walked() -> None:
    items = [{"subject": {"id": f"user-{n}"}} for n in range(100)]
    assert may_be_refused(json.dumps(items).encode(), 10_000, 64)
