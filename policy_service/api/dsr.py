"""Data-subject requests over HTTP (compliance officers; platform admins for "all")."""

from __future__ import annotations

from datetime import UTC
from typing import Any

import marshmallow as ma
from flask.views import MethodView
from marshmallow import fields, validate

from policy_service.api.app_state import get_state
from policy_service.api.auth import current_caller
from policy_service.api.paging import cursor_page_schema, cursor_query_field
from policy_service.api.parsing import Blueprint
from policy_service.api.responses import UtcDateTime, problems
from policy_service.api.schema_parts import StrictSchema
from policy_service.decisions.authorization import Caller
from policy_service.domain import dsr as rules
from policy_service.domain.clock import iso, utcnow
from policy_service.domain.dsr import Identity
from policy_service.domain.errors import InvalidInput
from policy_service.ports import DsrIntake
from policy_service.privacy import certificate, execution, requests, steps
from policy_service.privacy.records import ALL, DataSubjectRequest
from policy_service.strict_fields import InstantField, QueryBoolean

blp = Blueprint("dsr", __name__, description="Data-subject requests (GDPR / CCPA)")


class IdentitySchema(StrictSchema):
    email = fields.Email(validate=validate.Length(max=320))
    phone = fields.String(validate=validate.Regexp(r"^\+?[0-9 ().-]{3,40}$"))


class AccountsField(fields.Field):  # type: ignore[type-arg]
    """A list of account ids, or the string "all"."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if value == ALL:
            return value
        if (
            isinstance(value, list)
            and 0 < len(value) <= 100
            and all(isinstance(v, str) and 0 < len(v) <= 64 for v in value)
        ):
            return sorted(set(value))
        raise ma.ValidationError('a list of account ids, or "all"')


class CreateSchema(StrictSchema):
    type = fields.String(required=True, validate=validate.OneOf(rules.TYPES))
    identity = fields.Nested(IdentitySchema, required=True)
    jurisdiction = fields.String(required=True, validate=validate.OneOf(rules.JURISDICTIONS))
    accounts = AccountsField(required=True)
    received_at = InstantField(required=True, default_timezone=UTC)
    channel = fields.String(load_default="other", validate=validate.OneOf(rules.CHANNELS))


class VerifySchema(StrictSchema):
    method = fields.String(required=True, validate=validate.Length(min=1, max=200))


class DenySchema(StrictSchema):
    exemption_code = fields.String(validate=validate.Length(max=40))
    text = fields.String(validate=validate.Length(max=2000))


class ExtendSchema(StrictSchema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


STATUSES = (
    rules.RECEIVED,
    rules.IDENTITY_VERIFIED,
    rules.APPROVED,
    rules.DENIED,
    rules.IN_PROGRESS,
    rules.COMPLETED,
    rules.FAILED,
)


class ListQuery(StrictSchema):
    status = fields.String(validate=validate.OneOf(STATUSES))
    overdue = QueryBoolean(load_default=False)
    cursor = cursor_query_field()
    limit = fields.Integer(
        validate=validate.Range(min=1, max=500),
        metadata={"description": "a page of at most this many; every request when left out"},
    )


class TransitionSchema(ma.Schema):
    step = fields.String(required=True)
    from_ = fields.String(
        required=True, data_key="from", attribute="from", metadata={"description": '"" at create'}
    )
    to = fields.String(required=True)
    by = fields.String(required=True)
    at = UtcDateTime(required=True)
    note = fields.String(required=True, allow_none=True)


class DsrSchema(ma.Schema):
    id = fields.String(required=True)
    type = fields.String(required=True, metadata={"enum": list(rules.TYPES)})
    jurisdiction = fields.String(required=True, metadata={"enum": list(rules.JURISDICTIONS)})
    accounts = fields.Raw(
        required=True,
        metadata={
            "oneOf": [
                {"type": "array", "items": {"type": "string"}},
                {"type": "string", "enum": [ALL]},
            ],
            "description": 'the account ids searched, or "all"',
        },
    )
    channel = fields.String(required=True, metadata={"enum": list(rules.CHANNELS)})
    status = fields.String(required=True, metadata={"enum": list(STATUSES)})
    received_at = UtcDateTime(required=True)
    due_at = UtcDateTime(required=True)
    days_left = fields.Integer(required=True)
    overdue = fields.Boolean(required=True)
    extended = fields.Boolean(required=True)
    exemption_code = fields.String(required=True, allow_none=True)
    identity_held = fields.Boolean(
        required=True, metadata={"description": "false once the request completed"}
    )
    created_by = fields.String(required=True)
    created_at = UtcDateTime(required=True)
    completed_at = UtcDateTime(required=True, allow_none=True)
    transitions = fields.List(fields.Nested(TransitionSchema), required=True)


class ExecutionOutcomeSchema(ma.Schema):
    accounts = fields.Dict(
        keys=fields.String(),
        values=fields.Dict(keys=fields.String()),
        required=True,
        metadata={
            "description": "per account: erased (contact ids), restricted ({contact_id, "
            "holds}), kept ({contact_id, reason}: an access request keeps everything, an "
            "erasure a contact it was refused), pending (ids not yet worked) and "
            "erased_records (per kind and action, counts)"
        },
    )


class DsrExecutionSchema(DsrSchema):
    outcome = fields.Nested(
        ExecutionOutcomeSchema,
        required=True,
        metadata={"description": "what the execution did, per account"},
    )


DsrListSchema = cursor_page_schema(
    "DsrListSchema", "requests", DsrSchema, "pass as cursor= for more"
)


class CertificateSchema(ma.Schema):
    certificate = fields.Dict(
        keys=fields.String(),
        required=True,
        metadata={
            "description": "dsr_id, type, jurisdiction, received_at, completed_at, "
            "policy_version, key_id and, per account, what was erased or restricted"
        },
    )
    signature = fields.String(required=True, metadata={"description": "Ed25519, base64"})
    algorithm = fields.String(required=True, metadata={"enum": ["Ed25519"]})
    signed = fields.String(required=True, metadata={"description": "what the signature covers"})
    evidence = fields.List(
        fields.Dict(keys=fields.String()),
        required=True,
        metadata={
            "description": "each audit event of the request: `record` (its canonical bytes) "
            "and `proof` (RFC 9162 inclusion proof with its signed checkpoint note, as GET "
            "/v1/audit/events/{id}/proof serves it); check offline with `policy-service "
            "audit verify-certificate`"
        },
    )


class AccessPackageSchema(ma.Schema):
    contacts = fields.List(
        fields.Dict(keys=fields.String()),
        required=True,
        metadata={"description": "each contact with its related records and its history"},
    )


def dsr_json(request: DataSubjectRequest) -> dict[str, Any]:
    now = utcnow()
    return {
        "id": request.id,
        "type": request.type,
        "jurisdiction": request.jurisdiction,
        "accounts": request.accounts,
        "channel": request.channel,
        "status": request.status,
        "received_at": iso(request.received_at),
        "due_at": iso(request.due_at),
        "days_left": request.days_left(now),
        "overdue": request.overdue(now),
        "extended": request.extended,
        "exemption_code": request.exemption_code,
        "identity_held": request.has_identity,
        "created_by": request.created_by,
        "created_at": iso(request.created_at),
        "completed_at": iso(request.completed_at),
        "transitions": request.transitions,
    }


def create_from_body(state: DsrIntake, caller: Caller, body: dict[str, Any]) -> DataSubjectRequest:
    """Record the request a loaded ``CreateSchema`` body describes (the API's intake and the
    console's)."""
    identity = body["identity"]
    return requests.create_request(
        state,
        caller,
        type=body["type"],
        identity=Identity(identity.get("email"), identity.get("phone")),
        jurisdiction=body["jurisdiction"],
        accounts=body["accounts"],
        received_at=body["received_at"],
        channel=body["channel"],
    )


@blp.route("/v1/dsr")
class Requests(MethodView):
    @blp.arguments(CreateSchema)
    @blp.response(201, DsrSchema)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Record a request as received; its deadline runs from ``received_at``."""
        identity = body["identity"]
        if not identity:
            raise InvalidInput("identity needs an email or a phone", errors={"identity": ["empty"]})
        return dsr_json(create_from_body(get_state(), current_caller(), body))

    @blp.arguments(ListQuery, location="query")
    @blp.response(200, DsrListSchema)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Requests by deadline; ``?overdue=true`` for late ones; ``limit`` and ``cursor``
        page through them."""
        found, cursor = requests.list_requests(
            get_state(),
            current_caller(),
            status=query.get("status"),
            overdue=query["overdue"],
            cursor=query.get("cursor"),
            limit=query.get("limit"),
        )
        return {"requests": [dsr_json(r) for r in found], "next_cursor": cursor}


@blp.route("/v1/dsr/<dsr_id>")
class RequestById(MethodView):
    @blp.response(200, DsrSchema)
    def get(self, dsr_id: str) -> dict[str, Any]:
        """One request: status, due date, days left, every transition."""
        return dsr_json(requests.get_request(get_state(), current_caller(), dsr_id))


@blp.route("/v1/dsr/<dsr_id>/verify-identity")
class VerifyIdentity(MethodView):
    @blp.arguments(VerifySchema)
    @blp.response(200, DsrSchema)
    def post(self, body: dict[str, Any], dsr_id: str) -> dict[str, Any]:
        """Record that the requester's identity was confirmed, and how."""
        return dsr_json(
            steps.verify_identity(get_state(), current_caller(), dsr_id, body["method"])
        )


@blp.route("/v1/dsr/<dsr_id>/approve")
class Approve(MethodView):
    @blp.response(200, DsrSchema)
    def post(self, dsr_id: str) -> dict[str, Any]:
        """Approve a verified request."""
        return dsr_json(steps.approve(get_state(), current_caller(), dsr_id))


@blp.route("/v1/dsr/<dsr_id>/deny")
class Deny(MethodView):
    @blp.arguments(DenySchema)
    @blp.response(200, DsrSchema)
    def post(self, body: dict[str, Any], dsr_id: str) -> dict[str, Any]:
        """Deny, with an exemption code (GDPR Art. 17(3), CCPA 1798.105(d)) and a text."""
        return dsr_json(
            steps.deny(
                get_state(), current_caller(), dsr_id, body.get("exemption_code"), body.get("text")
            )
        )


@blp.route("/v1/dsr/<dsr_id>/extend")
class Extend(MethodView):
    @blp.arguments(ExtendSchema)
    @blp.response(200, DsrSchema)
    def post(self, body: dict[str, Any], dsr_id: str) -> dict[str, Any]:
        """Extend once (GDPR: two months; CCPA: 45 days), before the first deadline."""
        return dsr_json(steps.extend(get_state(), current_caller(), dsr_id, body["reason"]))


@blp.route("/v1/dsr/<dsr_id>/execute")
class Execute(MethodView):
    @blp.response(200, DsrExecutionSchema)
    def post(self, dsr_id: str) -> dict[str, Any]:
        """Carry out an approved request (erasure or access); run again to resume. The
        answer adds ``outcome``: per account, what was erased, restricted or kept."""
        state = get_state()
        request = execution.execute(state, current_caller(), dsr_id)
        return {**dsr_json(request), "outcome": execution.execution_outcome(state, request)}


@blp.route("/v1/dsr/<dsr_id>/certificate")
class Certificate(MethodView):
    @blp.response(200, CertificateSchema)
    @problems(409)
    def get(self, dsr_id: str) -> dict[str, Any]:
        """The signed completion certificate (verify with GET /v1/audit/public-key)."""
        return certificate.certificate(get_state(), current_caller(), dsr_id)


@blp.route("/v1/dsr/<dsr_id>/package")
class Package(MethodView):
    @blp.response(200, AccessPackageSchema)
    @problems(409)
    def get(self, dsr_id: str) -> Any:
        """An access request's package: everything held about the person."""
        return certificate.access_package(get_state(), current_caller(), dsr_id)
