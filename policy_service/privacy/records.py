"""A data-subject request as the service hands it out, and who may see one."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from policy_service.audit_trail.recording import require, require_visible
from policy_service.decisions.authorization import Caller
from policy_service.domain import dsr as rules
from policy_service.domain.clock import as_utc, iso
from policy_service.domain.errors import NotFound
from policy_service.ports import Acts
from policy_service.storage import dsr as queries
from policy_service.storage.dsr import Session
from policy_service.storage.tables import DsrRow

ALL = "all"
# The accounts a request covers: a list of ids, or ``ALL``.
Accounts = list[str] | str
# One step of a request's history: step, from, to, by, at, note.
Transition = dict[str, str | None]


@dataclass(frozen=True)
class DataSubjectRequest:
    id: str
    type: str
    jurisdiction: str
    accounts: Accounts
    channel: str
    status: str
    received_at: datetime
    due_at: datetime
    extended: bool
    exemption_code: str | None
    created_by: str
    created_at: datetime
    completed_at: datetime | None
    has_identity: bool
    transitions: list[Transition]

    def days_left(self, now: datetime) -> int:
        return rules.days_left(self.due_at, now)

    def overdue(self, now: datetime) -> bool:
        return self.status in rules.OPEN and as_utc(self.due_at) < now


def accounts_of(row: DsrRow) -> Accounts:
    accounts: Accounts = json.loads(row.accounts)
    return accounts


def request_view(session: Session, row: DsrRow) -> DataSubjectRequest:
    transitions: list[Transition] = [
        {
            "step": t.step,
            "from": t.from_status,
            "to": t.to_status,
            "by": t.by,
            "at": iso(t.at),
            "note": t.note,
        }
        for t in queries.transitions_of(session, row.id)
    ]
    return DataSubjectRequest(
        id=row.id,
        type=row.type,
        jurisdiction=row.jurisdiction,
        accounts=accounts_of(row),
        channel=row.channel,
        status=row.status,
        received_at=as_utc(row.received_at),
        due_at=as_utc(row.due_at),
        extended=row.extended,
        exemption_code=row.exemption_code,
        created_by=row.created_by,
        created_at=as_utc(row.created_at),
        completed_at=as_utc(row.completed_at) if row.completed_at else None,
        has_identity=row.identity_ciphertext is not None,
        transitions=transitions,
    )


def authorize(state: Acts, caller: Caller, accounts: Accounts, dsr_id: str | None = None) -> None:
    """dsr.manage in every account the request covers (platform-wide for all accounts). For
    an existing request named by id, a caller with no part in its accounts is told it does
    not exist, as for an unknown id."""
    hidden = NotFound(f"no data-subject request {dsr_id}")
    scopes: list[str | None] = [None] if accounts == ALL else list(accounts)
    for account_id in scopes:
        if dsr_id is None:
            require(
                state,
                caller,
                "dsr",
                "dsr.manage",
                account_id=account_id,
                platform=account_id is None,
            )
        else:
            require_visible(
                state,
                caller,
                "dsr",
                "dsr.manage",
                account_id=account_id,
                hidden=hidden,
                target_type="dsr",
                target_id=dsr_id,
            )


def load_visible(state: Acts, session: Session, caller: Caller, dsr_id: str) -> DsrRow:
    """The request, once the caller is known to be allowed to handle it."""
    row = queries.get_request(session, dsr_id)
    if row is None:
        raise NotFound(f"no data-subject request {dsr_id}")
    authorize(state, caller, accounts_of(row), dsr_id)
    return row
