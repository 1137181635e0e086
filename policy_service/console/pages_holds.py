"""Legal holds: the account's held contacts (one account-wide query), place and lift."""

from __future__ import annotations

from flask import flash, redirect, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from policy_service.api.app_state import get_state
from policy_service.api.contact_schemas import HoldSchema
from policy_service.console import forms
from policy_service.console import overview as data
from policy_service.console.forms import Errors, FormInvalid
from policy_service.console.web import View, account_page, bp, caller, invalid_page, page, refused
from policy_service.domain.contacts import is_valid_contact_id
from policy_service.domain.errors import ServiceError
from policy_service.lifecycle import legal_holds


@bp.route("/accounts/<account_id>/holds")
@page
def holds(account_id: str) -> View:
    return _holds_page(account_id)


def _holds_page(account_id: str, *, form_errors: Errors | None = None) -> str:
    state, me = get_state(), caller()
    found = data.held_contacts(state, me, account_id)
    return account_page(
        "console/holds.html",
        account_id,
        held=None if found is None else found[0],
        truncated=bool(found and found[1]),
        may_place=data.may(state, me, account_id, "contact", "legal_hold.place"),
        may_release=data.may(state, me, account_id, "contact", "legal_hold.release"),
        form_errors=form_errors,
    )


@bp.route("/accounts/<account_id>/holds", methods=["POST"])
@page
def place_hold(account_id: str) -> View:
    """The API's ``POST .../contacts/{id}/legal-holds``: its body through ``HoldSchema``, the
    contact id held to what a path segment of the API may be."""
    contact_id = request.form.get("contact_id", "").strip()
    try:
        forms.require(contact_id != "", "contact_id", "Missing data for required field.")
        forms.require(is_valid_contact_id(contact_id), "contact_id", "Not a valid contact id.")
        body = forms.load(HoldSchema(), request.form, ("reason", "matter"))
    except FormInvalid as invalid:
        return invalid_page(_holds_page, invalid, account_id)
    try:
        legal_holds.place_hold(
            get_state(), caller(), account_id, contact_id, body["reason"], body.get("matter")
        )
    except ServiceError as error:
        refused(f"Hold on {contact_id or '?'}", error)
    else:
        flash(f"Placed a legal hold on {contact_id}.", "ok")
    return redirect(url_for("console.holds", account_id=account_id))


@bp.route("/accounts/<account_id>/holds/<contact_id>/<hold_id>/lift", methods=["POST"])
@page
def lift_hold(account_id: str, contact_id: str, hold_id: str) -> BaseResponse:
    try:
        legal_holds.release_holds(get_state(), caller(), account_id, contact_id, hold_id)
    except ServiceError as error:
        refused(f"Lifting the hold on {contact_id}", error)
    else:
        flash(f"Lifted hold {hold_id} on {contact_id}.", "ok")
    return redirect(url_for("console.holds", account_id=account_id))
