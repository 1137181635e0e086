"""Scheduled maintenance: the retention sweep, and the recovery of orphaned bulk jobs.

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
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from hashlib import sha256
from typing import Any, cast

import structlog
from sqlalchemy import Connection, CursorResult, Table, Update, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from policy_service.decisions.authorization import Caller
from policy_service.domain.clock import utcnow
from policy_service.lifecycle.jobs import run_job, runnable_jobs
from policy_service.lifecycle.retention import sweep
from policy_service.state import ServiceState
from policy_service.storage.database import is_sqlite, is_unavailable
from policy_service.storage.tables import JobRow, ScheduledTaskRow

log = structlog.get_logger(__name__)

RETENTION_SWEEP = "retention_sweep"
JOB_RECOVERY = "job_recovery"
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
TASKS = cast(Table, ScheduledTaskRow.__table__)


@dataclass(frozen=True)
class Task:
    name: str
    interval: timedelta
    # Runs the task and returns what it did, as JSON (kept in the task's row).
    run: Callable[[ServiceState], dict[str, Any]]


def sweep_retention(state: ServiceState) -> dict[str, Any]:
    report = sweep(state, None, actor=SCHEDULER)
    return {
        "purged": report.purged,
        "accounts": report.accounts,
        "held": len(report.held),
        "refused": len(report.refused),
    }


def recover_jobs(state: ServiceState) -> dict[str, Any]:
    """Resume the jobs whose runner died (their lease expired); queued jobs are left to the
    job runners."""
    runnable = runnable_jobs(state)
    if not runnable:
        return {"orphaned": 0, "resumed": 0}
    with state.unit_of_work(write=False) as uow:
        queued = set(
            uow.session.execute(
                select(JobRow.id).where(JobRow.id.in_(runnable), JobRow.status == "queued")
            ).scalars()
        )
    orphaned = [job_id for job_id in runnable if job_id not in queued]
    resumed = sum(1 for job_id in orphaned if run_job(state, job_id))
    if orphaned:
        log.info("scheduler.jobs_recovered", orphaned=len(orphaned), resumed=resumed)
    return {"orphaned": len(orphaned), "resumed": resumed}


def scheduled_tasks(state: ServiceState) -> list[Task]:
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
    return tasks


def advisory_key(name: str) -> int:
    """The PostgreSQL advisory lock key of a task: 64 bits of a hash, as a signed bigint."""
    digest = sha256(f"policy_service.scheduler:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _owner() -> str:
    return f"{socket.gethostname()[:120]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def _log_failure(event: str, error: BaseException, **context: Any) -> None:
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

    state: ServiceState
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
        state: ServiceState,
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

    def _ensure_rows(self) -> None:
        if self._rows_ready or not self.tasks:
            return
        engine = self.state.engine
        insert = sqlite_insert if is_sqlite(engine) else postgresql_insert
        statement = (
            insert(TASKS)
            .values([{"name": task.name} for task in self.tasks])
            .on_conflict_do_nothing(index_elements=["name"])
        )
        self._execute(statement, None)
        self._rows_ready = True

    def _run_if_due(self, task: Task) -> str:
        if is_sqlite(self.state.engine):
            return self._claim_and_run(task, None)
        key = advisory_key(task.name)
        with self.state.engine.connect() as connection:
            try:
                locked = connection.execute(
                    text("SELECT pg_try_advisory_lock(:key)"), {"key": key}
                ).scalar()
                connection.commit()  # the lock is the session's: no transaction stays open
            except Exception:
                # Perhaps taken, perhaps not: such a connection must not go back to the pool.
                connection.invalidate()
                raise
            if not locked:
                return BUSY
            try:
                return self._claim_and_run(task, connection)
            finally:
                _unlock(connection, key)

    def _claim_and_run(self, task: Task, connection: Connection | None) -> str:
        """Claim the task if it is due (SQLite: and its lease is free), run it, record how it
        went. ``connection`` holds the advisory lock on PostgreSQL; None on SQLite."""
        now = self.clock()
        claim = (
            update(TASKS)
            .where(
                TASKS.c.name == task.name,
                or_(TASKS.c.next_run_at.is_(None), TASKS.c.next_run_at <= now),
            )
            .values(
                next_run_at=now + task.interval,
                last_runner=self.owner,
                last_started_at=now,
                last_finished_at=None,
                last_duration_ms=None,
                last_outcome="running",
                last_result=None,
            )
        )
        leased = connection is None
        if leased:
            claim = claim.where(
                or_(TASKS.c.lease_until.is_(None), TASKS.c.lease_until < now)
            ).values(lease_owner=self.owner, lease_until=now + LEASE)
        if self._execute(claim, connection) != 1:
            return NOT_DUE
        log.info("scheduler.task_started", task=task.name, owner=self.owner)
        renewer = _LeaseRenewer(self, task.name) if leased else None
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
        finish = update(TASKS).where(TASKS.c.name == task.name)
        values: dict[str, Any] = {
            "last_finished_at": finished,
            "last_duration_ms": duration_ms,
            "last_outcome": "succeeded" if outcome == RAN else "failed",
            "last_result": json.dumps(result, sort_keys=True),
        }
        if outcome == FAILED:
            values["next_run_at"] = finished + min(task.interval, RETRY_AFTER)
        if leased:
            # A runner that lost its lease (it ran past it without renewing) records nothing.
            finish = finish.where(TASKS.c.lease_owner == self.owner)
            values |= {"lease_owner": None, "lease_until": None}
        self._execute(finish.values(**values), connection)
        log.info(
            "scheduler.task_finished", task=task.name, outcome=outcome,
            duration_ms=duration_ms, result=result,
        )  # fmt: skip
        return outcome

    def _execute(self, statement: Any, connection: Connection | None) -> int:
        """Run one write statement in a transaction of its own; its row count."""
        if connection is not None:
            count = cast(CursorResult[Any], connection.execute(statement)).rowcount
            connection.commit()
            return count
        with self.state.unit_of_work() as uow:  # on SQLite: BEGIN IMMEDIATE
            count = cast(CursorResult[Any], uow.session.execute(statement)).rowcount
            uow.commit()
        return count

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


def _unlock(connection: Connection, key: int) -> None:
    try:
        connection.rollback()  # a failed statement may have left a transaction aborted
        released = connection.execute(
            text("SELECT pg_advisory_unlock(:key)"), {"key": key}
        ).scalar()
        connection.commit()
        if not released:
            raise RuntimeError(f"advisory lock {key} was not held")
    except Exception as exc:
        # Lost with the connection, or not released: never hand the connection back to the
        # pool still holding the lock.
        connection.invalidate()
        _log_failure("scheduler.unlock_failed", exc)


class _LeaseRenewer:
    """Renews a SQLite lease while its task runs, so no other worker takes the task over."""

    def __init__(self, scheduler: Scheduler, name: str) -> None:
        self._scheduler = scheduler
        self._name = name
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="scheduler-lease", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        scheduler = self._scheduler
        while not self._done.wait(LEASE_RENEW_SECONDS):
            renew: Update = (
                update(TASKS)
                .where(TASKS.c.name == self._name, TASKS.c.lease_owner == scheduler.owner)
                .values(lease_until=scheduler.clock() + LEASE)
            )
            try:
                scheduler._execute(renew, None)
            except Exception as exc:
                _log_failure("scheduler.lease_renewal_failed", exc, task=self._name)

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


# -- what /health shows --------------------------------------------------------------------


@dataclass(frozen=True)
class TaskStatus:
    name: str
    next_run_at: datetime | None
    last_started_at: datetime | None
    last_finished_at: datetime | None
    last_duration_ms: int | None
    last_outcome: str | None
    last_result: dict[str, Any]


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:  # SQLite hands back naive UTC
        return value.replace(tzinfo=UTC)
    return value


def read_status(connection: Connection, names: Iterable[str]) -> dict[str, TaskStatus]:
    """How each task last ran, from its row (one query); tasks never run are absent."""
    rows = connection.execute(
        select(
            TASKS.c.name,
            TASKS.c.next_run_at,
            TASKS.c.last_started_at,
            TASKS.c.last_finished_at,
            TASKS.c.last_duration_ms,
            TASKS.c.last_outcome,
            TASKS.c.last_result,
        ).where(TASKS.c.name.in_(list(names)))
    ).all()
    found = {}
    for name, next_run, started, finished, duration, outcome, result in rows:
        found[name] = TaskStatus(
            name, _aware(next_run), _aware(started), _aware(finished), duration, outcome,
            json.loads(result) if result else {},
        )  # fmt: skip
    return found


# -- one scheduler per worker --------------------------------------------------------------

_lock = threading.Lock()
_schedulers: dict[int, Scheduler] = {}


def start_scheduler(state: ServiceState) -> Scheduler | None:
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
