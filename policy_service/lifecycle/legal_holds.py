"""Legal holds (compliance officers). A hold blocks purge, retention purge and erasure; it
never blocks delete-to-trash or restore."""

from __future__ import annotations

from policy_service.audit_trail.recording import require
from policy_service.decisions.authorization import Caller
from policy_service.domain.clock import utcnow
from policy_service.domain.contacts import is_valid_contact_id
from policy_service.domain.errors import NotFound
from policy_service.lifecycle.events import hold_placed_event, holds_released_event
from policy_service.ports import Acts
from policy_service.storage import contacts as store
from policy_service.storage import legal_holds as holds
from policy_service.storage.legal_holds import LegalHold
from policy_service.storage.unit_of_work import UnitOfWork

__all__ = ["LegalHold", "list_holds", "place_hold", "release_holds"]


def _existing_contact(uow: UnitOfWork, account_id: str, contact_id: str) -> None:
    found = is_valid_contact_id(contact_id) and store.get_contact(
        uow.session, account_id, contact_id
    )
    if not found:
        raise NotFound(f"contact {contact_id} does not exist in account {account_id}")


def _require(state: Acts, caller: Caller, action: str, account_id: str, contact_id: str) -> None:
    require(
        state,
        caller,
        "contact",
        action,
        account_id=account_id,
        target_type="contact",
        target_id=contact_id,
    )


def place_hold(
    state: Acts,
    caller: Caller,
    account_id: str,
    contact_id: str,
    reason: str,
    matter: str | None,
) -> LegalHold:
    _require(state, caller, "legal_hold.place", account_id, contact_id)
    with state.unit_of_work() as uow:
        _existing_contact(uow, account_id, contact_id)
        hold = holds.add_hold(
            uow.session,
            account_id,
            contact_id,
            reason=reason,
            matter=matter,
            placed_by=caller.acting_subject,
            now=utcnow(),
        )
        uow.record(hold_placed_event(state, caller, hold))
        state.contacts_changed(uow.session, account_id)
        uow.commit()
        return hold


def release_holds(
    state: Acts, caller: Caller, account_id: str, contact_id: str, hold_id: str | None
) -> list[LegalHold]:
    _require(state, caller, "legal_hold.release", account_id, contact_id)
    with state.unit_of_work() as uow:
        session = uow.session
        _existing_contact(uow, account_id, contact_id)
        hold_ids = [
            hold.id for hold in holds.active_holds(session, account_id, contact_id, hold_id)
        ]
        if not hold_ids:
            raise NotFound(f"no active legal hold on contact {contact_id}")
        holds.release(session, hold_ids, caller.acting_subject, utcnow())
        uow.record(holds_released_event(state, caller, account_id, contact_id, hold_ids))
        state.contacts_changed(session, account_id)
        uow.commit()
        return holds.get_holds(session, hold_ids)


def list_holds(state: Acts, caller: Caller, account_id: str, contact_id: str) -> list[LegalHold]:
    require(state, caller, "contact", "legal_hold.read", account_id=account_id)
    with state.unit_of_work(write=False) as uow:
        _existing_contact(uow, account_id, contact_id)
        return holds.holds_of(uow.session, account_id, contact_id)
