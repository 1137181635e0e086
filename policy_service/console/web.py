"""The console's blueprint: the session guard, headers, error pages, sign-in and the account
list. Each page lives in its own ``pages_*`` module and registers on ``bp``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from flask import (
    Blueprint,
    Response,
    flash,
    g,
    redirect,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from flask_wtf.csrf import CSRFError, CSRFProtect  # type: ignore[import-untyped]
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from policy_service.api import auth
from policy_service.api.app_state import get_state
from policy_service.audit_trail.recording import require
from policy_service.console import overview as data
from policy_service.console import session as console_session
from policy_service.console.forms import FormInvalid
from policy_service.decisions.authorization import Caller
from policy_service.domain.clock import utcnow
from policy_service.domain.errors import NotFound, ServiceError
from policy_service.lifecycle.guards import load_account
from policy_service.state import ServiceState

STATIC = Path(__file__).resolve().parent / "static"
F = TypeVar("F", bound=Callable[..., Any])
View = Response | BaseResponse | str | tuple[str, int]

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates")
# Checked by the console's own before_request (``protect``), for this blueprint only.
csrf = CSRFProtect()

# Content-Security-Policy: scripts and styles from this origin only (no inline script, no
# eval), nothing framed, forms post back here only.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
OPEN_ENDPOINTS = frozenset({"console.sign_in", "console.asset"})

# The account's pages, in menu order, each with the permission its content needs (what the
# API's route for the same read requires). A page the policy refuses answers 403 (recorded as
# the API records it) and is left out of the menu: both asked of the same decision function.
MENU: tuple[tuple[str, str, tuple[str, str] | None], ...] = (
    ("console.overview", "Overview", None),  # each section asks for itself
    ("console.contacts", "Contacts", ("contact", "contact.read")),
    ("console.trash", "Trash", ("contact", "contact.read")),
    ("console.holds", "Holds", ("contact", "legal_hold.read")),
    ("console.jobs", "Jobs", ("contact", "contact.read")),
    ("console.audit", "Audit", ("audit", "audit.read")),
    ("console.requests", "Requests", ("dsr", "dsr.manage")),
    ("console.policy", "Policy", ("policy", "policy.read")),
)
PAGE_PERMISSIONS = {endpoint: needs for endpoint, _, needs in MENU if needs is not None}


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
    """Signed in, CSRF token checked on every POST, no part in an account named in the path
    refused (and recorded) exactly as the API's account gate does, and an account page the
    policy refuses answered 403. Like every authenticated API request, each console request
    first picks up what other workers changed (``state.sync``, at most once per interval), so
    a page never shows roles, holds or contact facts older than the API would decide on."""
    if request.endpoint == "console.asset":
        g.console_caller = None
        return None
    get_state().sync()
    g.console_caller = console_session.current()
    if request.endpoint in OPEN_ENDPOINTS:
        if request.method == "POST":
            csrf.protect()
        return None
    if g.console_caller is None:
        if request.method == "GET":
            return redirect(url_for("console.sign_in"))
        return error_page(401, "Sign in first", "Your session has ended: sign in again.")
    if request.method == "POST":
        csrf.protect()
    g.caller = g.console_caller
    auth.gate_account()
    needs = PAGE_PERMISSIONS.get(request.endpoint or "")
    account_id = (request.view_args or {}).get("account_id")
    if needs is not None and account_id is not None and request.method == "GET":
        require(get_state(), g.console_caller, needs[0], needs[1], account_id=account_id)
    return None


def menu(state: ServiceState, me: Caller, account_id: str) -> list[tuple[str, str]]:
    """The account's pages the caller may open: (endpoint, label)."""
    return [
        (endpoint, label)
        for endpoint, label, needs in MENU
        if needs is None or data.may(state, me, account_id, *needs)
    ]


@bp.after_request
def _headers(response: BaseResponse) -> BaseResponse:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    if request.endpoint != "console.asset":
        response.headers["Cache-Control"] = "no-store"
    return console_session.apply_cookie(response)


def error_page(status: int, title: str, detail: str) -> tuple[str, int]:
    return render_template("console/error.html", status=status, title=title, detail=detail), status


@bp.errorhandler(CSRFError)
def _csrf_error(error: CSRFError) -> tuple[str, int]:
    return error_page(400, "Form expired", f"{error.description} Reload the page and try again.")


@bp.errorhandler(ServiceError)
def _service_error(error: ServiceError) -> tuple[str, int]:
    return error_page(error.status, error.title, error.detail)


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> tuple[str, int]:
    status = error.code or 500
    return error_page(status, error.name, error.description or error.name)


def account_page(template: str, account_id: str, **context: Any) -> str:
    state = get_state()
    return render_template(
        template,
        account=load_account(state, account_id),
        menu=menu(state, caller(), account_id),
        roles=data.roles_in(state, caller(), account_id),
        user=caller().principal_id,
        now=utcnow(),
        **context,
    )


def invalid_page(
    render: Callable[..., View], invalid: FormInvalid, *args: Any, **kwargs: Any
) -> tuple[str, int]:
    """A form the API would refuse: its page again, with each field's message, and a 400."""
    shown = render(*args, form_errors=invalid.errors, **kwargs)
    body = shown[0] if isinstance(shown, tuple) else shown
    if not isinstance(body, str):  # every page renderer answers with its HTML
        raise TypeError("a page renderer must return HTML")
    return body, 400


def totals(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "nothing else changed"


def refused(what: str, error: ServiceError) -> None:
    flash(f"{what} refused: {error.detail}", "error")


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


@bp.route("/accounts/<account_id>")
@page
def overview(account_id: str) -> View:
    state = get_state()
    me = caller()
    account = load_account(state, account_id)
    requests = data.account_requests(state, me, account_id)
    trash = data.trash(state, me, account)
    return account_page(
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
