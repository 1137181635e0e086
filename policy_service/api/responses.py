"""What responses look like on the wire, in one place: the timestamp field every response
uses, the RFC 9457 problem every error is, and how both are documented in /openapi.json.

Every view's success response goes through a marshmallow schema (``@blp.response``), so the
document describes what is really sent. Errors are documented by ``document_problems``, a
documentation step of ``policy_service.api.parsing.Blueprint``: flask-smorest would describe
them as its own JSON error body, but ``policy_service.api.problems`` sends
``application/problem+json``.
"""

from __future__ import annotations

import http
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, TypeVar

import marshmallow as ma
from marshmallow import fields

from policy_service.api.problems import PROBLEM_JSON

F = TypeVar("F", bound=Callable[..., Any])


class UtcDateTime(fields.DateTime):
    """An RFC 3339 timestamp in UTC, always with its offset (``+00:00``).

    SQLite hands back naive datetimes, which are UTC; PostgreSQL hands back aware ones. Both,
    and ISO 8601 strings built from either, leave the service the same way.
    """

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        if value is None:
            return None
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        if not isinstance(moment, datetime):
            raise ma.ValidationError(f"not a datetime: {type(value).__name__}")
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC).isoformat()


class ProblemSchema(ma.Schema):
    """An RFC 9457 problem. ``errors`` (which field, what was wrong) comes with 400s; other
    members are extensions that a problem type defines."""

    class Meta:
        unknown = ma.INCLUDE  # documented as additionalProperties: true

    type = fields.String(
        required=True, metadata={"description": "urn:policy-service:problem:... or about:blank"}
    )
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    request_id = fields.String(metadata={"description": "the X-Request-ID of the request"})
    errors = fields.Raw(metadata={"description": "per field, what was wrong with it"})


_PROBLEM_HEADERS: dict[int, dict[str, Any]] = {
    401: {
        "WWW-Authenticate": {
            "description": 'Bearer realm="policy-service", with error="invalid_token" when one '
            "was sent and refused",
            "schema": {"type": "string"},
        }
    },
    503: {
        "Retry-After": {
            "description": "seconds to wait before retrying",
            "schema": {"type": "string"},
        }
    },
}
_PROBLEM_DESCRIPTIONS = {
    400: "The request is malformed or does not match its schema (``errors`` says where).",
    401: "No bearer token, or one that is unknown or revoked.",
    403: "The caller may not do this.",
    404: "The account, or the resource named in the path, does not exist.",
    409: "The resource is not in a state that allows this.",
    413: "The request body is larger than the service accepts.",
    422: "The request is understood but cannot be carried out (the detail says why).",
    500: "The service failed; the request id finds the logged traceback.",
    503: "The database is not available; nothing was changed. Retry shortly.",
}


def problem_response(status: int) -> dict[str, Any]:
    """The OpenAPI response object of an error with this status."""
    response: dict[str, Any] = {
        "description": _PROBLEM_DESCRIPTIONS.get(status, http.HTTPStatus(status).phrase),
        "content": {PROBLEM_JSON: {"schema": ProblemSchema}},
    }
    if status in _PROBLEM_HEADERS:
        response["headers"] = _PROBLEM_HEADERS[status]
    return response


def problems(*statuses: int) -> Callable[[F], F]:
    """Document error statuses a view answers besides the shared ones (see
    ``document_problems``)."""

    def decorate(view: F) -> F:
        apidoc = dict(getattr(view, "_apidoc", {}))
        apidoc["problems"] = sorted({*apidoc.get("problems", ()), *statuses})
        view._apidoc = apidoc  # type: ignore[attr-defined]
        return view

    return decorate


def problem_statuses(
    *, public: bool, method: str, has_body: bool, extra: Iterable[int] = ()
) -> list[int]:
    """The errors an operation can answer.

    Every operation can fail (500). An authenticated one can also meet a malformed request
    or ``X-On-Behalf-Of`` (400), a missing or bad token (401), a caller without the right
    (403), an account or resource that does not exist (404) and a database that is down
    (503); one that changes something can find the resource in the wrong state (409) or be
    refused by a rule (422). A body can be malformed (400) or too large (413).
    """
    statuses = {500, *extra}
    if not public:
        statuses |= {400, 401, 403, 404, 503}
        if method.lower() != "get":
            statuses |= {409, 422}
    if has_body:
        statuses |= {400, 413}
    return sorted(statuses)


def document_problems(
    doc: dict[str, Any], doc_info: dict[str, Any], *, method: str, **_: Any
) -> dict[str, Any]:
    """A documentation step (flask-smorest's ``_prepare_doc_cbks``): replace the error
    responses flask-smorest documents (its JSON ``ErrorSchema`` under ``default`` and the
    arguments' 400) with problem+json ones."""
    responses: dict[Any, Any] = doc.setdefault("responses", {})
    for key in list(responses):
        if str(key) == "default" or isinstance(responses[key], str):
            del responses[key]
    manual = doc_info.get("manual_doc", {})
    statuses = problem_statuses(
        public=bool(doc_info.get("public")),
        method=method,
        has_body="requestBody" in doc or "requestBody" in manual,
        extra=doc_info.get("problems", ()),
    )
    for status in statuses:
        responses.pop(status, None)
        responses[str(status)] = problem_response(status)
    return doc


TEXT_CONTENT: dict[str, Any] = {"type": "string"}
"""The schema of a non-JSON body (CSV, NDJSON, PEM): text, streamed as it is produced."""
