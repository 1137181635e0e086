"""The running policy: its version and rules, and reloading it from disk."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from policy_service.api.auth import current_caller
from policy_service.api.parsing import Blueprint
from policy_service.policy.conditions import REGISTRY
from policy_service.policy.pack import PolicyPack
from policy_service.services import policy_admin
from policy_service.state import get_state

blp = Blueprint("policy", __name__, description="The policy pack")


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
    def get(self) -> dict[str, Any]:
        """The running policy pack: version, roles, rules and the conditions they may name."""
        return _describe(policy_admin.current_policy(get_state(), current_caller()))


@blp.route("/v1/policy/reload")
class Reload(MethodView):
    def post(self) -> dict[str, Any]:
        """Re-read the policy pack from disk; every worker picks it up within a second."""
        pack, previous = policy_admin.reload_policy(get_state(), current_caller())
        return {"version": pack.version, "previous_version": previous, "rules": len(pack.rules)}
