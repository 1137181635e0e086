"""Tag-triggered deletion rules (seeds 002 and 004: a workflow that deletes contacts when a
tag such as "Unsubscribed-cleanup" is added).

A rule deletes with the authority of the admin who made it: if that person no longer holds
``contact.delete`` in the account, the rule does not fire, and the refusal is audited.
"""

from __future__ import annotations

from dataclasses import dataclass

from policy_service.audit_trail.recording import require
from policy_service.decisions.authorization import Caller
from policy_service.domain.clock import utcnow
from policy_service.domain.errors import NotFound, ServiceError
from policy_service.lifecycle.actions import delete_contact
from policy_service.lifecycle.events import rule_event
from policy_service.lifecycle.guards import check_reason, load_account
from policy_service.ports import Acts, Stores
from policy_service.storage import contact_search
from policy_service.storage import deletion_rules as rules
from policy_service.storage.deletion_rules import DeletionRule

__all__ = [
    "DeletionRule",
    "RuleRun",
    "apply_rules_for_tags",
    "create_rule",
    "delete_rule",
    "list_rules",
    "run_rules",
]


@dataclass(frozen=True)
class RuleRun:
    rule: DeletionRule
    matched: list[str]
    deleted: list[str]
    refused: dict[str, str]


def create_rule(
    state: Acts, caller: Caller, account_id: str, tag: str, reason_code: str
) -> DeletionRule:
    require(state, caller, "account", "deletion_rule.manage", account_id=account_id)
    check_reason(reason_code, None if reason_code != "other" else "")
    load_account(state, account_id)
    with state.unit_of_work() as uow:
        rule = rules.add_rule(
            uow.session,
            account_id,
            tag=tag,
            reason_code=reason_code,
            created_by=caller.acting_subject,
            now=utcnow(),
        )
        details = {"tag": tag, "reason_code": reason_code}
        uow.record(rule_event(state, caller, "deletion_rule.created", account_id, rule.id, details))
        uow.commit()
        return rule


def list_rules(state: Acts, caller: Caller, account_id: str) -> list[DeletionRule]:
    require(state, caller, "account", "deletion_rule.manage", account_id=account_id)
    with state.unit_of_work(write=False) as uow:
        return rules.rules_of(uow.session, account_id)


def delete_rule(state: Acts, caller: Caller, account_id: str, rule_id: str) -> None:
    require(state, caller, "account", "deletion_rule.manage", account_id=account_id)
    with state.unit_of_work() as uow:
        if not rules.remove_rule(uow.session, account_id, rule_id):
            raise NotFound(f"no deletion rule {rule_id} in account {account_id}")
        uow.record(rule_event(state, caller, "deletion_rule.removed", account_id, rule_id))
        uow.commit()


def _rules_for(state: Stores, account_id: str, tags: list[str] | None) -> list[DeletionRule]:
    with state.unit_of_work(write=False) as uow:
        return rules.enabled_rules(uow.session, account_id, tags)


def _fire(state: Acts, caller: Caller, rule: DeletionRule, contact_id: str) -> str | None:
    """Delete one contact under a rule; return why not, if it did not happen."""
    as_rule_author = Caller(rule.created_by, "user", request_id=caller.request_id)
    try:
        delete_contact(state, as_rule_author, rule.account_id, contact_id, rule.reason_code)
    except ServiceError as refusal:
        return refusal.detail
    return None


def apply_rules_for_tags(
    state: Acts, caller: Caller, account_id: str, contact_id: str, tags: list[str]
) -> None:
    """Called when tags are added to a contact: the first matching rule deletes it."""
    for rule in _rules_for(state, account_id, tags):
        _fire(state, caller, rule, contact_id)
        return


def run_rules(
    state: Acts, caller: Caller | None, account_id: str, *, dry_run: bool
) -> list[RuleRun]:
    """Apply every enabled rule to the contacts that carry its tag now (or, with ``dry_run``,
    say which they would be)."""
    if caller is not None:
        require(state, caller, "account", "deletion_rule.manage", account_id=account_id)
    runs = []
    for rule in _rules_for(state, account_id, None):
        with state.unit_of_work(write=False) as uow:
            matched = contact_search.select_active_ids(uow.session, account_id, tag=rule.tag)
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
