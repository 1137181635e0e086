"""Named queries of data-subject requests: the requests and their transitions, the contacts
an execution works through (``dsr_items``), and the suppression list.

Everything ``privacy/`` asks of the database is a function here, so the services read as
what they do and the SQL is in one place.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, insert, or_, select, update

# Re-exported: the session type ``privacy/`` names in its signatures, without importing
# SQLAlchemy itself.
from sqlalchemy.orm import Session as Session

from policy_service.domain.contacts import PURGED
from policy_service.storage.contacts import new_id
from policy_service.storage.tables import (
    AccountRow,
    ContactRow,
    DsrItemRow,
    DsrRow,
    DsrTransitionRow,
    LegalHoldRow,
    SuppressionRow,
)

PENDING = "pending"
ALL_ACCOUNTS = "all"  # the suppression scope of a request about every account


@dataclass(frozen=True)
class DsrItem:
    """One contact an execution found, and what became of it."""

    account_id: str
    contact_id: str
    status: str
    detail: str | None  # JSON


# -- requests ----------------------------------------------------------------------------------


def get_request(session: Session, dsr_id: str) -> DsrRow | None:
    return session.get(DsrRow, dsr_id)


def lock_request(session: Session, dsr_id: str) -> DsrRow | None:
    """The request's row, locked until the transaction ends (``SELECT ... FOR UPDATE``)."""
    return session.get(DsrRow, dsr_id, with_for_update=True)


def add_request(session: Session, row: DsrRow) -> None:
    session.add(row)
    session.flush()


def requests_by_due_date(session: Session, status: str | None = None) -> list[DsrRow]:
    query = select(DsrRow).order_by(DsrRow.due_at)
    if status is not None:
        query = query.where(DsrRow.status == status)
    return list(session.execute(query).scalars())


def requests_in(session: Session, statuses: Iterable[str]) -> list[DsrRow]:
    """Requests in any of ``statuses``, soonest deadline first."""
    query = select(DsrRow).where(DsrRow.status.in_(list(statuses))).order_by(DsrRow.due_at)
    return list(session.execute(query).scalars())


def unattended_executions(session: Session, status: str, now: datetime) -> list[str]:
    """Requests in ``status``, with an executor on record, that no live runner holds: never
    leased, released, or leased by a runner that stopped renewing (it died)."""
    query = (
        select(DsrRow.id)
        .where(
            DsrRow.status == status,
            DsrRow.executor.is_not(None),
            or_(DsrRow.lease_until.is_(None), DsrRow.lease_until < now),
        )
        .order_by(DsrRow.updated_at, DsrRow.id)
    )
    return list(session.execute(query).scalars())


def add_transition(
    session: Session,
    dsr_id: str,
    *,
    step: str,
    from_status: str,
    to_status: str,
    by: str,
    at: datetime,
    note: str | None,
) -> None:
    session.add(
        DsrTransitionRow(
            dsr_id=dsr_id,
            from_status=from_status,
            to_status=to_status,
            step=step,
            by=by,
            at=at,
            note=note,
        )
    )


def transitions_of(session: Session, dsr_id: str) -> list[DsrTransitionRow]:
    query = (
        select(DsrTransitionRow)
        .where(DsrTransitionRow.dsr_id == dsr_id)
        .order_by(DsrTransitionRow.id)
    )
    return list(session.execute(query).scalars())


def all_account_ids(session: Session) -> list[str]:
    return list(session.execute(select(AccountRow.id).order_by(AccountRow.id)).scalars())


# -- the contacts an execution works through --------------------------------------------------


def matching_contacts(
    session: Session, account_ids: Sequence[str], email: str | None, phone: str | None
) -> list[tuple[str, str]]:
    """(account, contact) of every contact not yet purged, active or in the trash, whose
    normalised email or phone is the identity's."""
    matches = []
    if email:
        matches.append(ContactRow.email == email)
    if phone:
        matches.append(ContactRow.phone_normalized == phone)
    if not matches or not account_ids:
        return []
    query = (
        select(ContactRow.account_id, ContactRow.id)
        .where(
            ContactRow.account_id.in_(list(account_ids)),
            ContactRow.state != PURGED,
            or_(*matches),
        )
        .order_by(ContactRow.account_id, ContactRow.id)
    )
    return [(str(a), str(c)) for a, c in session.execute(query)]


def item_keys(session: Session, dsr_id: str) -> set[tuple[str, str]]:
    query = select(DsrItemRow.account_id, DsrItemRow.contact_id).where(DsrItemRow.dsr_id == dsr_id)
    return {(str(a), str(c)) for a, c in session.execute(query)}


def add_items(session: Session, dsr_id: str, found: Sequence[tuple[str, str]]) -> None:
    """Add (account, contact) pairs as pending items."""
    if found:
        session.execute(
            insert(DsrItemRow),
            [
                {"dsr_id": dsr_id, "account_id": a, "contact_id": c, "status": PENDING}
                for a, c in found
            ],
        )


def items_pending(session: Session, dsr_id: str, account_id: str, limit: int) -> list[str]:
    """The next ``limit`` pending contacts of one account, in contact id order."""
    query = (
        select(DsrItemRow.contact_id)
        .where(
            DsrItemRow.dsr_id == dsr_id,
            DsrItemRow.account_id == account_id,
            DsrItemRow.status == PENDING,
        )
        .order_by(DsrItemRow.contact_id)
        .limit(limit)
    )
    return list(session.execute(query).scalars())


def set_item_outcomes(
    session: Session, dsr_id: str, account_id: str, outcomes: Mapping[str, tuple[str, str]]
) -> None:
    """Record each contact's (status, detail JSON), in one statement."""
    if outcomes:
        session.execute(
            update(DsrItemRow),
            [
                {
                    "dsr_id": dsr_id,
                    "account_id": account_id,
                    "contact_id": contact_id,
                    "status": status,
                    "detail": detail,
                }
                for contact_id, (status, detail) in outcomes.items()
            ],
        )


def items_of(session: Session, dsr_id: str) -> list[DsrItem]:
    query = (
        select(DsrItemRow.account_id, DsrItemRow.contact_id, DsrItemRow.status, DsrItemRow.detail)
        .where(DsrItemRow.dsr_id == dsr_id)
        .order_by(DsrItemRow.account_id, DsrItemRow.contact_id)
    )
    return [DsrItem(*row) for row in session.execute(query)]


def open_hold_ids(session: Session, account_id: str, contact_id: str) -> list[str]:
    """The legal holds on a contact that have not been released."""
    query = select(LegalHoldRow.id).where(
        LegalHoldRow.account_id == account_id,
        LegalHoldRow.contact_id == contact_id,
        LegalHoldRow.released_at.is_(None),
    )
    return list(session.execute(query).scalars())


# -- the suppression list ----------------------------------------------------------------------


def any_suppressed(session: Session, account_id: str, digests: Sequence[tuple[str, str]]) -> bool:
    """Whether any (kind, digest) is on the account's list or the every-account list."""
    if not digests:
        return False
    query = (
        select(SuppressionRow.id)
        .where(
            SuppressionRow.account_id.in_((account_id, ALL_ACCOUNTS)),
            or_(*(and_(SuppressionRow.kind == k, SuppressionRow.digest == d) for k, d in digests)),
        )
        .limit(1)
    )
    return session.execute(query).first() is not None


def add_suppressions(
    session: Session, dsr_id: str, entries: Sequence[tuple[str, str, str]], now: datetime
) -> None:
    """Put each (scope, kind, digest) on the list, unless it is there already."""
    for scope, kind, digest in entries:
        exists = session.execute(
            select(SuppressionRow.id).where(
                SuppressionRow.account_id == scope,
                SuppressionRow.kind == kind,
                SuppressionRow.digest == digest,
            )
        ).first()
        if exists is None:
            session.add(
                SuppressionRow(
                    id=new_id("sup"),
                    account_id=scope,
                    kind=kind,
                    digest=digest,
                    dsr_id=dsr_id,
                    created_at=now,
                )
            )
