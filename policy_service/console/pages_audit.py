"""The audit explorer: the API's filters and cursor pages, event detail, Verify, export."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from flask import Response, flash, render_template, request, stream_with_context

from audit import EventFilter
from audit.report import VerificationReport
from policy_service.api.app_state import get_state
from policy_service.audit_trail import access as audit_access
from policy_service.console import overview as data
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


def _moment(raw: str | None) -> datetime | None:
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        flash(f"{raw!r} is not a date or time (YYYY-MM-DD or YYYY-MM-DDTHH:MM)", "error")
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _audit_filter(account_id: str) -> tuple[EventFilter, dict[str, str]]:
    chosen = {k: v.strip() for k in AUDIT_FILTERS if (v := request.args.get(k, "")).strip()}
    if chosen.get("outcome") not in (None, *OUTCOMES):
        chosen.pop("outcome")
    since, until = _moment(request.args.get("since")), _moment(request.args.get("until"))
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
    filters, shown = _audit_filter(account_id)
    cursor = request.args.get("cursor") or None
    if not data.may(state, me, account_id, "audit", "audit.read"):
        events = None
        next_cursor = None
    else:
        found = audit_access.read_events(state, me, filters, cursor, 50)
        events, next_cursor = found.events, found.next_cursor
    return account_page(
        "console/audit.html",
        account_id,
        events=events,
        next_cursor=next_cursor,
        filters=shown,
        outcomes=OUTCOMES,
        filter_names=AUDIT_FILTERS,
        paged=cursor is not None,
        verification=verification,
        may_verify=data.may(state, me, account_id, "audit", "audit.verify"),
        may_export=data.may(state, me, account_id, "audit", "audit.export"),
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
def audit_export(account_id: str, fmt: str) -> Response:
    """The API's export (recorded as ``audit.export``), with the explorer's filters."""
    if fmt not in ("ndjson", "csv"):
        raise NotFound("export as ndjson or csv")
    filters, _ = _audit_filter(account_id)
    export_format: Literal["ndjson", "csv"] = "csv" if fmt == "csv" else "ndjson"
    chunks = audit_access.export(get_state(), caller(), filters, export_format)
    mimetype = "application/x-ndjson" if fmt == "ndjson" else "text/csv"
    response = Response(stream_with_context(chunks), mimetype=mimetype)
    response.headers["Content-Disposition"] = f"attachment; filename=audit-{account_id}.{fmt}"
    return response
