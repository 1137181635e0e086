"""Bulk jobs (delete, restore): created with a confirmed selection, worked in chunks,
resumable.

The selection (the contacts that matched when the caller confirmed ``expected_count``) is
written to ``job_items`` with the job. A runner holds a lease on the job and works through
the pending items a chunk at a time; each chunk's deletions, cascades, audit events and item
statuses commit in one transaction. A runner that dies leaves its lease to expire, and the
next runner continues from the first pending item: no contact is processed twice or skipped.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import structlog
from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from policy_service.audit_trail.recording import caller_event, refuse, require, require_visible
from policy_service.decisions.authorization import Caller
from policy_service.domain.clock import iso, utcnow
from policy_service.domain.contacts import ACTIVE, OPT_OUT_GUIDANCE, TRASHED
from policy_service.domain.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    ServiceError,
    Unprocessable,
)
from policy_service.lifecycle.actions import check_reason, load_account, profile_for
from policy_service.lifecycle.bulk import ChunkRaced, delete_chunk, restore_chunk
from policy_service.state import ServiceState
from policy_service.storage import contacts as store
from policy_service.storage.tables import JobItemRow, JobRow

log = structlog.get_logger(__name__)

DELETE_CONFIRMATION = "DELETE"
LEASE = timedelta(seconds=60)
FINAL = frozenset({"succeeded", "completed_with_skips", "cancelled", "failed"})


@dataclass(frozen=True)
class Job:
    id: str
    account_id: str
    kind: str
    status: str
    total: int
    processed: int
    failed: int
    params: dict[str, Any]
    created_by: str
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


def _job(row: JobRow) -> Job:
    return Job(
        row.id, row.account_id, row.kind, row.status, row.total, row.processed, row.failed,
        json.loads(row.params), row.created_by, row.created_at, row.updated_at, row.finished_at,
    )  # fmt: skip


def runner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


# -- creating ----------------------------------------------------------------------------------


MAX_NAMED_IDS = 100  # how many missing ids a stale-selection 409 names


def create_bulk_delete(
    state: ServiceState,
    caller: Caller,
    account_id: str,
    *,
    ids: list[str] | None,
    filter: dict[str, Any] | None,
    confirm: str | None,
    expected_count: int,
    reason_code: str,
    reason_text: str | None,
) -> Job:
    """Delete a confirmed selection of active contacts (seeds 001-004: type DELETE, review
    the count)."""
    action = "contact.bulk_delete"
    require(state, caller, "contact", action, account_id=account_id)
    if confirm != DELETE_CONFIRMATION:
        raise _refuse(
            state, caller, account_id, action, 422, "confirmation_required",
            f'type DELETE to confirm: send "confirm": "{DELETE_CONFIRMATION}"',
        )  # fmt: skip
    try:
        check_reason(reason_code, reason_text)
    except Unprocessable as refusal:
        raise _refuse(
            state, caller, account_id, action, 422, "not_a_delete", refusal.detail,
            see=OPT_OUT_GUIDANCE,
        ) from None  # fmt: skip
    return _create(
        state, caller, account_id, "bulk_delete", ACTIVE, ids=ids, filter=filter,
        expected_count=expected_count, reason_code=reason_code, reason_text=reason_text,
    )  # fmt: skip


def create_bulk_restore(
    state: ServiceState,
    caller: Caller,
    account_id: str,
    *,
    ids: list[str] | None,
    filter: dict[str, Any] | None,
    expected_count: int,
) -> Job:
    """Restore a confirmed selection of trashed contacts (as Salesforce and HubSpot do);
    each contact goes through the same decision as a single restore."""
    require(state, caller, "contact", "contact.bulk_restore", account_id=account_id)
    return _create(
        state, caller, account_id, "bulk_restore", TRASHED, ids=ids, filter=filter,
        expected_count=expected_count, reason_code=None, reason_text=None,
    )  # fmt: skip


def _refuse(
    state: ServiceState,
    caller: Caller,
    account_id: str,
    action: str,
    status: int,
    code: str,
    text: str,
    **extra: Any,
) -> ServiceError:
    return refuse(
        state, caller, action, status=status, code=code, text=text, account_id=account_id,
        target_type="job", **extra,
    )  # fmt: skip


def _create(
    state: ServiceState,
    caller: Caller,
    account_id: str,
    kind: str,
    contact_state: str,
    *,
    ids: list[str] | None,
    filter: dict[str, Any] | None,
    expected_count: int,
    reason_code: str | None,
    reason_text: str | None,
) -> Job:
    action = f"contact.{kind}"
    if ids is not None:
        ids = list(dict.fromkeys(ids))  # the same id twice is one contact, selected once
    if (ids is None) == (filter is None):
        raise InvalidInput("give either ids or filter", errors={"ids": ["or filter, not both"]})
    if filter is not None and not (filter.get("all") or filter.get("tag") or filter.get("query")):
        raise InvalidInput(
            "an empty filter selects nothing; use {'all': true} to select every contact",
            errors={"filter": ["tag, query or all"]},
        )
    account = load_account(state, account_id)
    profile = profile_for(state, account)
    with state.unit_of_work() as uow:
        selected = store.select_ids(
            uow.session,
            account_id,
            contact_state,
            ids=ids,
            tag=(filter or {}).get("tag"),
            query=(filter or {}).get("query"),
        )
        if len(selected) == expected_count:
            job = _insert_job(
                state, uow, caller, account_id, kind, selected, ids, filter, profile,
                reason_code, reason_text,
            )  # fmt: skip
            uow.commit()
    if len(selected) != expected_count:
        # Recorded after the transaction above has ended: a refusal has a unit of work of its
        # own, which must not wait on this one (SQLite has one writer).
        missing = sorted(set(ids) - set(selected)) if ids is not None else []
        raise _refuse(
            state, caller, account_id, action, 409, "selection_changed",
            f"the selection now holds {len(selected)} {contact_state} contacts, not the "
            f"{expected_count} that were confirmed; review it and confirm again",
            selected_count=len(selected), expected_count=expected_count,
            missing_ids=missing[:MAX_NAMED_IDS], missing_count=len(missing),
        )  # fmt: skip
    if state.settings.job_runner == "inline":
        run_job(state, job.id)
        return get_job_unchecked(state, job.id)
    if state.settings.job_runner == "thread":
        start_background_runner(state)
    return job


def _insert_job(
    state: ServiceState,
    uow: Any,
    caller: Caller,
    account_id: str,
    kind: str,
    selected: list[str],
    ids: list[str] | None,
    filter: dict[str, Any] | None,
    profile: Any,
    reason_code: str | None,
    reason_text: str | None,
) -> Job:
    now = utcnow()
    params = {
        "reason_code": reason_code,
        "selection": {"ids": len(ids)} if ids is not None else filter,
        "cascade_profile": profile.name,
        "cascade_profile_version": profile.version,
        "on_behalf_of": caller.on_behalf_of,
    }
    row = JobRow(
        id=store.new_id("job"),
        account_id=account_id,
        kind=kind,
        status="queued",
        total=len(selected),
        processed=0,
        failed=0,
        params=json.dumps(params),
        created_by=caller.acting_subject,
        client_id=caller.principal_id,
        request_id=caller.request_id,
        created_at=now,
        updated_at=now,
    )
    uow.session.add(row)
    uow.session.flush()
    if selected:
        uow.session.execute(
            insert(JobItemRow),
            [
                {"job_id": row.id, "position": i, "contact_id": c, "status": "pending"}
                for i, c in enumerate(selected)
            ],
        )
    protected = {"reason_text": reason_text} if reason_text else None
    uow.record(
        caller_event(
            state.runtime, caller, "job.started", "succeeded",
            account_id=account_id, target_type="job", target_id=row.id, job_id=row.id,
            reason_code=reason_code, details={"kind": kind, "total": len(selected), **params},
            cascade_profile=profile.name, cascade_profile_version=profile.version,
            subject_id=f"job/{row.id}" if protected else None, protected=protected,
        )
    )  # fmt: skip
    return _job(row)


# -- reading and cancelling ---------------------------------------------------------------------


def get_job_unchecked(state: ServiceState, job_id: str) -> Job:
    with state.unit_of_work(write=False) as uow:
        row = uow.session.get(JobRow, job_id)
        if row is None:
            raise NotFound(f"no job {job_id}")
        return _job(row)


def _visible_job(state: ServiceState, caller: Caller, job_id: str, action: str) -> Job:
    job = get_job_unchecked(state, job_id)
    require_visible(
        state, caller, "contact", action, account_id=job.account_id,
        hidden=NotFound(f"no job {job_id}"), target_type="job", target_id=job_id,
    )  # fmt: skip
    return job


def get_job(state: ServiceState, caller: Caller, job_id: str) -> Job:
    return _visible_job(state, caller, job_id, "contact.read")


@dataclass(frozen=True)
class JobItem:
    position: int
    contact_id: str
    status: str  # pending | done | skipped
    reason_code: str | None


def list_jobs(
    state: ServiceState,
    caller: Caller,
    account_id: str,
    *,
    status: str | None,
    kind: str | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[Job], str | None]:
    """The account's jobs, newest first, a page at a time (so a lost job id can be found)."""
    require(state, caller, "contact", "contact.read", account_id=account_id)
    statement = (
        select(JobRow)
        .where(JobRow.account_id == account_id)
        .order_by(JobRow.created_at.desc(), JobRow.id.desc())
        .limit(limit + 1)
    )
    if status is not None:
        statement = statement.where(JobRow.status == status)
    if kind is not None:
        statement = statement.where(JobRow.kind == kind)
    if cursor is not None:
        created_at, job_id = _decode_cursor(cursor)
        statement = statement.where(
            (JobRow.created_at < created_at)
            | ((JobRow.created_at == created_at) & (JobRow.id < job_id))
        )
    with state.unit_of_work(write=False) as uow:
        rows = [_job(row) for row in uow.session.execute(statement).scalars()]
    found = rows[:limit]
    more = len(rows) > limit
    return found, (_encode_cursor(found[-1]) if more and found else None)


def _encode_cursor(job: Job) -> str:
    raw = json.dumps([iso(job.created_at), job.id])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created_at, job_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return datetime.fromisoformat(created_at), str(job_id)
    except (ValueError, TypeError, UnicodeDecodeError):
        raise InvalidInput(
            "the cursor is not one this service handed out", errors={"cursor": ["not valid"]}
        ) from None


def list_items(
    state: ServiceState,
    caller: Caller,
    job_id: str,
    *,
    status: str | None,
    after: int | None,
    limit: int,
) -> tuple[list[JobItem], int | None]:
    """Each contact of the job with its outcome and, when skipped, the reason code."""
    get_job(state, caller, job_id)
    statement = (
        select(JobItemRow.position, JobItemRow.contact_id, JobItemRow.status, JobItemRow.error)
        .where(JobItemRow.job_id == job_id)
        .order_by(JobItemRow.position)
        .limit(limit + 1)
    )
    if status is not None:
        statement = statement.where(JobItemRow.status == status)
    if after is not None:
        statement = statement.where(JobItemRow.position > after)
    with state.unit_of_work(write=False) as uow:
        rows = uow.session.execute(statement).all()
    items = [JobItem(int(p), str(c), str(s), e) for p, c, s, e in rows[:limit]]
    more = len(rows) > limit
    return items, (items[-1].position if more and items else None)


def item_summaries(state: ServiceState, job_ids: list[str]) -> dict[str, dict[str, int]]:
    """``item_summary`` for a page of jobs, in one query."""
    if not job_ids:
        return {}
    with state.unit_of_work(write=False) as uow:
        rows = uow.session.execute(
            select(JobItemRow.job_id, JobItemRow.status, func.count())
            .where(JobItemRow.job_id.in_(job_ids))
            .group_by(JobItemRow.job_id, JobItemRow.status)
        ).all()
    summaries: dict[str, dict[str, int]] = {}
    for job_id, status, count in rows:
        summaries.setdefault(job_id, {})[status] = int(count)
    return summaries


def item_summary(state: ServiceState, job_id: str) -> dict[str, int]:
    with state.unit_of_work(write=False) as uow:
        rows = uow.session.execute(
            select(JobItemRow.status, func.count())
            .where(JobItemRow.job_id == job_id)
            .group_by(JobItemRow.status)
        ).all()
    return {status: int(count) for status, count in rows}


def cancel_job(state: ServiceState, caller: Caller, job_id: str) -> Job:
    _visible_job(state, caller, job_id, "contact.bulk_delete")
    with state.unit_of_work() as uow:
        row = uow.session.get(JobRow, job_id, with_for_update=True)
        assert row is not None
        if row.status in FINAL:
            raise Conflict(f"job {job_id} has already ended ({row.status})")
        # A runner checks the status between chunks: the chunk under way completes, the
        # rest stays undone.
        row.status = "cancelled" if row.status == "queued" else "cancelling"
        row.updated_at = utcnow()
        if row.status == "cancelled":
            row.finished_at = row.updated_at
        uow.record(
            caller_event(
                state.runtime, caller, "job.cancel_requested", "succeeded",
                account_id=row.account_id, target_type="job", target_id=job_id, job_id=job_id,
                details={"processed": row.processed, "total": row.total},
            )
        )  # fmt: skip
        uow.commit()
        return _job(row)


# -- running ------------------------------------------------------------------------------------


def _claim(session: Session, job_id: str, owner: str) -> JobRow | None:
    """Take or renew the job's lease; None if another live runner holds it or it ended."""
    now = utcnow()
    row = session.get(JobRow, job_id, with_for_update=True)
    if row is None or row.status in FINAL:
        return None
    lease_until = row.lease_until
    if lease_until is not None and lease_until.tzinfo is None:
        lease_until = lease_until.replace(tzinfo=now.tzinfo)
    if row.lease_owner not in (None, owner) and lease_until and lease_until > now:
        return None
    row.lease_owner = owner
    row.lease_until = now + LEASE
    if row.status == "queued":
        row.status = "running"
    return row


def run_job(state: ServiceState, job_id: str, owner: str | None = None) -> bool:
    """Work the job to its end. Returns False when another runner holds it."""
    owner = owner or runner_id()
    while True:
        with state.unit_of_work() as uow:
            row = _claim(uow.session, job_id, owner)
            if row is None:
                return False
            if row.status == "cancelling":
                _finish(state, uow, row, "cancelled")
                uow.commit()
                return True
            items = [
                (int(position), str(contact_id))
                for position, contact_id in uow.session.execute(
                    select(JobItemRow.position, JobItemRow.contact_id)
                    .where(JobItemRow.job_id == job_id, JobItemRow.status == "pending")
                    .order_by(JobItemRow.position)
                    .limit(state.settings.job_chunk_size)
                )
            ]
            if not items:
                skipped = row.failed
                _finish(state, uow, row, "completed_with_skips" if skipped else "succeeded")
                uow.commit()
                return True
            try:
                _work_chunk(state, uow, row, items)
            except ChunkRaced as race:
                log.info("job.chunk_raced", job_id=job_id, detail=str(race))
                continue  # the unit of work rolls back; the chunk is read again
            uow.commit()


def _work_chunk(state: ServiceState, uow: Any, row: JobRow, items: list[tuple[int, str]]) -> None:
    params = json.loads(row.params)
    account = load_account(state, row.account_id)
    profile = profile_for(state, account)
    caller = Caller(
        (params.get("on_behalf_of") and row.client_id) or row.created_by,
        "service" if params.get("on_behalf_of") else "user",
        on_behalf_of=params.get("on_behalf_of"),
        request_id=row.request_id,
    )
    contact_ids = [contact_id for _, contact_id in items]
    if row.kind == "bulk_restore":
        outcome = restore_chunk(state, uow, caller, account, profile, contact_ids, job_id=row.id)
    else:
        outcome = delete_chunk(
            state, uow, caller, account, profile, contact_ids,
            reason_code=params["reason_code"], operation_id=f"op_{row.id}", job_id=row.id,
        )  # fmt: skip
    # A contact the job left alone is a refused attempt like any other: on record, with why.
    action = "contact.restore" if row.kind == "bulk_restore" else "contact.delete"
    uow.record_many(
        [
            caller_event(
                state.runtime, caller, action, "denied" if status == 403 else "failed",
                account_id=row.account_id, target_type="contact", target_id=contact_id,
                reason_code=code, job_id=row.id, details={"reason": text, "status": status},
            )
            for contact_id, (code, text, status) in outcome.skipped.items()
        ]
    )  # fmt: skip
    items_table = cast(Table, JobItemRow.__table__)
    skipped = [
        {"p": position, "e": outcome.skipped[contact_id][0]}
        for position, contact_id in items
        if contact_id in outcome.skipped
    ]
    if skipped:
        uow.session.execute(
            update(items_table)
            .where(items_table.c.job_id == row.id, items_table.c.position == bindparam("p"))
            .values(status="skipped", error=bindparam("e")),
            skipped,
        )
    # The chunk is the first pending items by position, so every pending item in its range
    # is in it: one UPDATE marks the rest done.
    uow.session.execute(
        update(items_table)
        .where(
            items_table.c.job_id == row.id,
            items_table.c.position.between(items[0][0], items[-1][0]),
            items_table.c.status == "pending",
        )
        .values(status="done")
    )
    row.processed += len(items)
    row.failed += len(outcome.skipped)
    row.updated_at = utcnow()
    uow.session.flush()


def _finish(state: ServiceState, uow: Any, row: JobRow, status: str) -> None:
    row.status = status
    row.finished_at = row.updated_at = utcnow()
    row.lease_owner = None
    row.lease_until = None
    summary = dict(
        uow.session.execute(
            select(JobItemRow.status, func.count())
            .where(JobItemRow.job_id == row.id)
            .group_by(JobItemRow.status)
        ).all()
    )
    uow.record(
        caller_event(
            state.runtime,
            Caller(row.created_by, "user", request_id=row.request_id),
            "job.finished", "succeeded" if status != "failed" else "failed",
            account_id=row.account_id, target_type="job", target_id=row.id, job_id=row.id,
            details={"status": status, "total": row.total, "processed": row.processed,
                     "skipped": row.failed, "items": {k: int(v) for k, v in summary.items()}},
        )
    )  # fmt: skip


def runnable_jobs(state: ServiceState) -> list[str]:
    """Queued jobs, and running ones whose runner's lease has expired (it died)."""
    now = utcnow()
    with state.unit_of_work(write=False) as uow:
        rows = uow.session.execute(
            select(JobRow.id, JobRow.status, JobRow.lease_until)
            .where(JobRow.status.in_(("queued", "running", "cancelling")))
            .order_by(JobRow.created_at)
        ).all()
    runnable = []
    for job_id, status, lease_until in rows:
        if lease_until is not None and lease_until.tzinfo is None:
            lease_until = lease_until.replace(tzinfo=now.tzinfo)
        if status == "queued" or lease_until is None or lease_until <= now:
            runnable.append(job_id)
    return runnable


def run_pending(state: ServiceState) -> int:
    """Run every runnable job to its end (``policy-service jobs run``)."""
    count = 0
    for job_id in runnable_jobs(state):
        if run_job(state, job_id):
            count += 1
    return count


_runner_lock = threading.Lock()
_runners: dict[int, threading.Thread] = {}


def start_background_runner(state: ServiceState, idle_seconds: float = 2.0) -> None:
    """One daemon thread per process that runs queued and orphaned jobs."""
    with _runner_lock:
        thread = _runners.get(id(state))
        if thread is not None and thread.is_alive():
            return

        def loop() -> None:
            while True:
                try:
                    if not run_pending(state):
                        time.sleep(idle_seconds)
                except Exception:  # keep the runner alive; the job resumes on the next pass
                    log.exception("jobs.runner_error")
                    time.sleep(idle_seconds)

        thread = threading.Thread(target=loop, name="job-runner", daemon=True)
        _runners[id(state)] = thread
        thread.start()
