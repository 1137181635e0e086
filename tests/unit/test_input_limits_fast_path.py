"""The body check skips its walk only for bodies the walk could not refuse."""

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from policy_service.api.input_limits import (
    _reject_constant,
    check_value,
    json_depth,
    may_be_refused,
)
from policy_service.domain.errors import InvalidInput

MAX_CHARS = 40

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
    # Padded past the size where strings are measured rather than bounded by the body.
    padded = [value, *["z" * 30] * 40]
    raw = json.dumps(padded, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    if may_be_refused(raw, MAX_CHARS):
        return  # the walk runs
    try:
        parsed = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError):
        return  # refused as JSON (Infinity included) before any walk
    check_value(parsed, MAX_CHARS)  # must not raise: skipping it lost nothing


def test_each_thing_the_walk_refuses_sends_a_body_down_the_walk() -> None:
    for raw in (
        b'{"a": "\\u0000"}',
        b'{"a": "\\ud800"}',
        b'{"a": 9007199254740993}',
        b'{"a": 1e400}',
        b'{"a": "' + b"x" * 60 + b'"}',
    ):
        assert may_be_refused(raw, MAX_CHARS)
        try:
            check_value(json.loads(raw), MAX_CHARS)
        except InvalidInput:
            continue
        raise AssertionError(f"{raw!r} was not refused")


def test_a_document_with_few_brackets_is_not_measured() -> None:
    assert json_depth(b"[[[1]]]", limit=3) == 0
    assert json_depth(b"[[[[1]]]]", limit=3) == 4
    assert json_depth(b'["[[[[["]', limit=3) == 1  # brackets in strings do not nest


def test_a_large_body_is_walked_only_when_one_of_its_strings_may_be_too_long() -> None:
    items = [{"subject": {"id": f"user-{n}"}, "note": "x" * 30} for n in range(100)]
    raw = json.dumps(items).encode()
    assert len(raw) > 1_000
    assert not may_be_refused(raw, MAX_CHARS)
    long_one = json.dumps([*items, {"note": "y" * (MAX_CHARS + 1)}]).encode()
    assert may_be_refused(long_one, MAX_CHARS)
    escaped = json.dumps([*items, {"note": '"' * (MAX_CHARS + 1)}]).encode()  # \" each
    assert may_be_refused(escaped, MAX_CHARS)
