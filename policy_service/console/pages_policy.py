"""The running policy pack (rules, cascade profiles, its own policy-test results) and an
explain form: may this user do this to this contact, and why.

The explanation is the one ``decisions.authorization.explain`` gives the API - the same
``decide`` and the same ``candidate_rules`` - asked in the account the page is about. The
API's explain is for calling services (``decision.evaluate``); here the account's
``policy.read`` (its admins and compliance officers) opens it."""

from __future__ import annotations

from dataclasses import dataclass

from flask import request

from policy_service.api.app_state import get_state
from policy_service.console import forms
from policy_service.console import overview as data
from policy_service.console.web import View, account_page, bp, caller, invalid_page, page
from policy_service.decisions.authorization import Explanation, decide
from policy_service.decisions.policy_admin import failing_cases
from policy_service.decisions.policy_tests import CaseResult, load_test_files
from policy_service.decisions.search import searchable_actions
from policy_service.domain.clock import utcnow
from policy_service.domain.contacts import is_valid_contact_id
from policy_service.domain.decisions import Action, DecisionRequest, Resource, Subject
from policy_service.domain.errors import InvalidInput
from policy_service.domain.identifiers import PLATFORM_DOMAIN, is_valid_id
from policy_service.lifecycle.guards import load_account
from policy_service.policy.conditions import REGISTRY
from policy_service.state import ServiceState


@dataclass(frozen=True)
class PackTests:
    cases: int
    failing: list[CaseResult]


def _pack_tests(state: ServiceState) -> PackTests:
    pack = state.runtime.pack
    cases = sum(len(test_file.cases) for test_file in load_test_files(pack))
    return PackTests(cases, failing_cases(pack))  # cached per pack version


def explain_in_account(
    state: ServiceState, account_id: str, subject: str, action: str, contact_id: str
) -> Explanation:
    if not is_valid_id(subject):
        raise InvalidInput("the user is not a valid id")
    if not is_valid_contact_id(contact_id):
        raise InvalidInput("the contact is not a valid id")
    runtime = state.runtime
    account = load_account(state, account_id)
    contact = runtime.contact_facts(state.source, account_id, [contact_id]).get(contact_id)
    asked = DecisionRequest(
        Subject("user", subject),
        Action(action),
        Resource("contact", contact_id, {"account_id": account_id}),
    )
    decision = decide(runtime, account, asked, contact, utcnow())
    rules = runtime.candidate_rules(
        subject, account_id, decision.resource_type, decision.action, decision.facts.facts
    )
    platform = tuple(sorted(runtime.roles.roles_of(subject, PLATFORM_DOMAIN)))
    return Explanation(decision, rules, platform)


@bp.route("/accounts/<account_id>/policy")
@page
def policy(account_id: str) -> View:
    state, me = get_state(), caller()
    if not data.may(state, me, account_id, "policy", "policy.read"):
        return account_page("console/policy.html", account_id, pack=None)
    actions = searchable_actions(state.runtime, "contact")
    asked = {k: request.args.get(k, "").strip() for k in ("subject", "action", "contact_id")}

    def render(**extra: object) -> View:
        return account_page(
            "console/policy.html",
            account_id,
            pack=state.runtime.pack,
            tests=_pack_tests(state),
            conditions=REGISTRY,
            actions=actions,
            asked=asked,
            **extra,
        )

    if not any(asked.values()):
        return render(explanation=None)
    try:
        # The API's explain refuses these with a 400; so does its form here.
        forms.require(is_valid_id(asked["subject"]), "subject", SUBJECT_RULE)
        forms.require(asked["action"] in actions, "action", "one of the listed actions")
        forms.require(is_valid_contact_id(asked["contact_id"]), "contact_id", CONTACT_RULE)
    except forms.FormInvalid as invalid:
        return invalid_page(render, invalid, explanation=None)
    explanation = explain_in_account(
        state, account_id, asked["subject"], asked["action"], asked["contact_id"]
    )
    return render(explanation=explanation)


SUBJECT_RULE = "a user id: letters, digits and _.@:+/=- (at most 128 characters)"
CONTACT_RULE = "a contact id: letters, digits and _.:- (at most 60 characters)"
