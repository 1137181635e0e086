"""The audit log over HTTP: query, one event, streamed export, verification, checkpoints."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response, stream_with_context
from flask.views import MethodView
from marshmallow import fields, validate

from audit import (
    Checkpoint,
    ConsistencyProof,
    EventFilter,
    EventPage,
    InclusionProof,
    StoredEvent,
    VerificationReport,
)
from policy_service.api.app_state import get_state
from policy_service.api.auth import current_caller, public
from policy_service.api.paging import cursor_page_schema
from policy_service.api.parsing import Blueprint
from policy_service.api.responses import TEXT_CONTENT, UtcDateTime, problems
from policy_service.api.schema_parts import StrictSchema
from policy_service.audit_trail import access as audit_access
from policy_service.strict_fields import InstantField

blp = Blueprint("audit", __name__, description="The append-only audit log")
OUTCOMES = ("succeeded", "denied", "failed")
ID = validate.Length(min=1, max=128)
SIZE = validate.Range(min=1, max=2**53 - 1)  # a Merkle tree size: a sequence number


class EventFilterQuery(StrictSchema):
    account_id = fields.String(validate=ID)
    actor_id = fields.String(validate=ID)
    actor_type = fields.String(validate=ID)
    action = fields.String(validate=ID)
    target_type = fields.String(validate=ID)
    target_id = fields.String(validate=ID)
    outcome = fields.String(validate=validate.OneOf(OUTCOMES))
    since = InstantField(default_timezone=None)
    until = InstantField(default_timezone=None)
    request_id = fields.String(validate=ID)
    job_id = fields.String(validate=ID)
    dsr_id = fields.String(validate=ID)


class EventListQuery(EventFilterQuery):
    cursor = fields.String(validate=validate.Length(max=200))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class ExportQuery(EventFilterQuery):
    format = fields.String(load_default="ndjson", validate=validate.OneOf(("ndjson", "csv")))


class AccountQuery(StrictSchema):
    account_id = fields.String(validate=ID)


class VerifyBody(StrictSchema):
    account_id = fields.String(validate=ID)


FILTER_KEYS = tuple(EventFilterQuery().fields)


def _filters(query: dict[str, Any]) -> EventFilter:
    return EventFilter(**{key: query[key] for key in FILTER_KEYS if key in query})


class EventSchema(ma.Schema):
    """An event as recorded: what happened, who did it, and the chain that seals it."""

    event_id = fields.String(required=True)
    chain = fields.String(required=True, metadata={"description": "the account id, or platform"})
    seq = fields.Integer(required=True)
    occurred_at = UtcDateTime(required=True)
    recorded_at = UtcDateTime(required=True)
    account_id = fields.String(required=True, allow_none=True)
    actor_type = fields.String(required=True)
    actor_id = fields.String(required=True, allow_none=True)
    actor_roles = fields.List(fields.String(), required=True)
    client_id = fields.String(required=True, allow_none=True)
    on_behalf_of = fields.String(required=True, allow_none=True)
    action = fields.String(required=True)
    target_type = fields.String(required=True, allow_none=True)
    target_id = fields.String(required=True, allow_none=True)
    outcome = fields.String(required=True, metadata={"enum": list(OUTCOMES)})
    reason_code = fields.String(required=True, allow_none=True)
    request_id = fields.String(required=True, allow_none=True)
    job_id = fields.String(required=True, allow_none=True)
    dsr_id = fields.String(required=True, allow_none=True)
    policy_version = fields.String(required=True, allow_none=True)
    cascade_profile = fields.String(required=True, allow_none=True)
    cascade_profile_version = fields.String(required=True, allow_none=True)
    details = fields.Dict(keys=fields.String(), required=True)
    subject_id = fields.String(required=True, allow_none=True)
    protected_ciphertext = fields.String(required=True, allow_none=True)
    protected = fields.Dict(
        keys=fields.String(),
        required=True,
        allow_none=True,
        metadata={
            "description": 'the decrypted personal data; {"erased": true} once the subject\'s '
            'key is destroyed; {"sealed": true} without the key-encryption key'
        },
    )
    prev_hash = fields.String(required=True)
    hash = fields.String(required=True)


EventPageSchema = cursor_page_schema(
    "EventPageSchema", "events", EventSchema, "pass as cursor for the next page"
)


class CheckpointSchema(ma.Schema):
    chain = fields.String(required=True)
    seq = fields.Integer(required=True)
    hash = fields.String(required=True)
    created_at = UtcDateTime(required=True)
    key_id = fields.String(required=True)
    signature = fields.String(required=True, metadata={"description": "Ed25519, base64"})
    tree_size = fields.Integer(
        required=True, metadata={"description": "events 1..tree_size are the Merkle leaves"}
    )
    root_hash = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "RFC 9162 Merkle root, hex (null before migration 0007)"},
    )
    signed_at = UtcDateTime(required=True)
    note = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "the C2SP tlog-checkpoint signed note (Ed25519 signed-note)"},
    )


class ProofQuery(StrictSchema):
    tree_size = fields.Integer(validate=SIZE)


class ConsistencyQuery(AccountQuery):
    first = fields.Integer(required=True, validate=SIZE)
    second = fields.Integer(required=True, validate=SIZE)


class InclusionProofSchema(ma.Schema):
    event_id = fields.String(required=True)
    chain = fields.String(required=True)
    leaf_index = fields.Integer(required=True, metadata={"description": "seq - 1"})
    tree_size = fields.Integer(required=True)
    event_hash = fields.String(required=True)
    leaf_hash = fields.String(
        required=True, metadata={"description": "SHA-256(0x00 || event hash bytes), hex"}
    )
    audit_path = fields.List(
        fields.String(), required=True, metadata={"description": "RFC 9162 path, leaf first"}
    )
    checkpoint = fields.Nested(CheckpointSchema, required=True)


class ConsistencyProofSchema(ma.Schema):
    chain = fields.String(required=True)
    first = fields.Integer(required=True)
    second = fields.Integer(required=True)
    first_checkpoint = fields.Nested(CheckpointSchema, required=True)
    second_checkpoint = fields.Nested(CheckpointSchema, required=True)
    proof = fields.List(fields.String(), required=True, metadata={"description": "hex"})


class CheckpointListSchema(ma.Schema):
    checkpoints = fields.List(fields.Nested(CheckpointSchema), required=True)


class ChainProblemSchema(ma.Schema):
    chain = fields.String(required=True)
    seq = fields.Integer(required=True, allow_none=True)
    reason = fields.String(required=True)
    detail = fields.String(required=True)


class VerificationSchema(ma.Schema):
    ok = fields.Boolean(required=True)
    events_checked = fields.Integer(required=True)
    chains_checked = fields.Integer(required=True)
    checkpoints_valid = fields.Integer(required=True)
    checkpoints_total = fields.Integer(required=True)
    first_bad_chain = fields.String(required=True, allow_none=True)
    first_bad_seq = fields.Integer(required=True, allow_none=True)
    reason = fields.String(required=True, allow_none=True)
    gaps = fields.List(
        fields.List(fields.Raw()),
        required=True,
        metadata={"description": "missing sequence numbers: [chain, first, last]"},
    )
    unanchored_events = fields.Integer(
        required=True, metadata={"description": "events after their chain's last checkpoint"}
    )
    oldest_unanchored_at = UtcDateTime(required=True, allow_none=True)
    oldest_unanchored_seconds = fields.Float(
        required=True,
        allow_none=True,
        metadata={
            "description": "age of the oldest unsigned event; over twice the "
            "checkpoint interval fails verification (unsigned_tail)"
        },
    )
    complete = fields.Boolean(required=True)
    problems = fields.List(fields.Nested(ChainProblemSchema), required=True)


EXPORTED = (
    "Streamed, one event a line: NDJSON (format=ndjson, the default) with what an offline "
    "verifier needs, or CSV with a header line (format=csv)."
)


@blp.route("/v1/audit/events")
class Events(MethodView):
    @blp.arguments(EventListQuery, location="query")
    @blp.response(200, EventPageSchema)
    def get(self, query: dict[str, Any]) -> EventPage:
        """Events, newest first, with cursor pagination. Without ``account_id``: platform
        admins only."""
        return audit_access.read_events(
            get_state(), current_caller(), _filters(query), query.get("cursor"), query["limit"]
        )


@blp.route("/v1/audit/events/<event_id>")
class Event(MethodView):
    @blp.response(200, EventSchema)
    def get(self, event_id: str) -> StoredEvent:
        """One event, protected fields decrypted (or marked erased)."""
        return audit_access.read_event(get_state(), current_caller(), event_id)


@blp.route("/v1/audit/events/<event_id>/proof")
class EventProof(MethodView):
    @blp.arguments(ProofQuery, location="query")
    @blp.response(200, InclusionProofSchema)
    @problems(409)
    def get(self, query: dict[str, Any], event_id: str) -> InclusionProof:
        """RFC 9162 inclusion proof of the event against a signed checkpoint (default: the
        newest; ``tree_size`` picks another). Verify offline with ``policy-service audit
        prove`` and the public key."""
        return audit_access.event_proof(
            get_state(), current_caller(), event_id, query.get("tree_size")
        )


@blp.route("/v1/audit/consistency")
class Consistency(MethodView):
    @blp.arguments(ConsistencyQuery, location="query")
    @blp.response(200, ConsistencyProofSchema)
    @problems(409)
    def get(self, query: dict[str, Any]) -> ConsistencyProof:
        """RFC 9162 consistency proof between two tree sizes of a chain that both have
        signed checkpoints: the later tree extends the earlier one, nothing rewritten."""
        return audit_access.consistency(
            get_state(), current_caller(), query.get("account_id"), query["first"], query["second"]
        )


@blp.route("/v1/audit/export")
class Export(MethodView):
    @blp.arguments(ExportQuery, location="query")
    @blp.response(200, TEXT_CONTENT, content_type="application/x-ndjson", description=EXPORTED)
    @blp.alt_response(
        200, schema=TEXT_CONTENT, content_type="text/csv", description=EXPORTED, success=True
    )
    def get(self, query: dict[str, Any]) -> Response:
        """Stream the matching events. NDJSON carries what an offline verifier needs
        (``policy-service audit verify --export FILE --public-key FILE``); CSV is for people."""
        export_format = query["format"]
        chunks = audit_access.export(get_state(), current_caller(), _filters(query), export_format)
        mimetype = "application/x-ndjson" if export_format == "ndjson" else "text/csv"
        response = Response(stream_with_context(chunks), mimetype=mimetype)
        response.headers["Content-Disposition"] = f"attachment; filename=audit.{export_format}"
        return response


@blp.route("/v1/audit/verify")
class Verify(MethodView):
    @blp.arguments(VerifyBody)
    @blp.response(200, VerificationSchema)
    def post(self, body: dict[str, Any]) -> VerificationReport:
        """Verify the stored chain(s): hashes, links, gaps, signed checkpoints."""
        return audit_access.verify(get_state(), current_caller(), body.get("account_id"))


@blp.route("/v1/audit/checkpoints")
class Checkpoints(MethodView):
    @blp.arguments(AccountQuery, location="query")
    @blp.response(200, CheckpointListSchema)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """The signed checkpoints of an account's chain (the platform chain without one)."""
        found = audit_access.checkpoints(get_state(), current_caller(), query.get("account_id"))
        return {"checkpoints": found}

    @blp.arguments(VerifyBody)
    @blp.response(200, CheckpointSchema)
    def post(self, body: dict[str, Any]) -> Checkpoint:
        """Sign a checkpoint of the chain's current head now."""
        return audit_access.sign_checkpoint(get_state(), current_caller(), body.get("account_id"))


@blp.route("/v1/audit/public-key")
class PublicKey(MethodView):
    @blp.response(
        200, TEXT_CONTENT, content_type="application/x-pem-file", description="The PEM key."
    )
    @public
    def get(self) -> Response:
        """The Ed25519 public key (PEM) that verifies checkpoints and certificates."""
        return Response(audit_access.public_key(get_state()), mimetype="application/x-pem-file")
