"""Legal holds (compliance officers). A hold blocks purge, retention purge and erasure; it
never blocks delete-to-trash or restore."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from policy_service.audit_trail.recording import caller_event, require
from policy_service.decisions.authorization import Caller
from policy_service.domain.clock import utcnow
from policy_service.domain.contacts import is_valid_contact_id
from policy_service.domain.errors import NotFound
from policy_service.state import ServiceState
from policy_service.storage import contacts as store
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
    return LegalHold(
        row.id, row.account_id, row.contact_id, row.reason, row.matter, row.placed_by,
        row.placed_at, row.released_by, row.released_at,
    )  # fmt: skip


def _existing_contact(session: Session, account_id: str, contact_id: str) -> None:
    found = is_valid_contact_id(contact_id) and store.get_contact(session, account_id, contact_id)
    if not found:
        raise NotFound(f"contact {contact_id} does not exist in account {account_id}")


def place_hold(
    state: ServiceState,
    caller: Caller,
    account_id: str,
    contact_id: str,
    reason: str,
    matter: str | None,
) -> LegalHold:
    require(
        state, caller, "contact", "legal_hold.place",
        account_id=account_id, target_type="contact", target_id=contact_id,
    )  # fmt: skip
    with state.unit_of_work() as uow:
        _existing_contact(uow.session, account_id, contact_id)
        row = LegalHoldRow(
            id=store.new_id("hold"),
            account_id=account_id,
            contact_id=contact_id,
            reason=reason,
            matter=matter,
            placed_by=caller.acting_subject,
            placed_at=utcnow(),
        )
        uow.session.add(row)
        uow.session.flush()
        uow.record(
            caller_event(
                state.runtime, caller, "legal_hold.placed", "succeeded",
                account_id=account_id, target_type="contact", target_id=contact_id,
                details={"hold_id": row.id, "matter": matter},
                subject_id=f"{account_id}/{contact_id}", protected={"hold_reason": reason},
            )
        )  # fmt: skip
        state.contacts_changed(uow.session, account_id)
        uow.commit()
        return _hold(row)


def release_holds(
    state: ServiceState, caller: Caller, account_id: str, contact_id: str, hold_id: str | None
) -> list[LegalHold]:
    require(
        state, caller, "contact", "legal_hold.release",
        account_id=account_id, target_type="contact", target_id=contact_id,
    )  # fmt: skip
    with state.unit_of_work() as uow:
        session = uow.session
        _existing_contact(session, account_id, contact_id)
        query = select(LegalHoldRow).where(
            LegalHoldRow.account_id == account_id,
            LegalHoldRow.contact_id == contact_id,
            LegalHoldRow.released_at.is_(None),
        )
        if hold_id is not None:
            query = query.where(LegalHoldRow.id == hold_id)
        rows = list(session.execute(query).scalars())
        if not rows:
            raise NotFound(f"no active legal hold on contact {contact_id}")
        now = utcnow()
        session.execute(
            update(LegalHoldRow)
            .where(LegalHoldRow.id.in_([r.id for r in rows]))
            .values(released_at=now, released_by=caller.acting_subject)
        )
        uow.record(
            caller_event(
                state.runtime, caller, "legal_hold.released", "succeeded",
                account_id=account_id, target_type="contact", target_id=contact_id,
                details={"hold_ids": [r.id for r in rows]},
            )
        )  # fmt: skip
        state.contacts_changed(session, account_id)
        uow.commit()
        return [_hold(r) for r in session.execute(
            select(LegalHoldRow).where(LegalHoldRow.id.in_([r.id for r in rows]))
        ).scalars()]  # fmt: skip


def list_holds(
    state: ServiceState, caller: Caller, account_id: str, contact_id: str
) -> list[LegalHold]:
    require(state, caller, "contact", "legal_hold.read", account_id=account_id)
    with state.unit_of_work(write=False) as uow:
        _existing_contact(uow.session, account_id, contact_id)
        rows = uow.session.execute(
            select(LegalHoldRow)
            .where(LegalHoldRow.account_id == account_id, LegalHoldRow.contact_id == contact_id)
            .order_by(LegalHoldRow.placed_at)
        ).scalars()
        return [_hold(r) for r in rows]
