"""Which rules speak to a request, and a verdict's reason named from the rules themselves.

The enforcer answers allow or deny and the rule that decided. A refusal must also say what
to do about it, so it is explained from the pack: the rules for the action on the object,
whether the subject holds each one's role, and which of its conditions held.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from policy_service.domain.decisions import Reason, RuleRef, Verdict
from policy_service.domain.facts import Facts
from policy_service.domain.identifiers import ANY_ACCOUNT, PLATFORM_DOMAIN
from policy_service.policy.conditions import (
    REGISTRY,
    Refusal,
    evaluate_each,
    refusal_code,
    refusal_text,
)
from policy_service.policy.pack import PolicyRule
from policy_service.policy.roles import RoleIndex


@dataclass(frozen=True, slots=True)
class RuleEvaluation:
    """One rule considered for a request, for explanations."""

    rule: PolicyRule
    role_held: bool
    conditions: tuple[tuple[str, bool], ...]

    @property
    def matched(self) -> bool:
        return self.role_held and all(value for _, value in self.conditions)


def evaluate_rules(
    rules: Sequence[PolicyRule],
    roles: RoleIndex,
    subject: str,
    domain: str,
    obj: str,
    action: str,
    facts: Facts,
) -> list[RuleEvaluation]:
    """The rules that speak to this action on this object in this domain, evaluated."""
    evaluations = []
    for rule in rules:
        if rule.action != action or rule.obj not in ("*", obj):
            continue
        if rule.domain == PLATFORM_DOMAIN:
            held = roles.has_link(subject, rule.role, PLATFORM_DOMAIN)
        elif rule.domain in (ANY_ACCOUNT, domain):
            held = rule.role == "*" or roles.has_link(subject, rule.role, domain)
        else:
            continue
        evaluations.append(RuleEvaluation(rule, held, tuple(evaluate_each(rule.conditions, facts))))
    return evaluations


def allowed_verdict(ref: RuleRef | None) -> Verdict:
    where = f"{ref.file}:{ref.line}" if ref is not None else "the policy"
    return Verdict(True, Reason("allowed", f"allowed by {where}"), ref, status=200)


def refusal_verdict(
    evaluations: list[RuleEvaluation],
    roles: RoleIndex,
    subject: str,
    domain: str,
    obj: str,
    action: str,
    facts: Facts,
    deny_ref: RuleRef | None,
) -> Verdict:
    """Name a refusal in terms a caller can act on, from the rules themselves.

    First who asks: with no allow rule for any role the subject holds, it is 403 whatever
    the contact's state. Otherwise every condition in the way - one an allow rule needed
    and did not get, or one that made a deny rule match - names a refusal, and the one
    of lowest rank wins (``conditions.Refusal``).
    """
    allows = [e for e in evaluations if e.rule.effect == "allow" and e.role_held]
    if not allows:
        held_roles = sorted(roles.roles_of(subject, domain))
        if not held_roles and domain != PLATFORM_DOMAIN:
            # Platform roles that grant nothing here change nothing: the same answer the
            # account gate gives before a route reads anything.
            return Verdict(
                False,
                Reason("no_role_in_account", f"{subject} holds no role in account {domain}"),
                None,
            )
        held = ", ".join(held_roles) if held_roles else "no role"
        return Verdict(
            False,
            Reason("not_permitted", f"{held} in {domain} does not grant {action} on {obj}"),
            None,
        )
    blockers: list[tuple[Refusal, str, RuleRef]] = []
    for evaluation in allows:
        for name, value in evaluation.conditions:
            refusal = REGISTRY[name].when_missing
            if not value and refusal is not None:
                blockers.append((refusal, name, evaluation.rule.ref))
    for evaluation in evaluations:
        if evaluation.rule.effect == "deny" and evaluation.matched:
            for name, _ in evaluation.conditions:
                refusal = REGISTRY[name].when_present
                if refusal is not None:
                    blockers.append((refusal, name, evaluation.rule.ref))
    if not blockers:  # a condition with no refusal of its own, or a deny without any
        return _unnamed_refusal(action, deny_ref, evaluations, facts)
    refusal, name, ref = min(blockers, key=lambda blocker: blocker[0].rank)
    verb = "refuses it when" if ref.effect == "deny" else "needs"
    text = f"{refusal_text(refusal, facts)} ({ref.file}:{ref.line} {verb} {name})"
    return Verdict(
        False,
        Reason(refusal_code(refusal, facts, action), text),
        ref if ref.effect == "deny" else None,
        tuple(n for r, n, _ in blockers if r.rank == refusal.rank),
        refusal.status,
    )


def _unnamed_refusal(
    action: str,
    deny_ref: RuleRef | None,
    evaluations: list[RuleEvaluation],
    facts: Facts,
) -> Verdict:
    if deny_ref is not None:
        return Verdict(
            False,
            Reason("denied_by_rule", f"{action} is denied by {deny_ref.file}:{deny_ref.line}"),
            deny_ref,
        )
    for evaluation in evaluations:
        if evaluation.rule.effect == "allow" and evaluation.role_held:
            failed = [name for name, value in evaluation.conditions if not value]
            r = evaluation.rule.ref
            return Verdict(
                False,
                Reason(
                    "condition_not_met",
                    f"{r.file}:{r.line} allows {action} only when "
                    f"{' and '.join(failed)}, which does not hold",
                ),
                None,
                tuple(failed),
            )
    return Verdict(False, Reason("not_permitted", f"nothing grants {action}"), None)
