"""Scheduled maintenance: the retention sweep, the recovery of orphaned bulk jobs, audit
checkpoints, and sending the webhook deliveries that are due.

Every worker runs a scheduler thread (``create_app``); the database decides which one runs
a task that is due, so each task runs once per interval across all workers and hosts:

* PostgreSQL: the runner holds a session-level advisory lock (``pg_try_advisory_lock``) on a
  connection of its own for as long as the task runs. A worker that does not get it skips
  the task; a runner that dies loses the lock with its connection.
* SQLite: a lease in the task's row, taken by one ``UPDATE ... WHERE lease_until < now``
  whose row count says who won (SQLite's write lock makes that atomic for every process on
  the file), renewed while the task runs and cleared when it ends.

On both, the winner moves the task's ``next_run_at`` one interval on in the same statement
that claims it (``WHERE next_run_at <= now``): a worker that gets the lock or the lease
after the run, or a worker (re)started within the interval, finds the task not due. The row
also keeps how the last run went, which ``/health`` reads. Times are the workers' clocks,
as for job leases: hosts are expected to keep them in sync.

A tick never raises: with the database away it logs a warning and the next tick tries again.
The locks and the task rows' statements are ``storage/scheduled_tasks.py``; what is here is
the schedule: which tasks, when, and what a run does.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog

from policy_service.audit_trail.checkpointing import sign_due_checkpoints
from policy_service.decisions.authorization import Caller
from policy_service.domain.clock import utcnow
from policy_service.integration.webhooks import deliver_due, prune_log
from policy_service.lifecycle.job_runner import orphaned_jobs, run_job
from policy_service.lifecycle.retention import sweep
from policy_service.ports import Configured, DsrDeps, LifecycleDeps, Scheduled, SealsDeliveries
from policy_service.privacy.execution import resume_executions
from policy_service.storage.database import is_unavailable
from policy_service.storage.scheduled_tasks import (
    TaskLock,
    TaskStatus,
    TaskStore,
    advisory_key,
    read_status,
)

__all__ = [
    "AUDIT_CHECKPOINTS",
    "JOB_RECOVERY",
    "RETENTION_SWEEP",
    "WEBHOOK_DELIVERY",
    "Scheduler",
    "Task",
    "TaskStatus",
    "advisory_key",
    "deliver_webhooks",
    "read_status",
    "recover_jobs",
    "scheduled_tasks",
    "start_scheduler",
    "stop_scheduler",
    "sweep_retention",
]

log = structlog.get_logger(__name__)

RETENTION_SWEEP = "retention_sweep"
JOB_RECOVERY = "job_recovery"
AUDIT_CHECKPOINTS = "audit_checkpoints"
WEBHOOK_DELIVERY = "webhook_delivery"
# The actor of the audit events of scheduled runs.
SCHEDULER = Caller("scheduler", "system")
# A run that failed is tried again after this long (or its interval, if shorter).
RETRY_AFTER = timedelta(minutes=5)
# SQLite: how long a lease lasts unless renewed, and how often the runner renews it.
LEASE = timedelta(minutes=2)
LEASE_RENEW_SECONDS = 30.0
# The longest a worker waits between two looks at the schedule.
MAX_POLL_SECONDS = 30.0

RAN, FAILED, NOT_DUE, BUSY, DEFERRED = "ran", "failed", "not_due", "busy", "deferred"


@dataclass(frozen=True)
class Task:
    name: str
    interval: timedelta
    # Runs the task and returns what it did, as JSON (free-form; kept in the task's row).
    run: Callable[[Scheduled], dict[str, Any]]


def sweep_retention(state: LifecycleDeps) -> dict[str, Any]:
    report = sweep(state, None, actor=SCHEDULER)
    return {
        "purged": report.purged,
        "accounts": report.accounts,
        "held": len(report.held),
        "refused": len(report.refused),
    }


def recover_jobs(state: DsrDeps) -> dict[str, Any]:
    """Resume the jobs whose runner died (their lease expired); queued jobs are left to the
    job runners."""
    orphaned = orphaned_jobs(state)
    # Data-subject request executions are leased jobs too: those left without a runner count
    # as orphaned, those this pass completed as resumed (privacy/execution.py).
    dsr_found, dsr_completed = resume_executions(state)
    if not orphaned:
        return {"orphaned": dsr_found, "resumed": dsr_completed}
    resumed = sum(1 for job_id in orphaned if run_job(state, job_id))
    log.info("scheduler.jobs_recovered", orphaned=len(orphaned), resumed=resumed)
    return {"orphaned": len(orphaned) + dsr_found, "resumed": resumed + dsr_completed}


def deliver_webhooks(state: SealsDeliveries) -> dict[str, Any]:
    """Send the webhook deliveries that are due (each leased on its own as well, so a
    redeliver or a second runner never sends one attempt twice)."""
    report: dict[str, Any] = dict(deliver_due(state).as_dict())
    report["pruned"] = prune_log(state)
    return report


def scheduled_tasks(state: Configured) -> list[Task]:
    """The tasks the settings turn on."""
    settings = state.settings
    tasks = []
    if settings.retention_sweep_seconds > 0:
        tasks.append(
            Task(
                RETENTION_SWEEP,
                timedelta(seconds=settings.retention_sweep_seconds),
                sweep_retention,
            )
        )
    # ``off`` means jobs run only from ``policy-service jobs run``: not in a worker at all.
    if settings.job_recovery_seconds > 0 and settings.job_runner != "off":
        tasks.append(
            Task(JOB_RECOVERY, timedelta(seconds=settings.job_recovery_seconds), recover_jobs)
        )
    # Audit checkpoints (issue 10): every chain with unsigned events, and the witness.
    if settings.audit_checkpoint_seconds > 0:
        seconds = timedelta(seconds=settings.audit_checkpoint_seconds)
        tasks.append(Task(AUDIT_CHECKPOINTS, seconds, sign_due_checkpoints))
    # Webhooks (issue 11): the outbox's due deliveries, with backoff between attempts.
    if settings.webhook_delivery_seconds > 0:
        every = timedelta(seconds=settings.webhook_delivery_seconds)
        tasks.append(Task(WEBHOOK_DELIVERY, every, deliver_webhooks))
    return tasks


def _owner() -> str:
    return f"{socket.gethostname()[:120]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def _log_failure(event: str, error: BaseException, **context: str) -> None:
    if is_unavailable(error):
        log.warning(
            event,
            error_type=type(error).__name__,
            error=str(error).partition("\n")[0][:200],
            **context,
        )
    else:
        log.exception(event, **context)


@dataclass
class Scheduler:
    """Looks at the schedule every ``poll_seconds`` and runs what is due, if it wins it."""

    state: Scheduled
    tasks: list[Task] = field(default_factory=list)
    poll_seconds: float = MAX_POLL_SECONDS
    clock: Callable[[], datetime] = utcnow
    owner: str = field(default_factory=_owner)
    ticks: int = 0
    last_outcomes: dict[str, str] = field(default_factory=dict)
    _rows_ready: bool = field(default=False, repr=False)
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    @classmethod
    def for_state(
        cls,
        state: Scheduled,
        *,
        poll_seconds: float | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> Scheduler:
        tasks = scheduled_tasks(state)
        if poll_seconds is None:
            shortest = min((t.interval.total_seconds() for t in tasks), default=MAX_POLL_SECONDS)
            poll_seconds = min(shortest, MAX_POLL_SECONDS)
        return cls(state, tasks, poll_seconds, clock)

    # -- one look at the schedule ----------------------------------------------------------

    def tick(self) -> dict[str, str]:
        """Run each task that is due and that this worker wins; say what became of each."""
        self.ticks += 1
        try:
            # Loads the state on first need (the sweep decides with its roles and policy),
            # and picks up policy and account changes made elsewhere.
            self.state.sync()
            self._ensure_rows()
        except Exception as exc:
            _log_failure("scheduler.tick_deferred", exc)
            self.last_outcomes = {task.name: DEFERRED for task in self.tasks}
            return self.last_outcomes
        outcomes = {}
        for task in self.tasks:
            try:
                outcomes[task.name] = self._run_if_due(task)
            except Exception as exc:
                _log_failure("scheduler.task_deferred", exc, task=task.name)
                outcomes[task.name] = DEFERRED
        self.last_outcomes = outcomes
        return outcomes

    @property
    def store(self) -> TaskStore:
        """The task rows and locks, in this scheduler's database."""
        return TaskStore(self.state.engine, self.state.unit_of_work)

    def _ensure_rows(self) -> None:
        if self._rows_ready or not self.tasks:
            return
        self.store.ensure_rows(task.name for task in self.tasks)
        self._rows_ready = True

    def _run_if_due(self, task: Task) -> str:
        store = self.store
        if store.uses_leases:
            return self._claim_and_run(store, task, None)
        with store.advisory_lock(task.name) as lock:
            if lock is None:
                return BUSY
            return self._claim_and_run(store, task, lock)

    def _claim_and_run(self, store: TaskStore, task: Task, lock: TaskLock | None) -> str:
        """Claim the task if it is due (SQLite: and its lease is free), run it, record how it
        went. ``lock`` is the advisory lock on PostgreSQL; None on SQLite."""
        now = self.clock()
        leased = lock is None
        claimed = store.claim(
            task.name,
            owner=self.owner,
            now=now,
            next_run_at=now + task.interval,
            lease_until=now + LEASE if leased else None,
            lock=lock,
        )
        if not claimed:
            return NOT_DUE
        log.info("scheduler.task_started", task=task.name, owner=self.owner)
        renewer = _LeaseRenewer(self, store, task.name) if leased else None
        started = time.monotonic()
        outcome = RAN
        try:
            result = task.run(self.state)
        except Exception as exc:
            _log_failure("scheduler.task_failed", exc, task=task.name)
            outcome, result = FAILED, {"error": type(exc).__name__}
        finally:
            if renewer is not None:
                renewer.stop()
        duration_ms = round((time.monotonic() - started) * 1000)
        finished = self.clock()
        store.record_run(
            task.name,
            finished=finished,
            duration_ms=duration_ms,
            succeeded=outcome == RAN,
            result=result,
            retry_at=finished + min(task.interval, RETRY_AFTER) if outcome == FAILED else None,
            # A runner that lost its lease (it ran past it without renewing) records nothing.
            lease_owner=self.owner if leased else None,
            lock=lock,
        )
        log.info(
            "scheduler.task_finished",
            task=task.name,
            outcome=outcome,
            duration_ms=duration_ms,
            result=result,
        )
        return outcome

    # -- the thread ----------------------------------------------------------------------

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self._loop, name="scheduler", daemon=True)
        self._thread = thread
        thread.start()
        return thread

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:  # tick catches its own errors; this is the last line of defence
                log.exception("scheduler.tick_failed")
            self._stop.wait(self.poll_seconds)


class _LeaseRenewer:
    """Renews a SQLite lease while its task runs, so no other worker takes the task over."""

    def __init__(self, scheduler: Scheduler, store: TaskStore, name: str) -> None:
        self._scheduler = scheduler
        self._store = store
        self._name = name
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="scheduler-lease", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        scheduler = self._scheduler
        while not self._done.wait(LEASE_RENEW_SECONDS):
            try:
                self._store.renew_lease(self._name, scheduler.owner, scheduler.clock() + LEASE)
            except Exception as exc:
                _log_failure("scheduler.lease_renewal_failed", exc, task=self._name)

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


# -- one scheduler per worker --------------------------------------------------------------

_lock = threading.Lock()
_schedulers: dict[int, Scheduler] = {}


def start_scheduler(state: Scheduled) -> Scheduler | None:
    """Start this process's scheduler for ``state`` (once); None when no task is turned on."""
    with _lock:
        running = _schedulers.get(id(state))
        if running is not None and running.alive:
            return running
        scheduler = Scheduler.for_state(state)
        if not scheduler.tasks:
            return None
        _schedulers[id(state)] = scheduler
        scheduler.start()
        return scheduler


def stop_scheduler(state: Scheduled) -> None:
    """Stop this process's scheduler for ``state``, if one runs (its app is being disposed)."""
    with _lock:
        running = _schedulers.pop(id(state), None)
    if running is not None:
        running.stop()
