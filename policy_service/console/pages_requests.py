"""Data-subject requests: the queue by due date, intake, each request's timeline and its
steps as buttons (the API's step use cases), execute after its preview, an erasure's tasks
for downstream systems with the form closing a manual one (the API's confirm), and the signed
certificate and access package as downloads. Every form is held to the API's schema for the
same call (``forms``)."""

from __future__ import annotations

import json
from typing import Any

from flask import Response, flash, redirect, request, url_for

from policy_service.api.app_state import get_state
from policy_service.api.dsr import (
    CreateSchema,
    DenySchema,
    ExtendSchema,
    VerifySchema,
    create_from_body,
)
from policy_service.api.dsr_systems import DsrSystemConfirmSchema
from policy_service.console import forms
from policy_service.console import overview as data
from policy_service.console.dsr_preview import execution_preview
from policy_service.console.forms import Errors, FormInvalid
from policy_service.console.web import View, account_page, bp, caller, invalid_page, page, refused
from policy_service.domain import dsr as dsr_rules
from policy_service.domain.clock import utcnow
from policy_service.domain.dsr import COMPLETED, IN_PROGRESS
from policy_service.domain.errors import NotFound, ServiceError
from policy_service.privacy import certificate, execution, systems
from policy_service.privacy import requests as dsr_requests
from policy_service.privacy import steps as dsr_steps
from policy_service.privacy.records import ALL, DataSubjectRequest
from policy_service.storage.dsr_systems import PENDING


def _in_account(found: DataSubjectRequest, account_id: str) -> None:
    if found.accounts != ALL and account_id not in found.accounts:
        raise NotFound(f"no data-subject request {found.id}")


@bp.route("/accounts/<account_id>/requests")
@page
def requests(account_id: str) -> View:
    return _requests_page(account_id)


def _requests_page(account_id: str, *, form_errors: Errors | None = None) -> str:
    state, me = get_state(), caller()
    rows = data.account_requests(state, me, account_id, open_only=False)
    if rows is not None and request.args.get("order") == "latest":
        rows = sorted(rows, key=lambda r: r.request.due_at, reverse=True)
    tasks = {
        row.request.id: systems.list_tasks(state, me, row.request.id)
        for row in rows or []
        if row.request.type == "erasure" and row.request.status in (IN_PROGRESS, COMPLETED)
    }
    task_accounts = {task.account_id for found in tasks.values() for task in found}
    return account_page(
        "console/requests.html",
        account_id,
        requests=rows,
        tasks=tasks,
        may_confirm={a for a in task_accounts if data.may(state, me, a, "dsr", systems.CONFIRM)},
        order=request.args.get("order"),
        types=dsr_rules.TYPES,
        jurisdictions=dsr_rules.JURISDICTIONS,
        channels=dsr_rules.CHANNELS,
        exemptions=dsr_rules.EXEMPTIONS,
        today=utcnow().date().isoformat(),
        form_errors=form_errors,
    )


def _intake_form(account_id: str) -> dict[str, Any]:
    """The API's ``POST /v1/dsr`` body (``CreateSchema``) from the intake form."""
    form = request.form
    identity = {k: v for k in ("email", "phone") if (v := form.get(k, "").strip())}
    body: dict[str, Any] = {
        "identity": identity,
        "accounts": [account_id],
        "received_at": form.get("received_at", "").strip() or utcnow().isoformat(),
    }
    for name in ("type", "jurisdiction", "channel"):
        if value := form.get(name, "").strip():
            body[name] = value
    return forms.load_body(CreateSchema(), body)


@bp.route("/accounts/<account_id>/requests", methods=["POST"])
@page
def intake(account_id: str) -> View:
    """Record a request received about this account (``POST /v1/dsr``)."""
    try:
        body = _intake_form(account_id)
    except FormInvalid as invalid:
        return invalid_page(_requests_page, invalid, account_id)
    try:
        created = create_from_body(get_state(), caller(), body)
    except ServiceError as error:
        refused("The request", error)
    else:
        flash(f"Recorded request {created.id}, due {created.due_at:%Y-%m-%d}.", "ok")
    return redirect(url_for("console.requests", account_id=account_id))


STEPS = ("verify-identity", "approve", "deny", "extend", "execute")


def _step_form(step: str) -> dict[str, Any]:
    """The step's form through the API's schema for the same step."""
    if step == "verify-identity":
        form = dict(request.form)
        form["method"] = form.get("method", "").strip() or "console"
        return forms.load(VerifySchema(), form, ("method",))
    if step == "deny":
        return forms.load(DenySchema(), request.form, ("exemption_code", "text"))
    if step == "extend":
        return forms.load(ExtendSchema(), request.form, ("reason",))
    return {}


@bp.route("/accounts/<account_id>/requests/<dsr_id>/<step>", methods=["POST"])
@page
def request_step(account_id: str, dsr_id: str, step: str) -> View:
    state, me = get_state(), caller()
    if step not in STEPS:
        raise NotFound(f"no step {step}")
    try:
        body = _step_form(step)
    except FormInvalid as invalid:
        return invalid_page(_requests_page, invalid, account_id)
    try:
        _in_account(dsr_requests.get_request(state, me, dsr_id), account_id)
        if step == "verify-identity":
            dsr_steps.verify_identity(state, me, dsr_id, body["method"])
        elif step == "approve":
            dsr_steps.approve(state, me, dsr_id)
        elif step == "deny":
            dsr_steps.deny(state, me, dsr_id, body.get("exemption_code"), body.get("text"))
        elif step == "extend":
            dsr_steps.extend(state, me, dsr_id, body["reason"])
        else:
            done = execution.execute(state, me, dsr_id)
            outcome = execution.execution_outcome(state, done)["accounts"]
            erased = sum(len(a["erased"]) for a in outcome.values())
            restricted = sum(len(a["restricted"]) for a in outcome.values())
            waiting = ""
            if done.status == IN_PROGRESS:
                pending = [t for t in systems.list_tasks(state, me, dsr_id) if t.status == PENDING]
                if pending:
                    waiting = f"; waiting for {len(pending)} downstream system(s) to confirm"
            flash(
                f"execute: {done.status}, {erased} erased, {restricted} restricted{waiting}.",
                "ok",
            )
            return redirect(url_for("console.requests", account_id=account_id))
    except ServiceError as error:
        refused(f"{step} of {dsr_id}", error)
    else:
        flash(f"{step}: done for {dsr_id}.", "ok")
    return redirect(url_for("console.requests", account_id=account_id))


@bp.route("/accounts/<account_id>/requests/<dsr_id>/systems/<system>/confirm", methods=["POST"])
@page
def confirm_system(account_id: str, dsr_id: str, system: str) -> View:
    """An officer closes a manual task with a note: the API's
    ``POST /v1/dsr/{id}/systems/{system}/confirm`` (same use case, same audit event)."""
    state, me = get_state(), caller()
    try:
        body = forms.load(DsrSystemConfirmSchema(), request.form, ("account_id", "note"))
        forms.require(bool(body.get("note")), "note", "Required: say what was done in the system.")
    except FormInvalid as invalid:
        return invalid_page(_requests_page, invalid, account_id)
    try:
        _in_account(dsr_requests.get_request(state, me, dsr_id), account_id)
        done = systems.confirm(
            state,
            me,
            dsr_id,
            system,
            account_id=body.get("account_id"),
            note=body["note"],
        )
    except ServiceError as error:
        refused(f"Closing the task of {system} for {dsr_id}", error)
    else:
        left = sum(1 for t in done.tasks if t.status == PENDING)
        then = f"{left} system(s) still to confirm" if left else f"the request is {done.status}"
        flash(f"Closed the task of {system} for {dsr_id}: {then}.", "ok")
    return redirect(url_for("console.requests", account_id=account_id))


@bp.route("/accounts/<account_id>/requests/<dsr_id>/execute")
@page
def execute_preview(account_id: str, dsr_id: str) -> View:
    found = execution_preview(get_state(), caller(), dsr_id)
    _in_account(found.request, account_id)
    return account_page(
        "console/execute.html",
        account_id,
        dsr=found.request,
        contacts=found.contacts,
        preview=found,
    )


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
