"""The pycasbin internals ``policy/enforcer.py`` relies on are still where it expects them.

pyproject pins pycasbin to one minor release; if an upgrade moves any of these, this fails
with the name of what moved rather than the service deciding wrongly.
"""

from __future__ import annotations

import inspect

from casbin.core_enforcer import CoreEnforcer
from casbin.model.policy import DEFAULT_SEP
from casbin.util.expression import SimpleEval

from policy_service.domain.facts import Facts
from policy_service.policy.enforcer import ServiceEnforcer, build_enforcers
from policy_service.policy.pack import load_pack
from policy_service.policy.roles import RoleIndex
from tests.conftest import DEFAULT_PACK


def test_the_enforcer_still_builds_its_matcher_evaluator_through_get_expression() -> None:
    hook = vars(CoreEnforcer).get("_get_expression")
    assert isinstance(hook, staticmethod), (
        "pycasbin's CoreEnforcer._get_expression moved: the preparsed matcher is bypassed"
    )
    assert list(inspect.signature(hook).parameters) == ["expr", "functions"]
    assert hasattr(SimpleEval, "eval")
    assert DEFAULT_SEP == ","


def test_the_model_still_keeps_policy_rows_and_the_role_manager_where_we_put_them() -> None:
    pack = load_pack(DEFAULT_PACK)
    roles = RoleIndex()
    roles.load([("ada", "admin", "acme")], [])
    enforcers = build_enforcers(pack, roles)
    enforcer = enforcers["contact.delete"]
    assert isinstance(enforcer, ServiceEnforcer)
    assertion = enforcer.get_model()["p"]["p"]
    assert assertion.policy
    assert assertion.policy_map
    assert enforcer.get_model()["g"]["g"].rm is roles
    # And the hook is in use: a decision goes through it and answers as the pack says.
    allowed, _ = enforcer.enforce_ex(
        "ada", "acme", "contact", "contact.delete", Facts(subject_id="ada", contact_state="active")
    )
    assert allowed
    denied, _ = enforcer.enforce_ex(
        "ada", "acme", "contact", "contact.delete", Facts(subject_id="ada", contact_state="trashed")
    )
    assert not denied
