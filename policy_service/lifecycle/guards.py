"""What every lifecycle action needs before it changes anything: the account and its cascade
profile, the contact with the facts a decision reads, the one decision, a valid reason to
delete, and the audited refusal when the answer is no."""

from __future__ import annotations

from typing import Any

from policy_service.audit_trail.recording import Refusal, refused
from policy_service.decisions.authorization import (
    Caller,
    account_gate,
    decide_for_caller,
    existing_account,
)
from policy_service.domain.accounts import Account
from policy_service.domain.cascade import CascadeProfile
from policy_service.domain.clock import utcnow
from policy_service.domain.contacts import (
    DELETE_REASONS,
    NOT_A_DELETE,
    OPT_OUT_GUIDANCE,
    Contact,
    ContactFacts,
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
from policy_service.ports import Acts, Decides
from policy_service.storage import action_reads
from policy_service.storage import contacts as store
from policy_service.storage.action_reads import ContactForAction
from policy_service.storage.unit_of_work import UnitOfWork


def profile_for(state: Decides, account: Account) -> CascadeProfile:
    profile = state.runtime.pack.cascade_profiles.get(account.cascade_profile)
    if profile is None:
        raise Conflict(
            f"account {account.id} uses cascade profile {account.cascade_profile!r}, "
            "which the running policy pack does not have"
        )
    return profile


def load_account(state: Decides, account_id: str) -> Account:
    return existing_account(state.runtime, state.source, account_id)


def decide_on_contact(
    state: Decides,
    caller: Caller,
    account: Account,
    contact_id: str,
    action: str,
    facts: ContactFacts,
) -> Decision:
    """The one decision (``authorization.decide``) for the caller, or the user a service acts
    for, on the store's facts as read in the caller's transaction."""
    return decide_for_caller(state.runtime, caller, account, action, contact_id, facts, utcnow())


def gate(state: Acts, caller: Caller, account_id: str, action: str, contact_id: str) -> None:
    """Refuse (and record) before anything is read when the caller has no part in the account."""
    refused = account_gate(state.runtime, caller, account_id)
    if refused is not None:
        reason = refused.reason
        raise refuse_on_contact(
            state, caller, account_id, contact_id, action, 403, reason.code, reason.text
        )


def refuse_on_contact(
    state: Acts,
    caller: Caller,
    account_id: str,
    contact_id: str,
    action: str,
    status: int,
    code: str,
    text: str,
    **problem: Any,  # extra members of the problem document: free-form JSON
) -> ServiceError:
    """Record the refusal, and return the error to raise (``problem``: extra members of the
    problem document)."""
    refusal = Refusal(action, status, code, text, account_id, "contact", contact_id)
    return refused(state, caller, refusal, **problem)


def refuse_decision(
    state: Acts, caller: Caller, contact_id: str, decision: Decision
) -> ServiceError:
    reason = decision.reason
    text = f"contact {contact_id}: {reason.text}"
    account_id, action, status = decision.account_id, decision.action, decision.status
    return refuse_on_contact(
        state, caller, account_id, contact_id, action, status, reason.code, text
    )


def read_contact(
    uow: UnitOfWork, account_id: str, contact_id: str, *, for_update: bool = True
) -> tuple[Contact, ContactFacts]:
    """The contact (locked for the action) and the facts a decision about it needs."""
    contact = None
    if is_valid_contact_id(contact_id):
        contact = store.get_contact(uow.session, account_id, contact_id, for_update=for_update)
    if contact is None:
        raise NotFound(f"contact {contact_id} does not exist in account {account_id}")
    facts = store.facts_of(uow.session, account_id, [contact_id])[contact_id]
    return contact, facts


def read_for_action(uow: UnitOfWork, account_id: str, contact_id: str) -> ContactForAction:
    """The contact (locked for the action), its facts and its open records' counts, in one
    statement: all that the decision, the cascade's counts and the answer need."""
    read = None
    if is_valid_contact_id(contact_id):
        read = action_reads.read_for_action(uow.session, account_id, contact_id)
    if read is None:
        raise NotFound(f"contact {contact_id} does not exist in account {account_id}")
    return read


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
