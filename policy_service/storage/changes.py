"""The change log other workers read to pick up membership, account and policy changes.

``record_change`` runs inside the writer's transaction. Bumping the single ``sync_state``
row takes its row lock until commit, so versions become visible in the order they were
handed out and a reader that has seen version N will never later find an N-1 it missed.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from policy_service.storage.tables import ChangeRow, SyncStateRow


@dataclass(frozen=True, slots=True)
class Change:
    version: int
    kind: str
    account_id: str | None
    subject_id: str | None
    detail: str


def record_change(
    session: Session,
    kind: str,
    *,
    account_id: str | None = None,
    subject_id: str | None = None,
    detail: str = "",
) -> int:
    version = session.execute(
        update(SyncStateRow)
        .where(SyncStateRow.id == 1)
        .values(version=SyncStateRow.version + 1)
        .returning(SyncStateRow.version)
    ).scalar_one()
    session.add(
        ChangeRow(
            version=version, kind=kind, account_id=account_id, subject_id=subject_id, detail=detail
        )
    )
    return int(version)


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
