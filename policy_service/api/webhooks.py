"""Webhook endpoints of an account over HTTP: register, list, read, remove; the delivery log
of each and a redeliver call (account admins; platform admins)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response
from flask.views import MethodView
from marshmallow import fields, validate

from policy_service.api.app_state import get_state
from policy_service.api.auth import current_caller
from policy_service.api.paging import cursor_page_schema, cursor_query_field
from policy_service.api.parsing import Blueprint
from policy_service.api.responses import UtcDateTime
from policy_service.api.schema_parts import StrictSchema
from policy_service.domain.clock import iso
from policy_service.integration import endpoints
from policy_service.integration.outbox import EVENT_TYPES
from policy_service.storage.webhooks import FAILED, PENDING, SUCCEEDED, Endpoint

blp = Blueprint("webhooks", __name__, description="Webhook endpoints and their deliveries")

DELIVERY_STATUSES = (PENDING, SUCCEEDED, FAILED)


class WebhookCreateSchema(StrictSchema):
    url = fields.Url(
        required=True,
        schemes={"http", "https"},
        require_tld=False,
        validate=validate.Length(max=2000),
        metadata={"description": "where deliveries are POSTed"},
    )
    events = fields.List(
        fields.String(validate=validate.OneOf(EVENT_TYPES)),
        required=True,
        validate=validate.Length(min=1, max=len(EVENT_TYPES)),
        metadata={"description": "the event types wanted"},
    )
    description = fields.String(load_default="", validate=validate.Length(max=200))


class EndpointSchema(ma.Schema):
    id = fields.String(required=True)
    account_id = fields.String(required=True)
    url = fields.String(required=True)
    events = fields.List(fields.String(metadata={"enum": list(EVENT_TYPES)}), required=True)
    description = fields.String(required=True)
    created_by = fields.String(required=True)
    created_at = UtcDateTime(required=True)


class CreatedEndpointSchema(EndpointSchema):
    secret = fields.String(
        required=True,
        metadata={"description": "whsec_...: the Standard Webhooks signing secret; shown only now"},
    )


class EndpointListSchema(ma.Schema):
    webhooks = fields.List(fields.Nested(EndpointSchema), required=True)


class WebhookDeliveryQuery(StrictSchema):
    status = fields.String(validate=validate.OneOf(DELIVERY_STATUSES))
    cursor = cursor_query_field()
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class WebhookAttemptSchema(ma.Schema):
    attempted_at = UtcDateTime(required=True)
    status_code = fields.Integer(
        required=True, allow_none=True, metadata={"description": "null: no answer"}
    )
    error = fields.String(required=True, allow_none=True)
    duration_ms = fields.Integer(required=True)


class DeliverySchema(ma.Schema):
    id = fields.String(required=True)
    message_id = fields.String(required=True, metadata={"description": "the webhook-id header"})
    endpoint_id = fields.String(required=True)
    event_type = fields.String(required=True, metadata={"enum": list(EVENT_TYPES)})
    status = fields.String(required=True, metadata={"enum": list(DELIVERY_STATUSES)})
    attempts = fields.List(fields.Nested(WebhookAttemptSchema), required=True)
    next_attempt_at = UtcDateTime(
        required=True, allow_none=True, metadata={"description": "when pending"}
    )
    created_at = UtcDateTime(required=True)
    delivered_at = UtcDateTime(required=True, allow_none=True)


DeliveryListSchema = cursor_page_schema(
    "DeliveryListSchema", "deliveries", DeliverySchema, "pass as cursor= for more"
)


def _endpoint_json(endpoint: Endpoint) -> dict[str, Any]:
    return {
        "id": endpoint.id,
        "account_id": endpoint.account_id,
        "url": endpoint.url,
        "events": list(endpoint.events),
        "description": endpoint.description,
        "created_by": endpoint.created_by,
        "created_at": iso(endpoint.created_at),
    }


def _delivery_json(logged: endpoints.LoggedDelivery) -> dict[str, Any]:
    delivery = logged.delivery
    return {
        "id": delivery.id,
        "message_id": delivery.message_id,
        "endpoint_id": delivery.endpoint_id,
        "event_type": delivery.event_type,
        "status": delivery.status,
        "attempts": [
            {
                "attempted_at": iso(a.attempted_at),
                "status_code": a.status_code,
                "error": a.error,
                "duration_ms": a.duration_ms,
            }
            for a in logged.attempts
        ],
        "next_attempt_at": iso(delivery.next_attempt_at),
        "created_at": iso(delivery.created_at),
        "delivered_at": iso(delivery.delivered_at),
    }


@blp.route("/v1/accounts/<account_id>/webhooks")
class Endpoints(MethodView):
    @blp.arguments(WebhookCreateSchema)
    @blp.response(201, CreatedEndpointSchema)
    def post(self, body: dict[str, Any], account_id: str) -> dict[str, Any]:
        """Register an endpoint for the events named; the answer holds its signing secret,
        which is not shown again."""
        created = endpoints.create_endpoint(
            get_state(),
            current_caller(),
            account_id,
            url=body["url"],
            events=body["events"],
            description=body["description"],
        )
        return {**_endpoint_json(created.endpoint), "secret": created.secret}

    @blp.response(200, EndpointListSchema)
    def get(self, account_id: str) -> dict[str, Any]:
        """The account's endpoints (without their secrets)."""
        found = endpoints.list_endpoints(get_state(), current_caller(), account_id)
        return {"webhooks": [_endpoint_json(e) for e in found]}


@blp.route("/v1/accounts/<account_id>/webhooks/<webhook_id>")
class EndpointById(MethodView):
    @blp.response(200, EndpointSchema)
    def get(self, account_id: str, webhook_id: str) -> dict[str, Any]:
        """One endpoint."""
        return _endpoint_json(
            endpoints.get_endpoint(get_state(), current_caller(), account_id, webhook_id)
        )

    @blp.response(204)
    def delete(self, account_id: str, webhook_id: str) -> Response:
        """Remove the endpoint and its delivery log (409 while a DSR system uses it)."""
        endpoints.delete_endpoint(get_state(), current_caller(), account_id, webhook_id)
        return Response(status=204)


@blp.route("/v1/accounts/<account_id>/webhooks/<webhook_id>/deliveries")
class Deliveries(MethodView):
    @blp.arguments(WebhookDeliveryQuery, location="query")
    @blp.response(200, DeliveryListSchema)
    def get(self, query: dict[str, Any], account_id: str, webhook_id: str) -> dict[str, Any]:
        """The endpoint's delivery log, newest first, each delivery with its attempts."""
        found, cursor = endpoints.list_deliveries(
            get_state(),
            current_caller(),
            account_id,
            webhook_id,
            status=query.get("status"),
            cursor=query.get("cursor"),
            limit=query["limit"],
        )
        return {"deliveries": [_delivery_json(d) for d in found], "next_cursor": cursor}


@blp.route("/v1/accounts/<account_id>/webhooks/<webhook_id>/deliveries/<delivery_id>/redeliver")
class Redeliver(MethodView):
    @blp.response(202, DeliverySchema)
    def post(self, account_id: str, webhook_id: str, delivery_id: str) -> dict[str, Any]:
        """Send the delivery again (pending, due now, attempts counted afresh)."""
        return _delivery_json(
            endpoints.redeliver(get_state(), current_caller(), account_id, webhook_id, delivery_id)
        )
