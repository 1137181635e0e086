"""Every error leaves the service as RFC 9457 ``application/problem+json``.

Domain errors carry their own status and type; Werkzeug's HTTP errors (404, 405, 413, ...)
keep theirs with ``about:blank``; anything else is a 500 whose detail says nothing about
internals, with the request id so an operator can find the logged traceback.
"""

from __future__ import annotations

import json
from typing import Any

import structlog
from flask import Flask, Response, g
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from policy_service.domain.errors import ServiceError, Unauthenticated
from policy_service.storage.database import is_unavailable

PROBLEM_JSON = "application/problem+json"
RETRY_AFTER_SECONDS = 1
log = structlog.get_logger(__name__)


def problem(
    status: int,
    title: str,
    detail: str,
    type_: str = "about:blank",
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> Response:
    body: dict[str, Any] = {"type": type_, "title": title, "status": status, "detail": detail}
    request_id = g.get("request_id")
    if request_id:
        body["request_id"] = request_id
    body.update(extensions)
    response = Response(json.dumps(body, default=str), status=status, mimetype=PROBLEM_JSON)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _service_error(error: ServiceError) -> Response:
    headers = {}
    if isinstance(error, Unauthenticated):
        challenge = 'Bearer realm="policy-service"'
        if error.extensions.get("token_error"):
            challenge += ', error="invalid_token"'
        headers["WWW-Authenticate"] = challenge
    extensions = {k: v for k, v in error.extensions.items() if k != "token_error"}
    return problem(
        error.status, error.title, error.detail, error.problem_type, headers, **extensions
    )


def _http_error(error: HTTPException) -> Response:
    status = error.code or 500
    extensions: dict[str, Any] = {}
    # flask-smorest attaches webargs validation messages to the exception's data.
    data = getattr(error, "data", None)
    if isinstance(data, dict) and data.get("messages"):
        extensions["errors"] = data["messages"]
    headers = {}
    if status == 405 and error.get_response().headers.get("Allow"):
        headers["Allow"] = error.get_response().headers["Allow"]
    return problem(
        status, error.name, error.description or error.name, headers=headers, **extensions
    )


def _database_unavailable(error: Exception) -> Response:
    # A lost connection or a database that is down, refusing connections or locked for too
    # long: the request changed nothing (its transaction rolled back) and may be retried.
    # The error can come as any of several SQLAlchemy or driver classes, or wrapped in
    # another error, hence the test rather than one exception class.
    if not is_unavailable(error):
        return _unexpected(error)
    original = getattr(error, "orig", None) or error
    log.warning("request.database_unavailable", error_type=type(original).__name__)
    return problem(
        503,
        "Service Unavailable",
        "The database is not available; nothing was changed. Retry shortly.",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def _unexpected(error: Exception) -> Response:
    if is_unavailable(error):  # a database error raised from inside another error
        return _database_unavailable(error)
    log.exception("request.unhandled_error", error_type=type(error).__name__)
    return problem(500, "Internal Server Error", "The service failed to handle this request.")


def init_app(app: Flask) -> None:
    app.register_error_handler(ServiceError, _service_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(SQLAlchemyError, _database_unavailable)
    app.register_error_handler(Exception, _unexpected)
