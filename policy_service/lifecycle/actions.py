"""Delete, restore and purge one contact.

Each action runs in one unit of work: the contact's row is changed only if its version is the
one read (so of two concurrent actions the loser gets a 409), the cascade runs as set-based
statements, and the audit event is appended - all committed together or not at all.

What an action costs is what its SQL costs (issue 14; ``tests/integration/
test_lifecycle_statements.py`` holds it to it): one statement reads the contact with the
facts the decision needs and its open records counted by kind and state; the contact is
changed by an ``UPDATE ... RETURNING`` whose answer is the result; the cascade is one
UPDATE; then the audit append and the change record. The cascade's counts and the
contact's tags afterwards follow from what was read: nothing is read twice. The
decision comes from the same enforcer as ``/access/v1/evaluation``, on the facts read in that
same transaction. A refusal is recorded in a unit of work of its own, then raised.

What an action would do, without doing it, and the trash are in ``lifecycle/preview.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from audit import destroy_subject_key
from audit.writer import AheadStatement
from policy_service.decisions.authorization import Caller
from policy_service.domain.accounts import Account
from policy_service.domain.cascade import CascadeProfile
from policy_service.domain.clock import iso, utcnow
from policy_service.domain.contacts import (
    NOT_A_DELETE,
    OPT_OUT_GUIDANCE,
    PURGED,
    TRASHED,
    CascadeCounts,
    Contact,
    audit_subject,
)
from policy_service.domain.errors import Conflict, ServiceError
from policy_service.lifecycle.events import contact_action_event
from policy_service.lifecycle.guards import (
    check_reason,
    decide_on_contact,
    gate,
    load_account,
    profile_for,
    read_for_action,
    refuse_decision,
    refuse_on_contact,
)
from policy_service.ports import Acts, Decides
from policy_service.storage import cascade
from policy_service.storage import contacts as store
from policy_service.storage.action_reads import ContactForAction
from policy_service.storage.unit_of_work import UnitOfWork

DELETE_CONFIRMATION = "DELETE"
PURGE_CONFIRMATION = "PURGE"


@dataclass(frozen=True)
class LifecycleResult:
    contact: Contact
    action: str
    operation_id: str
    profile: CascadeProfile
    counts: CascadeCounts
    event_id: str


def _gate_and_load(
    state: Acts, caller: Caller, account_id: str, contact_id: str, action: str
) -> tuple[Account, CascadeProfile]:
    """The account gate (refused and recorded before anything is read), then the account and
    its cascade profile."""
    gate(state, caller, account_id, action, contact_id)
    account = load_account(state, account_id)
    return account, profile_for(state, account)


# -- delete -------------------------------------------------------------------------------------


def delete_contact(
    state: Acts,
    caller: Caller,
    account_id: str,
    contact_id: str,
    reason_code: str,
    reason_text: str | None = None,
    confirm: str | None = None,
) -> LifecycleResult:
    """Move the contact to the trash, or purge it where the account's profile has no trash
    (seeds 000, 001, 004: that needs ``confirm: "DELETE"``, as a bulk delete does)."""
    action = "contact.delete"
    gate(state, caller, account_id, action, contact_id)
    if reason_code not in NOT_A_DELETE:
        check_reason(reason_code, reason_text)  # a malformed request: 400, before any read
    account = load_account(state, account_id)
    profile = profile_for(state, account)
    with state.unit_of_work() as uow:
        read = read_for_action(uow, account_id, contact_id)
        decision = decide_on_contact(state, caller, account, contact_id, action, read.facts)
        opt_out = reason_code in NOT_A_DELETE
        if decision.allowed and not opt_out and (profile.trash or confirm == DELETE_CONFIRMATION):
            result = _delete_in(
                state, uow, caller, account, profile, read, reason_code, reason_text
            )
            uow.commit()
            return result
    if not decision.allowed:  # who may, and the contact's state, come before the reason
        raise refuse_decision(state, caller, contact_id, decision)
    if opt_out:
        text = f"{reason_code!r} is not a reason to delete a contact. {NOT_A_DELETE[reason_code]}"
        raise refuse_on_contact(
            state,
            caller,
            account_id,
            contact_id,
            action,
            422,
            "not_a_delete",
            text,
            see=OPT_OUT_GUIDANCE,
        )
    text = (
        f"profile {profile.name} has no trash: this delete cannot be undone. Send "
        f'{{"confirm": "{DELETE_CONFIRMATION}"}} to go ahead'
    )
    raise _refuse_unconfirmed(state, caller, account_id, contact_id, action, text)


def _refuse_unconfirmed(
    state: Acts, caller: Caller, account_id: str, contact_id: str, action: str, text: str
) -> ServiceError:
    """An action that cannot be undone, asked for without its confirmation: 422, recorded."""
    code = "confirmation_required"
    return refuse_on_contact(state, caller, account_id, contact_id, action, 422, code, text)


def _delete_in(
    state: Acts,
    uow: UnitOfWork,
    caller: Caller,
    account: Account,
    profile: CascadeProfile,
    read: ContactForAction,
    reason_code: str,
    reason_text: str | None,
) -> LifecycleResult:
    session = uow.session
    now = utcnow()
    operation_id = store.new_id("op")
    if not profile.trash:
        return _purge_in(
            state,
            uow,
            caller,
            account,
            profile,
            read,
            operation_id,
            "contact.delete",
            reason_code=reason_code,
        )
    contact = read.contact
    protected = contact.personal_fields()
    if reason_text:
        protected["reason_text"] = reason_text
    event = {"reason_code": reason_code, "protected": protected, "extra_details": {"to": "trash"}}
    state.contacts_changed(session, account.id)  # noted first: it goes with the event
    updated, counts, event_id = _change_cascade_and_record(
        state,
        uow,
        caller,
        account,
        profile,
        read,
        ("contact.delete", "delete", operation_id, now),
        event,
        {
            "state": TRASHED,
            "deleted_at": now,
            "deleted_by": caller.acting_subject,
            "delete_operation_id": operation_id,
            "delete_reason": reason_code,
        },
    )
    return LifecycleResult(updated, "delete", operation_id, profile, counts, event_id)


# -- purge --------------------------------------------------------------------------------------


def _purge_in(
    state: Acts,
    uow: UnitOfWork,
    caller: Caller,
    account: Account,
    profile: CascadeProfile,
    read: ContactForAction,
    operation_id: str,
    action: str,
    *,
    reason_code: str | None = None,
) -> LifecycleResult:
    session = uow.session
    now = utcnow()
    contact = read.contact
    event = {
        "reason_code": reason_code,
        "extra_details": {"to": "purged", "from_state": contact.state},
    }
    state.contacts_changed(session, account.id)  # noted first: it goes with the event
    updated, counts, event_id = _change_cascade_and_record(
        state,
        uow,
        caller,
        account,
        profile,
        read,
        (action, "purge", operation_id, now),
        event,
        {
            "state": PURGED,
            "name": None,
            "email": None,
            "phone": None,
            "phone_normalized": None,
            "purged_at": now,
            "deleted_at": contact.deleted_at or now,
            "deleted_by": contact.deleted_by or caller.acting_subject,
            "delete_operation_id": contact.delete_operation_id or operation_id,
            "delete_reason": contact.delete_reason or reason_code,
        },
    )
    # The contact's personal data in the audit log becomes unreadable; the chain still
    # verifies because the hashes cover the ciphertext, not the key.
    destroy_subject_key(session, audit_subject(account.id, contact.id))
    return LifecycleResult(updated, "purge", operation_id, profile, counts, event_id)


def purge_contact(
    state: Acts, caller: Caller, account_id: str, contact_id: str, confirm: str | None
) -> LifecycleResult:
    action = "contact.purge"
    account, profile = _gate_and_load(state, caller, account_id, contact_id, action)
    with state.unit_of_work() as uow:
        read = read_for_action(uow, account_id, contact_id)
        decision = decide_on_contact(state, caller, account, contact_id, action, read.facts)
        if decision.allowed and confirm == PURGE_CONFIRMATION:
            result = _purge_in(
                state, uow, caller, account, profile, read, store.new_id("op"), action
            )
            uow.commit()
            return result
    if not decision.allowed:
        raise refuse_decision(state, caller, contact_id, decision)
    text = f'purge cannot be undone: send {{"confirm": "{PURGE_CONFIRMATION}"}} to go ahead'
    raise _refuse_unconfirmed(state, caller, account_id, contact_id, action, text)


def _change_cascade_and_record(
    state: Decides,
    uow: UnitOfWork,
    caller: Caller,
    account: Account,
    profile: CascadeProfile,
    read: ContactForAction,
    step: tuple[str, str, str, datetime],
    event: dict[str, Any],
    values: dict[str, Any],
) -> tuple[Contact, CascadeCounts, str]:
    """One delete or purge of a contact that has been decided on. ``step``: the action, the
    cascade's phase, the operation id and the time. The contact is changed to ``values``
    (only if nobody changed it since it was read), the phase's cascade runs over its records
    and the action's event (with ``event``'s members) is recorded. What the cascade does,
    and the tags left, follow from what was read: nothing is read twice. Returns the contact
    as stored, what the cascade did and the event's id."""
    action, phase, operation_id, now = step
    session = uow.session
    contact = read.contact
    actions = dict(profile.on_delete if phase == "delete" else profile.on_purge)
    counts = cascade.plan_cascade(read.open_counts(), actions, phase)
    # The contact's UPDATE and the cascade's go ahead of the event: one round trip for the
    # three where the database allows it.
    change, updated = store.change_contact_ahead(
        session, contact, tags=read.tags_after(cascade.cascade_moves(actions, phase)), **values
    )
    records = cascade.cascade_ahead(
        session, account.id, [contact.id], actions, phase, operation_id, now
    )
    recorded = uow.record(
        contact_action_event(
            state, caller, action, contact, profile, operation_id, counts, **event
        ),
        ahead=[change, records],
        wrapped_keys=read.wrapped_keys(),
    )
    _changed_as_read(change, contact)
    return updated, counts, recorded.event_id


def _changed_as_read(change: AheadStatement, contact: Contact) -> None:
    """The contact was read locked, so its UPDATE cannot miss; if it ever did, the unit of
    work rolls back, event and cascade with it."""
    if change.rowcount != 1:
        raise Conflict(f"contact {contact.id} was changed by someone else; reload and retry")


# -- restore ------------------------------------------------------------------------------------


def restore_contact(
    state: Acts, caller: Caller, account_id: str, contact_id: str
) -> LifecycleResult:
    action = "contact.restore"
    account, profile = _gate_and_load(state, caller, account_id, contact_id, action)
    with state.unit_of_work() as uow:
        read = read_for_action(uow, account_id, contact_id)
        decision = decide_on_contact(state, caller, account, contact_id, action, read.facts)
        if decision.allowed:
            result = restore_in(state, uow, caller, account, profile, read.contact, read=read)
            uow.commit()
            return result
    raise refuse_decision(state, caller, contact_id, decision)


def restore_in(
    state: Acts,
    uow: UnitOfWork,
    caller: Caller,
    account: Account,
    profile: CascadeProfile,
    contact: Contact,
    job_id: str | None = None,
    *,
    read: ContactForAction | None = None,
) -> LifecycleResult:
    """Restore a contact that has been decided on: exactly what its delete hid comes back.
    With ``read`` (the contact as ``read_for_action`` found it) nothing is read again: the
    counts and the answer follow from it."""
    session = uow.session
    now = utcnow()
    # A trashed contact always carries the id of the delete that put it there.
    operation_id = contact.delete_operation_id or store.new_id("op")
    values: dict[str, Any] = {
        "state": "active",
        "deleted_at": None,
        "deleted_by": None,
        "delete_operation_id": None,
        "delete_reason": None,
    }
    ahead: list[AheadStatement] = []
    if read is not None:
        # Read locked with its records' counts: the two UPDATEs go ahead of the event, one
        # round trip for the three where the database allows it.
        tags = read.tags_after(cascade.restore_moves(operation_id))
        change, restored = store.change_contact_ahead(session, contact, tags=tags, **values)
        records = cascade.restore_ahead(session, account.id, contact.id, operation_id, now)
        ahead = [change, records]
        counts = cascade.restorable_counts(read.groups, operation_id)
    else:  # a bulk restore: the contact's tags and counts were not read
        changed = store.change_contact(
            session, account.id, contact.id, contact.version, tags=(), **values
        )
        if changed is None:
            raise Conflict(f"contact {contact.id} was changed by someone else; retry")
        counts = cascade.restore_records(session, account.id, contact.id, operation_id, now)
    state.contacts_changed(session, account.id)  # noted first: it goes with the event
    event = uow.record(
        contact_action_event(
            state,
            caller,
            "contact.restore",
            contact,
            profile,
            operation_id,
            counts,
            protected=contact.personal_fields(),
            job_id=job_id,
            extra_details={"deleted_at": iso(contact.deleted_at)},
        ),
        ahead=ahead,
        wrapped_keys=read.wrapped_keys() if read is not None else None,
    )
    if ahead:
        _changed_as_read(ahead[0], contact)
    if read is None:
        reread = store.get_contact(session, account.id, contact.id)
        assert reread is not None
        restored = reread
    return LifecycleResult(restored, "restore", operation_id, profile, counts, event.event_id)


# What every action needs lives in lifecycle/guards.py; the part of it named here is for the
# callers that have always imported it from this module (privacy/).
__all__ = [
    "LifecycleResult",
    "check_reason",
    "decide_on_contact",
    "delete_contact",
    "load_account",
    "profile_for",
    "purge_contact",
    "restore_contact",
]
