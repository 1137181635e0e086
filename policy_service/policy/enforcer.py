"""Build the Casbin enforcer for a pack: its model, its rules, the role index, conditions.

The enforcer is built without an adapter. Rules come from the pack (already validated, with
line numbers) and role assignments from the ``RoleIndex``; pycasbin's ``load_policy`` would
deep-copy the model and route 100,000 role rows through list scans, which is what made
start-up slow in CASBIN-NOTES.md.
"""

from __future__ import annotations

from typing import Any

import casbin
from casbin.model.policy import DEFAULT_SEP

from policy_service.policy.conditions import all_hold
from policy_service.policy.pack import PolicyPack
from policy_service.policy.roles import RoleIndex


def build_enforcer(pack: PolicyPack, roles: RoleIndex) -> Any:
    enforcer = casbin.Enforcer(pack.new_model())
    enforcer.enable_auto_save(False)
    enforcer.enable_auto_notify_watcher(False)
    assertion = enforcer.get_model()["p"]["p"]
    assertion.policy = [rule.as_casbin() for rule in pack.rules]
    assertion.policy_map = {DEFAULT_SEP.join(row): i for i, row in enumerate(assertion.policy)}
    enforcer.set_role_manager(roles)
    enforcer.get_model()["g"]["g"].rm = roles
    enforcer.add_function("conditions", all_hold)
    return enforcer
