"""Data-subject requests: the queue by due date, intake, each request's timeline and its
steps as buttons (the API's step use cases), execute after its preview, and the signed
certificate and access package as downloads."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from flask import Response, flash, redirect, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from policy_service.api.app_state import get_state
from policy_service.console import overview as data
from policy_service.console.dsr_preview import execution_preview
from policy_service.console.web import View, account_page, bp, caller, page, refused
from policy_service.domain import dsr as dsr_rules
from policy_service.domain.dsr import Identity
from policy_service.domain.errors import InvalidInput, NotFound, ServiceError
from policy_service.privacy import certificate, execution
from policy_service.privacy import requests as dsr_requests
from policy_service.privacy import steps as dsr_steps
from policy_service.privacy.records import ALL, DataSubjectRequest


def _in_account(found: DataSubjectRequest, account_id: str) -> None:
    if found.accounts != ALL and account_id not in found.accounts:
        raise NotFound(f"no data-subject request {found.id}")


@bp.route("/accounts/<account_id>/requests")
@page
def requests(account_id: str) -> View:
    rows = data.account_requests(get_state(), caller(), account_id, open_only=False)
    if rows is not None and request.args.get("order") == "latest":
        rows = sorted(rows, key=lambda r: r.request.due_at, reverse=True)
    return account_page(
        "console/requests.html",
        account_id,
        requests=rows,
        order=request.args.get("order"),
        types=dsr_rules.TYPES,
        jurisdictions=dsr_rules.JURISDICTIONS,
        channels=dsr_rules.CHANNELS,
        exemptions=dsr_rules.EXEMPTIONS,
        today=datetime.now(UTC).date().isoformat(),
    )


@bp.route("/accounts/<account_id>/requests", methods=["POST"])
@page
def intake(account_id: str) -> BaseResponse:
    """Record a request received about this account (``POST /v1/dsr``)."""
    form = request.form
    try:
        raw = form.get("received_at", "").strip()
        try:
            received = datetime.fromisoformat(raw) if raw else datetime.now(UTC)
        except ValueError:
            raise InvalidInput(f"{raw!r} is not a date (YYYY-MM-DD)") from None
        created = dsr_requests.create_request(
            get_state(),
            caller(),
            type=form.get("type", ""),
            identity=Identity(
                form.get("email", "").strip() or None, form.get("phone", "").strip() or None
            ),
            jurisdiction=form.get("jurisdiction", ""),
            accounts=[account_id],
            received_at=received,
            channel=form.get("channel", "other"),
        )
    except ServiceError as error:
        refused("The request", error)
    else:
        flash(f"Recorded request {created.id}, due {created.due_at:%Y-%m-%d}.", "ok")
    return redirect(url_for("console.requests", account_id=account_id))


@bp.route("/accounts/<account_id>/requests/<dsr_id>/<step>", methods=["POST"])
@page
def request_step(account_id: str, dsr_id: str, step: str) -> BaseResponse:
    state, me, form = get_state(), caller(), request.form
    try:
        _in_account(dsr_requests.get_request(state, me, dsr_id), account_id)
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
        elif step == "execute":
            done = execution.execute(state, me, dsr_id)
            outcome = execution.execution_outcome(state, done)["accounts"]
            erased = sum(len(a["erased"]) for a in outcome.values())
            restricted = sum(len(a["restricted"]) for a in outcome.values())
            flash(f"execute: {done.status}, {erased} erased, {restricted} restricted.", "ok")
            return redirect(url_for("console.requests", account_id=account_id))
        else:
            raise NotFound(f"no step {step}")
    except ServiceError as error:
        refused(f"{step} of {dsr_id}", error)
    else:
        flash(f"{step}: done for {dsr_id}.", "ok")
    return redirect(url_for("console.requests", account_id=account_id))


@bp.route("/accounts/<account_id>/requests/<dsr_id>/execute")
@page
def execute_preview(account_id: str, dsr_id: str) -> View:
    found, contacts = execution_preview(get_state(), caller(), dsr_id)
    _in_account(found, account_id)
    return account_page("console/execute.html", account_id, dsr=found, contacts=contacts)


@bp.route("/accounts/<account_id>/requests/<dsr_id>/<document>.json")
@page
def request_document(account_id: str, dsr_id: str, document: str) -> Response:
    """The signed certificate, or an access request's package (each read is recorded)."""
    state, me = get_state(), caller()
    _in_account(dsr_requests.get_request(state, me, dsr_id), account_id)
    if document == "certificate":
        body = certificate.certificate(state, me, dsr_id)
    elif document == "package":
        body = certificate.access_package(state, me, dsr_id)
    else:
        raise NotFound(f"no {document} document")
    response = Response(json.dumps(body, indent=2, sort_keys=True), mimetype="application/json")
    response.headers["Content-Disposition"] = f"attachment; filename={dsr_id}-{document}.json"
    return response
