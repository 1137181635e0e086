"""Contacts: search, one contact with its related records, and delete / restore / purge,
each through the impact preview first (``lifecycle.preview.impact``, the API's dry run).

Which buttons a contact shows is asked of the decision function, action by action, over the
actions the running pack names for contacts (``decisions.search.searchable_actions``, as the
AuthZEN action search does): a button the policy would refuse is not shown. The decision is
made on the facts read from the database with the contact the page shows (one read), not on
the worker's cached ones, so the page and its buttons cannot disagree.

Every form is held to the API's schema for the same call (``forms``): an invalid one is shown
again with a 400 and the field's message, and nothing is changed."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, request, url_for

from policy_service.api.app_state import get_state
from policy_service.api.contact_schemas import ContactListQuery, DeleteSchema, PurgeSchema
from policy_service.audit_trail.recording import require
from policy_service.console import forms
from policy_service.console import overview as data
from policy_service.console.forms import Errors, FormInvalid
from policy_service.console.web import (
    View,
    account_page,
    bp,
    caller,
    invalid_page,
    page,
    refused,
    totals,
)
from policy_service.decisions.authorization import Caller, decide_for_caller
from policy_service.decisions.search import searchable_actions
from policy_service.domain.clock import utcnow
from policy_service.domain.contacts import (
    DELETE_REASONS,
    Contact,
    ContactFacts,
    is_valid_contact_id,
)
from policy_service.domain.errors import NotFound, ServiceError
from policy_service.lifecycle import contacts as contact_service
from policy_service.lifecycle import legal_holds, preview
from policy_service.lifecycle.actions import (
    DELETE_CONFIRMATION,
    PURGE_CONFIRMATION,
    delete_contact,
    purge_contact,
    restore_contact,
)
from policy_service.lifecycle.guards import load_account, profile_for
from policy_service.state import ServiceState
from policy_service.storage import contacts as contact_store

PAGE = 50
LIFECYCLE = ("delete", "restore", "purge")


def read_contact(
    state: ServiceState, me: Caller, account_id: str, contact_id: str
) -> tuple[Contact, ContactFacts | None]:
    """The contact and the facts decisions about it depend on, read together (the API's
    ``contact.read`` asked first, a refusal recorded as the API records it)."""
    require(state, me, "contact", "contact.read", account_id=account_id)
    found: Contact | None = None
    facts: ContactFacts | None = None
    if is_valid_contact_id(contact_id):
        with state.unit_of_work(write=False) as uow:
            found = contact_store.get_contact(uow.session, account_id, contact_id)
            facts = contact_store.facts_of(uow.session, account_id, [contact_id]).get(contact_id)
    if found is None:
        raise NotFound(f"contact {contact_id} does not exist in account {account_id}")
    return found, facts


def allowed_actions(
    state: ServiceState, me: Caller, account_id: str, contact_id: str, facts: ContactFacts | None
) -> frozenset[str]:
    """The contact actions the decision function allows the caller on these facts (fresh from
    the database, not the worker's cache): ``contact.delete``..."""
    account = load_account(state, account_id)
    if facts is None:
        return frozenset()
    now = utcnow()
    return frozenset(
        action
        for action in searchable_actions(state.runtime, "contact")
        if decide_for_caller(state.runtime, me, account, action, contact_id, facts, now).allowed
    )


def _confirm_word(state: ServiceState, account_id: str, action: str) -> str | None:
    """The word to type: PURGE for a purge, DELETE where the profile has no trash."""
    if action == "purge":
        return PURGE_CONFIRMATION
    if action == "delete" and not profile_for(state, load_account(state, account_id)).trash:
        return DELETE_CONFIRMATION
    return None


@bp.route("/accounts/<account_id>/contacts")
@page
def contacts(account_id: str) -> View:
    try:
        asked = forms.load(ContactListQuery(), request.args, ("q", "after"))
    except FormInvalid as invalid:
        return invalid_page(_contacts_page, invalid, account_id, None, None)
    return _contacts_page(account_id, asked.get("q"), asked.get("after"))


def _contacts_page(
    account_id: str, query: str | None, after: str | None, *, form_errors: Errors | None = None
) -> str:
    state, me = get_state(), caller()
    found = None
    if data.may(state, me, account_id, "contact", "contact.read") and form_errors is None:
        found = contact_service.list_contacts(
            state, me, account_id, query=query, tag=None, after=after, limit=PAGE
        )
    return account_page(
        "console/contacts.html",
        account_id,
        contacts=found if form_errors is None else [],
        query=query or "",
        next_after=found[-1].id if found and len(found) == PAGE else None,
        form_errors=form_errors,
    )


@bp.route("/accounts/<account_id>/contacts/<contact_id>")
@page
def contact(account_id: str, contact_id: str) -> View:
    state, me = get_state(), caller()
    found, facts = read_contact(state, me, account_id, contact_id)
    records = contact_service.list_records(state, me, account_id, contact_id)
    allowed = allowed_actions(state, me, account_id, contact_id, facts)
    may_read_holds = data.may(state, me, account_id, "contact", "legal_hold.read")
    return account_page(
        "console/contact.html",
        account_id,
        contact=found,
        records=records,
        buttons=[a for a in LIFECYCLE if f"contact.{a}" in allowed],
        holds=legal_holds.list_holds(state, me, account_id, contact_id) if may_read_holds else None,
        may_place="legal_hold.place" in allowed,
        may_release="legal_hold.release" in allowed,
    )


@bp.route("/accounts/<account_id>/contacts/<contact_id>/<action>")
@page
def impact(account_id: str, contact_id: str, action: str) -> View:
    """What the action would do, and whether the policy lets it go ahead, before the form."""
    return _impact_page(account_id, contact_id, action)


def _impact_page(
    account_id: str, contact_id: str, action: str, *, form_errors: Errors | None = None
) -> str:
    if action not in LIFECYCLE:
        raise NotFound(f"no action {action}")
    state = get_state()
    found = preview.impact(state, caller(), account_id, contact_id, action)
    from_trash = "trash" in (request.args.get("back"), request.form.get("back"))
    return account_page(
        "console/impact.html",
        account_id,
        impact=found,
        cascade=found.counts.as_dict(),
        totals=found.counts.totals(),
        confirm_word=_confirm_word(state, account_id, action),
        reasons=DELETE_REASONS,
        back="trash" if from_trash else "contact",
        form_errors=form_errors,
    )


def _form(action: str) -> dict[str, Any]:
    """The action's form loaded through the API's schema for it (``FormInvalid`` if refused)."""
    if action == "delete":
        return forms.load(DeleteSchema(), request.form, ("reason_code", "reason_text", "confirm"))
    if action == "purge":
        return forms.load(PurgeSchema(), request.form, ("confirm",))
    return {}


@bp.route("/accounts/<account_id>/contacts/<contact_id>/<action>", methods=["POST"])
@page
def act(account_id: str, contact_id: str, action: str) -> View:
    """The API's delete, restore or purge (same use case, same audit event)."""
    state, me, form = get_state(), caller(), request.form
    if action not in LIFECYCLE:
        raise NotFound(f"no action {action}")
    try:
        body = _form(action)
    except FormInvalid as invalid:
        return invalid_page(_impact_page, invalid, account_id, contact_id, action)
    confirm = body.get("confirm")
    try:
        if action == "delete":
            result = delete_contact(
                state,
                me,
                account_id,
                contact_id,
                body["reason_code"],
                body.get("reason_text"),
                confirm,
            )
        elif action == "restore":
            result = restore_contact(state, me, account_id, contact_id)
        elif action == "purge":
            result = purge_contact(state, me, account_id, contact_id, confirm)
        else:
            raise NotFound(f"no action {action}")
    except ServiceError as error:
        refused(f"{action.capitalize()} of {contact_id}", error)
        back = url_for(
            "console.impact", account_id=account_id, contact_id=contact_id, action=action
        )
        return redirect(back)
    done = {"delete": "Deleted", "restore": "Restored", "purge": "Purged"}[action]
    flash(f"{done} {contact_id} ({totals(result.counts.totals())}).", "ok")
    if form.get("back") == "trash" or result.contact.state == "trashed":
        return redirect(url_for("console.trash", account_id=account_id))
    return redirect(url_for("console.contact", account_id=account_id, contact_id=contact_id))
