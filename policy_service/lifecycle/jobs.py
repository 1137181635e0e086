"""Bulk jobs (delete, restore): created with a confirmed selection, read, listed, cancelled.

The selection (the contacts that matched when the caller confirmed ``expected_count``) is
written to ``job_items`` with the job, so a job resumed after a crash works through exactly
what was confirmed. Running a job - its lease, its chunks, resuming it, the background
runner - is ``lifecycle/job_runner.py``; its functions are re-exported here, as this module
is what the API, the CLI and the app factory call.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

from policy_service.audit_trail.recording import (
    Refusal,
    refuse,
    refused,
    require,
    require_visible,
)
from policy_service.decisions.authorization import Caller
from policy_service.domain.cascade import CascadeProfile
from policy_service.domain.clock import iso, utcnow
from policy_service.domain.contacts import ACTIVE, OPT_OUT_GUIDANCE, TRASHED
from policy_service.domain.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    ServiceError,
    Unprocessable,
)
from policy_service.lifecycle.events import job_cancel_requested_event, job_started_event
from policy_service.lifecycle.guards import check_reason, load_account, profile_for
from policy_service.lifecycle.job_runner import (
    LEASE,
    run_job,
    run_pending,
    runnable_jobs,
    runner_id,
    start_background_runner,
)
from policy_service.ports import Acts, Decides, LifecycleDeps, Stores
from policy_service.storage import contact_search
from policy_service.storage import jobs as job_store
from policy_service.storage.jobs import CANCELLED, CANCELLING, FINAL, QUEUED, Job, JobItem
from policy_service.storage.unit_of_work import UnitOfWork

__all__ = [
    "DELETE_CONFIRMATION",
    "FINAL",
    "LEASE",
    "Job",
    "JobItem",
    "cancel_job",
    "create_bulk_delete",
    "create_bulk_restore",
    "get_job",
    "get_job_unchecked",
    "item_summaries",
    "item_summary",
    "list_items",
    "list_jobs",
    "run_job",
    "run_pending",
    "runnable_jobs",
    "runner_id",
    "start_background_runner",
]

DELETE_CONFIRMATION = "DELETE"
MAX_NAMED_IDS = 100  # how many missing ids a stale-selection 409 names


# -- creating ----------------------------------------------------------------------------------


def create_bulk_delete(
    state: LifecycleDeps,
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
    the count). ``filter`` is the request's selection filter (tag, query or all)."""
    action = "contact.bulk_delete"
    require(state, caller, "contact", action, account_id=account_id)
    if confirm != DELETE_CONFIRMATION:
        text = f'type DELETE to confirm: send "confirm": "{DELETE_CONFIRMATION}"'
        refusal = Refusal(action, 422, "confirmation_required", text, account_id, "job")
        raise refused(state, caller, refusal)
    try:
        check_reason(reason_code, reason_text)
    except Unprocessable as error:
        refusal = Refusal(action, 422, "not_a_delete", error.detail, account_id, "job")
        raise refused(state, caller, refusal, see=OPT_OUT_GUIDANCE) from None
    selection = _Selection(ids, filter, expected_count)
    return _create(
        state, caller, account_id, "bulk_delete", ACTIVE, selection, reason_code, reason_text
    )


def create_bulk_restore(
    state: LifecycleDeps,
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
    selection = _Selection(ids, filter, expected_count)
    return _create(state, caller, account_id, "bulk_restore", TRASHED, selection, None, None)


class _Selection:
    """What the caller confirmed: ids or a filter (free-form JSON: tag, query or all), and how
    many contacts it held when they reviewed it."""

    def __init__(
        self, ids: list[str] | None, filter: dict[str, Any] | None, expected_count: int
    ) -> None:
        if ids is not None:
            ids = list(dict.fromkeys(ids))  # the same id twice is one contact, selected once
        self.ids = ids
        self.filter = filter
        self.expected_count = expected_count

    def check(self) -> None:
        if (self.ids is None) == (self.filter is None):
            raise InvalidInput("give either ids or filter", errors={"ids": ["or filter, not both"]})
        given = self.filter
        if given is not None and not (given.get("all") or given.get("tag") or given.get("query")):
            raise InvalidInput(
                "an empty filter selects nothing; use {'all': true} to select every contact",
                errors={"filter": ["tag, query or all"]},
            )

    def described(self) -> object:
        """How the job's params name the selection: a count of ids, or the filter."""
        return {"ids": len(self.ids)} if self.ids is not None else self.filter


def _create(
    state: LifecycleDeps,
    caller: Caller,
    account_id: str,
    kind: str,
    contact_state: str,
    selection: _Selection,
    reason_code: str | None,
    reason_text: str | None,
) -> Job:
    selection.check()
    account = load_account(state, account_id)
    profile = profile_for(state, account)
    given = selection.filter or {}
    with state.unit_of_work() as uow:
        selected = contact_search.select_ids(
            uow.session,
            account_id,
            contact_state,
            ids=selection.ids,
            tag=given.get("tag"),
            query=given.get("query"),
        )
        if len(selected) == selection.expected_count:
            params = {
                "reason_code": reason_code,
                "selection": selection.described(),
                "cascade_profile": profile.name,
                "cascade_profile_version": profile.version,
                "on_behalf_of": caller.on_behalf_of,
            }
            job = _insert_job(
                state, uow, caller, account_id, kind, selected, params, profile, reason_text
            )
            uow.commit()
    if len(selected) != selection.expected_count:
        # Recorded after the transaction above has ended: a refusal has a unit of work of its
        # own, which must not wait on this one (SQLite has one writer).
        raise _selection_changed(
            state, caller, account_id, kind, contact_state, selection, selected
        )
    if state.settings.job_runner == "inline":
        run_job(state, job.id)
        return get_job_unchecked(state, job.id)
    if state.settings.job_runner == "thread":
        start_background_runner(state)
    return job


def _selection_changed(
    state: Acts,
    caller: Caller,
    account_id: str,
    kind: str,
    contact_state: str,
    selection: _Selection,
    selected: list[str],
) -> ServiceError:
    ids, expected = selection.ids, selection.expected_count
    missing = sorted(set(ids) - set(selected)) if ids is not None else []
    text = (
        f"the selection now holds {len(selected)} {contact_state} contacts, not the "
        f"{expected} that were confirmed; review it and confirm again"
    )
    return refuse(
        state,
        caller,
        f"contact.{kind}",
        status=409,
        code="selection_changed",
        text=text,
        account_id=account_id,
        target_type="job",
        selected_count=len(selected),
        expected_count=expected,
        missing_ids=missing[:MAX_NAMED_IDS],
        missing_count=len(missing),
    )


def _insert_job(
    state: Decides,
    uow: UnitOfWork,
    caller: Caller,
    account_id: str,
    kind: str,
    selected: list[str],
    params: dict[str, Any],
    profile: CascadeProfile,
    reason_text: str | None,
) -> Job:
    job = job_store.insert_job(
        uow.session,
        account_id=account_id,
        kind=kind,
        contact_ids=selected,
        params=params,
        created_by=caller.acting_subject,
        client_id=caller.principal_id,
        request_id=caller.request_id,
        now=utcnow(),
    )
    uow.record(job_started_event(state, caller, job, profile, reason_text))
    return job


# -- reading and cancelling ---------------------------------------------------------------------


def get_job_unchecked(state: Stores, job_id: str) -> Job:
    with state.unit_of_work(write=False) as uow:
        job = job_store.get_job(uow.session, job_id)
    if job is None:
        raise NotFound(f"no job {job_id}")
    return job


def _visible_job(state: Acts, caller: Caller, job_id: str, action: str) -> Job:
    job = get_job_unchecked(state, job_id)
    require_visible(
        state,
        caller,
        "contact",
        action,
        account_id=job.account_id,
        hidden=NotFound(f"no job {job_id}"),
        target_type="job",
        target_id=job_id,
    )
    return job


def get_job(state: Acts, caller: Caller, job_id: str) -> Job:
    return _visible_job(state, caller, job_id, "contact.read")


def list_jobs(
    state: Acts,
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
    before = _decode_cursor(cursor) if cursor is not None else None
    with state.unit_of_work(write=False) as uow:
        rows = job_store.list_jobs(
            uow.session, account_id, status=status, kind=kind, before=before, limit=limit + 1
        )
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
    state: Acts,
    caller: Caller,
    job_id: str,
    *,
    status: str | None,
    after: int | None,
    limit: int,
) -> tuple[list[JobItem], int | None]:
    """Each contact of the job with its outcome and, when skipped, the reason code."""
    get_job(state, caller, job_id)
    with state.unit_of_work(write=False) as uow:
        rows = job_store.list_items(
            uow.session, job_id, status=status, after=after, limit=limit + 1
        )
    items = rows[:limit]
    more = len(rows) > limit
    return items, (items[-1].position if more and items else None)


def item_summaries(state: Stores, job_ids: list[str]) -> dict[str, dict[str, int]]:
    """``item_summary`` for a page of jobs, in one query."""
    if not job_ids:
        return {}
    with state.unit_of_work(write=False) as uow:
        return job_store.item_summaries(uow.session, job_ids)


def item_summary(state: Stores, job_id: str) -> dict[str, int]:
    with state.unit_of_work(write=False) as uow:
        return job_store.item_summary(uow.session, job_id)


def cancel_job(state: Acts, caller: Caller, job_id: str) -> Job:
    _visible_job(state, caller, job_id, "contact.bulk_delete")
    with state.unit_of_work() as uow:
        job = job_store.get_job(uow.session, job_id, for_update=True)
        assert job is not None
        if job.status in FINAL:
            raise Conflict(f"job {job_id} has already ended ({job.status})")
        # A runner checks the status between chunks: the chunk under way completes, the
        # rest stays undone.
        status = CANCELLED if job.status == QUEUED else CANCELLING
        job = job_store.set_status(uow.session, job_id, status, utcnow())
        uow.record(job_cancel_requested_event(state, caller, job))
        uow.commit()
        return job
