"""Legal holds (``legal_holds``): placing, releasing and listing a contact's holds.

A hold is active until it is released (``released_at`` set); released holds stay, as the
record of what was held and when. Whether a contact is held, as decisions need it, is read
with the contact's other facts (``contacts.facts_of``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from policy_service.storage.contacts import new_id
from policy_service.storage.rows import from_row
from policy_service.storage.tables import LegalHoldRow


@dataclass(frozen=True)
class LegalHold:
    id: str
    account_id: str
    contact_id: str
    reason: str
    matter: str | None
    placed_by: str
    placed_at: datetime
    released_by: str | None
    released_at: datetime | None


def _hold(row: LegalHoldRow) -> LegalHold:
    return from_row(LegalHold, row)


def add_hold(
    session: Session,
    account_id: str,
    contact_id: str,
    *,
    reason: str,
    matter: str | None,
    placed_by: str,
    now: datetime,
) -> LegalHold:
    row = LegalHoldRow(
        id=new_id("hold"),
        account_id=account_id,
        contact_id=contact_id,
        reason=reason,
        matter=matter,
        placed_by=placed_by,
        placed_at=now,
    )
    session.add(row)
    session.flush()
    return _hold(row)


def active_holds(
    session: Session, account_id: str, contact_id: str, hold_id: str | None = None
) -> list[LegalHold]:
    """The contact's holds not yet released (only ``hold_id``, when given)."""
    query = select(LegalHoldRow).where(
        LegalHoldRow.account_id == account_id,
        LegalHoldRow.contact_id == contact_id,
        LegalHoldRow.released_at.is_(None),
    )
    if hold_id is not None:
        query = query.where(LegalHoldRow.id == hold_id)
    return [_hold(row) for row in session.execute(query).scalars()]


def release(session: Session, hold_ids: list[str], released_by: str, now: datetime) -> None:
    session.execute(
        update(LegalHoldRow)
        .where(LegalHoldRow.id.in_(hold_ids))
        .values(released_at=now, released_by=released_by)
    )


def get_holds(session: Session, hold_ids: list[str]) -> list[LegalHold]:
    rows = session.execute(select(LegalHoldRow).where(LegalHoldRow.id.in_(hold_ids))).scalars()
    return [_hold(row) for row in rows]


def holds_of(session: Session, account_id: str, contact_id: str) -> list[LegalHold]:
    """Every hold the contact has had, active or released, oldest first."""
    rows = session.execute(
        select(LegalHoldRow)
        .where(LegalHoldRow.account_id == account_id, LegalHoldRow.contact_id == contact_id)
        .order_by(LegalHoldRow.placed_at)
    ).scalars()
    return [_hold(row) for row in rows]


def active_holds_in_account(
    session: Session, account_id: str, *, limit: int
) -> tuple[list[LegalHold], bool]:
    """Every hold in the account not yet released, by contact then oldest first (one query on
    ``ix_legal_holds_contact``), at most ``limit``; the flag says whether there were more."""
    rows = session.execute(
        select(LegalHoldRow)
        .where(LegalHoldRow.account_id == account_id, LegalHoldRow.released_at.is_(None))
        .order_by(LegalHoldRow.contact_id, LegalHoldRow.placed_at, LegalHoldRow.id)
        .limit(limit + 1)
    ).scalars()
    found = [_hold(row) for row in rows]
    return found[:limit], len(found) > limit
