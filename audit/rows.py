"""From a stored ``audit_events`` row back to the canonical bytes its hash covers.

Verification and export rebuild the record from the columns, so a change to any column,
including the ciphertext of protected fields, changes the bytes and breaks the hash.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final

from audit.canonical import EVENT_FIELDS, FORMAT_VERSION, encode

#: Columns selected, in this order, wherever a row is turned back into a record.
RECORD_COLUMNS: Final = (*EVENT_FIELDS[:-1], "hash")
_TIME_FORMAT: Final = "%Y-%m-%dT%H:%M:%S.%fZ"
_ROLES: Final = EVENT_FIELDS.index("actor_roles")
_DETAILS: Final = EVENT_FIELDS.index("details")
_OCCURRED: Final = EVENT_FIELDS.index("occurred_at")
_RECORDED: Final = EVENT_FIELDS.index("recorded_at")


def _timestamp(moment: datetime) -> str:
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime(_TIME_FORMAT)


def record_bytes(row: Sequence[Any]) -> bytes:
    """Canonical bytes of a row selected with RECORD_COLUMNS (its last item, hash, unused)."""
    values = list(row[:-1])
    values[_ROLES] = json.loads(values[_ROLES])
    values[_DETAILS] = json.loads(values[_DETAILS])
    values[_OCCURRED] = _timestamp(values[_OCCURRED])
    values[_RECORDED] = _timestamp(values[_RECORDED])
    record = dict(zip(EVENT_FIELDS[:-1], values, strict=True))
    record["v"] = FORMAT_VERSION
    return encode(record)
