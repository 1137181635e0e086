"""The native decision API: the same question as AuthZEN, answered with the reasoning."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request
from flask.views import MethodView

from policy_service.api.auth import current_caller
from policy_service.api.authzen import POLICY_VERSION_HEADER, load_evaluation
from policy_service.api.decision_schemas import EvaluationSchema
from policy_service.api.parsing import Blueprint, read_json_object
from policy_service.domain.decisions import RuleRef
from policy_service.policy.conditions import REGISTRY
from policy_service.services.authorization import explain
from policy_service.state import get_state

blp = Blueprint("decisions", __name__, description="Decisions with their explanation")


def _rule(ref: RuleRef | None) -> dict[str, Any] | None:
    if ref is None:
        return None
    return {"rule": ref.text, "file": ref.file, "line": ref.line, "effect": ref.effect}


@blp.route("/v1/decisions/explain")
class Explain(MethodView):
    @blp.doc(requestBody={"content": {"application/json": {"schema": EvaluationSchema}}})
    def post(self) -> Response:
        """Decide, and say why: rules considered, conditions with their values, facts with
        their sources, and the policy version."""
        state = get_state()
        decision_request = load_evaluation(read_json_object(request))
        result = explain(state.runtime, state.source, current_caller(), decision_request)
        decision = result.decision
        considered = [
            {
                **(_rule(evaluation.rule.ref) or {}),
                "role": evaluation.rule.role,
                "role_held": evaluation.role_held,
                "conditions": [
                    {"name": name, "value": value, "description": REGISTRY[name].description}
                    for name, value in evaluation.conditions
                ],
                "matched": evaluation.matched,
            }
            for evaluation in result.rules
        ]
        response = jsonify(
            {
                "decision": decision.allowed,
                "reason": {"code": decision.reason.code, "text": decision.reason.text},
                "policy_version": decision.policy_version,
                "request": {
                    "subject": decision.subject_id,
                    "account_id": decision.account_id,
                    "action": decision.action,
                    "resource": {"type": decision.resource_type, "id": decision.resource_id},
                },
                "roles": {"account": list(decision.roles), "platform": list(result.platform_roles)},
                "deciding_rule": _rule(decision.rule),
                "matched_rules": [rule for rule in considered if rule["matched"]],
                "rules_considered": considered,
                "conditions": [
                    {"name": c["name"], "value": c["value"], "rule_line": rule["line"]}
                    for rule in considered
                    for c in rule["conditions"]
                ],
                "facts": decision.facts.describe(),
            }
        )
        response.headers[POLICY_VERSION_HEADER] = decision.policy_version
        return response
