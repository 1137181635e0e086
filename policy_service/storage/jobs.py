"""Bulk jobs and their items (``jobs``, ``job_items``): the named queries of
``lifecycle/jobs.py`` (create, read, list, cancel) and ``lifecycle/job_runner.py`` (lease,
chunk, finish, recover).

A job's items are its confirmed selection, one row per contact in a stable order
(``position``); a runner works through the pending ones a chunk at a time and marks each
done or skipped. Its lease (``lease_owner``, ``lease_until``) says which runner holds it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from policy_service.storage.contacts import new_id
from policy_service.storage.rows import from_row
from policy_service.storage.tables import JobItemRow, JobRow

QUEUED, RUNNING, CANCELLING, CANCELLED = "queued", "running", "cancelling", "cancelled"
# A job in one of these has ended: nothing runs it again, and it cannot be cancelled.
FINAL = frozenset({"succeeded", "completed_with_skips", CANCELLED, "failed"})
PENDING, DONE, SKIPPED = "pending", "done", "skipped"

items_t = cast(Table, JobItemRow.__table__)


@dataclass(frozen=True)
class Job:
    id: str
    account_id: str
    kind: str
    status: str
    total: int
    processed: int
    failed: int
    params: dict[str, Any]  # free-form JSON: the selection, reason code, cascade profile
    created_by: str
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    # Who started it, as the runner acts for them: the client (a service acting on behalf of
    # a user), and the request it came in with.
    client_id: str | None
    request_id: str | None


@dataclass(frozen=True)
class JobItem:
    position: int
    contact_id: str
    status: str  # pending | done | skipped
    reason_code: str | None


def _job(row: JobRow) -> Job:
    return from_row(Job, row, params=json.loads(row.params))


def _aware(value: datetime | None, now: datetime) -> datetime | None:
    if value is not None and value.tzinfo is None:  # SQLite hands back naive UTC
        return value.replace(tzinfo=now.tzinfo)
    return value


# -- creating, reading, listing ----------------------------------------------------------------


def insert_job(
    session: Session,
    *,
    account_id: str,
    kind: str,
    contact_ids: list[str],
    params: dict[str, Any],
    created_by: str,
    client_id: str | None,
    request_id: str | None,
    now: datetime,
) -> Job:
    """A queued job with its selection as pending items, in the selection's order."""
    row = JobRow(
        id=new_id("job"),
        account_id=account_id,
        kind=kind,
        status=QUEUED,
        total=len(contact_ids),
        processed=0,
        failed=0,
        params=json.dumps(params),
        created_by=created_by,
        client_id=client_id,
        request_id=request_id,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    if contact_ids:
        session.execute(
            insert(JobItemRow),
            [
                {"job_id": row.id, "position": i, "contact_id": c, "status": PENDING}
                for i, c in enumerate(contact_ids)
            ],
        )
    return _job(row)


def get_job(session: Session, job_id: str, *, for_update: bool = False) -> Job | None:
    row = session.get(JobRow, job_id, with_for_update=for_update)
    return None if row is None else _job(row)


def list_jobs(
    session: Session,
    account_id: str,
    *,
    status: str | None,
    kind: str | None,
    before: tuple[datetime, str] | None,
    limit: int,
) -> list[Job]:
    """The account's jobs, newest first; ``before`` is the (created_at, id) of the last job
    of the previous page."""
    statement = (
        select(JobRow)
        .where(JobRow.account_id == account_id)
        .order_by(JobRow.created_at.desc(), JobRow.id.desc())
        .limit(limit)
    )
    if status is not None:
        statement = statement.where(JobRow.status == status)
    if kind is not None:
        statement = statement.where(JobRow.kind == kind)
    if before is not None:
        created_at, job_id = before
        statement = statement.where(
            (JobRow.created_at < created_at)
            | ((JobRow.created_at == created_at) & (JobRow.id < job_id))
        )
    return [_job(row) for row in session.execute(statement).scalars()]


def list_items(
    session: Session, job_id: str, *, status: str | None, after: int | None, limit: int
) -> list[JobItem]:
    """The job's items by position, after ``after``."""
    statement = (
        select(JobItemRow.position, JobItemRow.contact_id, JobItemRow.status, JobItemRow.error)
        .where(JobItemRow.job_id == job_id)
        .order_by(JobItemRow.position)
        .limit(limit)
    )
    if status is not None:
        statement = statement.where(JobItemRow.status == status)
    if after is not None:
        statement = statement.where(JobItemRow.position > after)
    return [JobItem(int(p), str(c), str(s), e) for p, c, s, e in session.execute(statement)]


def item_summaries(session: Session, job_ids: list[str]) -> dict[str, dict[str, int]]:
    """job -> item status -> how many, for a page of jobs in one query."""
    if not job_ids:
        return {}
    rows = session.execute(
        select(JobItemRow.job_id, JobItemRow.status, func.count())
        .where(JobItemRow.job_id.in_(job_ids))
        .group_by(JobItemRow.job_id, JobItemRow.status)
    ).all()
    summaries: dict[str, dict[str, int]] = {}
    for job_id, status, count in rows:
        summaries.setdefault(job_id, {})[status] = int(count)
    return summaries


def item_summary(session: Session, job_id: str) -> dict[str, int]:
    """Item status -> how many, for one job."""
    rows = session.execute(
        select(JobItemRow.status, func.count())
        .where(JobItemRow.job_id == job_id)
        .group_by(JobItemRow.status)
    ).all()
    return {status: int(count) for status, count in rows}


def set_status(session: Session, job_id: str, status: str, now: datetime) -> Job:
    """Move a job (read in this transaction) to ``status``; a final status also ends it."""
    row = session.get(JobRow, job_id)
    if row is None:
        raise LookupError(job_id)
    row.status = status
    row.updated_at = now
    if status in FINAL:
        row.finished_at = now
        row.lease_owner = None
        row.lease_until = None
    session.flush()
    return _job(row)


# -- running -------------------------------------------------------------------------------------


def claim(session: Session, job_id: str, owner: str, now: datetime, lease: timedelta) -> Job | None:
    """Take or renew the job's lease (the row stays locked until the transaction ends); None
    if another live runner holds it, or the job has ended. A queued job starts running."""
    row = session.get(JobRow, job_id, with_for_update=True)
    if row is None or row.status in FINAL:
        return None
    lease_until = _aware(row.lease_until, now)
    if row.lease_owner not in (None, owner) and lease_until and lease_until > now:
        return None
    row.lease_owner = owner
    row.lease_until = now + lease
    if row.status == QUEUED:
        row.status = RUNNING
    return _job(row)


def pending_items(session: Session, job_id: str, limit: int) -> list[tuple[int, str]]:
    """The first ``limit`` pending items, as (position, contact id), by position."""
    return [
        (int(position), str(contact_id))
        for position, contact_id in session.execute(
            select(JobItemRow.position, JobItemRow.contact_id)
            .where(JobItemRow.job_id == job_id, JobItemRow.status == PENDING)
            .order_by(JobItemRow.position)
            .limit(limit)
        )
    ]


def mark_skipped(session: Session, job_id: str, reasons: dict[int, str]) -> None:
    """Mark items (by position) skipped, each with its reason code."""
    if not reasons:
        return
    session.execute(
        update(items_t)
        .where(items_t.c.job_id == job_id, items_t.c.position == bindparam("p"))
        .values(status=SKIPPED, error=bindparam("e")),
        [{"p": position, "e": code} for position, code in reasons.items()],
    )


def mark_done(session: Session, job_id: str, first: int, last: int) -> None:
    """Mark the items still pending from position ``first`` to ``last`` done."""
    session.execute(
        update(items_t)
        .where(
            items_t.c.job_id == job_id,
            items_t.c.position.between(first, last),
            items_t.c.status == PENDING,
        )
        .values(status=DONE)
    )


def count_chunk(session: Session, job_id: str, processed: int, skipped: int, now: datetime) -> None:
    """Add a chunk's items to the job's progress."""
    row = session.get(JobRow, job_id)
    if row is None:
        raise LookupError(job_id)
    row.processed += processed
    row.failed += skipped
    row.updated_at = now
    session.flush()


def unfinished_jobs(session: Session, now: datetime) -> list[tuple[str, str, datetime | None]]:
    """(id, status, lease_until) of every job not yet ended, oldest first."""
    rows = session.execute(
        select(JobRow.id, JobRow.status, JobRow.lease_until)
        .where(JobRow.status.in_((QUEUED, RUNNING, CANCELLING)))
        .order_by(JobRow.created_at)
    ).all()
    return [(job_id, status, _aware(lease_until, now)) for job_id, status, lease_until in rows]


def queued_among(session: Session, job_ids: list[str]) -> set[str]:
    """Which of these jobs are still queued (no runner has taken them yet)."""
    return set(
        session.execute(
            select(JobRow.id).where(JobRow.id.in_(job_ids), JobRow.status == QUEUED)
        ).scalars()
    )


def count_by_status(session: Session) -> dict[str, int]:
    """How many jobs are in each status, across accounts (the metrics' gauge)."""
    rows = session.execute(select(JobRow.status, func.count()).group_by(JobRow.status))
    return {status: int(count) for status, count in rows}
