"""Which errors mean "the database cannot be used right now", and what the runtime does
when it cannot read the change log."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import exc as sa_exc

from policy_service.domain.changes import Change
from policy_service.policy.pack import load_pack
from policy_service.policy.runtime import PolicyRuntime, SyncSource
from policy_service.storage.database import is_unavailable

PACK = Path(__file__).resolve().parents[2] / "policies"


def _dbapi(cls: type[sa_exc.DBAPIError], orig: Exception, invalidated: bool = False) -> Exception:
    return cls("SELECT 1", {}, orig, connection_invalidated=invalidated)


def _raised_from(cause: Exception) -> Exception:
    try:
        try:
            raise cause
        except Exception as error:
            raise RuntimeError("while handling it") from error
    except RuntimeError as wrapped:
        return wrapped


@pytest.mark.parametrize(
    "error",
    [
        _dbapi(sa_exc.OperationalError, psycopg.OperationalError("connection refused")),
        _dbapi(sa_exc.InterfaceError, psycopg.InterfaceError("the connection is closed")),
        _dbapi(sa_exc.DatabaseError, psycopg.DatabaseError("lost"), invalidated=True),
        sa_exc.TimeoutError("QueuePool limit reached"),
        sa_exc.PendingRollbackError("Can't reconnect until ...", code="8s2b"),
        psycopg.OperationalError("server closed the connection unexpectedly"),
        sqlite3.OperationalError("database is locked"),
        _raised_from(_dbapi(sa_exc.OperationalError, psycopg.OperationalError("gone"))),
    ],
    ids=lambda error: type(error).__name__,
)
def test_an_outage_is_recognised_however_it_arrives(error: Exception) -> None:
    assert is_unavailable(error)


@pytest.mark.parametrize(
    "error",
    [
        _dbapi(sa_exc.IntegrityError, psycopg.IntegrityError("duplicate key")),
        _dbapi(sa_exc.ProgrammingError, psycopg.ProgrammingError("syntax error")),
        sa_exc.PendingRollbackError("rolled back due to a previous exception", code="7s2a"),
        ValueError("not a database error"),
        _raised_from(ValueError("nor this")),
    ],
    ids=lambda error: type(error).__name__,
)
def test_other_errors_are_not_an_outage(error: Exception) -> None:
    assert not is_unavailable(error)


class FlakySource(SyncSource):
    def __init__(self) -> None:
        self.down = False
        self.reads = 0

    def current_version(self) -> int:
        self.reads += 1
        if self.down:
            raise sa_exc.OperationalError("SELECT", {}, psycopg.OperationalError("down"))
        return 0

    def changes_since(self, version: int) -> list[Change]:
        return []

    def all_assignments(self) -> Iterable[tuple[str, str, str]]:
        return []


def test_a_failed_sync_is_tried_again_by_the_next_request_not_an_interval_later() -> None:
    source = FlakySource()
    runtime = PolicyRuntime(load_pack(PACK), sync_interval=0.2)
    runtime.load_assignments(source)
    time.sleep(0.25)  # what was loaded is now too old to answer on without a check

    source.down = True
    for _ in range(3):  # a failed check does not count as one: each request tries again
        with pytest.raises(sa_exc.OperationalError):
            runtime.sync(source)
    source.down = False
    runtime.sync(source)
    runtime.sync(source)  # confirmed just now: the interval applies again
    assert source.reads == 1 + 3 + 1
