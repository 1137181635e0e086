"""Liveness and readiness, without authentication; and the API description's own entry."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
import structlog
from apispec import APISpec
from flask import Flask, Response, request
from flask.views import MethodView
from marshmallow import fields
from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from policy_service import scheduler
from policy_service.accounts.tokens import principal_for_token
from policy_service.api.app_state import get_state
from policy_service.api.auth import public
from policy_service.api.parsing import Blueprint
from policy_service.api.problems import RETRY_AFTER_SECONDS, problem
from policy_service.api.responses import (
    UtcDateTime,
    problem_response,
    problem_statuses,
    problems,
)
from policy_service.decisions.authorization import Caller, check_in_account
from policy_service.domain.errors import ServiceError
from policy_service.domain.identifiers import PLATFORM_DOMAIN
from policy_service.state import ServiceState
from policy_service.storage import scheduled_tasks
from policy_service.storage.database import is_unavailable, ping

log = structlog.get_logger(__name__)


class _HealthBlueprint(Blueprint):
    """Also documents ``/openapi.json``, which flask-smorest serves but does not list."""

    def register_views_in_doc(
        self, api: Any, app: Flask, spec: APISpec, *, name: str, parameters: Any
    ) -> None:
        super().register_views_in_doc(api, app, spec, name=name, parameters=parameters)
        endpoint = f"{api._make_doc_blueprint_name()}.openapi_json"
        if endpoint not in app.view_functions:  # OPENAPI_URL_PREFIX unset: not served
            return
        responses: dict[str, Any] = {
            "200": {
                "description": "This document (OpenAPI 3).",
                "content": {"application/json": {"schema": {"type": "object"}}},
            }
        }
        for status in problem_statuses(public=True, method="get", has_body=False):
            responses[str(status)] = problem_response(status)
        spec.path(
            rule=next(app.url_map.iter_rules(endpoint)),
            operations={
                "get": {
                    "tags": [name],
                    "summary": "The OpenAPI document of this service.",
                    "security": [],
                    "responses": responses,
                }
            },
        )


blp = _HealthBlueprint("health", __name__, description="Health")


class ScheduledRunSchema(ma.Schema):
    last_started_at = UtcDateTime(
        required=True, allow_none=True, metadata={"description": "null: never run"}
    )
    last_finished_at = UtcDateTime(
        required=True, allow_none=True, metadata={"description": "null while it runs"}
    )
    duration_seconds = fields.Float(required=True, allow_none=True)
    outcome = fields.String(
        required=True,
        allow_none=True,
        metadata={
            "description": '"succeeded", "failed" or "running" (or its runner died: the '
            "next one due takes over)"
        },
    )
    next_run_at = UtcDateTime(
        required=True, allow_none=True, metadata={"description": "null: at the first look"}
    )


class ScheduledSweepSchema(ScheduledRunSchema):
    purged = fields.Integer(
        required=True, allow_none=True, metadata={"description": "contacts the last run purged"}
    )
    purged_accounts = fields.Integer(
        required=True, allow_none=True, metadata={"description": "accounts it purged in"}
    )
    held = fields.Integer(
        required=True, allow_none=True, metadata={"description": "past their window, held"}
    )
    purged_by_account = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        metadata={
            "description": "per account, contacts purged; only to a caller whose token may "
            "start a sweep (account ids are not for anyone who asks)"
        },
    )


class ScheduledJobRecoverySchema(ScheduledRunSchema):
    resumed = fields.Integer(
        required=True,
        allow_none=True,
        metadata={"description": "jobs whose runner had died that the last run finished"},
    )


class HealthSchema(ma.Schema):
    status = fields.String(required=True, metadata={"description": '"ok"'})
    policy_version = fields.String(required=True)
    database = fields.String(
        required=True, metadata={"description": '"ok"; the 503 problem says "unreachable"'}
    )
    policy_state = fields.String(
        required=True,
        metadata={
            "description": '"loaded": this worker has read roles and changes from the '
            'database; the 503 problem may say "not_loaded"'
        },
    )
    retention_sweep = fields.Nested(
        ScheduledSweepSchema,
        required=True,
        allow_none=True,
        metadata={"description": "the scheduled sweep's last run; null if it is not known"},
    )
    job_recovery = fields.Nested(
        ScheduledJobRecoverySchema,
        required=True,
        allow_none=True,
        metadata={"description": "the last scheduled recovery of jobs whose runner died"},
    )


class Unavailable(ServiceError, status=503, slug="unavailable", title="Service unavailable"):
    pass


@blp.route("/health")
class Health(MethodView):
    @blp.response(200, HealthSchema)
    @problems(503)
    @public
    def get(self) -> dict[str, Any] | Response:
        """Ready when the database answers and this worker has loaded its state from it.

        Reports the policy version, and when the scheduled retention sweep and job recovery
        last ran (from the database: every worker answers the same). A 503 problem says
        which of the two is missing (``database``, ``policy_state``) and carries
        ``Retry-After``."""
        state = get_state()
        try:
            with state.engine.connect() as connection:
                ping(connection)
                runs = _scheduled_runs(connection)
        except Exception as exc:
            return _unavailable(
                state, f"the database does not answer: {type(exc).__name__}", "unreachable"
            )
        # A worker that started while the database was away loads here at the latest, so
        # that a probe going green means this worker can serve.
        try:
            state.ensure_loaded()
            # The version reported is the one this worker decides with: a reload made on
            # another worker or host shows here within the sync interval, as in decisions.
            state.sync()
        except Exception as exc:
            return _unavailable(
                state,
                f"the service state could not be loaded from the database: {type(exc).__name__}",
                "unreachable" if is_unavailable(exc) else "ok",
            )
        return {
            "status": "ok",
            "policy_version": state.runtime.version,
            "database": "ok",
            "policy_state": "loaded",
            **_schedule_json(state, runs),
        }


def _scheduled_runs(connection: Connection) -> dict[str, scheduled_tasks.TaskStatus] | None:
    """The scheduled tasks' rows (one small query); None if they cannot be read while the
    database otherwise answers (say its schema is being migrated). An outage propagates."""
    try:
        return scheduled_tasks.read_status(
            connection, (scheduler.RETENTION_SWEEP, scheduler.JOB_RECOVERY)
        )
    except SQLAlchemyError as exc:
        if is_unavailable(exc):
            raise
        log.warning("health.schedule_unreadable", error_type=type(exc).__name__)
        return None


# A scheduled task that has not run yet: every field of its run, null.
NEVER_RUN: dict[str, Any] = dict.fromkeys(
    ("last_started_at", "last_finished_at", "duration_seconds", "outcome", "next_run_at")
)


def _run_json(run: scheduled_tasks.TaskStatus | None) -> dict[str, Any]:
    if run is None:
        return dict(NEVER_RUN)
    duration = run.last_duration_ms
    return {
        "last_started_at": run.last_started_at,
        "last_finished_at": run.last_finished_at,
        "duration_seconds": None if duration is None else duration / 1000,
        "outcome": run.last_outcome,
        "next_run_at": run.next_run_at,
    }


def _schedule_json(
    state: ServiceState, runs: dict[str, scheduled_tasks.TaskStatus] | None
) -> dict[str, Any]:
    if runs is None:
        return {"retention_sweep": None, "job_recovery": None}
    sweep = runs.get(scheduler.RETENTION_SWEEP)
    result = sweep.last_result if sweep is not None else {}
    by_account: dict[str, int] = result.get("accounts", {})
    sweep_json = _run_json(sweep) | {
        "purged": result.get("purged"),
        "purged_accounts": len(by_account) if "accounts" in result else None,
        "held": result.get("held"),
    }
    if by_account and _may_see_accounts(state):
        sweep_json["purged_by_account"] = by_account
    recovery = runs.get(scheduler.JOB_RECOVERY)
    recovery_json = _run_json(recovery) | {
        "resumed": recovery.last_result.get("resumed") if recovery is not None else None
    }
    return {"retention_sweep": sweep_json, "job_recovery": recovery_json}


def _may_see_accounts(state: ServiceState) -> bool:
    """Whether the request carries the token of someone who may start a sweep: /health is
    public, and which accounts exist is not (an unknown or bad token is simply ignored)."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return False
    try:
        state.sync()  # revocations and role changes made elsewhere
        principal = principal_for_token(state, token.strip())
    except ServiceError:  # unknown or revoked
        return False
    except Exception as exc:  # a probe answers regardless
        log.warning("health.caller_unknown", error_type=type(exc).__name__)
        return False
    caller = Caller(principal.id, principal.kind, principal.platform_admin)
    return check_in_account(
        state.runtime, caller, PLATFORM_DOMAIN, "retention", "retention.sweep"
    ).allowed


def _unavailable(state: ServiceState, detail: str, database: str) -> Response:
    # Returned rather than raised: a ServiceError's problem cannot carry Retry-After, which
    # every other 503 sends.
    error = Unavailable(detail)
    return problem(
        error.status,
        error.title,
        detail,
        error.problem_type,
        {"Retry-After": str(RETRY_AFTER_SECONDS)},
        database=database,
        policy_state="loaded" if state.loaded else "not_loaded",
        policy_version=state.runtime.version,
    )
