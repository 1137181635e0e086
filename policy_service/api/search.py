"""AuthZEN 1.0 search (section 8): subject, resource and action search, paginated."""

from __future__ import annotations

import json
import time
from typing import Any

import marshmallow as ma
from flask import Response, g, request
from flask.views import MethodView
from marshmallow import fields, validate

from policy_service.api.app_state import get_state
from policy_service.api.auth import current_caller
from policy_service.api.authzen import POLICY_VERSION_HEADER
from policy_service.api.decision_logs import log_entry
from policy_service.api.decision_schemas import (
    NAME,
    POLICY_VERSION_DOC,
    TYPE,
    ActionSchema,
    ResourceSchema,
    SubjectSchema,
)
from policy_service.api.parsing import Blueprint, read_json_object
from policy_service.decisions.authorization import Caller
from policy_service.decisions.search import (
    Page,
    search_actions,
    search_resources,
    search_subjects,
)
from policy_service.domain.decisions import Action, DecisionRequest, Resource, Subject
from policy_service.domain.errors import BadRequest, InvalidInput
from policy_service.integration.decision_log import Entry, item_of, new_decision_id

blp = Blueprint("authzen_search", __name__, description="AuthZEN 1.0 search")
DEFAULT_LIMIT = 50


class _Lenient(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE


class PageRequestSchema(_Lenient):
    token = fields.String(load_default=None, validate=validate.Length(max=1000))
    limit = fields.Integer(load_default=None, validate=validate.Range(min=1, max=1_000_000))


class SubjectTypeSchema(_Lenient):
    type = fields.String(required=True, validate=TYPE)
    properties = fields.Dict(keys=fields.String(), load_default=dict)


class ResourceTypeSchema(_Lenient):
    type = fields.String(required=True, validate=TYPE)
    properties = fields.Dict(
        keys=fields.String(),
        load_default=dict,
        metadata={"description": "account_id names the account searched"},
    )


def _search_schema(name: str, **asked: fields.Field[Any]) -> type[ma.Schema]:
    """A search request: what it asks about (``asked``), then its context and its page."""
    context = fields.Dict(keys=fields.String(), load_default=dict)
    page = fields.Nested(PageRequestSchema, load_default=dict)
    return _Lenient.from_dict({**asked, "context": context, "page": page}, name=name)


ResourceSearchSchema = _search_schema(
    "ResourceSearchSchema",
    subject=fields.Nested(SubjectSchema, required=True),
    action=fields.Nested(ActionSchema, required=True),
    resource=fields.Nested(ResourceTypeSchema, required=True),
)
SubjectSearchSchema = _search_schema(
    "SubjectSearchSchema",
    subject=fields.Nested(SubjectTypeSchema, required=True),
    action=fields.Nested(ActionSchema, required=True),
    resource=fields.Nested(ResourceSchema, required=True),
)
ActionSearchSchema = _search_schema(
    "ActionSearchSchema",
    subject=fields.Nested(SubjectSchema, required=True),
    resource=fields.Nested(ResourceSchema, required=True),
)


class PageResponseSchema(ma.Schema):
    next_token = fields.String(
        required=True, metadata={"description": "empty when there are no more results"}
    )


class SearchResultSchema(ma.Schema):
    type = fields.String(metadata={"description": "subject and resource results"})
    id = fields.String(metadata={"description": "subject and resource results"})
    name = fields.String(validate=NAME, metadata={"description": "action results"})
    properties = fields.Dict(keys=fields.String())


class SearchResponseSchema(ma.Schema):
    results = fields.List(fields.Nested(SearchResultSchema), required=True)
    page = fields.Nested(PageResponseSchema, required=True)
    context = fields.Dict(
        keys=fields.String(), metadata={"description": "policy_version, decision_ids"}
    )


def _load(schema: ma.Schema) -> dict[str, Any]:
    body = read_json_object(request)
    try:
        data: dict[str, Any] = schema.load(body)
    except ma.ValidationError as exc:
        raise InvalidInput("the search request is not valid", errors=exc.messages) from None
    return data


def _limit(page: dict[str, Any]) -> int:
    limit = page.get("limit") or DEFAULT_LIMIT
    maximum = get_state().settings.max_batch_items
    if limit > maximum:
        raise InvalidInput(
            f"page.limit is at most {maximum}", errors={"page": {"limit": [f"{limit}"]}}
        )
    return int(limit)


def _answer(
    results: list[dict[str, Any]], page: Page, kind: str, caller: Caller, asked: DecisionRequest
) -> Response:
    version = get_state().runtime.version
    entry = Entry(
        new_decision_id(),
        time.time(),
        f"search/{kind}",
        caller.principal_id,
        caller.on_behalf_of,
        g.get("request_id"),
        item_of(asked, None, bool(results), "results" if results else "no_results", version),
        {"results": len(results), "more": bool(page.next_token)},
    )
    log_entry(entry)
    payload = {
        "results": results,
        "page": {"next_token": page.next_token or ""},
        "context": {"policy_version": version, "decision_id": entry.decision_id},
    }
    response = Response(json.dumps(payload), mimetype="application/json")
    response.headers[POLICY_VERSION_HEADER] = version
    return response


_resource_schema = ResourceSearchSchema()
_subject_schema = SubjectSearchSchema()
_action_schema = ActionSearchSchema()


@blp.route("/access/v1/search/resource")
class ResourceSearch(MethodView):
    @blp.doc(requestBody={"content": {"application/json": {"schema": ResourceSearchSchema}}})
    @blp.response(200, SearchResponseSchema, headers=POLICY_VERSION_DOC)
    def post(self) -> Response:
        """Which contacts of the account may the subject do the action to now? In id order;
        each result is a decision that evaluates to true."""
        state = get_state()
        data = _load(_resource_schema)
        if data["resource"]["type"] != "contact":
            raise BadRequest("only contacts are searched", pointer="/resource/type")
        subject = Subject(**data["subject"])
        caller = current_caller()
        page = search_resources(
            state.runtime,
            state.source,
            state.session_factory,
            caller,
            subject,
            data["action"]["name"],
            data["resource"]["properties"].get("account_id"),
            token=data["page"].get("token"),
            limit=_limit(data["page"]),
        )
        results = [
            {"type": "contact", "id": d.resource_id, "properties": {"account_id": d.account_id}}
            for d in page.decisions
        ]
        asked = DecisionRequest(
            subject,
            Action(data["action"]["name"]),
            Resource("contact", None, data["resource"]["properties"]),
        )
        return _answer(results, page, "resource", caller, asked)


@blp.route("/access/v1/search/subject")
class SubjectSearch(MethodView):
    @blp.doc(requestBody={"content": {"application/json": {"schema": SubjectSearchSchema}}})
    @blp.response(200, SearchResponseSchema, headers=POLICY_VERSION_DOC)
    def post(self) -> Response:
        """Which members of the resource's account may do the action to it now?"""
        state = get_state()
        data = _load(_subject_schema)
        if data["subject"]["type"] != "user":
            raise BadRequest("only users are searched", pointer="/subject/type")
        caller = current_caller()
        resource = Resource(**data["resource"])
        page = search_subjects(
            state.runtime,
            state.source,
            state.session_factory,
            caller,
            data["action"]["name"],
            resource,
            token=data["page"].get("token"),
            limit=_limit(data["page"]),
        )
        results = [{"type": "user", "id": d.subject_id} for d in page.decisions]
        asked = DecisionRequest(Subject("user", ""), Action(data["action"]["name"]), resource)
        return _answer(results, page, "subject", caller, asked)


@blp.route("/access/v1/search/action")
class ActionSearch(MethodView):
    @blp.doc(requestBody={"content": {"application/json": {"schema": ActionSearchSchema}}})
    @blp.response(200, SearchResponseSchema, headers=POLICY_VERSION_DOC)
    def post(self) -> Response:
        """What may the subject do to the resource now (the buttons a UI shows)?"""
        state = get_state()
        data = _load(_action_schema)
        resource = Resource(**data["resource"])
        subject = Subject(**data["subject"])
        caller = current_caller()
        page = search_actions(
            state.runtime,
            state.source,
            caller,
            subject,
            resource,
            token=data["page"].get("token"),
            limit=_limit(data["page"]),
        )
        prefix = f"{resource.type}."
        results = [{"name": d.action.removeprefix(prefix)} for d in page.decisions]
        asked = DecisionRequest(subject, Action(""), resource)
        return _answer(results, page, "action", caller, asked)
