"""Erasure across systems over HTTP: an account's downstream systems, and each request's
tasks for them with the confirm call (systems; compliance officers closing manual tasks)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response
from flask.views import MethodView
from marshmallow import fields, validate

from policy_service.api.app_state import get_state
from policy_service.api.auth import current_caller
from policy_service.api.parsing import Blueprint
from policy_service.api.responses import UtcDateTime
from policy_service.api.schema_parts import StrictSchema
from policy_service.domain.clock import iso
from policy_service.privacy import systems
from policy_service.storage.dsr_systems import CONFIRMED, MANUAL, PENDING, WEBHOOK

blp = Blueprint("dsr_systems", __name__, description="Erasure across downstream systems")

SYSTEM_NAME = validate.Regexp(
    r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", error="letters, digits, . _ - (at most 64)"
)
MAX_COUNT = 2**53 - 1


class DsrSystemRegisterSchema(StrictSchema):
    name = fields.String(required=True, validate=SYSTEM_NAME)
    webhook_id = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(min=1, max=40),
        metadata={"description": "an endpoint of the account; none: tasks are manual"},
    )


class DsrSystemSchema(ma.Schema):
    account_id = fields.String(required=True)
    name = fields.String(required=True)
    webhook_id = fields.String(required=True, allow_none=True)
    mode = fields.String(required=True, metadata={"enum": [WEBHOOK, MANUAL]})
    created_by = fields.String(required=True)
    created_at = UtcDateTime(required=True)


class DsrSystemListSchema(ma.Schema):
    systems = fields.List(fields.Nested(DsrSystemSchema), required=True)


class DsrSystemConfirmSchema(StrictSchema):
    account_id = fields.String(
        validate=validate.Length(min=1, max=128),
        metadata={"description": "needed only when several accounts have a system so named"},
    )
    counts = fields.Dict(
        keys=fields.String(validate=validate.Length(min=1, max=64)),
        values=fields.Integer(validate=validate.Range(min=0, max=MAX_COUNT)),
        validate=validate.Length(max=50),
        metadata={"description": 'what the system erased, e.g. {"records": 12}'},
    )
    note = fields.String(
        validate=validate.Length(min=1, max=2000),
        metadata={"description": "what was done: required to close a manual task"},
    )


class DsrSystemTaskSchema(ma.Schema):
    account_id = fields.String(required=True)
    system = fields.String(required=True)
    mode = fields.String(required=True, metadata={"enum": [WEBHOOK, MANUAL]})
    status = fields.String(required=True, metadata={"enum": [PENDING, CONFIRMED]})
    delivery_id = fields.String(
        required=True, allow_none=True, metadata={"description": "the task's webhook delivery"}
    )
    counts = fields.Dict(
        keys=fields.String(), values=fields.Integer(), required=True, allow_none=True
    )
    note = fields.String(required=True, allow_none=True)
    confirmed_by = fields.String(required=True, allow_none=True)
    confirmed_at = UtcDateTime(required=True, allow_none=True)
    created_at = UtcDateTime(required=True)


class DsrSystemTaskListSchema(ma.Schema):
    dsr_id = fields.String(required=True)
    tasks = fields.List(fields.Nested(DsrSystemTaskSchema), required=True)


class DsrSystemConfirmationSchema(DsrSystemTaskListSchema):
    status = fields.String(
        required=True, metadata={"description": "the request's status: completed after the last"}
    )


def _system_json(system: systems.DsrSystem) -> dict[str, Any]:
    return {
        "account_id": system.account_id,
        "name": system.name,
        "webhook_id": system.endpoint_id,
        "mode": WEBHOOK if system.endpoint_id is not None else MANUAL,
        "created_by": system.created_by,
        "created_at": iso(system.created_at),
    }


def _task_json(task: systems.SystemTask) -> dict[str, Any]:
    return {
        "account_id": task.account_id,
        "system": task.system,
        "mode": task.mode,
        "status": task.status,
        "delivery_id": task.delivery_id,
        "counts": task.counts,
        "note": task.note,
        "confirmed_by": task.confirmed_by,
        "confirmed_at": iso(task.confirmed_at),
        "created_at": iso(task.created_at),
    }


@blp.route("/v1/accounts/<account_id>/dsr-systems")
class Systems(MethodView):
    @blp.arguments(DsrSystemRegisterSchema)
    @blp.response(201, DsrSystemSchema)
    def post(self, body: dict[str, Any], account_id: str) -> dict[str, Any]:
        """Register a system an erasure must also reach; with a webhook endpoint its tasks
        are sent there (dsr.system_task), without one they are manual tasks."""
        system = systems.register_system(
            get_state(), current_caller(), account_id, body["name"], body["webhook_id"]
        )
        return _system_json(system)

    @blp.response(200, DsrSystemListSchema)
    def get(self, account_id: str) -> dict[str, Any]:
        """The account's downstream systems."""
        found = systems.list_systems(get_state(), current_caller(), account_id)
        return {"systems": [_system_json(s) for s in found]}


@blp.route("/v1/accounts/<account_id>/dsr-systems/<system>")
class SystemByName(MethodView):
    @blp.response(204)
    def delete(self, account_id: str, system: str) -> Response:
        """Leave the system out of erasures executed from now on."""
        systems.remove_system(get_state(), current_caller(), account_id, system)
        return Response(status=204)


@blp.route("/v1/dsr/<dsr_id>/systems")
class Tasks(MethodView):
    @blp.response(200, DsrSystemTaskListSchema)
    def get(self, dsr_id: str) -> dict[str, Any]:
        """The request's tasks for downstream systems, and their confirmations."""
        tasks = systems.list_tasks(get_state(), current_caller(), dsr_id)
        return {"dsr_id": dsr_id, "tasks": [_task_json(t) for t in tasks]}


@blp.route("/v1/dsr/<dsr_id>/systems/<system>/confirm")
class Confirm(MethodView):
    @blp.arguments(DsrSystemConfirmSchema)
    @blp.response(200, DsrSystemConfirmationSchema)
    def post(self, body: dict[str, Any], dsr_id: str, system: str) -> dict[str, Any]:
        """Confirm the system's part: its counts, or an officer's note closing a manual
        task. The last confirmation completes the request."""
        done = systems.confirm(
            get_state(),
            current_caller(),
            dsr_id,
            system,
            account_id=body.get("account_id"),
            counts=body.get("counts"),
            note=body.get("note"),
        )
        return {
            "dsr_id": dsr_id,
            "status": done.status,
            "tasks": [_task_json(t) for t in done.tasks],
        }
