"""A decision request (subject, action, resource, context) and its answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from policy_service.domain.facts import FactSet


@dataclass(frozen=True)
class Subject:
    type: str
    id: str
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Resource:
    type: str
    id: str | None
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Action:
    name: str
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DecisionRequest:
    subject: Subject
    action: Action
    resource: Resource
    context: dict[str, Any] = field(default_factory=dict)


def qualified_action(action_name: str, resource_type: str) -> str:
    """Actions are namespaced by resource type: ``delete`` on a contact is ``contact.delete``.

    A name that already has a namespace (``legal_hold.place``) is taken as it is.
    """
    return action_name if "." in action_name else f"{resource_type}.{action_name}"


@dataclass(frozen=True, slots=True)
class Reason:
    code: str
    text: str


@dataclass(frozen=True, slots=True)
class RuleRef:
    """A rule as written in the pack, with where it was written."""

    text: str
    file: str
    line: int
    effect: str


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the policy said: the part of a decision that depends only on the enforcer's input."""

    allowed: bool
    reason: Reason
    rule: RuleRef | None
    # For a deny: the conditions that stood in the way (a deny rule's, or the ones an allow
    # rule needed and did not get). Lets callers tell "not yet / not now" from "never".
    conditions: tuple[str, ...] = ()
    # The HTTP status the action itself answers with this verdict: 200 when allowed, 403 for
    # "not you / not in this account", 409 for "not with the contact as it is now".
    status: int = 403


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: Reason
    policy_version: str
    account_id: str
    subject_id: str
    action: str
    resource_type: str
    resource_id: str | None
    rule: RuleRef | None
    facts: FactSet
    roles: tuple[str, ...]
    # What the action would answer: 200, or the refusal's 403 / 409 (see ``Verdict.status``).
    status: int = 200
    # The contact's cascade-profile guards considered (name, holds), for explanations.
    guards: tuple[tuple[str, bool], ...] = ()
