"""Running bulk jobs: leased, worked in chunks, resumable.

A runner holds a lease on the job and works through the pending items a chunk at a time;
each chunk's deletions (or restores), cascades, audit events and item statuses commit in one
transaction. A runner that dies leaves its lease to expire, and the next runner continues
from the first pending item: no contact is processed twice or skipped.

Jobs are run inline (tests), by one background thread per worker, by ``policy-service jobs
run``, and - for jobs whose runner died - by the scheduler's job recovery.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from datetime import timedelta

import structlog

from policy_service.decisions.authorization import Caller
from policy_service.domain.clock import utcnow
from policy_service.lifecycle.bulk import ChunkOutcome, ChunkRaced, delete_chunk, restore_chunk
from policy_service.lifecycle.events import job_finished_event, skipped_contact_event
from policy_service.lifecycle.guards import load_account, profile_for
from policy_service.ports import Acts, Decides, LifecycleDeps, Stores
from policy_service.storage import jobs as job_store
from policy_service.storage.jobs import CANCELLED, CANCELLING, QUEUED, Job
from policy_service.storage.unit_of_work import UnitOfWork

log = structlog.get_logger(__name__)

LEASE = timedelta(seconds=60)


def runner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def run_job(state: LifecycleDeps, job_id: str, owner: str | None = None) -> bool:
    """Work the job to its end. Returns False when another runner holds it."""
    owner = owner or runner_id()
    while True:
        with state.unit_of_work() as uow:
            job = job_store.claim(uow.session, job_id, owner, utcnow(), LEASE)
            if job is None:
                return False
            if job.status == CANCELLING:
                _finish(state, uow, job, CANCELLED)
                uow.commit()
                return True
            items = job_store.pending_items(uow.session, job_id, state.settings.job_chunk_size)
            if not items:
                _finish(state, uow, job, "completed_with_skips" if job.failed else "succeeded")
                uow.commit()
                return True
            try:
                _work_chunk(state, uow, job, items)
            except ChunkRaced as race:
                log.info("job.chunk_raced", job_id=job_id, detail=str(race))
                continue  # the unit of work rolls back; the chunk is read again
            uow.commit()


def _acting_caller(job: Job) -> Caller:
    """Who the job acts as: the user who started it, or the service that did so for a user."""
    on_behalf_of = job.params.get("on_behalf_of")
    return Caller(
        (on_behalf_of and job.client_id) or job.created_by,
        "service" if on_behalf_of else "user",
        on_behalf_of=on_behalf_of,
        request_id=job.request_id,
    )


def _work_chunk(state: Acts, uow: UnitOfWork, job: Job, items: list[tuple[int, str]]) -> None:
    """Work one chunk of pending items ((position, contact id), by position) in ``uow``."""
    account = load_account(state, job.account_id)
    profile = profile_for(state, account)
    caller = _acting_caller(job)
    contact_ids = [contact_id for _, contact_id in items]
    outcome: ChunkOutcome
    if job.kind == "bulk_restore":
        outcome = restore_chunk(state, uow, caller, account, profile, contact_ids, job_id=job.id)
    else:
        outcome = delete_chunk(
            state,
            uow,
            caller,
            account,
            profile,
            contact_ids,
            reason_code=job.params["reason_code"],
            operation_id=f"op_{job.id}",
            job_id=job.id,
        )
    # A contact the job left alone is a refused attempt like any other: on record, with why.
    action = "contact.restore" if job.kind == "bulk_restore" else "contact.delete"
    uow.record_many(
        [
            skipped_contact_event(state, caller, action, job, contact_id, skipped)
            for contact_id, skipped in outcome.skipped.items()
        ]
    )
    session = uow.session
    skipped_reasons = {
        position: outcome.skipped[contact_id][0]
        for position, contact_id in items
        if contact_id in outcome.skipped
    }
    job_store.mark_skipped(session, job.id, skipped_reasons)
    # The chunk is the first pending items by position, so every pending item in its range
    # is in it: one UPDATE marks the rest done.
    job_store.mark_done(session, job.id, items[0][0], items[-1][0])
    job_store.count_chunk(session, job.id, len(items), len(outcome.skipped), utcnow())


def _finish(state: Decides, uow: UnitOfWork, job: Job, status: str) -> None:
    ended = job_store.set_status(uow.session, job.id, status, utcnow())
    summary = job_store.item_summary(uow.session, job.id)
    uow.record(job_finished_event(state, ended, status, summary))


def runnable_jobs(state: Stores) -> list[str]:
    """Queued jobs, and running ones whose runner's lease has expired (it died)."""
    now = utcnow()
    with state.unit_of_work(write=False) as uow:
        unfinished = job_store.unfinished_jobs(uow.session, now)
    return [
        job_id
        for job_id, status, lease_until in unfinished
        if status == QUEUED or lease_until is None or lease_until <= now
    ]


def orphaned_jobs(state: Stores) -> list[str]:
    """The runnable jobs a runner had taken and then died: not the queued ones."""
    runnable = runnable_jobs(state)
    if not runnable:
        return []
    with state.unit_of_work(write=False) as uow:
        queued = job_store.queued_among(uow.session, runnable)
    return [job_id for job_id in runnable if job_id not in queued]


def run_pending(state: LifecycleDeps) -> int:
    """Run every runnable job to its end (``policy-service jobs run``)."""
    count = 0
    for job_id in runnable_jobs(state):
        if run_job(state, job_id):
            count += 1
    return count


_runner_lock = threading.Lock()
_runners: dict[int, threading.Thread] = {}


def start_background_runner(state: LifecycleDeps, idle_seconds: float = 2.0) -> None:
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
