"""Per-account deletion rules: "when tag X is added, delete with reason Y"."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response
from flask.views import MethodView
from marshmallow import fields, validate

from policy_service.api.app_state import get_state
from policy_service.api.auth import current_caller
from policy_service.api.parsing import Blueprint
from policy_service.api.responses import UtcDateTime
from policy_service.api.schema_parts import StrictSchema, dataclass_json, described_map
from policy_service.domain.errors import InvalidInput
from policy_service.lifecycle import deletion_rules

blp = Blueprint("deletion_rules", __name__, description="Tag-triggered deletion rules")


class RuleSchema(StrictSchema):
    tag = fields.String(required=True, validate=validate.Length(min=1, max=200))
    reason_code = fields.String(required=True, validate=validate.Length(min=1, max=40))


class DeletionRuleSchema(ma.Schema):
    id = fields.String(required=True)
    account_id = fields.String(required=True)
    tag = fields.String(required=True)
    reason_code = fields.String(required=True)
    enabled = fields.Boolean(required=True)
    created_by = fields.String(required=True)
    created_at = UtcDateTime(required=True)


class DeletionRuleListSchema(ma.Schema):
    rules = fields.List(fields.Nested(DeletionRuleSchema), required=True)


class RuleRunSchema(ma.Schema):
    rule = fields.Nested(DeletionRuleSchema, required=True)
    matched = fields.List(fields.String(), required=True, metadata={"description": "contact ids"})
    deleted = fields.List(fields.String(), required=True, metadata={"description": "contact ids"})
    refused = described_map(fields.String(), "contact id: why it was not deleted")


class RulesRunSchema(ma.Schema):
    dry_run = fields.Boolean(required=True)
    rules = fields.List(fields.Nested(RuleRunSchema), required=True)


DRY_RUN_PARAMETER = {
    "in": "query",
    "name": "dry_run",
    "required": False,
    "description": "true (the default): only list what the rules would delete",
    "schema": {"type": "boolean", "default": True},
}


def _rule_json(rule: deletion_rules.DeletionRule) -> dict[str, Any]:
    return dataclass_json(rule)


@blp.route("/v1/accounts/<account_id>/deletion-rules")
class Rules(MethodView):
    @blp.arguments(RuleSchema)
    @blp.response(201, DeletionRuleSchema)
    def post(self, body: dict[str, Any], account_id: str) -> dict[str, Any]:
        """Add a rule; it applies whenever the tag is added to a contact."""
        rule = deletion_rules.create_rule(
            get_state(), current_caller(), account_id, body["tag"], body["reason_code"]
        )
        return _rule_json(rule)

    @blp.response(200, DeletionRuleListSchema)
    def get(self, account_id: str) -> dict[str, Any]:
        """The account's rules."""
        rules = deletion_rules.list_rules(get_state(), current_caller(), account_id)
        return {"rules": [_rule_json(r) for r in rules]}


@blp.route("/v1/accounts/<account_id>/deletion-rules/<rule_id>")
class Rule(MethodView):
    @blp.response(204)
    def delete(self, account_id: str, rule_id: str) -> Response:
        """Remove a rule."""
        deletion_rules.delete_rule(get_state(), current_caller(), account_id, rule_id)
        return Response(status=204)


@blp.route("/v1/accounts/<account_id>/deletion-rules/run")
class Run(MethodView):
    @blp.doc(parameters=[DRY_RUN_PARAMETER])
    @blp.response(200, RulesRunSchema)
    def post(self, account_id: str) -> dict[str, Any]:
        """Apply the rules to contacts that carry their tags now; ``?dry_run=true`` (the
        default) only lists them."""
        from flask import request

        raw = request.args.get("dry_run", "true").lower()
        if raw not in {"true", "false"}:
            raise InvalidInput("dry_run is true or false", errors={"dry_run": [raw]})
        runs = deletion_rules.run_rules(
            get_state(), current_caller(), account_id, dry_run=raw == "true"
        )
        return {
            "dry_run": raw == "true",
            "rules": [
                {
                    "rule": _rule_json(run.rule),
                    "matched": run.matched,
                    "deleted": run.deleted,
                    "refused": run.refused,
                }
                for run in runs
            ],
        }
