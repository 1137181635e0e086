"""Recording data-subject requests, and finding them again."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

from policy_service.decisions.authorization import Caller, check_in_account
from policy_service.domain import dsr as rules
from policy_service.domain.clock import as_utc, utcnow
from policy_service.domain.dsr import Identity
from policy_service.domain.errors import InvalidInput
from policy_service.domain.identifiers import PLATFORM_DOMAIN
from policy_service.lifecycle.actions import load_account
from policy_service.ports import Acts, DsrIntake, Stores
from policy_service.privacy.records import (
    ALL,
    Accounts,
    DataSubjectRequest,
    accounts_of,
    authorize,
    load_visible,
    request_view,
)
from policy_service.privacy.sealing import seal_identity
from policy_service.privacy.steps import record_transition
from policy_service.storage import dsr as queries
from policy_service.storage.contacts import new_id
from policy_service.storage.tables import DsrRow

CLOCK_SKEW = timedelta(minutes=5)


def create_request(
    state: DsrIntake,
    caller: Caller,
    *,
    type: str,
    identity: Identity,
    jurisdiction: str,
    accounts: Accounts,
    received_at: datetime,
    channel: str,
) -> DataSubjectRequest:
    """Record a request as received; its deadline runs from ``received_at``."""
    authorize(state, caller, accounts)
    normalised = identity.normalised()
    if normalised.is_empty():
        raise InvalidInput("an identity needs an email or a phone", errors={"identity": ["empty"]})
    now = utcnow()
    received_at = received_at if received_at.tzinfo else received_at.replace(tzinfo=UTC)
    if received_at > now + CLOCK_SKEW:
        raise InvalidInput("received_at is in the future", errors={"received_at": ["future"]})
    if isinstance(accounts, list):
        for account_id in accounts:
            load_account(state, account_id)
    dsr_id = new_id("dsr")
    with state.unit_of_work() as uow:
        row = DsrRow(
            id=dsr_id,
            type=type,
            jurisdiction=jurisdiction,
            accounts=json.dumps(accounts),
            channel=channel,
            status=rules.RECEIVED,
            received_at=received_at,
            due_at=rules.first_deadline(jurisdiction, received_at),
            extended=False,
            identity_ciphertext=seal_identity(state, dsr_id, normalised),
            created_by=caller.acting_subject,
            created_at=now,
            updated_at=now,
        )
        queries.add_request(uow.session, row)
        record_transition(state, uow, caller, row, "create", rules.RECEIVED, from_status="")
        uow.commit()
        return request_view(uow.session, row)


def get_request(state: Acts, caller: Caller, dsr_id: str) -> DataSubjectRequest:
    with state.unit_of_work(write=False) as uow:
        return request_view(uow.session, load_visible(state, uow.session, caller, dsr_id))


def list_requests(
    state: Acts,
    caller: Caller,
    *,
    status: str | None,
    overdue: bool,
    cursor: str | None = None,
    limit: int | None = None,
) -> tuple[list[DataSubjectRequest], str | None]:
    """Requests the caller may see, soonest deadline first (then by id): every one for
    platform admins, else those about accounts where the caller holds ``dsr.manage``. With
    ``limit``, a page, and the cursor of the next (None on the last); ``cursor`` starts after
    the request it names."""
    after = _decode_cursor(cursor) if cursor is not None else None
    now = utcnow()
    platform = check_in_account(state.runtime, caller, PLATFORM_DOMAIN, "dsr", "dsr.manage")

    def visible(accounts: Accounts) -> bool:
        return platform.allowed or (
            accounts != ALL
            and all(
                check_in_account(state.runtime, caller, a, "dsr", "dsr.manage").allowed
                for a in accounts
            )
        )

    with state.unit_of_work(write=False) as uow:
        found: list[DataSubjectRequest] = []
        rows = sorted(
            queries.requests_by_due_date(uow.session, status),
            key=lambda r: (as_utc(r.due_at), r.id),
        )
        for row in rows:
            if after is not None and (as_utc(row.due_at), row.id) <= after:
                continue
            if not visible(accounts_of(row)):
                continue
            request = request_view(uow.session, row)
            if not overdue or request.overdue(now):
                found.append(request)
            if limit is not None and len(found) > limit:
                break
    if limit is None or len(found) <= limit:
        return found, None
    page = found[:limit]
    return page, _encode_cursor(page[-1])


def _encode_cursor(request: DataSubjectRequest) -> str:
    raw = json.dumps([as_utc(request.due_at).isoformat(), request.id])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        due_at, dsr_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return as_utc(datetime.fromisoformat(due_at)), str(dsr_id)
    except (ValueError, TypeError, UnicodeDecodeError):
        raise InvalidInput(
            "the cursor is not one this service handed out", errors={"cursor": ["not valid"]}
        ) from None


def overdue_requests(state: Stores) -> list[DataSubjectRequest]:
    """For ``policy-service dsr overdue``: every open request past its deadline."""
    now = utcnow()
    with state.unit_of_work(write=False) as uow:
        rows = queries.requests_in(uow.session, rules.OPEN)
        return [r for r in (request_view(uow.session, row) for row in rows) if r.overdue(now)]
