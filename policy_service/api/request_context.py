"""Per-request bookkeeping: the request id, the consistency token, one log line per request.

The incoming ``X-Request-ID`` is kept when it is a short plain token (so it can be traced
across services) and replaced otherwise, so a caller cannot write arbitrary text into logs.

``X-Consistency-Token`` lets a caller read its own writes across workers (Zanzibar's
"zookie"). Every authenticated answer carries one: the highest change-log version this
request committed (``storage.changes`` tracks the request's commits), or, when it committed
none, the version this worker had synced to when it answered: "at least this new". A request
that sends one back is answered only once its worker has applied that version
(``ServiceState.catch_up``: a sync at once, then polling the change log for at most
``consistency_wait_seconds``): a token that is not a decimal number is 400; one the database
has never handed out is 400 too (versions are handed out only once committed, so no wait can
bring it: it comes from another database, a restored one, or was made up); a worker that
cannot get there in time answers 503 with ``Retry-After``. Without the header nothing
changes: no query, no wait.
"""

from __future__ import annotations

import os
import re
import time
from typing import Any

import structlog
from flask import Flask, Response, g, request

from policy_service.api.app_state import get_state
from policy_service.api.problems import problem
from policy_service.domain.errors import BadRequest, ServiceError
from policy_service.state import ServiceState
from policy_service.storage import changes

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
CONSISTENCY_HEADER = "X-Consistency-Token"
CONSISTENCY_TOKEN_PATTERN = re.compile(r"^[0-9]{1,18}$")  # a change version; fits in int64
CONSISTENCY_RETRY_AFTER_S = 1
log = structlog.get_logger("policy_service.request")


class InvalidConsistencyToken(
    BadRequest, slug="invalid-consistency-token", title="Invalid consistency token"
):
    pass


class UnknownConsistencyToken(
    BadRequest, slug="unknown-consistency-token", title="Unknown consistency token"
):
    pass


class NotYetConsistent(
    ServiceError, status=503, slug="not-yet-consistent", title="Not yet consistent"
):
    pass


def _start() -> None:
    g.started = time.perf_counter()
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = incoming if REQUEST_ID_PATTERN.fullmatch(incoming) else os.urandom(16).hex()
    g.change_tracker = changes.start_tracking()
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=g.request_id)


def requested_version() -> int | None:
    """The change version the caller's ``X-Consistency-Token`` asks for, if it sent one."""
    raw = request.headers.get(CONSISTENCY_HEADER)
    if raw is None:
        return None
    if not CONSISTENCY_TOKEN_PATTERN.fullmatch(raw.strip()):
        raise InvalidConsistencyToken(
            f"{CONSISTENCY_HEADER} must be a token this service returned (a decimal number)"
        )
    return int(raw)


def wait_for_consistency(state: ServiceState) -> bool:
    """Answer on state at least as new as the caller's token; False when it sent none.

    Called once the caller is authenticated, so that no one without a token can make a
    worker query or wait.
    """
    wanted = requested_version()
    if wanted is None:
        return False
    outcome = state.catch_up(wanted, state.settings.consistency_wait_seconds)
    if outcome == "unknown":
        raise UnknownConsistencyToken(
            f"no change {wanted} exists: this {CONSISTENCY_HEADER} was not issued by this "
            "service's database; send a token from a recent answer, or none"
        )
    if outcome == "behind":
        log.warning(
            "consistency.not_reached",
            wanted=wanted,
            synced_version=state.runtime.synced_version,
            waited_s=state.settings.consistency_wait_seconds,
        )
        raise NotYetConsistent(
            f"this worker has not yet applied change {wanted} (it is at "
            f"{state.runtime.synced_version}); retry shortly"
        )
    return True


def _consistency_token() -> int | None:
    tracker: changes.ChangeTracker | None = g.get("change_tracker")
    if tracker is not None and tracker.version is not None:
        return tracker.version  # what this request wrote, committed
    if g.get("caller") is None:  # nothing to say to whoever is not authenticated
        return None
    state = get_state()
    return state.runtime.synced_version if state.loaded else None


def _not_yet_consistent(error: NotYetConsistent) -> Response:
    return problem(
        error.status,
        error.title,
        error.detail,
        error.problem_type,
        {"Retry-After": str(CONSISTENCY_RETRY_AFTER_S)},
    )


def _finish(response: Response) -> Response:
    response.headers[REQUEST_ID_HEADER] = g.get("request_id", "")
    token = _consistency_token()
    if token is not None:
        response.headers[CONSISTENCY_HEADER] = str(token)
    started = g.get("started")
    latency_ms = round((time.perf_counter() - started) * 1000, 3) if started else None
    caller = g.get("caller")
    log.info(
        "request",
        method=request.method,
        route=request.url_rule.rule if request.url_rule else None,
        path=request.path,
        status=response.status_code,
        latency_ms=latency_ms,
        principal=caller.principal_id if caller else None,
        on_behalf_of=caller.on_behalf_of if caller else None,
    )
    return response


def _end(_: BaseException | None) -> None:
    changes.stop_tracking()


CONSISTENCY_DOC = (
    "A change version: larger is newer. Every authenticated answer carries one, at least as "
    "new as anything the request wrote. Sent back on any authenticated request, it is "
    "answered only on state at least that new: 400 when malformed or never issued, 503 "
    "with Retry-After when the worker cannot catch up within "
    "POLICY_SERVICE_CONSISTENCY_WAIT_SECONDS."
)


def _document_consistency(app: Flask) -> None:
    """Name the header in /openapi.json's components (before flask-smorest reads them)."""
    options: dict[str, Any] = app.config.setdefault("API_SPEC_OPTIONS", {})
    components = options.setdefault("components", {})
    schema = {"type": "string", "pattern": CONSISTENCY_TOKEN_PATTERN.pattern}
    components.setdefault("parameters", {})["ConsistencyToken"] = {
        "name": CONSISTENCY_HEADER,
        "in": "header",
        "required": False,
        "schema": schema,
        "description": CONSISTENCY_DOC,
    }
    components.setdefault("headers", {})["ConsistencyToken"] = {
        "schema": schema,
        "description": CONSISTENCY_DOC,
    }


def init_app(app: Flask) -> None:
    app.before_request(_start)
    app.after_request(_finish)
    app.teardown_request(_end)
    app.register_error_handler(NotYetConsistent, _not_yet_consistent)
    _document_consistency(app)
