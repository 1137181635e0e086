"""The native decision API: the same question as AuthZEN, answered with the reasoning."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import request
from flask.views import MethodView
from marshmallow import fields

from policy_service.api.app_state import get_state
from policy_service.api.auth import current_caller
from policy_service.api.authzen import POLICY_VERSION_HEADER, load_evaluation
from policy_service.api.decision_logs import log_decision
from policy_service.api.decision_schemas import POLICY_VERSION_DOC, EvaluationSchema
from policy_service.api.parsing import Blueprint, read_json_object
from policy_service.decisions.authorization import explain
from policy_service.domain.decisions import RuleRef
from policy_service.domain.facts import FactSource
from policy_service.policy.conditions import REGISTRY

blp = Blueprint("decisions", __name__, description="Decisions with their explanation")


class ReasonSchema(ma.Schema):
    code = fields.String(required=True)
    text = fields.String(required=True)


class RuleRefSchema(ma.Schema):
    rule = fields.String(required=True, metadata={"description": "the rule as written"})
    file = fields.String(required=True)
    line = fields.Integer(required=True)
    effect = fields.String(required=True, metadata={"enum": ["allow", "deny"]})


class RuleConditionSchema(ma.Schema):
    name = fields.String(required=True)
    value = fields.Boolean(required=True)
    description = fields.String(required=True)


class ConsideredRuleSchema(ma.Schema):
    # The rule's reference is absent for a rule that was not written in the pack.
    rule = fields.String()
    file = fields.String()
    line = fields.Integer()
    effect = fields.String(metadata={"enum": ["allow", "deny"]})
    role = fields.String(required=True)
    role_held = fields.Boolean(required=True)
    conditions = fields.List(fields.Nested(RuleConditionSchema), required=True)
    matched = fields.Boolean(required=True)


class ConditionValueSchema(ma.Schema):
    name = fields.String(required=True)
    value = fields.Boolean(required=True)
    rule_line = fields.Integer(required=True, allow_none=True)


class FactSchema(ma.Schema):
    name = fields.String(required=True)
    value = fields.Raw(required=True, allow_none=True)
    source = fields.String(required=True, metadata={"enum": [str(s) for s in FactSource]})


class RequestedResourceSchema(ma.Schema):
    type = fields.String(required=True)
    id = fields.String(required=True, allow_none=True)


class RequestSummarySchema(ma.Schema):
    subject = fields.String(required=True)
    account_id = fields.String(required=True, allow_none=True)
    action = fields.String(required=True)
    resource = fields.Nested(RequestedResourceSchema, required=True)


class RolesSchema(ma.Schema):
    account = fields.List(fields.String(), required=True)
    platform = fields.List(fields.String(), required=True)


class GuardSchema(ma.Schema):
    name = fields.String(required=True, metadata={"description": "a block_delete_when guard"})
    holds = fields.Boolean(required=True, metadata={"description": "true: it blocks the delete"})


class ExplanationSchema(ma.Schema):
    decision = fields.Boolean(required=True)
    context = fields.Dict(
        keys=fields.String(), metadata={"description": "decision_id: this decision in the log"}
    )
    status = fields.Integer(
        required=True, metadata={"description": "what the action itself would answer now"}
    )
    reason = fields.Nested(ReasonSchema, required=True)
    guards = fields.List(
        fields.Nested(GuardSchema),
        required=True,
        metadata={"description": "the account's cascade-profile guards considered"},
    )
    policy_version = fields.String(required=True)
    request = fields.Nested(RequestSummarySchema, required=True)
    roles = fields.Nested(RolesSchema, required=True)
    deciding_rule = fields.Nested(RuleRefSchema, required=True, allow_none=True)
    matched_rules = fields.List(fields.Nested(ConsideredRuleSchema), required=True)
    rules_considered = fields.List(fields.Nested(ConsideredRuleSchema), required=True)
    conditions = fields.List(fields.Nested(ConditionValueSchema), required=True)
    facts = fields.List(fields.Nested(FactSchema), required=True)


def _rule(ref: RuleRef | None) -> dict[str, Any] | None:
    if ref is None:
        return None
    return {"rule": ref.text, "file": ref.file, "line": ref.line, "effect": ref.effect}


@blp.route("/v1/decisions/explain")
class Explain(MethodView):
    @blp.doc(requestBody={"content": {"application/json": {"schema": EvaluationSchema}}})
    @blp.response(200, ExplanationSchema, headers=POLICY_VERSION_DOC)
    def post(self) -> tuple[dict[str, Any], dict[str, str]]:
        """Decide, and say why: rules considered, conditions with their values, facts with
        their sources, and the policy version."""
        state = get_state()
        decision_request = load_evaluation(read_json_object(request))
        caller = current_caller()
        result = explain(state.runtime, state.source, caller, decision_request)
        decision = result.decision
        decision_id = log_decision("explain", caller, decision_request, decision)
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
        return (
            {
                "decision": decision.allowed,
                "status": decision.status,
                "reason": {"code": decision.reason.code, "text": decision.reason.text},
                "guards": [{"name": name, "holds": holds} for name, holds in decision.guards],
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
                "context": {"decision_id": decision_id},
            },
            {POLICY_VERSION_HEADER: decision.policy_version},
        )
