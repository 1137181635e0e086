"""The change log other workers read to pick up membership, account and policy changes.

``record_change`` only notes a change in the writer's session; the change is written, with
its version, just before the transaction commits (``before_commit``), or, on PostgreSQL,
with a single lifecycle action's writes and audit event, once nothing can refuse the action
(``changes_ahead``). A transaction that rolls back therefore keeps no version, and one that
records the same change twice writes it once.

Versions. On PostgreSQL they come from the ``change_versions`` sequence: no lock, so writers
in different accounts never queue behind each other (issue 11 section 6). Two writers can
then commit their versions out of order, so a reader may briefly see N+1 before N: readers
apply whatever has committed at once and keep a watermark, the highest version below which
nothing is missing (``policy.change_feed``). On SQLite, where writers are serialised anyway,
the single ``sync_state`` row is bumped as before.

A caller can learn the highest version its own work committed (the consistency token an HTTP
write answers with): ``start_tracking`` opens a ``ChangeTracker`` for the current context
(thread), and every commit of a transaction that recorded changes raises its ``version``.
Only committed versions count: a transaction that rolls back leaves the tracker as it was,
and another request's changes, however they interleave, are never seen by this tracker.
"""

from __future__ import annotations

from contextvars import ContextVar
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    Integer,
    String,
    Table,
    Text,
    bindparam,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Session, SessionTransaction

from audit.tables import UtcDateTime
from audit.writer import AheadStatement
from policy_service.domain.changes import Change
from policy_service.domain.clock import utcnow
from policy_service.storage.sql_constructs import statement_ahead
from policy_service.storage.tables import CHANGE_VERSIONS, ChangeRow, SyncStateRow

# Built once: building a statement costs more Python than running a cached one.
_sync_t = cast(Table, SyncStateRow.__table__)
_change_t = cast(Table, ChangeRow.__table__)
_COLUMNS = {
    "kind": bindparam("p_kind", type_=String()),
    "account_id": bindparam("p_account_id", type_=String()),
    "subject_id": bindparam("p_subject_id", type_=String()),
    "detail": bindparam("p_detail", type_=Text()),
    "created_at": bindparam("p_created_at", type_=UtcDateTime()),
}
# PostgreSQL: the version from the sequence and the row in one statement.
_LOG_NEXT = (
    insert(_change_t)
    .values(version=CHANGE_VERSIONS.next_value(), **_COLUMNS)
    .returning(_change_t.c.version)
)
# SQLite: bump the single row (its writers are serialised), then log at that version.
_BUMP = (
    update(_sync_t)
    .where(_sync_t.c.id == 1)
    .values(version=_sync_t.c.version + 1)
    .returning(_sync_t.c.version)
)
_LOG = insert(_change_t).values(version=bindparam("p_version", type_=Integer()), **_COLUMNS)

_NOTED_KEY = "policy_service.changes_noted"  # in Session.info: changes to write at commit


_AHEAD_KEY = "policy_service.changes_ahead"  # in Session.info: changes sent ahead, by key

_Key = tuple[str, str | None, str | None, str]  # kind, account, subject, detail


def record_change(
    session: Session,
    kind: str,
    *,
    account_id: str | None = None,
    subject_id: str | None = None,
    detail: str = "",
) -> None:
    """Note a change; it is written, and takes its version, when the transaction commits
    (or earlier, ahead of the transaction's audit event: ``changes_ahead``)."""
    key = (kind, account_id, subject_id, detail)
    if key in session.info.get(_AHEAD_KEY, ()):
        return  # written already in this transaction
    noted: dict[_Key, None] = session.info.setdefault(_NOTED_KEY, {})
    noted[key] = None


def changes_ahead(session: Session) -> list[AheadStatement]:
    """PostgreSQL: the changes noted so far, as writes for a unit of work to send ahead of
    its audit event (``UnitOfWork.record``). They then cost no round trip of their own: a
    lifecycle action's change record goes with its contact's UPDATE, its cascade and its
    event. Their versions are taken at commit from what the statements returned. Elsewhere
    none: SQLite's versions come from the single row bumped at commit."""
    if session.get_bind().dialect.name != "postgresql":
        return []
    noted: dict[_Key, None] | None = session.info.pop(_NOTED_KEY, None)
    if not noted:
        return []
    created_at = utcnow()
    statements = {
        key: statement_ahead(session, _LOG_NEXT, _params(key, created_at)) for key in noted
    }
    session.info.setdefault(_AHEAD_KEY, {}).update(statements)
    return list(statements.values())


def _params(key: _Key, created_at: datetime) -> dict[str, object]:
    kind, account_id, subject_id, detail = key
    return {
        "p_kind": kind,
        "p_account_id": account_id,
        "p_subject_id": subject_id,
        "p_detail": detail,
        "p_created_at": created_at,
    }


def _write_noted(session: Session) -> None:
    pending: list[int] = session.info.setdefault(_PENDING_KEY, [])
    sent: dict[_Key, AheadStatement] | None = session.info.pop(_AHEAD_KEY, None)
    noted: dict[_Key, None] = session.info.pop(_NOTED_KEY, None) or {}
    for key, statement in (sent or {}).items():
        if statement.row is not None:
            pending.append(int(statement.row[0]))
        elif statement.rowcount is None:
            noted[key] = None  # never sent (its event failed, and was caught): write it now
    if not noted:
        return
    postgresql = session.get_bind().dialect.name == "postgresql"
    created_at = utcnow()
    for key in noted:
        params = _params(key, created_at)
        if postgresql:
            version = session.execute(_LOG_NEXT, params).scalar_one()
        else:
            version = session.execute(_BUMP).scalar_one()
            session.execute(_LOG, {**params, "p_version": version})
        pending.append(int(version))


class ChangeTracker:
    """The highest change version committed in one context (an HTTP request) while active;
    None while nothing has committed a change."""

    __slots__ = ("version",)

    def __init__(self) -> None:
        self.version: int | None = None


_PENDING_KEY = "policy_service.change_versions"  # in Session.info: this transaction's
_tracker: ContextVar[ChangeTracker | None] = ContextVar("change_tracker", default=None)


def start_tracking() -> ChangeTracker:
    """Track from now on, in this context, the versions of the changes that commit."""
    tracker = ChangeTracker()
    _tracker.set(tracker)
    return tracker


def stop_tracking() -> None:
    _tracker.set(None)


def _after_commit(session: Session) -> None:
    versions: list[int] | None = session.info.pop(_PENDING_KEY, None)
    tracker = _tracker.get()
    if versions and tracker is not None:
        tracker.version = max(tracker.version or 0, *versions)


def _after_transaction_end(session: Session, transaction: SessionTransaction, *_: Any) -> None:
    # A rolled back (or closed) transaction's changes were never written. after_commit has
    # already taken a committed one's versions. A savepoint's end is not the transaction's.
    if transaction.parent is None:
        session.info.pop(_PENDING_KEY, None)
        session.info.pop(_NOTED_KEY, None)
        session.info.pop(_AHEAD_KEY, None)


event.listen(Session, "before_commit", _write_noted)
event.listen(Session, "after_commit", _after_commit)
event.listen(Session, "after_transaction_end", _after_transaction_end)


def current_version(session: Session) -> int:
    """The highest version committed (lower ones may still be committing, on PostgreSQL)."""
    return int(
        session.execute(select(func.coalesce(func.max(_change_t.c.version), 0))).scalar_one()
    )


def changes_in(session: Session, versions: list[int]) -> list[Change]:
    """The changes at these versions that have committed by now."""
    rows = session.execute(
        select(ChangeRow).where(ChangeRow.version.in_(versions)).order_by(ChangeRow.version)
    ).scalars()
    return [Change(r.version, r.kind, r.account_id, r.subject_id, r.detail) for r in rows]


def changes_since(session: Session, version: int, limit: int = 10_000) -> list[Change]:
    rows = session.execute(
        select(ChangeRow)
        .where(ChangeRow.version > version)
        .order_by(ChangeRow.version)
        .limit(limit)
    ).scalars()
    return [Change(r.version, r.kind, r.account_id, r.subject_id, r.detail) for r in rows]
