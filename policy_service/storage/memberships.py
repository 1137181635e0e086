"""Role assignments: which roles a user holds in an account."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from policy_service.domain.identifiers import PLATFORM_DOMAIN
from policy_service.storage.tables import MembershipRow, PrincipalRow

ROW_BATCH = 5_000


def roles_of(session: Session, account_id: str, user_id: str) -> list[str]:
    rows = session.execute(
        select(MembershipRow.role)
        .where(MembershipRow.account_id == account_id, MembershipRow.user_id == user_id)
        .order_by(MembershipRow.role)
    ).scalars()
    return list(rows)


def set_roles(session: Session, account_id: str, user_id: str, roles: list[str]) -> None:
    session.execute(
        delete(MembershipRow).where(
            MembershipRow.account_id == account_id, MembershipRow.user_id == user_id
        )
    )
    session.add_all(MembershipRow(account_id=account_id, user_id=user_id, role=r) for r in roles)
    session.flush()


def members_of(session: Session, account_id: str) -> dict[str, list[str]]:
    members: dict[str, list[str]] = {}
    rows = session.execute(
        select(MembershipRow.user_id, MembershipRow.role)
        .where(MembershipRow.account_id == account_id)
        .order_by(MembershipRow.user_id, MembershipRow.role)
    )
    for user_id, role in rows:
        members.setdefault(user_id, []).append(role)
    return members


def all_assignments(session: Session) -> Iterator[tuple[str, str, str]]:
    """Every (user, role, domain) the enforcer needs: memberships and platform admins."""
    result = session.execute(
        select(
            MembershipRow.user_id, MembershipRow.role, MembershipRow.account_id
        ).execution_options(yield_per=ROW_BATCH)
    )
    for user_id, role, account_id in result:
        yield str(user_id), str(role), str(account_id)
    for principal_id in session.execute(
        select(PrincipalRow.id).where(PrincipalRow.platform_admin.is_(True))
    ).scalars():
        yield principal_id, "platform_admin", PLATFORM_DOMAIN


def is_platform_admin(session: Session, principal_id: str) -> bool:
    row = session.get(PrincipalRow, principal_id)
    return bool(row and row.platform_admin)
