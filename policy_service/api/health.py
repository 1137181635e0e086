"""Liveness and readiness, without authentication."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from sqlalchemy import text

from policy_service.api.auth import public
from policy_service.api.parsing import Blueprint
from policy_service.domain.errors import ServiceError
from policy_service.state import get_state

blp = Blueprint("health", __name__, description="Health")


class Unavailable(ServiceError):
    status = 503
    slug = "unavailable"
    title = "Service unavailable"


@blp.route("/health")
class Health(MethodView):
    @public
    def get(self) -> dict[str, Any]:
        """Ready when the database answers; reports the policy version."""
        state = get_state()
        try:
            with state.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception as exc:
            raise Unavailable(f"the database does not answer: {type(exc).__name__}") from None
        return {"status": "ok", "policy_version": state.runtime.version}
