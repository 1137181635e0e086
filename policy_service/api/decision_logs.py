"""Decision logs for compliance officers, and /metrics for Prometheus."""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
import time
from datetime import UTC, datetime
from typing import Any

import marshmallow as ma
from flask import Flask, Response, current_app, g, request
from flask.views import MethodView
from marshmallow import fields, validate

from policy_service.api.app_state import get_state
from policy_service.api.auth import current_caller
from policy_service.api.parsing import Blueprint
from policy_service.audit_trail.recording import require
from policy_service.decisions.authorization import Caller, check_in_account
from policy_service.domain.decisions import Decision, DecisionRequest
from policy_service.domain.errors import InvalidInput, NotFound, Unauthenticated
from policy_service.domain.identifiers import ID_PATTERN, PLATFORM_DOMAIN
from policy_service.integration import metrics
from policy_service.integration.decision_log import DecisionLog, Entry, Group, decision_entry
from policy_service.storage import decision_logs
from policy_service.strict_fields import InstantField

blp = Blueprint("integration", __name__, description="Decision logs and metrics")
EXTENSION_KEY = "policy_service.decision_log"
ID = validate.Regexp(ID_PATTERN, error="not a valid id")


# -- recording (used by the decision endpoints) ---------------------------------------------


def get_decision_log(app: Flask | None = None) -> DecisionLog:
    app = app or current_app
    found: DecisionLog | None = app.extensions.get(EXTENSION_KEY)
    if found is None:
        state = get_state(app)
        found = app.extensions.setdefault(EXTENSION_KEY, DecisionLog(state.engine, state.settings))
    return found


_OUTCOMES: dict[tuple[str, bool], Any] = {}


def count_decision(endpoint: str, allowed: bool) -> None:
    child = _OUTCOMES.get((endpoint, allowed))
    if child is None:
        child = metrics.DECISIONS.labels(endpoint, "allow" if allowed else "deny")
        _OUTCOMES[(endpoint, allowed)] = child
    child.inc()


def log_decision(
    endpoint: str, caller: Caller, decision_request: DecisionRequest, decision: Decision
) -> str:
    """Count and log one decision; returns its decision_id. Never waits for the write."""
    entry = decision_entry(endpoint, caller, decision_request, decision, g.get("request_id"))
    get_decision_log().record(entry)
    count_decision(endpoint, decision.allowed)
    return entry.decision_id


def log_entry(entry: Entry) -> None:
    """Queue an answer made elsewhere (a search's)."""
    get_decision_log().record(entry)
    count_decision(entry.endpoint, entry.allowed)


def log_group(group: Group) -> None:
    """Count and queue the decisions of a batch, as one group."""
    if not group.items:
        return
    get_decision_log().record(group)
    allowed = group.allowed
    if allowed:
        metrics.DECISIONS.labels(group.endpoint, "allow").inc(allowed)
    if len(group.items) - allowed:
        metrics.DECISIONS.labels(group.endpoint, "deny").inc(len(group.items) - allowed)


# -- GET /v1/decision-logs --------------------------------------------------------------------


class DecisionLogQuerySchema(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    account_id = fields.String(validate=ID)
    subject_id = fields.String(validate=ID)
    resource_id = fields.String(validate=validate.Length(min=1, max=256))
    decision = fields.Boolean()
    since = InstantField(default_timezone=UTC)
    until = InstantField(default_timezone=UTC)
    cursor = fields.String(validate=validate.Length(max=500))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


class DecisionLogEntrySchema(ma.Schema):
    decision_id = fields.String(required=True)
    time = fields.String(required=True)
    endpoint = fields.String(required=True)
    account_id = fields.String(allow_none=True)
    caller = fields.String(required=True)
    on_behalf_of = fields.String(allow_none=True)
    subject = fields.Dict(allow_none=True)
    action = fields.String(allow_none=True)
    resource = fields.Dict(allow_none=True)
    decision = fields.Boolean(required=True)
    reason_code = fields.String(allow_none=True)
    policy_version = fields.String(allow_none=True)
    request_id = fields.String(allow_none=True)
    details = fields.Dict(allow_none=True)


class DecisionLogPageSchema(ma.Schema):
    entries = fields.List(fields.Nested(DecisionLogEntrySchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True)
    dropped = fields.Integer(
        metadata={"description": "entries this worker dropped since it started (queue full)"}
    )


# Decision ids are hex (``integration.decision_log``): a time, random bits, an index.
_DECISION_ID = re.compile(r"[0-9a-f]{1,40}")


def _cursor(row: dict[str, Any]) -> str:
    raw = json.dumps([row["decided_at"].isoformat(), row["id"]]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _after(cursor: str | None) -> tuple[datetime, str] | None:
    if not cursor:
        return None
    # A cursor is the caller's string like any other: every part is checked before it is
    # compared with the log or sent to the database. Every cursor given carries a decision
    # id and its time with its offset, in UTC's years 1-9999.
    try:
        at, last = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        given = datetime.fromisoformat(at)
        if given.tzinfo is not None and isinstance(last, str) and _DECISION_ID.fullmatch(last):
            return given.astimezone(UTC), last
    except (ValueError, TypeError, OverflowError, binascii.Error):
        pass
    raise InvalidInput(
        "cursor is not one this service gave", errors={"cursor": ["not a valid cursor"]}
    )


def _entry(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "decision_id": row["id"],
        "time": row["decided_at"].isoformat().replace("+00:00", "Z"),
        "endpoint": row["endpoint"],
        "account_id": row["account_id"],
        "caller": row["caller_id"],
        "on_behalf_of": row["on_behalf_of"],
        "subject": {"type": row["subject_type"], "id": row["subject_id"]},
        "action": row["action"],
        "resource": {"type": row["resource_type"], "id": row["resource_id"]},
        "decision": row["decision"],
        "reason_code": row["reason_code"],
        "policy_version": row["policy_version"],
        "request_id": row["request_id"],
        "details": json.loads(row["details"]) if row["details"] else None,
    }


@blp.route("/v1/decision-logs")
class DecisionLogs(MethodView):
    @blp.arguments(DecisionLogQuerySchema, location="query", as_kwargs=True)
    @blp.response(200, DecisionLogPageSchema)
    def get(self, **query: Any) -> dict[str, Any]:
        """Decisions answered, newest first, with a cursor. Compliance officers and admins of
        the account (audit.read there); without ``account_id``, platform admins only. These
        are decisions, not the tamper-evident audit trail."""
        state = get_state()
        caller = current_caller()
        account_id = query.get("account_id")
        if account_id is None:
            if not check_in_account(
                state.runtime, caller, PLATFORM_DOMAIN, "audit", "audit.read"
            ).allowed:
                raise InvalidInput(
                    "account_id is required: every account's decisions are for platform admins",
                    errors={"account_id": ["required for callers who are not platform admins"]},
                )
            require(state, caller, "audit", "audit.read", account_id=None, platform=True)
        else:
            require(state, caller, "audit", "audit.read", account_id=account_id)
        log = get_decision_log()
        log.flush()  # this worker's pending entries, so a caller sees what it just asked
        found = decision_logs.LogQuery(
            account_id=account_id,
            subject_id=query.get("subject_id"),
            resource_id=query.get("resource_id"),
            decision=query.get("decision"),
            since=query.get("since"),
            until=query.get("until"),
            after=_after(query.get("cursor")),
        )
        limit = query["limit"]
        with state.session_factory() as session:
            rows = decision_logs.find(session, found, limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return {
            "entries": [_entry(row) for row in rows],
            "next_cursor": _cursor(rows[-1]) if more else None,
            "dropped": log.dropped,
        }


# -- GET /metrics --------------------------------------------------------------------------------


@blp.route("/metrics")
class Metrics(MethodView):
    @blp.response(200, {"type": "string"}, content_type="text/plain")
    def get(self) -> Response:
        """Prometheus metrics, open only to ``POLICY_SERVICE_METRICS_TOKEN`` (404 when it is
        not set). Several workers: see policy_service/integration/metrics.py."""
        configured = get_state().settings.metrics_token
        if not configured:
            raise NotFound("metrics are not enabled")
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), configured.encode()
        ):
            raise Unauthenticated("send 'Authorization: Bearer <metrics token>'")
        body, content_type = metrics.exposition(get_state())
        return Response(body, content_type=content_type)

    # The metrics token is not an API token: the view checks it itself.
    get.is_public = True


# The histogram's child per (method, route, status): prometheus-client's ``labels`` takes a
# lock and builds a key on every call, a cost on each request of the decision path.
_REQUEST_CHILDREN: dict[tuple[str, str, int], Any] = {}
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


@blp.after_app_request
def _observe(response: Response) -> Response:
    started = g.get("started")
    if started is not None:
        rule = request.url_rule.rule if request.url_rule is not None else "unmatched"
        # Any string can be sent as a method: a label per made-up one would grow without end.
        method = request.method if request.method in _METHODS else "OTHER"
        key = (method, rule, response.status_code)
        child = _REQUEST_CHILDREN.get(key)
        if child is None:
            child = metrics.REQUEST_SECONDS.labels(method, rule, str(key[2]))
            _REQUEST_CHILDREN[key] = child
        child.observe(time.perf_counter() - started)
    return response
