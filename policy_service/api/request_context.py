"""Per-request bookkeeping: the request id, and one log line per request.

The incoming ``X-Request-ID`` is kept when it is a short plain token (so it can be traced
across services) and replaced otherwise, so a caller cannot write arbitrary text into logs.
"""

from __future__ import annotations

import re
import time
import uuid

import structlog
from flask import Flask, Response, g, request

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
log = structlog.get_logger("policy_service.request")


def _start() -> None:
    g.started = time.perf_counter()
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = incoming if REQUEST_ID_PATTERN.fullmatch(incoming) else uuid.uuid4().hex
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=g.request_id)


def _finish(response: Response) -> Response:
    response.headers[REQUEST_ID_HEADER] = g.get("request_id", "")
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


def init_app(app: Flask) -> None:
    app.before_request(_start)
    app.after_request(_finish)
