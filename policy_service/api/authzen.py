"""OpenID AuthZEN Authorization API 1.0: single and batch evaluations, PDP metadata."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from flask import Response, g, jsonify, request
from flask.views import MethodView

from policy_service.api.app_state import get_state
from policy_service.api.auth import current_caller, public
from policy_service.api.decision_logs import log_decision, log_group
from policy_service.api.decision_schemas import (
    POLICY_VERSION_DOC,
    ConfigurationSchema,
    EvaluationResponseSchema,
    EvaluationSchema,
    EvaluationsResponseSchema,
    EvaluationsSchema,
)
from policy_service.api.evaluation_parser import parse_evaluation
from policy_service.api.parsing import Blueprint, read_json_object
from policy_service.decisions.authorization import Caller, check_in_account, evaluate
from policy_service.domain.contacts import ContactFacts, is_valid_contact_id
from policy_service.domain.decisions import Decision, DecisionRequest, Subject
from policy_service.domain.errors import InvalidInput, ServiceError
from policy_service.domain.identifiers import is_valid_account_id
from policy_service.integration.decision_log import Group, group_for
from policy_service.state import ServiceState

blp = Blueprint("authzen", __name__, description="OpenID AuthZEN Authorization API 1.0")
discovery = Blueprint("authzen_discovery", __name__, description="AuthZEN PDP metadata")
POLICY_VERSION_HEADER = "X-Policy-Version"
ENVELOPE_KEYS = ("subject", "action", "resource", "context")

_evaluations_schema = EvaluationsSchema()


def load_evaluation(body: dict[str, Any]) -> DecisionRequest:
    return parse_evaluation(body)


def decision_context(decision: Decision) -> dict[str, Any]:
    return {
        "reason": {"code": decision.reason.code, "text": decision.reason.text},
        "reason_admin": {"en": decision.reason.text},
        # What the action would answer now (200, or its 403 / 409), so a PEP can tell
        # "never" from "not now" without asking again.
        "status": decision.status,
        "policy_version": decision.policy_version,
    }


def error_context(error: ServiceError) -> dict[str, Any]:
    body: dict[str, Any] = {"status": error.status, "code": error.slug, "message": error.detail}
    if "errors" in error.extensions:
        body["errors"] = error.extensions["errors"]
    return {"error": body}


def _with_version(payload: dict[str, Any], version: str) -> Response:
    # Serialised directly: these are the hot endpoints, and Flask's provider sorts keys.
    response = Response(orjson.dumps(payload), mimetype="application/json")
    response.headers[POLICY_VERSION_HEADER] = version
    return response


@blp.route("/access/v1/evaluation")
class Evaluation(MethodView):
    @blp.doc(requestBody={"content": {"application/json": {"schema": EvaluationSchema}}})
    @blp.response(200, EvaluationResponseSchema, headers=POLICY_VERSION_DOC)
    def post(self) -> Response:
        """Decide one request. A deny is a 200 with ``decision: false`` and the reason."""
        state = get_state()
        decision_request = load_evaluation(read_json_object(request))
        caller = current_caller()
        decision = evaluate(state.runtime, state.source, caller, decision_request)
        context = decision_context(decision)
        context["decision_id"] = log_decision("evaluation", caller, decision_request, decision)
        return _with_version(
            {"decision": decision.allowed, "context": context}, decision.policy_version
        )


@blp.route("/access/v1/evaluations")
class Evaluations(MethodView):
    @blp.doc(requestBody={"content": {"application/json": {"schema": EvaluationsSchema}}})
    @blp.response(200, EvaluationsResponseSchema, headers=POLICY_VERSION_DOC)
    def post(self) -> Response:
        """Decide many requests; top-level subject/action/resource/context are defaults and a
        key given in an item replaces the whole default object."""
        state = get_state()
        body = read_json_object(request)
        try:
            envelope = _evaluations_schema.load(body)
        except Exception as exc:
            messages = getattr(exc, "messages", None)
            if messages is None:
                raise
            raise InvalidInput("the evaluations request is not valid", errors=messages) from None
        items = envelope.get("evaluations") or []
        caller = current_caller()
        defaults = {key: body[key] for key in ENVELOPE_KEYS if key in body}
        if not items:
            # AuthZEN: without items the request behaves as a single evaluation.
            single = load_evaluation(defaults)
            decision = evaluate(state.runtime, state.source, caller, single)
            context = decision_context(decision)
            context["decision_id"] = log_decision("evaluations", caller, single, decision)
            return _with_version(
                {"decision": decision.allowed, "context": context}, decision.policy_version
            )
        if len(items) > state.settings.max_batch_items:
            raise InvalidInput(
                f"at most {state.settings.max_batch_items} evaluations per request",
                errors={"evaluations": [f"{len(items)} items"]},
            )
        options = envelope["options"]
        semantic = options["evaluations_semantic"]
        include_context = options["include_context"]
        batch = _Batch(
            defaults,
            include_context,
            _prefetch_contacts(state, defaults, items),
            group_for("evaluations", caller, g.get("request_id")),
        )
        group = batch.group
        results: list[dict[str, Any]] = []
        for item in items:
            result = _evaluate_item(state, caller, batch, item)
            results.append(result)
            if semantic == "deny_on_first_deny" and not result["decision"]:
                break
            if semantic == "permit_on_first_permit" and result["decision"]:
                break
        log_group(group)
        return _with_version({"evaluations": results}, state.runtime.version)


def _merged(defaults: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    merged = dict(defaults)
    for key in ENVELOPE_KEYS:
        if key in item:
            merged[key] = item[key]
    return merged


def _named(
    state: ServiceState, defaults: dict[str, Any], item: Any
) -> tuple[dict[str, Any] | None, str | None]:
    """A batch item's resource (defaults merged in) and the valid account id it names (or the
    pack's default account), either None when the item has none."""
    if not isinstance(item, dict):
        return None, None
    resource = _merged(defaults, item).get("resource")
    if not isinstance(resource, dict):
        return None, None
    properties = resource.get("properties")
    account = (properties if isinstance(properties, dict) else {}).get(
        "account_id", state.runtime.pack.default_account
    )
    return resource, str(account) if is_valid_account_id(account) else None


def _prefetch_contacts(
    state: ServiceState, defaults: dict[str, Any], items: list[Any]
) -> dict[tuple[str, str], ContactFacts | None]:
    """The store's facts for every contact the batch names: one query per account."""
    wanted: dict[str, set[str]] = {}
    for item in items:
        resource, account = _named(state, defaults, item)
        if resource is None or account is None or resource.get("type") != "contact":
            continue
        contact_id = resource.get("id")
        if is_valid_contact_id(contact_id):
            wanted.setdefault(account, set()).add(str(contact_id))
    known: dict[tuple[str, str], ContactFacts | None] = {}
    for account, contact_ids in wanted.items():
        found = state.runtime.contact_facts(state.source, account, sorted(contact_ids))
        for contact_id, facts in found.items():
            known[(account, contact_id)] = facts
    return known


@dataclass(slots=True)
class _Batch:
    """What the items of one batch share: the envelope's defaults, the contacts read once,
    the decision-log group, and the accounts the caller was already found allowed to ask in."""

    defaults: dict[str, Any]
    include_context: bool
    known: dict[tuple[str, str], ContactFacts | None]
    group: Group
    asked_in: set[str] = field(default_factory=set)
    subjects: dict[int, tuple[Any, Subject]] = field(default_factory=dict)  # parsed once


def _evaluate_item(
    state: ServiceState,
    caller: Caller,
    batch: _Batch,
    item: Any,  # any JSON value: a non-object item is answered with its error
) -> dict[str, Any]:
    try:
        if not isinstance(item, dict):
            raise InvalidInput("each evaluation must be a JSON object")
        decision_request = parse_evaluation(_merged(batch.defaults, item), batch.subjects)
        decision = evaluate(
            state.runtime,
            state.source,
            caller,
            decision_request,
            known_contacts=batch.known,
            asked_in=batch.asked_in,
        )
    except ServiceError as error:
        if error.status >= 500:
            raise
        # An answer too, logged as a refusal under the error's code: every item answered
        # has its id, so an id's suffix is always the item's index.
        account = _account_asked(state, caller, batch, item)
        n = batch.group.refused(error.slug, state.runtime.version, account)
        context = error_context(error)
        if batch.include_context:
            context["decision_id"] = batch.group.decision_id(n)
        return {"decision": False, "context": context}
    n = batch.group.add(decision_request, decision)
    if batch.include_context:
        context = decision_context(decision)
        context["decision_id"] = batch.group.decision_id(n)
        return {"decision": decision.allowed, "context": context}
    # The bare AuthZEN answer, as interop suites expect it; the entry is still logged, under
    # the id ``include_context`` would have shown (the batch's prefix and the item's index).
    return {"decision": decision.allowed}


def _account_asked(state: ServiceState, caller: Caller, batch: _Batch, item: Any) -> str | None:
    """The account an undecidable item was asked in, for its log entry: only one the caller
    may ask in, so a caller cannot write entries into another tenant's log; else None, an
    entry only platform admins read."""
    account_id = _named(state, batch.defaults, item)[1]
    if account_id is None:
        return None
    if account_id not in batch.asked_in:
        if not check_in_account(
            state.runtime, caller, account_id, "account", "decision.evaluate"
        ).allowed:
            return None
        batch.asked_in.add(account_id)
    return account_id


@discovery.route("/.well-known/authzen-configuration")
class Configuration(MethodView):
    @discovery.response(200, ConfigurationSchema)
    @public
    def get(self) -> Response:
        """The PDP's metadata: where its endpoints are."""
        base = request.host_url.rstrip("/")
        return jsonify(
            {
                "policy_decision_point": base,
                "access_evaluation_endpoint": f"{base}/access/v1/evaluation",
                "access_evaluations_endpoint": f"{base}/access/v1/evaluations",
                "search_subject_endpoint": f"{base}/access/v1/search/subject",
                "search_resource_endpoint": f"{base}/access/v1/search/resource",
                "search_action_endpoint": f"{base}/access/v1/search/action",
                "capabilities": ["urn:policy-service:explain"],
            }
        )
