from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from audit.canonical import (
    EVENT_FIELDS,
    check_json_value,
    encode,
    event_record,
    format_timestamp,
    record_parts,
)


def _fields(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = dict.fromkeys(EVENT_FIELDS[:-1])
    fields.update(
        action="contact.delete",
        actor_type="user",
        actor_roles=["admin", "owner"],
        chain="acct-1",
        details={},
        event_id="e",
        occurred_at="2024-01-01T00:00:00.000000Z",
        outcome="succeeded",
        prev_hash="a" * 64,
        recorded_at="2024-01-01T00:00:00.000001Z",
        seq=7,
    )
    fields.update(overrides)
    return fields


@pytest.mark.parametrize(
    "details",
    [
        {},
        {"z": 1, "a": [1, {"y": None, "b": True}]},
        {"prev_hash": "", "seq": 0, "text": ',"seq":0,"prev_hash":""'},
        {"名前": 'Zoë\n\t"quoted"\\', "ctl": "\x01"},
    ],
)
def test_the_writers_split_record_joins_back_to_the_canonical_bytes(
    details: dict[str, Any],
) -> None:
    fields = _fields(details=details, target_id='tricky ,"seq":0, value')
    head, middle, tail = record_parts({**fields, "v": 1})
    joined = head + b"a" * 64 + middle + b"7" + tail
    assert joined == event_record(fields)


def test_the_canonical_record_is_sorted_compact_utf8_with_explicit_nulls() -> None:
    record = event_record(_fields(details={"b": 1, "a": "é"}))
    text = record.decode("utf-8")
    assert text.startswith('{"account_id":null,"action":"contact.delete",')
    assert '"details":{"a":"é","b":1}' in text
    assert text.endswith('"target_type":null,"v":1}')
    assert " " not in text


def test_timestamps_are_utc_with_microseconds() -> None:
    plus_two = timezone(timedelta(hours=2))
    assert format_timestamp(datetime(2024, 5, 1, 14, 0, tzinfo=plus_two)) == (
        "2024-05-01T12:00:00.000000Z"
    )
    assert format_timestamp(datetime(2024, 5, 1, 12, 0, 0, 5, tzinfo=UTC)) == (
        "2024-05-01T12:00:00.000005Z"
    )


@pytest.mark.parametrize("value", [1.5, float("nan"), 2**53, {1: "x"}, {"d": datetime.now(UTC)}])
def test_values_without_one_canonical_form_are_refused(value: Any) -> None:
    with pytest.raises(ValueError, match="details"):
        check_json_value(value)


def test_encode_matches_json_dumps_with_sorted_keys() -> None:
    import json

    value = {"b": [1, "ü"], "a": None}
    expected = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert encode(value) == expected.encode()
