"""The retention sweep: purge trashed contacts whose restore window has passed.

It runs as the platform's ``retention-sweeper`` principal and asks the same enforcer as
everyone else (``contact.retention_purge``), so the deny rule that stops any purge of a held
contact stops the sweep too; held contacts are reported, not purged. A sweep that dies
part-way leaves whole chunks purged and the rest trashed; running it again finishes the job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from policy_service.audit_trail.recording import caller_event, require
from policy_service.decisions.authorization import Caller
from policy_service.domain.contacts import TRASHED
from policy_service.domain.identifiers import PLATFORM_DOMAIN
from policy_service.lifecycle.actions import decide_on_contact, profile_for
from policy_service.lifecycle.bulk import ChunkRaced, purge_chunk_rows
from policy_service.state import ServiceState
from policy_service.storage import contacts as store
from policy_service.storage.tables import AccountRow, ContactRow

SWEEPER = Caller("retention-sweeper", "system")
SWEEPER_ROLE = "retention_sweeper"


@dataclass
class SweepReport:
    purged: int = 0
    accounts: dict[str, int] = field(default_factory=dict)
    held: list[dict[str, str]] = field(default_factory=list)
    refused: list[dict[str, str]] = field(default_factory=list)


def sweep(
    state: ServiceState,
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
    now = now or datetime.now(UTC)
    # The sweeper's platform role: the rules grant it contact.retention_purge.
    state.runtime.roles.add_link(SWEEPER.principal_id, SWEEPER_ROLE, PLATFORM_DOMAIN)
    report = SweepReport()
    with state.unit_of_work(write=False) as uow:
        account_ids = list(
            uow.session.execute(select(AccountRow.id).order_by(AccountRow.id)).scalars()
        )
    for account_id in account_ids:
        _sweep_account(state, account_id, now, report)
    with state.unit_of_work() as uow:
        recorded = caller or actor or SWEEPER
        uow.record(
            caller_event(
                state.runtime, recorded, "retention.sweep", "succeeded",
                account_id=None, target_type="retention", target_id="all",
                details={"purged": report.purged, "accounts": report.accounts,
                         "held": len(report.held), "refused": len(report.refused)},
            )
        )  # fmt: skip
        uow.commit()
    return report


def _sweep_account(
    state: ServiceState, account_id: str, now: datetime, report: SweepReport
) -> None:
    state.runtime.forget_account(account_id)
    account = state.runtime.account(state.source, account_id)
    if account is None:
        return
    profile = profile_for(state, account)
    cutoff = now - timedelta(days=profile.effective_retention(account.retention_days))
    after = ""
    while True:
        with state.unit_of_work() as uow:
            session = uow.session
            ids = list(
                session.execute(
                    select(ContactRow.id)
                    .where(
                        ContactRow.account_id == account_id,
                        ContactRow.state == TRASHED,
                        ContactRow.deleted_at < cutoff,
                        ContactRow.id > after,
                    )
                    .order_by(ContactRow.id)
                    .limit(state.settings.job_chunk_size)
                ).scalars()
            )
            if not ids:
                return
            after = ids[-1]
            found = store.get_contacts(session, account_id, ids)
            facts = store.facts_of(session, account_id, ids)
            chosen = []
            for contact_id in ids:
                decision = decide_on_contact(
                    state, SWEEPER, account, contact_id, "contact.retention_purge",
                    facts[contact_id],
                )  # fmt: skip
                if decision.allowed:
                    chosen.append(found[contact_id])
                elif decision.reason.code == "legal_hold":
                    report.held.append({"account_id": account_id, "contact_id": contact_id})
                else:
                    report.refused.append(
                        {"account_id": account_id, "contact_id": contact_id,
                         "reason_code": decision.reason.code, "reason": decision.reason.text}
                    )  # fmt: skip
            if chosen:
                try:
                    purge_chunk_rows(
                        state, uow, SWEEPER, account, profile, chosen,
                        action="contact.purge", reason_code="retention_expired",
                        operation_id=store.new_id("op"),
                    )  # fmt: skip
                except ChunkRaced:
                    after = ""  # re-read from the start of this account; rolled back
                    continue
            uow.commit()
            report.purged += len(chosen)
            if chosen:
                report.accounts[account_id] = report.accounts.get(account_id, 0) + len(chosen)
