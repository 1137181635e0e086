"""Reading what an action would do without doing it (impact), and the trash.

Both only read. An impact comes from the same store queries, cascade plan and decision
(``lifecycle/guards.py``) as the actions in ``lifecycle/actions.py``, so it says what the
action would do now.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from policy_service.audit_trail.recording import require
from policy_service.decisions.authorization import Caller
from policy_service.domain.cascade import CascadeProfile
from policy_service.domain.clock import utcnow
from policy_service.domain.contacts import TRASHED, CascadeCounts, Contact
from policy_service.lifecycle.guards import (
    decide_on_contact,
    load_account,
    profile_for,
    read_contact,
)
from policy_service.ports import Acts
from policy_service.storage import cascade, contact_search
from policy_service.storage import contacts as store
from policy_service.storage.unit_of_work import UnitOfWork


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


def impact(state: Acts, caller: Caller, account_id: str, contact_id: str, action: str) -> Impact:
    """A dry run. It shows the contact, so it needs ``contact.read`` like any read; whether
    the action itself would go ahead comes from the same decision the action makes."""
    require(
        state,
        caller,
        "contact",
        "contact.read",
        account_id=account_id,
        target_type="contact",
        target_id=contact_id,
    )
    account = load_account(state, account_id)
    profile = profile_for(state, account)
    with state.unit_of_work(write=False) as uow:
        contact, facts = read_contact(uow, account_id, contact_id, for_update=False)
        open_counts = cascade.open_counts(uow.session, account_id, [contact_id])
        if action == "restore":
            counts = (
                _restore_preview(uow, account_id, contact_id, contact.delete_operation_id)
                if contact.state == TRASHED and contact.delete_operation_id
                else CascadeCounts()
            )
        elif action == "delete" and profile.trash:
            counts = cascade.plan_cascade(open_counts, dict(profile.on_delete), "delete")
        else:
            counts = cascade.plan_cascade(open_counts, dict(profile.on_purge), "purge")
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
    uow: UnitOfWork, account_id: str, contact_id: str, operation_id: str
) -> CascadeCounts:
    counts = CascadeCounts()
    for record in store.records_of(uow.session, account_id, contact_id):
        if record.operation_id != operation_id:
            continue
        if record.state == TRASHED:
            counts.add(record.kind, "restore", 1)
        elif record.state == "active" and record.contact_id is None:
            counts.add(record.kind, "reattach", 1)
        else:
            counts.add(record.kind, "stays_" + record.state, 1)
    return counts


def search_trash(
    state: Acts,
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
        found = contact_search.search_contacts(
            uow.session, account_id, TRASHED, query, after=after, limit=limit
        )
    now = utcnow()
    entries = []
    for contact in found:
        deleted_at = contact.deleted_at or now
        purge_after = deleted_at + timedelta(days=retention)
        # Whole days rounded up: a fresh delete shows the full window, the last day shows 1.
        days_left = max(0, math.ceil((purge_after - now).total_seconds() / 86400))
        entries.append(TrashEntry(contact, days_left, purge_after))
    return entries
