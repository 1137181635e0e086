"""Scheduled tasks' rows (``scheduled_tasks``) and the locks that let one worker of all run a
task that is due (the policy - which tasks, how often, what a run does - is
``scheduler.py``).

* PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock``) held on a connection
  of its own for as long as the task runs (``TaskStore.advisory_lock``); the task's row is
  written on that connection. A runner that dies loses the lock with its connection.
* SQLite: a lease in the task's row, taken by one ``UPDATE ... WHERE lease_until < now``
  whose row count says who won (SQLite's write lock makes that atomic for every process on
  the file: each write runs in a unit of work of its own, ``BEGIN IMMEDIATE``).

On both, the claim moves the task's ``next_run_at`` on in the same statement that takes it
(``WHERE next_run_at <= now``), and the row keeps how the last run went, which ``/health``
reads (``read_status``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from hashlib import sha256
from typing import Any, cast

import structlog
from sqlalchemy import (
    Connection,
    CursorResult,
    Engine,
    Executable,
    Table,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from policy_service.storage.database import is_sqlite, is_unavailable
from policy_service.storage.tables import ScheduledTaskRow
from policy_service.storage.unit_of_work import UnitOfWork

log = structlog.get_logger(__name__)

TASKS = cast(Table, ScheduledTaskRow.__table__)


@dataclass(frozen=True)
class TaskStatus:
    name: str
    next_run_at: datetime | None
    last_started_at: datetime | None
    last_finished_at: datetime | None
    last_duration_ms: int | None
    last_outcome: str | None
    last_result: dict[str, Any]  # free-form JSON: what the task's run returned


@dataclass(frozen=True)
class TaskLock:
    """A held PostgreSQL advisory lock on a task: the connection that holds it (the task's
    row is written on it)."""

    connection: Connection
    key: int


def advisory_key(name: str) -> int:
    """The PostgreSQL advisory lock key of a task: 64 bits of a hash, as a signed bigint."""
    digest = sha256(f"policy_service.scheduler:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class TaskStore:
    """Writes to the task rows, one statement per transaction: on the connection of the
    task's advisory lock when one is given, else in a unit of work of its own."""

    def __init__(self, engine: Engine, unit_of_work: Callable[[], UnitOfWork]) -> None:
        self._engine = engine
        self._unit_of_work = unit_of_work

    @property
    def uses_leases(self) -> bool:
        """SQLite has no advisory locks: a task is taken with the lease in its row."""
        return is_sqlite(self._engine)

    def ensure_rows(self, names: Iterable[str]) -> None:
        """A row for each task (a task never run has one with nothing in it)."""
        insert = sqlite_insert if is_sqlite(self._engine) else postgresql_insert
        statement = (
            insert(TASKS)
            .values([{"name": name} for name in names])
            .on_conflict_do_nothing(index_elements=["name"])
        )
        self._execute(statement, None)

    @contextmanager
    def advisory_lock(self, name: str) -> Iterator[TaskLock | None]:
        """PostgreSQL: hold the task's advisory lock for the block, on a connection of its
        own; None when another session holds it. It is released (or, if that fails, the
        connection dropped) when the block ends."""
        key = advisory_key(name)
        with self._engine.connect() as connection:
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
                yield None
                return
            try:
                yield TaskLock(connection, key)
            finally:
                _unlock(connection, key)

    def claim(
        self,
        name: str,
        *,
        owner: str,
        now: datetime,
        next_run_at: datetime,
        lease_until: datetime | None,
        lock: TaskLock | None,
    ) -> bool:
        """Take the task if it is due: mark it running and move ``next_run_at`` on, in one
        statement. With ``lease_until`` (SQLite) only if its lease is free, taking it."""
        claim = (
            update(TASKS)
            .where(
                TASKS.c.name == name,
                or_(TASKS.c.next_run_at.is_(None), TASKS.c.next_run_at <= now),
            )
            .values(
                next_run_at=next_run_at,
                last_runner=owner,
                last_started_at=now,
                last_finished_at=None,
                last_duration_ms=None,
                last_outcome="running",
                last_result=None,
            )
        )
        if lease_until is not None:
            claim = claim.where(
                or_(TASKS.c.lease_until.is_(None), TASKS.c.lease_until < now)
            ).values(lease_owner=owner, lease_until=lease_until)
        return self._execute(claim, lock) == 1

    def record_run(
        self,
        name: str,
        *,
        finished: datetime,
        duration_ms: int,
        succeeded: bool,
        result: dict[str, Any],
        retry_at: datetime | None,
        lease_owner: str | None,
        lock: TaskLock | None,
    ) -> None:
        """How the run went; ``retry_at`` moves the next run up (after a failure). With
        ``lease_owner`` (SQLite) only if that runner still holds the lease, releasing it: a
        runner that lost its lease records nothing."""
        finish = update(TASKS).where(TASKS.c.name == name)
        values: dict[str, Any] = {
            "last_finished_at": finished,
            "last_duration_ms": duration_ms,
            "last_outcome": "succeeded" if succeeded else "failed",
            "last_result": json.dumps(result, sort_keys=True),
        }
        if retry_at is not None:
            values["next_run_at"] = retry_at
        if lease_owner is not None:
            finish = finish.where(TASKS.c.lease_owner == lease_owner)
            values |= {"lease_owner": None, "lease_until": None}
        self._execute(finish.values(**values), lock)

    def renew_lease(self, name: str, owner: str, until: datetime) -> None:
        """SQLite: keep the lease while the task runs (if this runner still holds it)."""
        renew = (
            update(TASKS)
            .where(TASKS.c.name == name, TASKS.c.lease_owner == owner)
            .values(lease_until=until)
        )
        self._execute(renew, None)

    def _execute(self, statement: Executable, lock: TaskLock | None) -> int:
        """Run one write statement in a transaction of its own; its row count."""
        if lock is not None:
            count = cast(CursorResult[Any], lock.connection.execute(statement)).rowcount
            lock.connection.commit()
            return count
        with self._unit_of_work() as uow:  # on SQLite: BEGIN IMMEDIATE
            count = cast(CursorResult[Any], uow.session.execute(statement)).rowcount
            uow.commit()
        return count


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
        if is_unavailable(exc):
            log.warning(
                "scheduler.unlock_failed",
                error_type=type(exc).__name__,
                error=str(exc).partition("\n")[0][:200],
            )
        else:
            log.exception("scheduler.unlock_failed")


# -- what /health shows --------------------------------------------------------------------


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
            name=name,
            next_run_at=_aware(next_run),
            last_started_at=_aware(started),
            last_finished_at=_aware(finished),
            last_duration_ms=duration,
            last_outcome=outcome,
            last_result=json.loads(result) if result else {},
        )
    return found


def last_runs(session: Session) -> list[tuple[str, datetime | None, str | None]]:
    """Each task's name, when it last finished and how (the metrics' gauge)."""
    rows = session.execute(
        select(
            ScheduledTaskRow.name, ScheduledTaskRow.last_finished_at, ScheduledTaskRow.last_outcome
        )
    )
    return [(name, finished, outcome) for name, finished, outcome in rows]
