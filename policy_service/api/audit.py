"""The audit log over HTTP: query, one event, streamed export, verification, checkpoints."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

import marshmallow as ma
from flask import Response, stream_with_context
from flask.views import MethodView
from marshmallow import fields, validate

from audit import Checkpoint, EventFilter, StoredEvent
from policy_service.api.auth import current_caller, public
from policy_service.api.parsing import Blueprint
from policy_service.services import audit_access
from policy_service.state import get_state

blp = Blueprint("audit", __name__, description="The append-only audit log")
OUTCOMES = ("succeeded", "denied", "failed")
ID = validate.Length(min=1, max=128)


class EventFilterQuery(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    account_id = fields.String(validate=ID)
    actor_id = fields.String(validate=ID)
    actor_type = fields.String(validate=ID)
    action = fields.String(validate=ID)
    target_type = fields.String(validate=ID)
    target_id = fields.String(validate=ID)
    outcome = fields.String(validate=validate.OneOf(OUTCOMES))
    since = fields.AwareDateTime(default_timezone=None)
    until = fields.AwareDateTime(default_timezone=None)
    request_id = fields.String(validate=ID)
    job_id = fields.String(validate=ID)
    dsr_id = fields.String(validate=ID)


class EventListQuery(EventFilterQuery):
    cursor = fields.String(validate=validate.Length(max=200))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class ExportQuery(EventFilterQuery):
    format = fields.String(load_default="ndjson", validate=validate.OneOf(("ndjson", "csv")))


class AccountQuery(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    account_id = fields.String(validate=ID)


class VerifyBody(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    account_id = fields.String(validate=ID)


FILTER_KEYS = tuple(EventFilterQuery().fields)


def _filters(query: dict[str, Any]) -> EventFilter:
    return EventFilter(**{key: query[key] for key in FILTER_KEYS if key in query})


def plain_json(record: StoredEvent | Checkpoint) -> dict[str, Any]:
    data = asdict(record)
    for key, value in data.items():
        if isinstance(value, datetime):
            data[key] = value.isoformat()
        elif isinstance(value, tuple):
            data[key] = list(value)
    return data


@blp.route("/v1/audit/events")
class Events(MethodView):
    @blp.arguments(EventListQuery, location="query")
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Events, newest first, with cursor pagination. Without ``account_id``: platform
        admins only."""
        page = audit_access.read_events(
            get_state(), current_caller(), _filters(query), query.get("cursor"), query["limit"]
        )
        return {"events": [plain_json(e) for e in page.events], "next_cursor": page.next_cursor}


@blp.route("/v1/audit/events/<event_id>")
class Event(MethodView):
    def get(self, event_id: str) -> dict[str, Any]:
        """One event, protected fields decrypted (or marked erased)."""
        return plain_json(audit_access.read_event(get_state(), current_caller(), event_id))


@blp.route("/v1/audit/export")
class Export(MethodView):
    @blp.arguments(ExportQuery, location="query")
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
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Verify the stored chain(s): hashes, links, gaps, signed checkpoints."""
        report = audit_access.verify(get_state(), current_caller(), body.get("account_id"))
        data = asdict(report)
        data["gaps"] = [list(gap) for gap in report.gaps]
        return data


@blp.route("/v1/audit/checkpoints")
class Checkpoints(MethodView):
    @blp.arguments(AccountQuery, location="query")
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """The signed checkpoints of an account's chain (the platform chain without one)."""
        found = audit_access.checkpoints(get_state(), current_caller(), query.get("account_id"))
        return {"checkpoints": [plain_json(c) for c in found]}

    @blp.arguments(VerifyBody)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Sign a checkpoint of the chain's current head now."""
        checkpoint = audit_access.sign_checkpoint(
            get_state(), current_caller(), body.get("account_id")
        )
        return plain_json(checkpoint)


@blp.route("/v1/audit/public-key")
class PublicKey(MethodView):
    @public
    def get(self) -> Response:
        """The Ed25519 public key (PEM) that verifies checkpoints and certificates."""
        return Response(audit_access.public_key(get_state()), mimetype="application/x-pem-file")
