"""The running policy: its version and rules, and reloading it from disk."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView
from marshmallow import fields

from policy_service.api.app_state import get_state
from policy_service.api.auth import current_caller
from policy_service.api.parsing import Blueprint
from policy_service.api.schema_parts import described_map
from policy_service.decisions import policy_admin
from policy_service.policy.conditions import REGISTRY
from policy_service.policy.pack import PolicyPack

blp = Blueprint("policy", __name__, description="The policy pack")


class PolicyRuleSchema(ma.Schema):
    role = fields.String(required=True)
    domain = fields.String(required=True)
    object = fields.String(required=True)
    action = fields.String(required=True)
    conditions = fields.List(fields.String(), required=True)
    effect = fields.String(required=True, metadata={"enum": ["allow", "deny"]})
    file = fields.String(required=True)
    line = fields.Integer(required=True)


class PolicySchema(ma.Schema):
    name = fields.String(required=True)
    version = fields.String(required=True)
    directory = fields.String(required=True)
    roles = fields.List(fields.String(), required=True)
    rules = fields.List(fields.Nested(PolicyRuleSchema), required=True)
    conditions = described_map(
        fields.String(), "every condition a rule may name, with what it means"
    )


class ReloadSchema(ma.Schema):
    version = fields.String(required=True)
    previous_version = fields.String(required=True)
    rules = fields.Integer(required=True, metadata={"description": "how many rules it has"})


def _describe(pack: PolicyPack) -> dict[str, Any]:
    return {
        "name": pack.name,
        "version": pack.version,
        "directory": pack.directory.name,
        "roles": sorted(pack.roles),
        "rules": [
            {
                "role": r.role,
                "domain": r.domain,
                "object": r.obj,
                "action": r.action,
                "conditions": r.conditions.split(),
                "effect": r.effect,
                "file": r.ref.file,
                "line": r.ref.line,
            }
            for r in pack.rules
        ],
        "conditions": {name: c.description for name, c in sorted(REGISTRY.items())},
    }


@blp.route("/v1/policy")
class Policy(MethodView):
    @blp.response(200, PolicySchema)
    def get(self) -> dict[str, Any]:
        """The running policy pack: version, roles, rules and the conditions they may name."""
        return _describe(policy_admin.current_policy(get_state(), current_caller()))


@blp.route("/v1/policy/reload")
class Reload(MethodView):
    @blp.response(200, ReloadSchema)
    def post(self) -> dict[str, Any]:
        """Re-read the policy pack from disk; every worker picks it up within a second.

        A pack that is invalid, or whose own policy test cases fail, is refused with a 422
        that names each problem (for failing cases: ``failures``, each with file, line, case,
        expected and got); the running policy is kept.
        """
        pack, previous = policy_admin.reload_policy(get_state(), current_caller())
        return {"version": pack.version, "previous_version": previous, "rules": len(pack.rules)}
