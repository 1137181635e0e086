"""Verifying the log as stored (like CloudTrail's ``validate-logs``, against the database):
each chain streamed in keyset batches through :class:`~audit.chain_check.ChainCheck`, its
checkpoints and chain head included, and how long its unsigned tail has waited."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Final

from sqlalchemy import Connection, func, select, union
from sqlalchemy.orm import Session

from audit import canonical
from audit.chain_check import ChainCheck
from audit.keys import PublicKeyLike, load_public_key
from audit.report import VerificationReport
from audit.rows import RECORD_COLUMNS, record_bytes
from audit.tables import audit_chain_heads, audit_checkpoints, audit_events

BATCH: Final = 10_000


def verify_database(
    session: Session | Connection,
    public_key: PublicKeyLike,
    chain: str | None = None,
    *,
    max_unanchored_seconds: float | None = None,
    now: datetime | None = None,
) -> VerificationReport:
    """Verify one chain, or every chain, as stored. Streams in keyset batches.

    With ``max_unanchored_seconds`` (the service passes twice its checkpoint interval) a
    chain fails with ``unsigned_tail`` when its oldest event after the last valid checkpoint
    was recorded longer ago than that: checkpoints are signed on a schedule, so an old
    unsigned tail means the schedule stopped or checkpoints were removed."""
    moment = now or datetime.now(UTC)
    key = load_public_key(public_key)
    report = VerificationReport()
    if chain is not None:
        chains = [chain]
    else:
        names = union(
            select(audit_events.c.chain).distinct(),
            select(audit_checkpoints.c.chain).distinct(),
            select(audit_chain_heads.c.chain),
        ).subquery()
        chains = list(session.execute(select(names.c.chain).order_by(names.c.chain)).scalars())
    columns = [audit_events.c[name] for name in RECORD_COLUMNS]
    seq_at, prev_at = RECORD_COLUMNS.index("seq"), RECORD_COLUMNS.index("prev_hash")
    sha256 = hashlib.sha256
    for name in chains:
        check = ChainCheck(report, name)
        cps = audit_checkpoints
        for row in session.execute(
            select(
                cps.c.seq,
                cps.c.hash,
                cps.c.created_at,
                cps.c.key_id,
                cps.c.signature,
                cps.c.root_hash,
                cps.c.note,
            )
            .where(cps.c.chain == name)
            .order_by(cps.c.seq)
        ):
            check.checkpoint(key, row[0], row[1], canonical.format_timestamp(row[2]), *row[3:])
        head = session.execute(
            select(audit_chain_heads.c.seq).where(audit_chain_heads.c.chain == name)
        ).scalar()
        last = 0
        while True:
            rows = session.execute(
                select(*columns)
                .where(audit_events.c.chain == name, audit_events.c.seq > last)
                .order_by(audit_events.c.seq)
                .limit(BATCH)
            ).all()
            for row in rows:
                computed = sha256(record_bytes(row)).hexdigest()
                check.event(row[seq_at], row[prev_at], row[-1], computed)
            if len(rows) < BATCH:
                break
            last = rows[-1][seq_at]
        check.finish(head, "chain head")
        if check.last_seq > check.anchored:
            _unanchored_age(session, report, check, moment, max_unanchored_seconds)
    return report.finish()


def _unanchored_age(
    session: Session | Connection,
    report: VerificationReport,
    check: ChainCheck,
    now: datetime,
    limit: float | None,
) -> None:
    first = check.anchored + 1
    recorded = session.execute(
        select(audit_events.c.recorded_at)
        .where(audit_events.c.chain == check.chain, audit_events.c.seq >= first)
        .order_by(audit_events.c.seq)
        .limit(1)
    ).scalar()
    if recorded is None:
        return
    if recorded.tzinfo is None:  # SQLite hands back naive UTC
        recorded = recorded.replace(tzinfo=UTC)
    age = max(0.0, (now - recorded).total_seconds())
    if report.oldest_unanchored_seconds is None or age > report.oldest_unanchored_seconds:
        report.oldest_unanchored_seconds = age
        report.oldest_unanchored_at = recorded
    if limit is not None and age > limit:
        count = check.last_seq - check.anchored
        check.problem(
            first,
            "unsigned_tail",
            f"{count} events after the last checkpoint (seq {check.anchored}), the oldest "
            f"recorded {age:.0f} s ago; checkpoints are due every {limit / 2:.0f} s",
        )


def count_events(session: Session | Connection) -> int:
    return int(session.execute(select(func.count()).select_from(audit_events)).scalar_one())
