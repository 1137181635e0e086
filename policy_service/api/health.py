"""Liveness and readiness, without authentication; and the API description's own entry."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from apispec import APISpec
from flask import Flask, Response
from flask.views import MethodView
from marshmallow import fields
from sqlalchemy import text

from policy_service.api.auth import public
from policy_service.api.parsing import Blueprint
from policy_service.api.problems import RETRY_AFTER_SECONDS, problem
from policy_service.api.responses import problem_response, problem_statuses, problems
from policy_service.domain.errors import ServiceError
from policy_service.state import ServiceState, get_state
from policy_service.storage.database import is_unavailable


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


class Unavailable(ServiceError):
    status = 503
    slug = "unavailable"
    title = "Service unavailable"


@blp.route("/health")
class Health(MethodView):
    @blp.response(200, HealthSchema)
    @problems(503)
    @public
    def get(self) -> dict[str, Any] | Response:
        """Ready when the database answers and this worker has loaded its state from it.

        Reports the policy version. A 503 problem says which of the two is missing
        (``database``, ``policy_state``) and carries ``Retry-After``."""
        state = get_state()
        try:
            with state.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception as exc:
            return _unavailable(
                state, f"the database does not answer: {type(exc).__name__}", "unreachable"
            )
        # A worker that started while the database was away loads here at the latest, so
        # that a probe going green means this worker can serve.
        try:
            state.ensure_loaded()
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
        }


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
