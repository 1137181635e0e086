"""Tag-triggered deletion rules (``deletion_rules``): "when tag X is added, delete with
reason Y"."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from policy_service.storage.contacts import new_id
from policy_service.storage.tables import DeletionRuleRow


@dataclass(frozen=True)
class DeletionRule:
    id: str
    account_id: str
    tag: str
    reason_code: str
    enabled: bool
    created_by: str
    created_at: datetime


def _rule(row: DeletionRuleRow) -> DeletionRule:
    return DeletionRule(
        id=row.id,
        account_id=row.account_id,
        tag=row.tag,
        reason_code=row.reason_code,
        enabled=row.enabled,
        created_by=row.created_by,
        created_at=row.created_at,
    )


def add_rule(
    session: Session,
    account_id: str,
    *,
    tag: str,
    reason_code: str,
    created_by: str,
    now: datetime,
) -> DeletionRule:
    row = DeletionRuleRow(
        id=new_id("rule"),
        account_id=account_id,
        tag=tag,
        reason_code=reason_code,
        enabled=True,
        created_by=created_by,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return _rule(row)


def rules_of(session: Session, account_id: str) -> list[DeletionRule]:
    """The account's rules, oldest first."""
    rows = session.execute(
        select(DeletionRuleRow)
        .where(DeletionRuleRow.account_id == account_id)
        .order_by(DeletionRuleRow.created_at)
    ).scalars()
    return [_rule(row) for row in rows]


def enabled_rules(
    session: Session, account_id: str, tags: list[str] | None = None
) -> list[DeletionRule]:
    """The account's enabled rules (only those for ``tags``, when given)."""
    query = select(DeletionRuleRow).where(
        DeletionRuleRow.account_id == account_id, DeletionRuleRow.enabled.is_(True)
    )
    if tags is not None:
        query = query.where(DeletionRuleRow.tag.in_(tags))
    return [_rule(row) for row in session.execute(query).scalars()]


def remove_rule(session: Session, account_id: str, rule_id: str) -> bool:
    """Delete the rule; False if the account has no such rule."""
    removed = session.execute(
        delete(DeletionRuleRow).where(
            DeletionRuleRow.account_id == account_id, DeletionRuleRow.id == rule_id
        )
    )
    return bool(removed.rowcount)  # type: ignore[attr-defined]
