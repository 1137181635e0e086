"""The change log other workers read to pick up membership, account and policy changes.

``record_change`` runs inside the writer's transaction. Bumping the single ``sync_state``
row takes its row lock until commit, so versions become visible in the order they were
handed out and a reader that has seen version N will never later find an N-1 it missed.

A caller can learn the highest version its own work committed (the consistency token an HTTP
write answers with): ``start_tracking`` opens a ``ChangeTracker`` for the current context
(thread), and every commit of a transaction that recorded changes raises its ``version``.
Only committed versions count: a transaction that rolls back leaves the tracker as it was,
and another request's changes, however they interleave, are never seen by this tracker.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any, cast

from sqlalchemy import Integer, String, Table, Text, bindparam, event, insert, select, update
from sqlalchemy.orm import Session, SessionTransaction

from policy_service.domain.changes import Change
from policy_service.domain.clock import utcnow
from policy_service.storage.tables import ChangeRow, SyncStateRow, UtcDateTime

# Built once: building a statement costs more Python than running a cached one.
_sync_t = cast(Table, SyncStateRow.__table__)
_change_t = cast(Table, ChangeRow.__table__)
_BUMP = (
    update(_sync_t)
    .where(_sync_t.c.id == 1)
    .values(version=_sync_t.c.version + 1)
    .returning(_sync_t.c.version)
)
_BUMPED = _BUMP.cte("bumped")
# PostgreSQL: the bump and the log row in one statement (a data-modifying CTE), one round
# trip, under the same row lock as before.
_BUMP_AND_LOG = (
    insert(_change_t)
    .from_select(
        ["version", "kind", "account_id", "subject_id", "detail", "created_at"],
        select(
            _BUMPED.c.version,
            bindparam("p_kind", type_=String()),
            bindparam("p_account_id", type_=String()),
            bindparam("p_subject_id", type_=String()),
            bindparam("p_detail", type_=Text()),
            bindparam("p_created_at", type_=UtcDateTime()),
        ),
    )
    .returning(_change_t.c.version)
)
_LOG = insert(_change_t).values(
    version=bindparam("p_version", type_=Integer()),
    kind=bindparam("p_kind", type_=String()),
    account_id=bindparam("p_account_id", type_=String()),
    subject_id=bindparam("p_subject_id", type_=String()),
    detail=bindparam("p_detail", type_=Text()),
    created_at=bindparam("p_created_at", type_=UtcDateTime()),
)


def record_change(
    session: Session,
    kind: str,
    *,
    account_id: str | None = None,
    subject_id: str | None = None,
    detail: str = "",
) -> int:
    params: dict[str, object] = {
        "p_kind": kind,
        "p_account_id": account_id,
        "p_subject_id": subject_id,
        "p_detail": detail,
        "p_created_at": utcnow(),
    }
    if session.get_bind().dialect.name == "postgresql":
        version = session.execute(_BUMP_AND_LOG, params).scalar_one()
    else:  # SQLite has no data-modifying CTEs; its writers are serialised anyway
        version = session.execute(_BUMP).scalar_one()
        session.execute(_LOG, {**params, "p_version": version})
    pending: list[int] = session.info.setdefault(_PENDING_KEY, [])
    pending.append(int(version))
    return int(version)


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
    # A rolled back (or closed) transaction's versions were never written. after_commit has
    # already taken a committed one's. A savepoint's end is not the transaction's.
    if transaction.parent is None:
        session.info.pop(_PENDING_KEY, None)


event.listen(Session, "after_commit", _after_commit)
event.listen(Session, "after_transaction_end", _after_transaction_end)


def current_version(session: Session) -> int:
    return int(
        session.execute(select(SyncStateRow.version).where(SyncStateRow.id == 1)).scalar_one()
    )


def changes_since(session: Session, version: int, limit: int = 10_000) -> list[Change]:
    rows = session.execute(
        select(ChangeRow)
        .where(ChangeRow.version > version)
        .order_by(ChangeRow.version)
        .limit(limit)
    ).scalars()
    return [Change(r.version, r.kind, r.account_id, r.subject_id, r.detail) for r in rows]
