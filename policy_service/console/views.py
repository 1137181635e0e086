"""The console's pages and buttons. Each button calls the use case its API route calls."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

from flask import (
    Blueprint,
    Response,
    flash,
    g,
    redirect,
    render_template,
    request,
    send_from_directory,
    stream_with_context,
    url_for,
)
from flask_wtf.csrf import CSRFError  # type: ignore[import-untyped]
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from audit import EventFilter
from policy_service.api import auth
from policy_service.api.app_state import get_state
from policy_service.audit_trail import access as audit_access
from policy_service.console import csrf
from policy_service.console import overview as data
from policy_service.console import session as console_session
from policy_service.decisions.authorization import Caller
from policy_service.domain.clock import utcnow
from policy_service.domain.errors import InvalidInput, NotFound, ServiceError
from policy_service.lifecycle import legal_holds
from policy_service.lifecycle.actions import purge_contact, restore_contact
from policy_service.lifecycle.guards import load_account
from policy_service.privacy import steps as dsr_steps

STATIC = Path(__file__).resolve().parent / "static"
F = TypeVar("F", bound=Callable[..., Any])
View = Response | BaseResponse | str | tuple[str, int]

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates")

# Content-Security-Policy: scripts and styles from this origin only (no inline script, no
# eval), nothing framed, forms post back here only.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
OPEN_ENDPOINTS = frozenset({"console.sign_in", "console.asset"})
AUDIT_FILTERS = (
    "actor_id", "action", "target_type", "target_id", "outcome", "request_id", "job_id", "dsr_id"
)  # fmt: skip
OUTCOMES = ("succeeded", "denied", "failed")


def page(view: F) -> F:
    """A console view: no bearer token (the console has its own session); see ``_guard``."""
    view.is_public = True  # type: ignore[attr-defined]
    return view


def caller() -> Caller:
    found: Caller | None = g.get("console_caller")
    if found is None:  # _guard let no view run without one
        raise NotFound("sign in first")
    return found


@bp.before_request
def _guard() -> BaseResponse | tuple[str, int] | None:
    """Signed in, CSRF token checked on every POST, and no part in an account named in the
    path refused (and recorded) exactly as the API's account gate does."""
    g.console_caller = console_session.current()
    if request.endpoint in OPEN_ENDPOINTS:
        if request.method == "POST":
            csrf.protect()
        return None
    if g.console_caller is None:
        if request.method == "GET":
            return redirect(url_for("console.sign_in"))
        return _error_page(401, "Sign in first", "Your session has ended: sign in again.")
    if request.method == "POST":
        csrf.protect()
    g.caller = g.console_caller
    auth.gate_account()
    return None


@bp.after_request
def _headers(response: BaseResponse) -> BaseResponse:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    if request.endpoint != "console.asset":
        response.headers["Cache-Control"] = "no-store"
    return response


def _error_page(status: int, title: str, detail: str) -> tuple[str, int]:
    return render_template("console/error.html", status=status, title=title, detail=detail), status


@bp.errorhandler(CSRFError)
def _csrf_error(error: CSRFError) -> tuple[str, int]:
    return _error_page(400, "Form expired", f"{error.description} Reload the page and try again.")


@bp.errorhandler(ServiceError)
def _service_error(error: ServiceError) -> tuple[str, int]:
    return _error_page(error.status, error.title, error.detail)


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> tuple[str, int]:
    status = error.code or 500
    return _error_page(status, error.name, error.description or error.name)


# -- sign-in ----------------------------------------------------------------------------------


@bp.route("/assets/<path:filename>")
@page
def asset(filename: str) -> BaseResponse:
    return send_from_directory(STATIC, filename, max_age=3600)


@bp.route("/sign-in", methods=["GET", "POST"])
@page
def sign_in() -> View:
    if request.method == "POST":
        token = request.form.get("token", "")
        try:
            console_session.sign_in(token)
        except ServiceError as error:
            message = error.detail if "console" in error.detail else "That token is not valid."
            return render_template("console/sign_in.html", error=message), 401
        return redirect(url_for("console.index"))
    if g.console_caller is not None:
        return redirect(url_for("console.index"))
    return render_template("console/sign_in.html", error=None)


@bp.route("/sign-out", methods=["POST"])
@page
def sign_out() -> BaseResponse:
    console_session.sign_out()
    flash("Signed out.", "ok")
    return redirect(url_for("console.sign_in"))


@bp.route("/")
@page
def index() -> View:
    state = get_state()
    accounts = data.my_accounts(state, caller())
    return render_template(
        "console/index.html",
        accounts=[(a, data.roles_in(state, caller(), a.id)) for a in accounts],
    )


# -- one account ------------------------------------------------------------------------------


def _account_page(template: str, account_id: str, **context: Any) -> str:
    state = get_state()
    return render_template(
        template,
        account=load_account(state, account_id),
        roles=data.roles_in(state, caller(), account_id),
        user=caller().principal_id,
        now=utcnow(),
        **context,
    )


@bp.route("/accounts/<account_id>")
@page
def overview(account_id: str) -> View:
    state = get_state()
    me = caller()
    account = load_account(state, account_id)
    requests = data.account_requests(state, me, account_id)
    trash = data.trash(state, me, account)
    return _account_page(
        "console/overview.html",
        account_id,
        requests=requests,
        overdue=sum(1 for r in requests or [] if r.overdue),
        trash=trash,
        held=sum(1 for t in trash or [] if t.held),
        running=data.running_jobs(state, me, account_id),
        verification=data.last_verification(state, me, account_id),
        sweep=data.last_sweep(state),
        chart=data.audit_chart(state, me, account_id),
        may_verify=data.may(state, me, account_id, "audit", "audit.verify"),
    )


@bp.route("/accounts/<account_id>/trash")
@page
def trash(account_id: str) -> View:
    state = get_state()
    rows = data.trash(state, caller(), load_account(state, account_id))
    return _account_page("console/trash.html", account_id, trash=rows)


@bp.route("/accounts/<account_id>/trash/<contact_id>/restore", methods=["POST"])
@page
def restore(account_id: str, contact_id: str) -> BaseResponse:
    try:
        result = restore_contact(get_state(), caller(), account_id, contact_id)
    except ServiceError as error:
        flash(f"Restore of {contact_id} refused: {error.detail}", "error")
    else:
        flash(f"Restored {contact_id} ({_totals(result.counts.totals())}).", "ok")
    return redirect(url_for("console.trash", account_id=account_id))


@bp.route("/accounts/<account_id>/trash/<contact_id>/purge", methods=["POST"])
@page
def purge(account_id: str, contact_id: str) -> BaseResponse:
    confirm = request.form.get("confirm") or None
    try:
        purge_contact(get_state(), caller(), account_id, contact_id, confirm)
    except ServiceError as error:
        flash(f"Purge of {contact_id} refused: {error.detail}", "error")
    else:
        flash(f"Purged {contact_id} for good.", "ok")
    return redirect(url_for("console.trash", account_id=account_id))


def _totals(totals: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(totals.items())) or "nothing else changed"


@bp.route("/accounts/<account_id>/jobs")
@page
def jobs(account_id: str) -> View:
    rows = data.jobs(get_state(), caller(), account_id)
    return _account_page("console/jobs.html", account_id, jobs=rows)


# -- audit ------------------------------------------------------------------------------------


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


def _audit_page(account_id: str, verification: Any) -> View:
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
    return _account_page(
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
    return _account_page("console/event.html", account_id, event=event)


@bp.route("/accounts/<account_id>/audit/verify", methods=["POST"])
@page
def verify(account_id: str) -> View:
    report = audit_access.verify(get_state(), caller(), account_id)
    if request.headers.get("HX-Request"):
        return render_template("console/_verification.html", report=report)
    return _audit_page(account_id, verification=report)


# -- data-subject requests -------------------------------------------------------------------


@bp.route("/accounts/<account_id>/requests")
@page
def requests(account_id: str) -> View:
    rows = data.account_requests(get_state(), caller(), account_id, open_only=False)
    if rows is not None and request.args.get("order") == "latest":
        rows = sorted(rows, key=lambda r: r.request.due_at, reverse=True)
    return _account_page(
        "console/requests.html", account_id, requests=rows, order=request.args.get("order")
    )


@bp.route("/accounts/<account_id>/requests/<dsr_id>/<step>", methods=["POST"])
@page
def request_step(account_id: str, dsr_id: str, step: str) -> BaseResponse:
    state, me, form = get_state(), caller(), request.form
    try:
        if step == "verify-identity":
            method = form.get("method", "").strip() or "console"
            dsr_steps.verify_identity(state, me, dsr_id, method)
        elif step == "approve":
            dsr_steps.approve(state, me, dsr_id)
        elif step == "deny":
            dsr_steps.deny(
                state, me, dsr_id, form.get("exemption_code") or None, form.get("text") or None
            )
        elif step == "extend":
            dsr_steps.extend(state, me, dsr_id, form.get("reason", ""))
        else:
            raise NotFound(f"no step {step}")
    except ServiceError as error:
        flash(f"{step} of {dsr_id} refused: {error.detail}", "error")
    else:
        flash(f"{step}: done for {dsr_id}.", "ok")
    return redirect(url_for("console.requests", account_id=account_id))


# -- legal holds ------------------------------------------------------------------------------


@bp.route("/accounts/<account_id>/holds")
@page
def holds(account_id: str) -> View:
    state, me = get_state(), caller()
    found = data.held_contacts(state, me, account_id)
    return _account_page(
        "console/holds.html",
        account_id,
        held=None if found is None else found[0],
        truncated=bool(found and found[1]),
        may_place=data.may(state, me, account_id, "contact", "legal_hold.place"),
        may_release=data.may(state, me, account_id, "contact", "legal_hold.release"),
    )


@bp.route("/accounts/<account_id>/holds", methods=["POST"])
@page
def place_hold(account_id: str) -> BaseResponse:
    contact_id = request.form.get("contact_id", "").strip()
    reason = request.form.get("reason", "").strip()
    matter = request.form.get("matter", "").strip() or None
    try:
        if not contact_id or not reason:
            raise InvalidInput("a hold needs a contact id and a reason")
        legal_holds.place_hold(get_state(), caller(), account_id, contact_id, reason, matter)
    except ServiceError as error:
        flash(f"Hold on {contact_id or '?'} refused: {error.detail}", "error")
    else:
        flash(f"Placed a legal hold on {contact_id}.", "ok")
    return redirect(url_for("console.holds", account_id=account_id))


@bp.route("/accounts/<account_id>/holds/<contact_id>/<hold_id>/lift", methods=["POST"])
@page
def lift_hold(account_id: str, contact_id: str, hold_id: str) -> BaseResponse:
    try:
        legal_holds.release_holds(get_state(), caller(), account_id, contact_id, hold_id)
    except ServiceError as error:
        flash(f"Lifting the hold on {contact_id} refused: {error.detail}", "error")
    else:
        flash(f"Lifted hold {hold_id} on {contact_id}.", "ok")
    return redirect(url_for("console.holds", account_id=account_id))


@bp.route("/accounts/<account_id>/audit/export/<fmt>")
@page
def audit_export(account_id: str, fmt: str) -> BaseResponse:
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
