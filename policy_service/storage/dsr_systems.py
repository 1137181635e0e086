"""Named queries of downstream DSR systems and the tasks an erasure gives them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from policy_service.storage.rows import from_row
from policy_service.storage.tables import DsrSystemRow, DsrSystemTaskRow

PENDING, CONFIRMED = "pending", "confirmed"
WEBHOOK, MANUAL = "webhook", "manual"


@dataclass(frozen=True)
class DsrSystem:
    account_id: str
    name: str
    endpoint_id: str | None
    created_by: str
    created_at: datetime


@dataclass(frozen=True)
class SystemTask:
    dsr_id: str
    account_id: str
    system: str
    mode: str
    status: str
    delivery_id: str | None
    counts: dict[str, int] | None
    note: str | None
    confirmed_by: str | None
    confirmed_at: datetime | None
    created_at: datetime


def _system(row: DsrSystemRow) -> DsrSystem:
    return from_row(DsrSystem, row)


def _task(row: DsrSystemTaskRow) -> SystemTask:
    counts = json.loads(row.counts) if row.counts is not None else None
    return from_row(SystemTask, row, counts=counts)


def add_system(
    session: Session,
    account_id: str,
    name: str,
    endpoint_id: str | None,
    created_by: str,
    now: datetime,
) -> DsrSystem | None:
    """The new system; None if the account already has one of that name."""
    if session.get(DsrSystemRow, (account_id, name)) is not None:
        return None
    row = DsrSystemRow(
        account_id=account_id,
        name=name,
        endpoint_id=endpoint_id,
        created_by=created_by,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return _system(row)


def systems_of(session: Session, account_ids: Sequence[str]) -> list[DsrSystem]:
    if not account_ids:
        return []
    query = (
        select(DsrSystemRow)
        .where(DsrSystemRow.account_id.in_(list(account_ids)))
        .order_by(DsrSystemRow.account_id, DsrSystemRow.name)
    )
    return [_system(row) for row in session.execute(query).scalars()]


def remove_system(session: Session, account_id: str, name: str) -> bool:
    row = session.get(DsrSystemRow, (account_id, name))
    if row is None:
        return False
    session.execute(
        delete(DsrSystemRow).where(DsrSystemRow.account_id == account_id, DsrSystemRow.name == name)
    )
    return True


# -- tasks -------------------------------------------------------------------------------------


def add_task(
    session: Session,
    dsr_id: str,
    system: DsrSystem,
    delivery_id: str | None,
    now: datetime,
) -> None:
    session.add(
        DsrSystemTaskRow(
            dsr_id=dsr_id,
            account_id=system.account_id,
            system=system.name,
            mode=WEBHOOK if system.endpoint_id is not None else MANUAL,
            status=PENDING,
            delivery_id=delivery_id,
            created_at=now,
        )
    )


def tasks_of(session: Session, dsr_id: str) -> list[SystemTask]:
    query = (
        select(DsrSystemTaskRow)
        .where(DsrSystemTaskRow.dsr_id == dsr_id)
        .order_by(DsrSystemTaskRow.account_id, DsrSystemTaskRow.system)
    )
    return [_task(row) for row in session.execute(query).scalars()]


def lock_tasks(session: Session, dsr_id: str, system: str) -> list[DsrSystemTaskRow]:
    """The request's tasks for systems of that name (one per account), locked."""
    query = (
        select(DsrSystemTaskRow)
        .where(DsrSystemTaskRow.dsr_id == dsr_id, DsrSystemTaskRow.system == system)
        .order_by(DsrSystemTaskRow.account_id)
        .with_for_update()
    )
    return list(session.execute(query).scalars())


def confirm_task(
    row: DsrSystemTaskRow,
    *,
    counts: dict[str, int] | None,
    note: str | None,
    by: str,
    now: datetime,
) -> SystemTask:
    row.status = CONFIRMED
    row.counts = json.dumps(counts, sort_keys=True) if counts is not None else None
    row.note = note
    row.confirmed_by = by
    row.confirmed_at = now
    return _task(row)
