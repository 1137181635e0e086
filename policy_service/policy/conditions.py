"""Named conditions a rule may require, implemented as Python functions over ``Facts``.

A rule names conditions in its ``cond`` field, separated by spaces; all must hold. The names
are checked against this registry when the pack loads, so a typo stops the service at start
rather than silently denying. Nothing here evaluates a string as code: the matcher calls
``conditions(p.cond, r.facts)``, which looks names up in a dictionary.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from policy_service.domain.facts import FACT_NAMES, Facts


@dataclass(frozen=True, slots=True)
class Refusal:
    """What a refusal caused by a condition is called, and the status the action answers.

    ``rank`` orders refusals when several conditions stand in the way: who you are and what
    the account allows (403) come before what state the contact is in (409), so a caller is
    never told to wait for something that would not help.
    """

    code: str
    status: int
    rank: int
    text: str


@dataclass(frozen=True, slots=True)
class Condition:
    name: str
    description: str
    test: Callable[[Facts], bool]
    # Named when the condition fails in an allow rule the subject's role has...
    when_missing: Refusal | None = None
    # ... or holds in a deny rule that matched.
    when_present: Refusal | None = None


REGISTRY: dict[str, Condition] = {}


def _register(
    name: str,
    description: str,
    *,
    when_missing: Refusal | None = None,
    when_present: Refusal | None = None,
) -> Callable[[Callable[[Facts], bool]], None]:
    def decorate(test: Callable[[Facts], bool]) -> None:
        REGISTRY[name] = Condition(name, description, test, when_missing, when_present)

    return decorate


NOT_ACTIVE = Refusal("not_active", 409, 30, "the contact is not active (in the trash or purged)")
NOT_IN_TRASH = Refusal("not_in_trash", 409, 30, "the contact is not in the trash")
LEGAL_HOLD = Refusal("legal_hold", 409, 50, "a legal hold applies to the contact")


@_register("in_trash", "the contact is in the trash", when_missing=NOT_IN_TRASH)
def _in_trash(facts: Facts) -> bool:
    return facts.contact_state == "trashed"


@_register("active", "the contact is active (not trashed, not purged)", when_missing=NOT_ACTIVE)
def _active(facts: Facts) -> bool:
    return facts.contact_state in (None, "active")


@_register(
    "within_retention",
    "the contact has been in the trash for less than the retention",
    when_missing=Refusal(
        "retention_expired",
        409,
        40,
        "the {retention_days}-day window to restore the contact from the trash has passed",
    ),
)
def _within_retention(facts: Facts) -> bool:
    return (
        facts.trash_age_days is not None
        and facts.retention_days is not None
        and facts.trash_age_days < facts.retention_days
    )


@_register(
    "retention_passed",
    "the contact has been in the trash for at least the retention (the sweep's condition)",
    when_missing=Refusal(
        "within_retention",
        409,
        40,
        "the contact's {retention_days}-day window in the trash has not passed yet",
    ),
)
def _retention_passed(facts: Facts) -> bool:
    return (
        facts.trash_age_days is not None
        and facts.retention_days is not None
        and facts.trash_age_days >= facts.retention_days
    )


@_register(
    "purge_enabled",
    "the account allows permanent purge",
    when_missing=Refusal(
        "purge_disabled", 403, 20, "the account does not allow purge (purge_enabled)"
    ),
)
def _purge_enabled(facts: Facts) -> bool:
    return facts.purge_enabled


@_register("on_legal_hold", "a legal hold applies to the contact", when_present=LEGAL_HOLD)
def _on_legal_hold(facts: Facts) -> bool:
    return facts.legal_hold


@_register("not_on_legal_hold", "no legal hold applies to the contact", when_missing=LEGAL_HOLD)
def _not_on_legal_hold(facts: Facts) -> bool:
    return not facts.legal_hold


@_register("in_active_workflow", "the contact is enrolled in an active workflow")
def _in_active_workflow(facts: Facts) -> bool:
    return facts.active_workflow


@_register("no_active_workflow", "the contact is in no active workflow")
def _no_active_workflow(facts: Facts) -> bool:
    return not facts.active_workflow


@_register(
    "owner",
    "the subject owns the resource (owner is the subject's id or email)",
    when_missing=Refusal("not_owner", 403, 15, "the subject does not own the resource"),
)
def _owner(facts: Facts) -> bool:
    owner = facts.owner_id
    return owner is not None and (owner == facts.subject_id or owner == facts.subject_email)


@_register(
    "delete_guarded",
    "a block_delete_when guard of the account's cascade profile holds (e.g. an active workflow)",
    # The code is the guard's own name (see ``refusal_code``): the caller must end that thing.
    when_present=Refusal(
        "delete_guarded",
        409,
        60,
        "the account's cascade profile does not delete a contact with an "
        "{blocking_guards[0]}: end it first (PATCH the enrollment's record with "
        '{{"status": "ended"}})',
    ),
)
def _delete_guarded(facts: Facts) -> bool:
    return bool(facts.blocking_guards)


@_register("no_trash", "the account's cascade profile has no trash: a delete is permanent")
def _no_trash(facts: Facts) -> bool:
    return not facts.trash


@_register(
    "not_delegated",
    "the subject acts for itself, not through a service's X-On-Behalf-Of",
    when_missing=Refusal(
        "delegation_not_allowed",
        403,
        10,
        "this may not be done through a service acting for a user",
    ),
)
def _not_delegated(facts: Facts) -> bool:
    return not facts.delegated


@_register(
    "delegate_is_member",
    "the user a service acts for holds a role in the account",
    # The same code the decision for that user gives: a PEP asking about the user and a
    # service acting for her must hear the same thing.
    when_missing=Refusal(
        "no_role_in_account",
        403,
        10,
        "the user the service acts for holds no role in the account",
    ),
)
def _delegate_is_member(facts: Facts) -> bool:
    return facts.delegate_is_member


def refusal_text(refusal: Refusal, facts: Facts) -> str:
    """The refusal's text, with the facts it mentions filled in (the window's length, ...)."""
    return refusal.text.format_map({name: getattr(facts, name) for name in FACT_NAMES})


def refusal_code(refusal: Refusal, facts: Facts, action: str) -> str:
    """A guard refusal names the guard that holds (``active_workflow_enrollment``); a purge
    of a purged contact says so."""
    if refusal.code == "delete_guarded" and facts.blocking_guards:
        return facts.blocking_guards[0]
    if (
        refusal.code == "not_in_trash"
        and action.endswith("purge")
        and facts.contact_state == "purged"
    ):
        return "already_purged"
    return refusal.code


class UnknownCondition(ValueError):
    pass


@lru_cache(maxsize=1024)
def parse_condition_names(field: str) -> tuple[Condition, ...]:
    """``"in_trash within_retention"`` -> the two conditions; ``""`` -> none."""
    conditions = []
    for name in field.split():
        condition = REGISTRY.get(name)
        if condition is None:
            known = ", ".join(sorted(REGISTRY))
            raise UnknownCondition(f"unknown condition {name!r} (known: {known})")
        conditions.append(condition)
    return tuple(conditions)


def all_hold(field: str, facts: Facts) -> bool:
    """The function the Casbin matcher calls as ``conditions(p.cond, r.facts)``."""
    return all(condition.test(facts) for condition in parse_condition_names(field))


def evaluate_each(field: str, facts: Facts) -> list[tuple[str, bool]]:
    """Each named condition with its value, for explanations and deny reasons."""
    return [(c.name, c.test(facts)) for c in parse_condition_names(field)]
