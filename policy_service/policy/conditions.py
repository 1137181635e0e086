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

from policy_service.domain.facts import Facts


@dataclass(frozen=True, slots=True)
class Condition:
    name: str
    description: str
    test: Callable[[Facts], bool]


REGISTRY: dict[str, Condition] = {}


def _register(name: str, description: str) -> Callable[[Callable[[Facts], bool]], None]:
    def decorate(test: Callable[[Facts], bool]) -> None:
        REGISTRY[name] = Condition(name, description, test)

    return decorate


@_register("in_trash", "the contact is in the trash")
def _in_trash(facts: Facts) -> bool:
    return facts.contact_state == "trashed"


@_register("active", "the contact is active (not trashed, not purged)")
def _active(facts: Facts) -> bool:
    return facts.contact_state in (None, "active")


@_register("within_retention", "the contact has been in the trash for less than the retention")
def _within_retention(facts: Facts) -> bool:
    return (
        facts.trash_age_days is not None
        and facts.retention_days is not None
        and facts.trash_age_days < facts.retention_days
    )


@_register("purge_enabled", "the account allows permanent purge")
def _purge_enabled(facts: Facts) -> bool:
    return facts.purge_enabled


@_register("on_legal_hold", "a legal hold applies to the contact")
def _on_legal_hold(facts: Facts) -> bool:
    return facts.legal_hold


@_register("not_on_legal_hold", "no legal hold applies to the contact")
def _not_on_legal_hold(facts: Facts) -> bool:
    return not facts.legal_hold


@_register("in_active_workflow", "the contact is enrolled in an active workflow")
def _in_active_workflow(facts: Facts) -> bool:
    return facts.active_workflow


@_register("no_active_workflow", "the contact is in no active workflow")
def _no_active_workflow(facts: Facts) -> bool:
    return not facts.active_workflow


@_register("owner", "the subject owns the resource (owner is the subject's id or email)")
def _owner(facts: Facts) -> bool:
    owner = facts.owner_id
    return owner is not None and (owner == facts.subject_id or owner == facts.subject_email)


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
