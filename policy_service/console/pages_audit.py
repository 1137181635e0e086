"""The audit explorer: the API's filters (held to its query schema) and cursor pages, event
detail, Verify, export."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from flask import Response, render_template, request, stream_with_context

from audit import EventFilter
from audit.report import VerificationReport
from policy_service.api.app_state import get_state
from policy_service.api.audit import EventListQuery
from policy_service.audit_trail import access as audit_access
from policy_service.console import forms
from policy_service.console import overview as data
from policy_service.console.forms import FormInvalid
from policy_service.console.web import View, account_page, bp, caller, page
from policy_service.domain.errors import NotFound

AUDIT_FILTERS = (
    "actor_id",
    "action",
    "target_type",
    "target_id",
    "outcome",
    "request_id",
    "job_id",
    "dsr_id",
)
OUTCOMES = ("succeeded", "denied", "failed")


def _moment(name: str) -> datetime | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise FormInvalid(
            {name: ["Not a date or time (YYYY-MM-DD or YYYY-MM-DDTHH:MM)."]}
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _audit_filter(account_id: str) -> tuple[EventFilter, dict[str, str]]:
    """The explorer's filters, held to the API's (``EventListQuery``); raises ``FormInvalid``."""
    chosen = {k: v.strip() for k in AUDIT_FILTERS if (v := request.args.get(k, "")).strip()}
    forms.load(EventListQuery(), request.args, (*AUDIT_FILTERS, "cursor"))
    since, until = _moment("since"), _moment("until")
    shown = dict(chosen)
    for name, moment in (("since", since), ("until", until)):
        if moment is not None:
            shown[name] = request.args.get(name, "")
    filters = EventFilter(account_id=account_id, since=since, until=until, **chosen)  # type: ignore[arg-type]
    return filters, shown


@bp.route("/accounts/<account_id>/audit")
@page
def audit(account_id: str) -> View:
    return _audit_page(account_id, verification=None)


def _audit_page(account_id: str, verification: VerificationReport | None) -> View:
    state = get_state()
    me = caller()
    try:
        filters, shown = _audit_filter(account_id)
    except FormInvalid as invalid:
        return _render(account_id, verification, events=[], form_errors=invalid.errors), 400
    cursor = request.args.get("cursor") or None
    if not data.may(state, me, account_id, "audit", "audit.read"):
        events = None
        next_cursor = None
    else:
        found = audit_access.read_events(state, me, filters, cursor, 50)
        events, next_cursor = found.events, found.next_cursor
    return _render(
        account_id,
        verification,
        events=events,
        next_cursor=next_cursor,
        filters=shown,
        paged=cursor is not None,
    )


def _render(account_id: str, verification: VerificationReport | None, **context: Any) -> str:
    state, me = get_state(), caller()
    context.setdefault("filters", {})
    return account_page(
        "console/audit.html",
        account_id,
        outcomes=OUTCOMES,
        filter_names=AUDIT_FILTERS,
        verification=verification,
        may_verify=data.may(state, me, account_id, "audit", "audit.verify"),
        may_export=data.may(state, me, account_id, "audit", "audit.export"),
        **context,
    )


@bp.route("/accounts/<account_id>/audit/events/<event_id>")
@page
def audit_event(account_id: str, event_id: str) -> View:
    event = audit_access.read_event(get_state(), caller(), event_id)
    if event.account_id != account_id:
        raise NotFound(f"no audit event {event_id}")
    return account_page("console/event.html", account_id, event=event)


@bp.route("/accounts/<account_id>/audit/verify", methods=["POST"])
@page
def verify(account_id: str) -> View:
    report = audit_access.verify(get_state(), caller(), account_id)
    if request.headers.get("HX-Request"):
        return render_template("console/_verification.html", report=report)
    return _audit_page(account_id, verification=report)


@bp.route("/accounts/<account_id>/audit/export/<fmt>")
@page
def audit_export(account_id: str, fmt: str) -> View:
    """The API's export (recorded as ``audit.export``), with the explorer's filters."""
    if fmt not in ("ndjson", "csv"):
        raise NotFound("export as ndjson or csv")
    try:
        filters, _ = _audit_filter(account_id)
    except FormInvalid as invalid:
        return _render(account_id, None, events=[], form_errors=invalid.errors), 400
    export_format: Literal["ndjson", "csv"] = "csv" if fmt == "csv" else "ndjson"
    chunks = audit_access.export(get_state(), caller(), filters, export_format)
    mimetype = "application/x-ndjson" if fmt == "ndjson" else "text/csv"
    response = Response(stream_with_context(chunks), mimetype=mimetype)
    response.headers["Content-Disposition"] = f"attachment; filename=audit-{account_id}.{fmt}"
    return response
