"""Build the Casbin enforcers for a pack: its model, its rules, the role index, conditions.

Enforcers are built without an adapter. Rules come from the pack (already validated, with
line numbers) and role assignments from the ``RoleIndex``; pycasbin's ``load_policy`` would
deep-copy the model and route 100,000 role rows through list scans, which is what made
start-up slow in CASBIN-NOTES.md.

There is one enforcer per action, each holding only that action's rules. The model's matcher
begins with ``r.act == p.act``, so a rule for another action can never match: splitting by
action changes no decision, but pycasbin's plain ``Enforcer`` evaluates the matcher on every
rule of its policy for every request, and this way it evaluates one to three instead of all
of them. The model, the effect (deny overrides) and the matcher are the pack's, unchanged.
"""

from __future__ import annotations

import ast
import re
from functools import lru_cache
from typing import Any

import casbin
from casbin.model.policy import DEFAULT_SEP
from casbin.util.expression import SimpleEval
from simpleeval import EvalWithCompoundTypes

from policy_service.policy.conditions import all_hold
from policy_service.policy.pack import PolicyPack
from policy_service.policy.roles import RoleIndex


@lru_cache(maxsize=64)
def _parsed_matcher(matcher: str) -> tuple[str, Any]:
    # The same rewriting pycasbin does on every call, done once per matcher text.
    rewritten = matcher.replace("&&", "and").replace("||", "or")
    rewritten = re.sub(r"!(?!=)", "not ", rewritten)
    return rewritten, ast.parse(rewritten.strip()).body[0].value  # type: ignore[attr-defined]


class _PreparsedEval(SimpleEval):  # type: ignore[misc]
    def __init__(self, matcher: str, functions: dict[str, Any] | None) -> None:
        EvalWithCompoundTypes.__init__(self, functions=functions)
        self.expr, self.ast_parsed_value = _parsed_matcher(matcher)


class ServiceEnforcer(casbin.Enforcer):  # type: ignore[misc]
    """pycasbin's Enforcer, parsing its matcher once instead of on every ``enforce``."""

    @staticmethod
    def _get_expression(expr: str, functions: dict[str, Any] | None = None) -> Any:
        return _PreparsedEval(expr, functions)


def _enforcer(pack: PolicyPack, roles: RoleIndex, rows: list[list[str]]) -> Any:
    enforcer = ServiceEnforcer(pack.new_model())
    enforcer.enable_auto_save(False)
    enforcer.enable_auto_notify_watcher(False)
    assertion = enforcer.get_model()["p"]["p"]
    assertion.policy = rows
    assertion.policy_map = {DEFAULT_SEP.join(row): i for i, row in enumerate(rows)}
    enforcer.set_role_manager(roles)
    enforcer.get_model()["g"]["g"].rm = roles
    enforcer.add_function("conditions", all_hold)
    return enforcer


def build_enforcers(pack: PolicyPack, roles: RoleIndex) -> dict[str, Any]:
    """One enforcer per action named in the pack's rules."""
    by_action: dict[str, list[list[str]]] = {}
    for rule in pack.rules:
        by_action.setdefault(rule.action, []).append(rule.as_casbin())
    return {action: _enforcer(pack, roles, rows) for action, rows in by_action.items()}
