"""Trash (days left, restore and purge through the impact preview, bulk restore with its
count) and jobs (progress that updates while a job runs, per-contact results)."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, request, url_for

from policy_service.api.app_state import get_state
from policy_service.api.jobs import BulkRestoreSchema, SelectionFilterSchema
from policy_service.console import forms
from policy_service.console import overview as data
from policy_service.console.forms import Errors, FormInvalid
from policy_service.console.web import View, account_page, bp, caller, invalid_page, page, refused
from policy_service.domain.errors import NotFound, ServiceError
from policy_service.lifecycle import jobs as job_service
from policy_service.lifecycle.guards import load_account

JOB_ITEMS_PAGE = 100
LIVE = ("queued", "running", "cancelling")
MAX_QUERY = 200  # the API's selection filter query


@bp.route("/accounts/<account_id>/trash")
@page
def trash(account_id: str) -> View:
    query = request.args.get("q", "").strip() or None
    try:
        if query is not None:
            forms.load(SelectionFilterSchema(), {"query": query}, ("query",))
    except FormInvalid as invalid:
        return invalid_page(_trash_page, invalid, account_id, None)
    return _trash_page(account_id, query)


def _trash_page(account_id: str, query: str | None, *, form_errors: Errors | None = None) -> str:
    state, me = get_state(), caller()
    rows = data.trash(state, me, load_account(state, account_id), query=query)
    return account_page(
        "console/trash.html",
        account_id,
        trash=rows,
        query=query or "",
        may_bulk_restore=data.may(state, me, account_id, "contact", "contact.bulk_restore"),
        form_errors=form_errors,
    )


def _bulk_restore_form() -> dict[str, Any]:
    """The API's bulk-restore body (``BulkRestoreSchema``, integers within 2^53), from the
    selection the page showed and the count the caller saw - at least one: the page offers
    the button only over a trash with something in it."""
    query = request.form.get("q", "").strip()
    raw = request.form.get("expected_count", "").strip()
    forms.require(raw != "", "expected_count", "Missing data for required field.")
    try:
        count: object = int(raw)
    except ValueError:
        count = raw
    body = forms.load_body(
        BulkRestoreSchema(),
        {"filter": {"query": query} if query else {"all": True}, "expected_count": count},
    )
    forms.require(body["expected_count"] >= 1, "expected_count", "Must be at least 1.")
    return body


@bp.route("/accounts/<account_id>/trash/bulk-restore", methods=["POST"])
@page
def bulk_restore(account_id: str) -> View:
    """The API's bulk restore: the selection the page showed (the whole trash, or what the
    search found) with the count the caller saw; a selection that changed meanwhile is 409."""
    try:
        body = _bulk_restore_form()
    except FormInvalid as invalid:
        query = request.form.get("q", "").strip() or None
        shown = query if query is not None and len(query) <= MAX_QUERY else None
        return invalid_page(_trash_page, invalid, account_id, shown)
    try:
        job = job_service.create_bulk_restore(
            get_state(),
            caller(),
            account_id,
            ids=None,
            filter=body["filter"],
            expected_count=body["expected_count"],
        )
    except ServiceError as error:
        refused("Bulk restore", error)
        return redirect(url_for("console.trash", account_id=account_id))
    flash(f"Bulk restore of {job.total} contacts started.", "ok")
    return redirect(url_for("console.job", account_id=account_id, job_id=job.id))


@bp.route("/accounts/<account_id>/jobs")
@page
def jobs(account_id: str) -> View:
    rows = data.jobs(get_state(), caller(), account_id)
    return account_page("console/jobs.html", account_id, jobs=rows, live_statuses=LIVE)


@bp.route("/accounts/<account_id>/jobs/<job_id>")
@page
def job(account_id: str, job_id: str) -> View:
    """One job: its progress bar (the page polls itself while the job runs) and each
    contact's outcome, with the reason code of a skipped one."""
    state, me = get_state(), caller()
    found = job_service.get_job(state, me, job_id)
    if found.account_id != account_id:
        raise NotFound(f"no job {job_id}")
    after = request.args.get("after", type=int)
    items, next_after = job_service.list_items(
        state, me, job_id, status=None, after=after, limit=JOB_ITEMS_PAGE
    )
    return account_page(
        "console/job.html",
        account_id,
        job=found,
        summary=job_service.item_summary(state, job_id),
        items=items,
        next_after=next_after,
        live=found.status in LIVE,
    )
