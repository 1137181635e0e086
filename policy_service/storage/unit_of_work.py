"""A unit of work: one database transaction that rolls back unless ``commit()`` is called.

Services write through it so that a change, its audit event (``uow.record``) and the notice
other workers read to pick the change up all commit together or not at all. An ``observer``
sees every event appended, in the same transaction: the webhook outbox
(``integration/outbox.py``) writes its rows there, so they commit with the change too.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Self

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from audit import AuditEvent, AuditWriter, StoredEvent
from audit.writer import AheadStatement
from policy_service.storage.changes import changes_ahead
from policy_service.storage.database import BEGIN_MODE_OPTION, is_sqlite

# Sees the events a unit of work appended, with its session (before it commits).
EventObserver = Callable[[Session, Sequence[StoredEvent]], None]
# Told how long each append took and how many events it wrote (the metrics' histogram).
AppendTimer = Callable[[float, int], None]


class UnitOfWork:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        *,
        write: bool = True,
        audit: AuditWriter | None = None,
        observer: EventObserver | None = None,
        append_timer: AppendTimer | None = None,
    ) -> None:
        self._session_factory = session_factory
        self._write = write
        self._audit = audit
        self._observer = observer
        self._append_timer = append_timer
        self._session: Session | None = None
        self._committed = False

    @property
    def session(self) -> Session:
        if self._session is None:
            raise RuntimeError("the unit of work is used outside its 'with' block")
        return self._session

    def __enter__(self) -> Self:
        self._session = self._session_factory()
        self._committed = False
        bind = self._session.get_bind()
        if self._write and isinstance(bind, Engine) and is_sqlite(bind):
            # Take SQLite's write lock now, not at the first write, so two writers queue
            # on busy_timeout instead of one failing mid-transaction.
            self._session.connection(execution_options={BEGIN_MODE_OPTION: "IMMEDIATE"})
        return self

    def record(
        self,
        event: AuditEvent,
        *,
        ahead: Sequence[AheadStatement] = (),
        wrapped_keys: Mapping[str, bytes] | None = None,
    ) -> StoredEvent:
        """Append an audit event in this transaction: it commits with the change or not at all.
        ``ahead`` and ``wrapped_keys``: see ``AuditWriter.append_many``."""
        if self._audit is None:
            raise RuntimeError("this unit of work has no audit writer")
        started = time.perf_counter()
        stored = self._audit.append_many(
            self.session, [event], ahead=self._ahead(ahead), wrapped_keys=wrapped_keys
        )[0]
        if self._append_timer is not None:
            self._append_timer(time.perf_counter() - started, 1)
        if self._observer is not None:
            self._observer(self.session, [stored])
        return stored

    def record_many(
        self, events: list[AuditEvent], *, ahead: Sequence[AheadStatement] = ()
    ) -> list[StoredEvent]:
        """Append many events in one statement (bulk jobs), in this transaction; ``ahead``:
        writes the writer sends first, for the database to run while it encodes
        (``AuditWriter.append_many``; those that have run already, on SQLite, are skipped)."""
        if self._audit is None:
            raise RuntimeError("this unit of work has no audit writer")
        started = time.perf_counter()
        # Not the noted changes (see _ahead): a chunk that loses a race rolls back after its
        # statements ran. They are written at commit.
        stored = self._audit.append_many(self.session, events, ahead=_unsent(ahead))
        if self._append_timer is not None:
            self._append_timer(time.perf_counter() - started, len(stored))
        if self._observer is not None:
            self._observer(self.session, stored)
        return stored

    def _ahead(self, ahead: Sequence[AheadStatement]) -> list[AheadStatement]:
        """What the writer sends ahead of a single event: the caller's statements not yet run
        (``statement_ahead`` runs them at once on SQLite) and, with them, the changes noted
        so far (``changes_ahead``), which then take no round trip of their own.

        Only with the caller's own writes: a caller that sends them ahead has done every
        check that could refuse the action (a lifecycle action read its contact locked),
        so its transaction does not roll back after the event short of a database error.
        A change record sent ahead of a transaction that then rolled back would have used up
        its version: a gap every worker's watermark waits on (``policy.change_feed``)."""
        unsent = _unsent(ahead)
        return [*unsent, *changes_ahead(self.session)] if unsent else unsent

    def commit(self) -> None:
        self.session.commit()
        self._committed = True

    def rollback(self) -> None:
        self.session.rollback()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session = self.session
        try:
            if not self._committed:
                session.rollback()
        finally:
            session.close()
            self._session = None


def _unsent(ahead: Sequence[AheadStatement]) -> list[AheadStatement]:
    return [statement for statement in ahead if statement.rowcount is None]
