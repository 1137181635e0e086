"""Tag-triggered deletion rules (seeds 002 and 004: a workflow that deletes contacts when a
tag such as "Unsubscribed-cleanup" is added).

A rule deletes with the authority of the admin who made it: if that person no longer holds
``contact.delete`` in the account, the rule does not fire, and the refusal is audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select

from policy_service.audit_trail.recording import caller_event, require
from policy_service.decisions.authorization import Caller
from policy_service.domain.clock import utcnow
from policy_service.domain.errors import NotFound, ServiceError
from policy_service.lifecycle.actions import check_reason, delete_contact, load_account
from policy_service.state import ServiceState
from policy_service.storage import contacts as store
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


@dataclass(frozen=True)
class RuleRun:
    rule: DeletionRule
    matched: list[str]
    deleted: list[str]
    refused: dict[str, str]


def _rule(row: DeletionRuleRow) -> DeletionRule:
    return DeletionRule(
        row.id, row.account_id, row.tag, row.reason_code, row.enabled, row.created_by,
        row.created_at,
    )  # fmt: skip


def create_rule(
    state: ServiceState, caller: Caller, account_id: str, tag: str, reason_code: str
) -> DeletionRule:
    require(state, caller, "account", "deletion_rule.manage", account_id=account_id)
    check_reason(reason_code, None if reason_code != "other" else "")
    load_account(state, account_id)
    with state.unit_of_work() as uow:
        row = DeletionRuleRow(
            id=store.new_id("rule"),
            account_id=account_id,
            tag=tag,
            reason_code=reason_code,
            enabled=True,
            created_by=caller.acting_subject,
            created_at=utcnow(),
        )
        uow.session.add(row)
        uow.session.flush()
        uow.record(
            caller_event(
                state.runtime, caller, "deletion_rule.created", "succeeded",
                account_id=account_id, target_type="deletion_rule", target_id=row.id,
                details={"tag": tag, "reason_code": reason_code},
            )
        )  # fmt: skip
        uow.commit()
        return _rule(row)


def list_rules(state: ServiceState, caller: Caller, account_id: str) -> list[DeletionRule]:
    require(state, caller, "account", "deletion_rule.manage", account_id=account_id)
    with state.unit_of_work(write=False) as uow:
        rows = uow.session.execute(
            select(DeletionRuleRow)
            .where(DeletionRuleRow.account_id == account_id)
            .order_by(DeletionRuleRow.created_at)
        ).scalars()
        return [_rule(row) for row in rows]


def delete_rule(state: ServiceState, caller: Caller, account_id: str, rule_id: str) -> None:
    require(state, caller, "account", "deletion_rule.manage", account_id=account_id)
    with state.unit_of_work() as uow:
        removed = uow.session.execute(
            delete(DeletionRuleRow).where(
                DeletionRuleRow.account_id == account_id, DeletionRuleRow.id == rule_id
            )
        )
        if not removed.rowcount:  # type: ignore[attr-defined]
            raise NotFound(f"no deletion rule {rule_id} in account {account_id}")
        uow.record(
            caller_event(
                state.runtime, caller, "deletion_rule.removed", "succeeded",
                account_id=account_id, target_type="deletion_rule", target_id=rule_id,
            )
        )  # fmt: skip
        uow.commit()


def _rules_for(state: ServiceState, account_id: str, tags: list[str] | None) -> list[DeletionRule]:
    with state.unit_of_work(write=False) as uow:
        query = select(DeletionRuleRow).where(
            DeletionRuleRow.account_id == account_id, DeletionRuleRow.enabled.is_(True)
        )
        if tags is not None:
            query = query.where(DeletionRuleRow.tag.in_(tags))
        return [_rule(row) for row in uow.session.execute(query).scalars()]


def _fire(state: ServiceState, caller: Caller, rule: DeletionRule, contact_id: str) -> str | None:
    """Delete one contact under a rule; return why not, if it did not happen."""
    as_rule_author = Caller(rule.created_by, "user", request_id=caller.request_id)
    try:
        delete_contact(state, as_rule_author, rule.account_id, contact_id, rule.reason_code)
    except ServiceError as refusal:
        return refusal.detail
    return None


def apply_rules_for_tags(
    state: ServiceState, caller: Caller, account_id: str, contact_id: str, tags: list[str]
) -> None:
    """Called when tags are added to a contact: the first matching rule deletes it."""
    for rule in _rules_for(state, account_id, tags):
        _fire(state, caller, rule, contact_id)
        return


def run_rules(
    state: ServiceState, caller: Caller | None, account_id: str, *, dry_run: bool
) -> list[RuleRun]:
    """Apply every enabled rule to the contacts that carry its tag now (or, with ``dry_run``,
    say which they would be)."""
    if caller is not None:
        require(state, caller, "account", "deletion_rule.manage", account_id=account_id)
    runs = []
    for rule in _rules_for(state, account_id, None):
        with state.unit_of_work(write=False) as uow:
            matched = store.select_active_ids(uow.session, account_id, tag=rule.tag)
        deleted: list[str] = []
        refused: dict[str, str] = {}
        if not dry_run:
            actor = caller or Caller(rule.created_by, "user")
            for contact_id in matched:
                reason = _fire(state, actor, rule, contact_id)
                if reason is None:
                    deleted.append(contact_id)
                else:
                    refused[contact_id] = reason
        runs.append(RuleRun(rule, matched, deleted, refused))
    return runs
