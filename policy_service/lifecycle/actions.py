"""Delete, restore and purge one contact; preview their impact; search the trash.

Each action runs in one unit of work: the contact's row is changed only if its version is the
one read (so of two concurrent actions the loser gets a 409), the cascade runs as set-based
statements, and the audit event is appended - all committed together or not at all. The
decision comes from the same enforcer as ``/access/v1/evaluation``, on the facts read in that
same transaction. A refusal is recorded in a unit of work of its own, then raised.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from audit import AuditEvent, destroy_subject_key
from policy_service.audit_trail.recording import caller_event, refuse, require
from policy_service.decisions.authorization import Caller, account_gate, decide_for_caller
from policy_service.domain.accounts import Account
from policy_service.domain.cascade import CascadeProfile
from policy_service.domain.clock import iso, utcnow
from policy_service.domain.contacts import (
    DELETE_REASONS,
    NOT_A_DELETE,
    OPT_OUT_GUIDANCE,
    PURGED,
    TRASHED,
    CascadeCounts,
    Contact,
    ContactFacts,
    audit_subject,
    is_valid_contact_id,
)
from policy_service.domain.decisions import Decision
from policy_service.domain.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    ServiceError,
    Unprocessable,
)
from policy_service.state import ServiceState
from policy_service.storage import contacts as store

PURGE_CONFIRMATION = "PURGE"
# Conditions about the contact's state rather than about who asks: when only these fail,
# the answer is 409 (the action does not fit the contact now), not 403.
STATE_CONDITIONS = frozenset(
    {"in_trash", "active", "within_retention", "on_legal_hold", "not_on_legal_hold"}
)


@dataclass(frozen=True)
class LifecycleResult:
    contact: Contact
    action: str
    operation_id: str
    profile: CascadeProfile
    counts: CascadeCounts
    event_id: str


@dataclass(frozen=True)
class Impact:
    action: str
    contact: Contact
    profile: CascadeProfile
    counts: CascadeCounts
    allowed: bool
    reason_code: str
    reason_text: str
    status: int  # what the action would answer now: 200, 403, 409 or 422


@dataclass(frozen=True)
class TrashEntry:
    contact: Contact
    days_left: int
    purge_after: datetime


class LifecycleRefused(ServiceError):
    """Carries the audit reason along with the HTTP error it becomes."""


def profile_for(state: ServiceState, account: Account) -> CascadeProfile:
    profile = state.runtime.pack.cascade_profiles.get(account.cascade_profile)
    if profile is None:
        raise Conflict(
            f"account {account.id} uses cascade profile {account.cascade_profile!r}, "
            "which the running policy pack does not have"
        )
    return profile


def load_account(state: ServiceState, account_id: str) -> Account:
    account = state.runtime.account(state.source, account_id)
    if account is None:
        raise NotFound(f"account {account_id} does not exist")
    return account


def decide_on_contact(
    state: ServiceState,
    caller: Caller,
    account: Account,
    contact_id: str,
    action: str,
    facts: ContactFacts,
) -> Decision:
    """The one decision (``authorization.decide``) for the caller, or the user a service acts
    for, on the store's facts as read in the caller's transaction."""
    return decide_for_caller(state.runtime, caller, account, action, contact_id, facts, utcnow())


def gate(
    state: ServiceState, caller: Caller, account_id: str, action: str, contact_id: str
) -> None:
    """Refuse (and record) before anything is read when the caller has no part in the account."""
    refused = account_gate(state.runtime, caller, account_id)
    if refused is not None:
        raise _refuse(
            state, caller, account_id, contact_id, action, 403, refused.reason.code,
            refused.reason.text,
        )  # fmt: skip


def _refuse(
    state: ServiceState,
    caller: Caller,
    account_id: str,
    contact_id: str,
    action: str,
    status: int,
    code: str,
    text: str,
    **extra: Any,
) -> ServiceError:
    """Record the refusal, and return the error to raise."""
    return refuse(
        state, caller, action, status=status, code=code, text=text, account_id=account_id,
        target_type="contact", target_id=contact_id, **extra,
    )  # fmt: skip


def _refuse_decision(
    state: ServiceState, caller: Caller, contact_id: str, decision: Decision
) -> ServiceError:
    return _refuse(
        state, caller, decision.account_id, contact_id, decision.action, decision.status,
        decision.reason.code, f"contact {contact_id}: {decision.reason.text}",
    )  # fmt: skip


def lifecycle_event(
    state: ServiceState,
    caller: Caller,
    action: str,
    contact: Contact,
    profile: CascadeProfile,
    operation_id: str,
    counts: CascadeCounts,
    *,
    reason_code: str | None = None,
    protected: dict[str, str] | None = None,
    extra_details: dict[str, Any] | None = None,
    job_id: str | None = None,
    dsr_id: str | None = None,
) -> AuditEvent:
    """The audit event of one contact's delete, restore, purge or erasure, with its cascade."""
    return caller_event(
        state.runtime,
        caller,
        action,
        "succeeded",
        account_id=contact.account_id,
        target_type="contact",
        target_id=contact.id,
        reason_code=reason_code,
        details={
            "operation_id": operation_id,
            "cascade": counts.as_dict(),
            "totals": counts.totals(),
            **(extra_details or {}),
        },
        cascade_profile=profile.name,
        cascade_profile_version=profile.version,
        subject_id=audit_subject(contact.account_id, contact.id),
        protected=protected or None,
        job_id=job_id,
        dsr_id=dsr_id,
    )


def _read(
    session: Any, account_id: str, contact_id: str, *, for_update: bool = True
) -> tuple[Contact, ContactFacts]:
    """The contact (locked for the action) and the facts a decision about it needs."""
    contact = None
    if is_valid_contact_id(contact_id):
        contact = store.get_contact(session, account_id, contact_id, for_update=for_update)
    if contact is None:
        raise NotFound(f"contact {contact_id} does not exist in account {account_id}")
    facts = store.facts_of(session, account_id, [contact_id])[contact_id]
    return contact, facts


# -- delete -------------------------------------------------------------------------------------


def check_reason(reason_code: str, reason_text: str | None) -> None:
    if reason_code in NOT_A_DELETE:
        raise Unprocessable(
            f"{reason_code!r} is not a reason to delete a contact. {NOT_A_DELETE[reason_code]}",
            reason={"code": "not_a_delete", "text": NOT_A_DELETE[reason_code]},
            see=OPT_OUT_GUIDANCE,
        )
    if reason_code not in DELETE_REASONS:
        raise InvalidInput(
            "unknown reason_code", errors={"reason_code": [f"one of {sorted(DELETE_REASONS)}"]}
        )
    if reason_code == "other" and not (reason_text or "").strip():
        raise InvalidInput(
            "reason_code 'other' needs a reason_text",
            errors={"reason_text": ["required when reason_code is 'other'"]},
        )


DELETE_CONFIRMATION = "DELETE"


def delete_contact(
    state: ServiceState,
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
        contact, facts = _read(uow.session, account_id, contact_id)
        decision = decide_on_contact(state, caller, account, contact_id, action, facts)
        opt_out = reason_code in NOT_A_DELETE
        if decision.allowed and not opt_out and (profile.trash or confirm == DELETE_CONFIRMATION):
            result = _delete_in(
                state, uow, caller, account, profile, contact, reason_code, reason_text
            )
            uow.commit()
            return result
    if not decision.allowed:  # who may, and the contact's state, come before the reason
        raise _refuse_decision(state, caller, contact_id, decision)
    if opt_out:
        text = f"{reason_code!r} is not a reason to delete a contact. {NOT_A_DELETE[reason_code]}"
        raise _refuse(
            state, caller, account_id, contact_id, action, 422, "not_a_delete", text,
            see=OPT_OUT_GUIDANCE,
        )  # fmt: skip
    text = (
        f"profile {profile.name} has no trash: this delete cannot be undone. Send "
        f'{{"confirm": "{DELETE_CONFIRMATION}"}} to go ahead'
    )
    raise _refuse(state, caller, account_id, contact_id, action, 422, "confirmation_required", text)


def _delete_in(
    state: ServiceState,
    uow: Any,
    caller: Caller,
    account: Account,
    profile: CascadeProfile,
    contact: Contact,
    reason_code: str,
    reason_text: str | None,
    job_id: str | None = None,
) -> LifecycleResult:
    session = uow.session
    now = utcnow()
    operation_id = store.new_id("op")
    if not profile.trash:
        return _purge_in(
            state, uow, caller, account, profile, contact, operation_id, "contact.delete",
            reason_code=reason_code, job_id=job_id,
        )  # fmt: skip
    changed = store.bump_version(
        session,
        account.id,
        contact.id,
        contact.version,
        state=TRASHED,
        deleted_at=now,
        deleted_by=caller.acting_subject,
        delete_operation_id=operation_id,
        delete_reason=reason_code,
    )
    if not changed:
        raise Conflict(f"contact {contact.id} was changed by someone else; reload and retry")
    counts = store.plan_cascade(
        store.open_counts(session, account.id, [contact.id]), dict(profile.on_delete), "delete"
    )
    store.run_cascade(
        session, account.id, [contact.id], dict(profile.on_delete), "delete", operation_id, now
    )
    protected = contact.personal_fields()
    if reason_text:
        protected["reason_text"] = reason_text
    event = uow.record(
        lifecycle_event(
            state, caller, "contact.delete", contact, profile, operation_id, counts,
            reason_code=reason_code, protected=protected, job_id=job_id,
            extra_details={"to": "trash"},
        )
    )  # fmt: skip
    state.contacts_changed(session, account.id)
    updated = store.get_contact(session, account.id, contact.id)
    assert updated is not None
    return LifecycleResult(updated, "delete", operation_id, profile, counts, event.event_id)


# -- purge --------------------------------------------------------------------------------------


def _purge_in(
    state: ServiceState,
    uow: Any,
    caller: Caller,
    account: Account,
    profile: CascadeProfile,
    contact: Contact,
    operation_id: str,
    action: str,
    *,
    reason_code: str | None = None,
    job_id: str | None = None,
) -> LifecycleResult:
    session = uow.session
    now = utcnow()
    changed = store.bump_version(
        session,
        account.id,
        contact.id,
        contact.version,
        state=PURGED,
        name=None,
        email=None,
        phone=None,
        phone_normalized=None,
        purged_at=now,
        deleted_at=contact.deleted_at or now,
        deleted_by=contact.deleted_by or caller.acting_subject,
        delete_operation_id=contact.delete_operation_id or operation_id,
        delete_reason=contact.delete_reason or reason_code,
    )
    if not changed:
        raise Conflict(f"contact {contact.id} was changed by someone else; reload and retry")
    actions = dict(profile.on_purge)
    counts = store.plan_cascade(
        store.open_counts(session, account.id, [contact.id]), actions, "purge"
    )
    store.run_cascade(session, account.id, [contact.id], actions, "purge", operation_id, now)
    event = uow.record(
        lifecycle_event(
            state, caller, action, contact, profile, operation_id, counts,
            reason_code=reason_code, job_id=job_id,
            extra_details={"to": "purged", "from_state": contact.state},
        )
    )  # fmt: skip
    # The contact's personal data in the audit log becomes unreadable; the chain still
    # verifies because the hashes cover the ciphertext, not the key.
    destroy_subject_key(session, audit_subject(account.id, contact.id))
    state.contacts_changed(session, account.id)
    updated = store.get_contact(session, account.id, contact.id)
    assert updated is not None
    return LifecycleResult(updated, "purge", operation_id, profile, counts, event.event_id)


def purge_contact(
    state: ServiceState, caller: Caller, account_id: str, contact_id: str, confirm: str | None
) -> LifecycleResult:
    action = "contact.purge"
    gate(state, caller, account_id, action, contact_id)
    account = load_account(state, account_id)
    profile = profile_for(state, account)
    with state.unit_of_work() as uow:
        contact, facts = _read(uow.session, account_id, contact_id)
        decision = decide_on_contact(state, caller, account, contact_id, action, facts)
        if decision.allowed and confirm == PURGE_CONFIRMATION:
            result = _purge_in(
                state, uow, caller, account, profile, contact, store.new_id("op"), action
            )
            uow.commit()
            return result
    if not decision.allowed:
        raise _refuse_decision(state, caller, contact_id, decision)
    text = f'purge cannot be undone: send {{"confirm": "{PURGE_CONFIRMATION}"}} to go ahead'
    raise _refuse(state, caller, account_id, contact_id, action, 422, "confirmation_required", text)


# -- restore ------------------------------------------------------------------------------------


def restore_contact(
    state: ServiceState, caller: Caller, account_id: str, contact_id: str
) -> LifecycleResult:
    action = "contact.restore"
    gate(state, caller, account_id, action, contact_id)
    account = load_account(state, account_id)
    profile = profile_for(state, account)
    with state.unit_of_work() as uow:
        session = uow.session
        contact, facts = _read(session, account_id, contact_id)
        decision = decide_on_contact(state, caller, account, contact_id, action, facts)
        if decision.allowed:
            result = restore_in(state, uow, caller, account, profile, contact)
            uow.commit()
            return result
    raise _refuse_decision(state, caller, contact_id, decision)


def restore_in(
    state: ServiceState,
    uow: Any,
    caller: Caller,
    account: Account,
    profile: CascadeProfile,
    contact: Contact,
    job_id: str | None = None,
) -> LifecycleResult:
    """Restore a contact that has been decided on: exactly what its delete hid comes back."""
    session = uow.session
    now = utcnow()
    # A trashed contact always carries the id of the delete that put it there.
    operation_id = contact.delete_operation_id or store.new_id("op")
    if not store.bump_version(
        session,
        account.id,
        contact.id,
        contact.version,
        state="active",
        deleted_at=None,
        deleted_by=None,
        delete_operation_id=None,
        delete_reason=None,
    ):
        raise Conflict(f"contact {contact.id} was changed by someone else; retry")
    counts = store.restore_records(session, account.id, contact.id, operation_id, now)
    event = uow.record(
        lifecycle_event(
            state, caller, "contact.restore", contact, profile, operation_id, counts,
            protected=contact.personal_fields(), job_id=job_id,
            extra_details={"deleted_at": iso(contact.deleted_at)},
        )
    )  # fmt: skip
    state.contacts_changed(session, account.id)
    restored = store.get_contact(session, account.id, contact.id)
    assert restored is not None
    return LifecycleResult(restored, "restore", operation_id, profile, counts, event.event_id)


# -- impact (a dry run) ---------------------------------------------------------------------------


def impact(
    state: ServiceState, caller: Caller, account_id: str, contact_id: str, action: str
) -> Impact:
    """A dry run. It shows the contact, so it needs ``contact.read`` like any read; whether
    the action itself would go ahead comes from the same decision the action makes."""
    require(
        state, caller, "contact", "contact.read", account_id=account_id,
        target_type="contact", target_id=contact_id,
    )  # fmt: skip
    account = load_account(state, account_id)
    profile = profile_for(state, account)
    with state.unit_of_work(write=False) as uow:
        session = uow.session
        contact, facts = _read(session, account_id, contact_id, for_update=False)
        open_counts = store.open_counts(session, account_id, [contact_id])
        if action == "restore":
            counts = (
                _restore_preview(session, account_id, contact_id, contact.delete_operation_id)
                if contact.state == TRASHED and contact.delete_operation_id
                else CascadeCounts()
            )
        elif action == "delete" and profile.trash:
            counts = store.plan_cascade(open_counts, dict(profile.on_delete), "delete")
        else:
            counts = store.plan_cascade(open_counts, dict(profile.on_purge), "purge")
    decision = decide_on_contact(state, caller, account, contact_id, f"contact.{action}", facts)
    return Impact(
        action,
        contact,
        profile,
        counts,
        decision.allowed,
        decision.reason.code,
        decision.reason.text,
        decision.status,
    )


def _restore_preview(
    session: Any, account_id: str, contact_id: str, operation_id: str
) -> CascadeCounts:
    counts = CascadeCounts()
    for record in store.records_of(session, account_id, contact_id):
        if record.operation_id != operation_id:
            continue
        if record.state == TRASHED:
            counts.add(record.kind, "restore", 1)
        elif record.state == "active" and record.contact_id is None:
            counts.add(record.kind, "reattach", 1)
        else:
            counts.add(record.kind, "stays_" + record.state, 1)
    return counts


# -- the trash ------------------------------------------------------------------------------------


def search_trash(
    state: ServiceState,
    caller: Caller,
    account_id: str,
    query: str | None,
    after: str | None,
    limit: int,
) -> list[TrashEntry]:
    require(state, caller, "contact", "contact.read", account_id=account_id)
    account = load_account(state, account_id)
    profile = profile_for(state, account)
    retention = profile.effective_retention(account.retention_days)
    with state.unit_of_work(write=False) as uow:
        found = store.search_contacts(
            uow.session, account_id, TRASHED, query, after=after, limit=limit
        )
    now = utcnow()
    entries = []
    for contact in found:
        deleted_at = contact.deleted_at or now
        purge_after = deleted_at + timedelta(days=retention)
        days_left = max(0, (purge_after - now).days)
        entries.append(TrashEntry(contact, days_left, purge_after))
    return entries


__all__ = [
    "Impact",
    "LifecycleResult",
    "TrashEntry",
    "delete_contact",
    "impact",
    "purge_contact",
    "restore_contact",
    "search_trash",
]
