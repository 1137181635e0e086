"""Deleting or purging a chunk of contacts at once: the set-based form of ``lifecycle``.

Used by bulk-delete jobs and the retention sweep. Within one unit of work, for a chunk of
contacts: every contact is decided on by the enforcer with the store's facts, the eligible
ones change state with one UPDATE, their cascades run as one UPDATE per action, and one
audit event per contact is appended in a single INSERT. Either the whole chunk commits or
none of it: no contact is ever half-cascaded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from audit import destroy_subject_keys
from audit.writer import AheadStatement
from policy_service.decisions.authorization import Caller
from policy_service.domain.accounts import Account
from policy_service.domain.cascade import CascadeProfile
from policy_service.domain.clock import utcnow
from policy_service.domain.contacts import (
    PURGED,
    TRASHED,
    CascadeCounts,
    Contact,
    audit_subject,
)
from policy_service.domain.errors import Conflict
from policy_service.lifecycle.actions import restore_in
from policy_service.lifecycle.events import contact_action_event
from policy_service.lifecycle.guards import decide_on_contact
from policy_service.ports import Acts, Decides
from policy_service.storage import cascade
from policy_service.storage import contacts as store
from policy_service.storage.unit_of_work import UnitOfWork


@dataclass
class ChunkOutcome:
    done: list[str] = field(default_factory=list)
    # contact -> (reason code, text, status): left alone, and why (recorded, never retried).
    skipped: dict[str, tuple[str, str, int]] = field(default_factory=dict)

    def finished(self, done: list[Contact]) -> ChunkOutcome:
        """This outcome, with ``done`` the contacts the chunk acted on."""
        self.done = [contact.id for contact in done]
        return self


def _decide_chunk(
    state: Decides,
    uow: UnitOfWork,
    caller: Caller,
    account: Account,
    contact_ids: Sequence[str],
    action: str,
    outcome: ChunkOutcome,
) -> list[Contact]:
    """The contacts the one decision lets ``action`` touch, as the store holds them; the
    others are skipped, with the same reason code and status a single action would have
    answered."""
    found = store.get_contacts(uow.session, account.id, contact_ids)
    facts = store.facts_of(uow.session, account.id, contact_ids)
    eligible: list[Contact] = []
    for contact_id in contact_ids:
        contact = found.get(contact_id)
        if contact is None:
            outcome.skipped[contact_id] = ("not_found", "the contact does not exist", 404)
            continue
        decision = decide_on_contact(state, caller, account, contact_id, action, facts[contact_id])
        if decision.allowed:
            eligible.append(contact)
        else:
            reason = decision.reason
            outcome.skipped[contact_id] = (reason.code, reason.text, decision.status)
    return eligible


def restore_chunk(
    state: Acts,
    uow: UnitOfWork,
    caller: Caller,
    account: Account,
    profile: CascadeProfile,
    contact_ids: Sequence[str],
    *,
    job_id: str | None,
) -> ChunkOutcome:
    """Restore what is eligible. Each contact is restored from its own delete (they differ),
    so this goes one contact at a time, within the chunk's one transaction."""
    outcome = ChunkOutcome()
    action = "contact.restore"
    eligible = _decide_chunk(state, uow, caller, account, contact_ids, action, outcome)
    for contact in eligible:
        try:
            restore_in(state, uow, caller, account, profile, contact, job_id=job_id)
        except Conflict as race:
            raise ChunkRaced(str(race)) from None
    return outcome.finished(eligible)


def delete_chunk(
    state: Acts,
    uow: UnitOfWork,
    caller: Caller,
    account: Account,
    profile: CascadeProfile,
    contact_ids: Sequence[str],
    *,
    reason_code: str,
    operation_id: str,
    job_id: str | None,
) -> ChunkOutcome:
    """Delete (to the trash, or for good where the profile has no trash) what is eligible."""
    outcome = ChunkOutcome()
    action = "contact.delete"
    eligible = _decide_chunk(state, uow, caller, account, contact_ids, action, outcome)
    if not eligible:
        return outcome
    if profile.trash:
        _trash(state, uow, caller, account, profile, eligible, reason_code, operation_id, job_id)
    else:
        purge_chunk_rows(
            state,
            uow,
            caller,
            account,
            profile,
            eligible,
            action="contact.delete",
            reason_code=reason_code,
            operation_id=operation_id,
            job_id=job_id,
        )
    return outcome.finished(eligible)


def _trash(
    state: Acts,
    uow: UnitOfWork,
    caller: Caller,
    account: Account,
    profile: CascadeProfile,
    contacts: list[Contact],
    reason_code: str,
    operation_id: str,
    job_id: str | None,
) -> None:
    session = uow.session
    now = utcnow()
    ids = [contact.id for contact in contacts]
    per_contact = cascade.open_counts_per_contact(session, account.id, ids)
    moved = store.set_states_ahead(
        session,
        account.id,
        ids,
        "active",
        state=TRASHED,
        **_deleted(caller, now, operation_id, reason_code),
    )
    _cascade_and_record(
        state,
        uow,
        caller,
        account,
        profile,
        contacts,
        per_contact,
        ("contact.delete", "delete", operation_id, now),
        lambda contact: {"protected": contact.personal_fields()},
        ahead=[moved],
        reason_code=reason_code,
        job_id=job_id,
    )
    _all_moved(moved, len(ids))
    state.contacts_changed(session, account.id)


def _deleted(
    caller: Caller, now: datetime, operation_id: str, reason_code: str | None
) -> dict[str, Any]:
    """What a delete writes on an active contact: when, by whom, in which operation, why."""
    return {
        "deleted_at": now,
        "deleted_by": caller.acting_subject,
        "delete_operation_id": operation_id,
        "delete_reason": reason_code,
    }


class ChunkRaced(Exception):
    """A contact of the chunk changed between read and write; the chunk rolls back."""


def _all_moved(moved: AheadStatement, expected: int) -> None:
    """Checked once the chunk's events are recorded (its UPDATE went ahead of them): if
    someone changed a contact since the read, the whole chunk rolls back and is retried."""
    count = moved.rowcount or 0
    if count != expected:
        raise ChunkRaced(f"{expected - count} contact(s) changed while the chunk ran")


def purge_chunk_rows(
    state: Acts,
    uow: UnitOfWork,
    caller: Caller,
    account: Account,
    profile: CascadeProfile,
    contacts: list[Contact],
    *,
    action: str,
    reason_code: str | None,
    operation_id: str,
    job_id: str | None = None,
    dsr_id: str | None = None,
) -> dict[str, CascadeCounts]:
    """Purge contacts that have been decided on: wipe personal data, run ``on_purge``,
    record one event each, destroy their audit data keys. Returns what each cascade did."""
    session = uow.session
    now = utcnow()
    by_state: dict[str, list[str]] = {}
    for contact in contacts:
        by_state.setdefault(contact.state, []).append(contact.id)
    ids = [contact.id for contact in contacts]
    per_contact = cascade.open_counts_per_contact(session, account.id, ids)
    moved: list[tuple[AheadStatement, int]] = []
    for from_state, state_ids in by_state.items():
        values = {
            "state": PURGED,
            "name": None,
            "email": None,
            "phone": None,
            "phone_normalized": None,
            "purged_at": now,
        }
        if from_state == "active":
            values.update(_deleted(caller, now, operation_id, reason_code))
        statement = store.set_states_ahead(session, account.id, state_ids, from_state, **values)
        moved.append((statement, len(state_ids)))
    counts = _cascade_and_record(
        state,
        uow,
        caller,
        account,
        profile,
        contacts,
        per_contact,
        (action, "purge", operation_id, now),
        lambda contact: {"extra_details": {"to": "purged", "from_state": contact.state}},
        ahead=[statement for statement, _ in moved],
        reason_code=reason_code,
        job_id=job_id,
        dsr_id=dsr_id,
    )
    for statement, expected in moved:
        _all_moved(statement, expected)
    destroy_subject_keys(session, [audit_subject(account.id, c.id) for c in contacts])
    state.contacts_changed(session, account.id)
    return counts


def _cascade_and_record(
    state: Decides,
    uow: UnitOfWork,
    caller: Caller,
    account: Account,
    profile: CascadeProfile,
    contacts: list[Contact],
    per_contact: dict[str, dict[tuple[str, str], int]],
    step: tuple[str, str, str, datetime],
    details_of: Callable[[Contact], dict[str, Any]],
    *,
    ahead: Sequence[AheadStatement] = (),
    **event: Any,
) -> dict[str, CascadeCounts]:
    """Run the chunk's cascade (``step``: the action, the phase, the operation id and the
    time) over its records in one UPDATE and record one event per contact, with ``event``'s
    members and ``details_of`` the contact; ``ahead``: the chunk's other writes, sent with
    the cascade ahead of the events. Returns what each contact's cascade did, from
    ``per_contact``'s open records as read before."""
    action, phase, operation_id, now = step
    actions = dict(profile.on_delete if phase == "delete" else profile.on_purge)
    counts = {
        contact.id: cascade.plan_cascade(per_contact.get(contact.id, {}), actions, phase)
        for contact in contacts
    }
    ids = [contact.id for contact in contacts]
    records = cascade.cascade_ahead(uow.session, account.id, ids, actions, phase, operation_id, now)
    uow.record_many(
        [
            contact_action_event(
                state,
                caller,
                action,
                contact,
                profile,
                operation_id,
                counts[contact.id],
                **details_of(contact),
                **event,
            )
            for contact in contacts
        ],
        ahead=[*ahead, records],
    )
    return counts
