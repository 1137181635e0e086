"""Contacts and their related records: create, read, add records, end enrollments."""

from __future__ import annotations

import json
import re
from typing import Any

from policy_service.audit_trail.recording import Refusal, refused, require
from policy_service.decisions.authorization import Caller
from policy_service.domain.cascade import ACTIVE, ENROLLMENTS, RELATED_KINDS, STOPPED
from policy_service.domain.clock import utcnow
from policy_service.domain.contacts import Contact, RelatedRecord, is_valid_contact_id
from policy_service.domain.errors import Conflict, InvalidInput, NotFound
from policy_service.lifecycle.deletion_rules import apply_rules_for_tags
from policy_service.lifecycle.events import (
    contact_created_event,
    enrollment_ended_event,
    suppression_overridden_event,
)
from policy_service.lifecycle.guards import load_account
from policy_service.ports import Acts, SealedActs
from policy_service.privacy.suppression import is_suppressed
from policy_service.storage import contact_search
from policy_service.storage import contacts as store

MAX_RECORD_BYTES = 65_536
MAX_NAME = 200
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{1,63}$")
PHONE = re.compile(r"^\+?[0-9 ().-]{3,40}$")
MAX_TAGS = 100
# Path words that cannot be contact ids (they are routes of their own).
RESERVED_IDS = frozenset({"export", "bulk-delete", "bulk-restore"})


def normalise_email(email: str | None) -> str | None:
    return email.strip().lower() if email else None


def create_contact(
    state: SealedActs,
    caller: Caller,
    account_id: str,
    *,
    id: str | None,
    name: str | None,
    email: str | None,
    phone: str | None,
    tags: list[str],
    suppression_override: str | None = None,
) -> Contact:
    """Create a contact. One that matches the suppression list (an erased person) is refused
    with 409 unless the caller overrides it with a reason, which is audited."""
    require(state, caller, "contact", "contact.create", account_id=account_id)
    contact_id = id or store.new_id("c")
    if not is_valid_contact_id(contact_id) or contact_id in RESERVED_IDS:
        raise InvalidInput("invalid contact id", errors={"id": ["letters, digits, . _ : -"]})
    problems = {}
    if email is not None and not EMAIL.fullmatch(email.strip()):
        problems["email"] = ["not an email address"]
    if phone is not None and not PHONE.fullmatch(phone):
        problems["phone"] = ["not a phone number"]
    if name is not None and len(name) > MAX_NAME:
        problems["name"] = [f"at most {MAX_NAME} characters"]
    if problems:
        raise InvalidInput("invalid contact fields", errors=problems)
    if len(set(tags)) > MAX_TAGS:
        raise InvalidInput("too many tags", errors={"tags": [f"at most {MAX_TAGS}"]})
    load_account(state, account_id)
    with state.unit_of_work() as uow:
        if store.get_contact(uow.session, account_id, contact_id) is not None:
            raise Conflict(f"contact {contact_id} already exists in account {account_id}")
        suppressed = is_suppressed(state, uow.session, account_id, email, phone)
        if suppressed and not (suppression_override or "").strip():
            raise Conflict(
                "this person asked to be erased: the email or phone is on the suppression list. "
                "Create it only with an explicit override and its reason.",
                reason={"code": "suppressed", "text": "matches an erasure's suppression entry"},
            )
        try:
            store.add_tagged_contact(
                uow.session,
                account_id,
                contact_id,
                name,
                normalise_email(email),
                phone,
                tags=sorted(set(tags)),
            )
        except store.ContactExists:
            raise Conflict(f"contact {contact_id} already exists") from None
        contact = store.get_contact(uow.session, account_id, contact_id)
        assert contact is not None
        if suppressed:
            override = str(suppression_override)
            uow.record(
                suppression_overridden_event(state, caller, account_id, contact_id, override)
            )
        uow.record(contact_created_event(state, caller, contact, sorted(set(tags))))
        state.contacts_changed(uow.session, account_id)
        uow.commit()
    if tags:
        apply_rules_for_tags(state, caller, account_id, contact_id, sorted(set(tags)))
        return get_contact(state, caller, account_id, contact_id)
    return contact


def get_contact(state: Acts, caller: Caller, account_id: str, contact_id: str) -> Contact:
    require(state, caller, "contact", "contact.read", account_id=account_id)
    with state.unit_of_work(write=False) as uow:
        contact = (
            store.get_contact(uow.session, account_id, contact_id)
            if is_valid_contact_id(contact_id)
            else None
        )
    if contact is None:
        raise NotFound(f"contact {contact_id} does not exist in account {account_id}")
    return contact


def list_contacts(
    state: Acts,
    caller: Caller,
    account_id: str,
    *,
    query: str | None,
    tag: str | None,
    after: str | None,
    limit: int,
) -> list[Contact]:
    require(state, caller, "contact", "contact.read", account_id=account_id)
    with state.unit_of_work(write=False) as uow:
        return contact_search.search_contacts(
            uow.session, account_id, "active", query, after=after, limit=limit, tag=tag
        )


def add_record(
    state: Acts,
    caller: Caller,
    account_id: str,
    contact_id: str,
    kind: str,
    data: dict[str, Any],
) -> RelatedRecord:
    require(state, caller, "contact", "contact.update", account_id=account_id)
    if kind not in RELATED_KINDS:
        raise InvalidInput("unknown kind", errors={"kind": [f"one of {list(RELATED_KINDS)}"]})
    if len(json.dumps(data)) > MAX_RECORD_BYTES:
        raise InvalidInput("data too large", errors={"data": [f"at most {MAX_RECORD_BYTES} bytes"]})
    label = None
    if kind == "tags":
        name = data.get("name")
        if not isinstance(name, str) or not 0 < len(name) <= 200:
            raise InvalidInput("a tag needs a name", errors={"data": ["tags need {'name': str}"]})
        label = name
    with state.unit_of_work() as uow:
        contact = (
            store.get_contact(uow.session, account_id, contact_id, for_update=True)
            if is_valid_contact_id(contact_id)
            else None
        )
        if contact is None:
            raise NotFound(f"contact {contact_id} does not exist in account {account_id}")
        if contact.state != "active":
            raise Conflict(
                f"contact {contact_id} is {contact.state}; records go on active contacts"
            )
        record = store.add_record(uow.session, account_id, contact_id, kind, data, label)
        if kind in ENROLLMENTS:  # a fact decisions read (a profile's delete guards)
            state.contacts_changed(uow.session, account_id)
        uow.commit()
    if kind == "tags" and label is not None:
        apply_rules_for_tags(state, caller, account_id, contact_id, [label])
    return record


def end_enrollment(
    state: Acts, caller: Caller, account_id: str, contact_id: str, record_id: str
) -> RelatedRecord:
    """Seed 004: "Remove them from the campaign or workflow before attempting deletion."
    The enrollment ends (state ``stopped``), on record; a profile's guard then lets the
    delete go ahead."""
    action = "enrollment.end"
    require(
        state,
        caller,
        "contact",
        "contact.update",
        account_id=account_id,
        target_type="record",
        target_id=record_id,
    )
    refusal: tuple[int, str, str] | None = None
    with state.unit_of_work() as uow:
        record = (
            store.get_record(uow.session, account_id, contact_id, record_id)
            if is_valid_contact_id(contact_id)
            else None
        )
        if record is None:
            raise NotFound(f"contact {contact_id} has no record {record_id}")
        if record.kind not in ENROLLMENTS:
            refusal = (422, "not_an_enrollment", f"a {record.kind} record has no status to end")
        elif record.state != ACTIVE:
            refusal = (409, "not_active", f"the enrollment is already {record.state}")
        else:
            store.set_record_state(uow.session, account_id, record_id, STOPPED, utcnow())
            uow.record(enrollment_ended_event(state, caller, contact_id, record))
            state.contacts_changed(uow.session, account_id)
            uow.commit()
            ended = store.get_record(uow.session, account_id, contact_id, record_id)
            assert ended is not None
            return ended
    status, code, text = refusal
    raise refused(
        state, caller, Refusal(action, status, code, text, account_id, "record", record_id)
    )


def list_records(
    state: Acts, caller: Caller, account_id: str, contact_id: str
) -> list[RelatedRecord]:
    get_contact(state, caller, account_id, contact_id)
    with state.unit_of_work(write=False) as uow:
        return store.records_of(uow.session, account_id, contact_id)
