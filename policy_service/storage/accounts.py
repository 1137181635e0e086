"""Accounts (the tenants) and their settings."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from policy_service.domain.accounts import Account
from policy_service.storage.tables import AccountRow


def _to_domain(row: AccountRow) -> Account:
    return Account(
        id=row.id,
        name=row.name,
        cascade_profile=row.cascade_profile,
        retention_days=row.retention_days,
        purge_enabled=row.purge_enabled,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def get_account(session: Session, account_id: str) -> Account | None:
    row = session.get(AccountRow, account_id)
    return None if row is None else _to_domain(row)


def list_accounts(session: Session, *, after: str | None, limit: int) -> list[Account]:
    query = select(AccountRow).order_by(AccountRow.id).limit(limit)
    if after is not None:
        query = query.where(AccountRow.id > after)
    return [_to_domain(row) for row in session.execute(query).scalars()]


def add_account(session: Session, account: Account) -> None:
    session.add(
        AccountRow(
            id=account.id,
            name=account.name,
            cascade_profile=account.cascade_profile,
            retention_days=account.retention_days,
            purge_enabled=account.purge_enabled,
            created_at=account.created_at,
            updated_at=account.updated_at,
        )
    )
    session.flush()


def update_account(session: Session, account: Account) -> None:
    row = session.get(AccountRow, account.id, with_for_update=True)
    if row is None:
        raise LookupError(account.id)
    row.name = account.name
    row.cascade_profile = account.cascade_profile
    row.retention_days = account.retention_days
    row.purge_enabled = account.purge_enabled
    row.updated_at = account.updated_at
    session.flush()
