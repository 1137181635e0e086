"""Streaming exports: NDJSON for verification, CSV for people.

Both stream in keyset batches, so memory stays flat however many events match; the caller
must keep the session or connection open while it consumes the iterator.

NDJSON lines carry a ``type``: one ``header``; per chain a ``chain`` line, that chain's
checkpoints, then its events in sequence order; one ``end``. An event line is
``{"type":"event","hash":"<hex>","record":<canonical record>}`` with the record's bytes
exactly as hashed. Which events an export takes (README, "Exports"):

* no filter, or only ``account_id`` / ``platform_only`` and a time range: whole chain
  segments (every event between the first and the last match of each chain), marked
  complete, so removal and truncation are detectable offline;
* any other condition: a selection, marked incomplete; its events and links still verify,
  but gaps are expected.

CSV has one row per event (protected fields decrypted when a key-encryption key is given)
and no checkpoints: it is for reading, not for verification.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any, Final, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import ColumnElement, Connection, func, select
from sqlalchemy.orm import Session

from audit import canonical
from audit.checkpoints import sign_seal
from audit.crypto import data_keys_for_reading, decrypt_fields
from audit.query import EventFilter, conditions
from audit.records import ERASED
from audit.rows import RECORD_COLUMNS, record_bytes
from audit.tables import audit_checkpoints, audit_events

BATCH: Final = 5_000
CSV_COLUMNS: Final = (
    "chain",
    "seq",
    "event_id",
    "occurred_at",
    "recorded_at",
    "account_id",
    "actor_type",
    "actor_id",
    "actor_roles",
    "client_id",
    "on_behalf_of",
    "action",
    "target_type",
    "target_id",
    "outcome",
    "reason_code",
    "request_id",
    "job_id",
    "dsr_id",
    "policy_version",
    "cascade_profile",
    "cascade_profile_version",
    "details",
    "subject_id",
    "protected",
    "protected_fields",
    "prev_hash",
    "hash",
)


def export_events(
    session: Session | Connection,
    filters: EventFilter,
    format: Literal["ndjson", "csv"] = "ndjson",
    *,
    key_encryption_key: bytes | None = None,
    signing_key: Ed25519PrivateKey | None = None,
) -> Iterator[str]:
    """Text chunks of the export (whole lines each). ``key_encryption_key`` is used by the
    CSV format only: NDJSON exports never carry plaintext personal data. ``signing_key``
    signs the NDJSON end line, the export's closing checkpoint (each chain's last exported
    event, the counts): without it the export has an unsigned tail and does not verify."""
    if format == "ndjson":
        return _ndjson(session, filters, signing_key)
    if format == "csv":
        return _csv(session, filters, key_encryption_key)
    raise ValueError(f"unknown export format {format!r}")


def _chains(session: Session | Connection, filters: EventFilter) -> list[tuple[str, int, int]]:
    """(chain, first seq, last seq) of matching events; fixing the last seq up front keeps
    the export a consistent snapshot while appends go on."""
    c = audit_events.c
    statement = (
        select(c.chain, func.min(c.seq), func.max(c.seq))
        .where(*conditions(filters))
        .group_by(c.chain)
        .order_by(c.chain)
    )
    return [(chain, int(first), int(last)) for chain, first, last in session.execute(statement)]


def _event_rows(
    session: Session | Connection,
    chain: str,
    first: int,
    last: int,
    where: list[ColumnElement[bool]],
    columns: list[Any],
) -> Iterator[Any]:
    c = audit_events.c
    after = first - 1
    while True:
        rows = session.execute(
            select(*columns)
            .where(c.chain == chain, c.seq > after, c.seq <= last, *where)
            .order_by(c.seq)
            .limit(BATCH)
        ).all()
        yield from rows
        if len(rows) < BATCH:
            return
        after = rows[-1].seq


def _ndjson(
    session: Session | Connection, filters: EventFilter, signing_key: Ed25519PrivateKey | None
) -> Iterator[str]:
    complete = filters.selects_whole_chains()
    exported_at = canonical.format_timestamp(datetime.now(UTC))
    # Whole segments take every event of the range; a selection keeps its conditions.
    where = [] if complete else conditions(filters)
    filter_fields = {k: _jsonable(v) for k, v in asdict(filters).items() if v not in (None, False)}
    yield _line(
        {
            "type": "header",
            "format": "audit-export",
            "version": canonical.FORMAT_VERSION,
            "exported_at": exported_at,
            "filter": filter_fields,
            "complete": complete,
            "hash": "sha256 over the record's canonical bytes (see audit/README.md)",
            "signature": "Ed25519 over the checkpoint's canonical bytes",
            "end": "signed: each chain's last exported event and the counts",
        }
    )
    heads: list[dict[str, Any]] = []
    columns = [audit_events.c[name] for name in RECORD_COLUMNS]
    events = checkpoints = 0
    chains = _chains(session, filters)
    for chain, first, last in chains:
        yield _line(
            {
                "type": "chain",
                "chain": chain,
                "first_seq": first,
                "last_seq": last,
                "complete": complete,
            }
        )
        cps = audit_checkpoints
        lines = []
        for row in session.execute(
            select(cps)
            .where(cps.c.chain == chain, cps.c.seq >= first, cps.c.seq <= last)
            .order_by(cps.c.seq)
        ).mappings():
            checkpoints += 1
            lines.append(
                _line(
                    {
                        "type": "checkpoint",
                        "chain": chain,
                        "seq": row["seq"],
                        "hash": row["hash"],
                        "created_at": canonical.format_timestamp(row["created_at"]),
                        "key_id": row["key_id"],
                        "signature": row["signature"],
                        **(
                            {"root_hash": row["root_hash"], "note": row["note"]}
                            if row["root_hash"] is not None
                            else {}
                        ),
                    }
                )
            )
        if lines:
            yield "".join(lines)
        chunk: list[str] = []
        count, last_hash, last_seq = 0, "", 0
        for row in _event_rows(session, chain, first, last, where, columns):
            count += 1
            last_hash, last_seq = row.hash, row.seq
            record = record_bytes(row).decode("utf-8")
            chunk.append(f'{{"type":"event","hash":"{row.hash}","record":{record}}}\n')
            if len(chunk) >= BATCH:
                events += len(chunk)
                yield "".join(chunk)
                chunk = []
        if chunk:
            events += len(chunk)
            yield "".join(chunk)
        heads.append(
            {
                "chain": chain,
                "first_seq": first,
                "seq": last_seq,
                "hash": last_hash,
                "events": count,
            }
        )
    end: dict[str, Any] = {
        "type": "end",
        "chains": len(chains),
        "events": events,
        "checkpoints": checkpoints,
        "complete": complete,
        "exported_at": exported_at,
        "heads": heads,
    }
    yield _line(sign_seal(signing_key, end) if signing_key is not None else end)


def _csv(session: Session | Connection, filters: EventFilter, kek: bytes | None) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    yield buffer.getvalue()
    where = conditions(filters)
    columns = [audit_events.c[name] for name in CSV_COLUMNS if name != "protected_fields"]
    for chain, first, last in _chains(session, filters):
        batch: list[Any] = []
        for row in _event_rows(session, chain, first, last, where, columns):
            batch.append(row)
            if len(batch) >= BATCH:
                yield _csv_rows(session, batch, kek)
                batch = []
        if batch:
            yield _csv_rows(session, batch, kek)


def _csv_rows(session: Session | Connection, rows: list[Any], kek: bytes | None) -> str:
    keys: dict[str, bytes] = {}
    if kek is not None:
        keys = data_keys_for_reading(
            session, kek, {r.subject_id for r in rows if r.protected and r.subject_id}
        )
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for row in rows:
        values = row._asdict()
        plain: Any = None
        if row.protected is not None and kek is not None:
            key = keys.get(row.subject_id)
            plain = ERASED if key is None else decrypt_fields(key, row.event_id, row.protected)
        values["protected_fields"] = json.dumps(plain, sort_keys=True) if plain else ""
        values["occurred_at"] = canonical.format_timestamp(row.occurred_at)
        values["recorded_at"] = canonical.format_timestamp(row.recorded_at)
        writer.writerow([_cell(values[name]) for name in CSV_COLUMNS])
    return buffer.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = str(value)
    # Spreadsheets execute cells that start like formulas (CSV injection); the CSV is for
    # people, so defuse them. This is one reason the CSV is not the verifiable format.
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


def _line(value: dict[str, Any]) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"


def _jsonable(value: Any) -> Any:
    return canonical.format_timestamp(value) if isinstance(value, datetime) else value
