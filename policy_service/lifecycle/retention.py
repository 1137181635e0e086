"""The retention sweep: purge trashed contacts whose restore window has passed.

It runs as the platform's ``retention-sweeper`` principal and asks the same enforcer as
everyone else (``contact.retention_purge``), so the deny rule that stops any purge of a held
contact stops the sweep too; held contacts are reported, not purged.

Resumable without a job of its own: the sweep's "selection" is a condition (trashed, and
deleted before the account's cutoff), not a list fixed when it starts, and each chunk's
purges, cascades and audit events commit in one transaction. A sweep that dies part-way
leaves whole chunks purged and the rest trashed; the next sweep finds exactly the rest.
Two sweeps at once cannot purge a contact twice: a chunk moves only contacts still
``trashed`` (``set_states_ahead``), and a chunk that loses that race rolls back and reads again.

The scheduler runs the sweep under its task lease (``scheduler.py``: one run per
interval across all workers; a run whose worker died is finished by the next one due), which
makes the scheduled sweep a leased, resumable job like a bulk delete. ``POST
/v1/retention/sweep`` and ``policy-service retention sweep`` run it directly and answer with
its report, as they always have: by the above they need no lease of their own to be safe
alongside a scheduled run, and one would only turn a concurrent request into a refusal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from policy_service.audit_trail.recording import require
from policy_service.decisions.authorization import Caller
from policy_service.domain.accounts import Account
from policy_service.domain.cascade import CascadeProfile
from policy_service.domain.clock import utcnow
from policy_service.domain.contacts import Contact
from policy_service.domain.identifiers import PLATFORM_DOMAIN
from policy_service.lifecycle.bulk import ChunkRaced, purge_chunk_rows
from policy_service.lifecycle.events import sweep_event
from policy_service.lifecycle.guards import decide_on_contact, profile_for
from policy_service.ports import Acts, Decides, LifecycleDeps
from policy_service.storage import accounts as account_store
from policy_service.storage import contact_search
from policy_service.storage import contacts as store
from policy_service.storage import retention as retention_store
from policy_service.storage.unit_of_work import UnitOfWork

SWEEPER = Caller("retention-sweeper", "system")
SWEEPER_ROLE = "retention_sweeper"


@dataclass
class SweepReport:
    purged: int = 0
    accounts: dict[str, int] = field(default_factory=dict)
    held: list[dict[str, str]] = field(default_factory=list)
    refused: list[dict[str, str]] = field(default_factory=list)


def sweep(
    state: LifecycleDeps,
    caller: Caller | None,
    now: datetime | None = None,
    *,
    actor: Caller | None = None,
) -> SweepReport:
    """Purge every trashed contact past its window, in every account.

    ``caller`` is authorized and recorded as the sweep's actor; without one (the CLI, the
    scheduler) nothing is authorized and ``actor`` is recorded, else the sweeper itself.
    """
    if caller is not None:
        require(state, caller, "retention", "retention.sweep", account_id=None, platform=True)
    now = now or utcnow()
    # The sweeper's platform role: the rules grant it contact.retention_purge.
    state.runtime.roles.add_link(SWEEPER.principal_id, SWEEPER_ROLE, PLATFORM_DOMAIN)
    report = SweepReport()
    with state.unit_of_work(write=False) as uow:
        oldest = retention_store.oldest_trash_by_account(uow.session)
    for account_id in sorted(oldest):
        _sweep_account(state, account_id, oldest[account_id], now, report)
    with state.unit_of_work() as uow:
        event = sweep_event(
            state,
            caller or actor or SWEEPER,
            purged=report.purged,
            accounts=report.accounts,
            held=len(report.held),
            refused=len(report.refused),
        )
        uow.record(event)
        uow.commit()
    return report


def _sweep_account(
    state: LifecycleDeps, account_id: str, oldest: datetime, now: datetime, report: SweepReport
) -> None:
    # Read fresh: the window is the account's setting now, not what this worker cached.
    with state.unit_of_work(write=False) as uow:
        account = account_store.get_account(uow.session, account_id)
    if account is None:
        return
    profile = profile_for(state, account)
    cutoff = now - timedelta(days=profile.effective_retention(account.retention_days))
    if oldest >= cutoff:
        return  # nothing in this account's trash is past its window yet
    after = ""
    while True:
        with state.unit_of_work() as uow:
            ids = contact_search.expired_trash_ids(
                uow.session, account_id, cutoff, after=after, limit=state.settings.job_chunk_size
            )
            if not ids:
                return
            after = ids[-1]
            chosen = _choose(state, uow, account, ids, report)
            if chosen:
                try:
                    _purge(state, uow, account, profile, chosen)
                except ChunkRaced:
                    after = ""  # re-read from the start of this account; rolled back
                    continue
            uow.commit()
            report.purged += len(chosen)
            if chosen:
                report.accounts[account_id] = report.accounts.get(account_id, 0) + len(chosen)


def _choose(
    state: Decides, uow: UnitOfWork, account: Account, ids: list[str], report: SweepReport
) -> list[Contact]:
    """The contacts of the chunk the enforcer lets the sweeper purge; the others go to the
    report (held, or refused with the reason)."""
    found = store.get_contacts(uow.session, account.id, ids)
    facts = store.facts_of(uow.session, account.id, ids)
    chosen = []
    for contact_id in ids:
        decision = decide_on_contact(
            state, SWEEPER, account, contact_id, "contact.retention_purge", facts[contact_id]
        )
        if decision.allowed:
            chosen.append(found[contact_id])
        elif decision.reason.code == "legal_hold":
            report.held.append({"account_id": account.id, "contact_id": contact_id})
        else:
            report.refused.append(
                {
                    "account_id": account.id,
                    "contact_id": contact_id,
                    "reason_code": decision.reason.code,
                    "reason": decision.reason.text,
                }
            )
    return chosen


def _purge(
    state: Acts,
    uow: UnitOfWork,
    account: Account,
    profile: CascadeProfile,
    chosen: list[Contact],
) -> None:
    purge_chunk_rows(
        state,
        uow,
        SWEEPER,
        account,
        profile,
        chosen,
        action="contact.purge",
        reason_code="retention_expired",
        operation_id=store.new_id("op"),
    )
