"""The audit events of data-subject requests, built by name.

A request about one account is recorded in that account's chain; any other (several
accounts, or all) in the platform chain. Every event carries the request's id (``dsr_id``),
so ``GET /v1/audit/events?dsr_id=`` lists a request's whole history.
"""

from __future__ import annotations

from typing import Any

from audit import AuditEvent
from policy_service.audit_trail.recording import caller_event
from policy_service.decisions.authorization import Caller
from policy_service.domain.clock import iso
from policy_service.ports import Decides
from policy_service.privacy.records import Accounts, accounts_of
from policy_service.storage.tables import DsrRow


def chain_account(accounts: Accounts) -> str | None:
    """The account whose chain records a request: its one account, else None (platform)."""
    return accounts[0] if isinstance(accounts, list) and len(accounts) == 1 else None


def dsr_step_event(
    state: Decides,
    caller: Caller,
    row: DsrRow,
    *,
    step: str,
    from_status: str,
    to_status: str,
    note: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """``dsr.<step>``: the request moved from one status to another. A note (a denial's text,
    an extension's reason) is personal enough to be kept as protected data of the request."""
    return caller_event(
        state.runtime,
        caller,
        f"dsr.{step.replace('-', '_')}",
        "succeeded",
        account_id=chain_account(accounts_of(row)),
        target_type="dsr",
        target_id=row.id,
        dsr_id=row.id,
        details={
            "type": row.type,
            "jurisdiction": row.jurisdiction,
            "from": from_status,
            "to": to_status,
            "due_at": iso(row.due_at),
            **(details or {}),
        },
        subject_id=f"dsr/{row.id}" if note else None,
        protected={"note": note} if note else None,
    )


def package_read_event(
    state: Decides, caller: Caller, dsr_id: str, accounts: Accounts
) -> AuditEvent:
    """``dsr.package_read``: someone read an access request's package."""
    return caller_event(
        state.runtime,
        caller,
        "dsr.package_read",
        "succeeded",
        account_id=chain_account(accounts),
        target_type="dsr",
        target_id=dsr_id,
        dsr_id=dsr_id,
    )
