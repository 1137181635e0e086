"""Reading events: filters, newest-first keyset pagination, decryption of protected fields.

Event ids are UUIDv7 strings, so ordering by id is ordering by record time, and the cursor
is simply the last id seen (wrapped so callers treat it as opaque): each page is an index
range scan, however deep the caller pages.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.orm import Session

from audit.crypto import SEALED, data_keys_for_reading, decrypt_fields
from audit.records import ERASED, StoredEvent, chain_for
from audit.tables import audit_events

Executor = Session | Connection
MAX_LIMIT = 1000
_EVENT_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class InvalidCursorError(ValueError):
    """A cursor that this module did not hand out."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EventFilter:
    """Conditions that all have to hold; ``None`` means "any".

    ``action`` matches exactly, or by prefix when it ends in ``*`` (``"dsr.*"``).
    ``since`` (inclusive) and ``until`` (exclusive) bound ``occurred_at``.
    ``account_id`` selects the account's chain; ``platform_only`` the platform chain.
    """

    account_id: str | None = None
    platform_only: bool = False
    actor_type: str | None = None
    actor_id: str | None = None
    action: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    request_id: str | None = None
    job_id: str | None = None
    dsr_id: str | None = None
    subject_id: str | None = None

    def chain(self) -> str | None:
        """The one chain the filter is confined to, if it is."""
        if self.platform_only:
            return chain_for(None)
        if self.account_id is not None:
            return chain_for(self.account_id)
        return None

    def selects_whole_chains(self) -> bool:
        """True when the filter takes every event of its chains within a time range: such
        a selection is a contiguous piece of each chain, which verification can check for
        completeness. Any other condition picks events out of the middle."""
        return all(
            value is None
            for value in (
                self.actor_type,
                self.actor_id,
                self.action,
                self.target_type,
                self.target_id,
                self.outcome,
                self.request_id,
                self.job_id,
                self.dsr_id,
                self.subject_id,
            )
        )


@dataclass(frozen=True, slots=True)
class EventPage:
    events: list[StoredEvent]
    next_cursor: str | None


def conditions(filters: EventFilter) -> list[ColumnElement[bool]]:
    c = audit_events.c
    where: list[ColumnElement[bool]] = []
    chain = filters.chain()
    if chain is not None:
        where.append(c.chain == chain)
    for column, value in (
        (c.actor_type, filters.actor_type),
        (c.actor_id, filters.actor_id),
        (c.target_type, filters.target_type),
        (c.target_id, filters.target_id),
        (c.outcome, filters.outcome),
        (c.request_id, filters.request_id),
        (c.job_id, filters.job_id),
        (c.dsr_id, filters.dsr_id),
        (c.subject_id, filters.subject_id),
    ):
        if value is not None:
            where.append(column == value)
    if filters.action is not None:
        if filters.action.endswith("*"):
            where.append(c.action.startswith(filters.action[:-1], autoescape=True))
        else:
            where.append(c.action == filters.action)
    if filters.since is not None:
        where.append(c.occurred_at >= _utc(filters.since))
    if filters.until is not None:
        where.append(c.occurred_at < _utc(filters.until))
    return where


def encode_cursor(event_id: str) -> str:
    return base64.urlsafe_b64encode(f"v1:{event_id}".encode("ascii")).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidCursorError("malformed cursor") from exc
    version, _, event_id = text.partition(":")
    if version != "v1" or not _EVENT_ID.match(event_id):
        raise InvalidCursorError("malformed cursor")
    return event_id


def query_events(
    session: Executor,
    filters: EventFilter,
    cursor: str | None = None,
    limit: int = 50,
    *,
    key_encryption_key: bytes | None = None,
) -> EventPage:
    """One page of matching events, newest first; pass ``next_cursor`` back for the next.

    Protected fields are decrypted when ``key_encryption_key`` is given (see StoredEvent).
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIMIT}")
    statement: Select[Any] = select(audit_events).where(*conditions(filters))
    if cursor is not None:
        statement = statement.where(audit_events.c.event_id < decode_cursor(cursor))
    statement = statement.order_by(audit_events.c.event_id.desc()).limit(limit + 1)
    rows = list(session.execute(statement).mappings())
    more = len(rows) > limit
    events = stored_events(session, rows[:limit], key_encryption_key)
    return EventPage(events, encode_cursor(events[-1].event_id) if more else None)


def get_event(
    session: Executor, event_id: str, *, key_encryption_key: bytes | None = None
) -> StoredEvent | None:
    row = (
        session.execute(select(audit_events).where(audit_events.c.event_id == event_id))
        .mappings()
        .first()
    )
    if row is None:
        return None
    return stored_events(session, [row], key_encryption_key)[0]


def stored_events(
    session: Executor, rows: Sequence[RowMapping], key_encryption_key: bytes | None
) -> list[StoredEvent]:
    keys: dict[str, bytes] = {}
    if key_encryption_key is not None:
        keys = data_keys_for_reading(
            session, key_encryption_key, _subjects_with_protected_data(rows)
        )
    return [_stored(row, keys, key_encryption_key is not None) for row in rows]


def _subjects_with_protected_data(rows: Iterable[RowMapping]) -> set[str]:
    return {row["subject_id"] for row in rows if row["protected"] and row["subject_id"]}


_STORED_FIELDS = tuple(field.name for field in fields(StoredEvent))


def _stored(row: RowMapping, keys: dict[str, bytes], can_decrypt: bool) -> StoredEvent:
    ciphertext: str | None = row["protected"]
    protected: Any = None
    if ciphertext is not None:
        if not can_decrypt:
            protected = SEALED
        else:
            key = keys.get(row["subject_id"])
            protected = ERASED if key is None else decrypt_fields(key, row["event_id"], ciphertext)
    # Every other field is its column as stored.
    converted = {
        "occurred_at": _aware(row["occurred_at"]),
        "recorded_at": _aware(row["recorded_at"]),
        "actor_roles": tuple(json.loads(row["actor_roles"])),
        "details": json.loads(row["details"]),
        "protected_ciphertext": ciphertext,
        "protected": protected,
    }
    copied = {name: row[name] for name in _STORED_FIELDS if name not in converted}
    return StoredEvent(**copied, **converted)


def _aware(moment: datetime) -> datetime:
    # SQLite returns naive datetimes; everything the writer stores is UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _utc(moment: datetime) -> datetime:
    # Naive bounds are taken as UTC; SQLite compares the stored UTC text, so convert.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
