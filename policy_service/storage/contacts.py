"""Contacts and their related records, row by row: adding, reading and changing them, and
the facts a decision needs about many contacts in one round trip.

The set-based statements live beside this module: a contact as an action reads it
(``action_reads``), the cascade over its records (``cascade``), finding contacts
(``contact_search``), and the predicates and SQL constructs they share
(``contact_predicates``, ``sql_constructs``).
"""

from __future__ import annotations

import functools
import json
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import fields, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, String, bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from audit.writer import AheadStatement
from policy_service.domain.cascade import ACTIVE, TRASHED
from policy_service.domain.clock import utcnow
from policy_service.domain.contacts import Contact, ContactFacts, RelatedRecord
from policy_service.domain.dsr import normalise_phone
from policy_service.storage.contact_predicates import (
    contacts_t,
    fact_columns,
    facts_from_row,
    records_t,
)
from policy_service.storage.rows import from_row
from policy_service.storage.sql_constructs import (
    constant,
    constants_in,
    one_of,
    one_of_param,
    one_of_values,
    statement_ahead,
)


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(10)}"


def contact_from_row(row: Any, tags: Sequence[str] = ()) -> Contact:
    return from_row(Contact, row, tags=tuple(tags))


def _record_from_row(row: Any) -> RelatedRecord:
    return from_row(RelatedRecord, row, data=json.loads(row.data))


# -- contacts ---------------------------------------------------------------------------------


def add_contact(
    session: Session,
    account_id: str,
    contact_id: str,
    name: str | None,
    email: str | None,
    phone: str | None,
) -> None:
    now = utcnow()
    session.execute(
        contacts_t.insert().values(
            account_id=account_id,
            id=contact_id,
            name=name,
            email=email,
            phone=phone,
            phone_normalized=normalise_phone(phone),
            state="active",
            version=1,
            created_at=now,
            updated_at=now,
        )
    )


class ContactExists(Exception):
    """The contact id is taken (found by the database's key, as by a concurrent create)."""


def add_tagged_contact(
    session: Session,
    account_id: str,
    contact_id: str,
    name: str | None,
    email: str | None,
    phone: str | None,
    *,
    tags: Sequence[str],
) -> None:
    """A new active contact with its tags; ``ContactExists`` if the id is taken (the
    transaction must then roll back)."""
    try:
        add_contact(session, account_id, contact_id, name, email, phone)
        for tag in tags:
            add_record(session, account_id, contact_id, "tags", {"name": tag}, tag)
        session.flush()
    except IntegrityError:
        raise ContactExists(contact_id) from None


def get_contact(
    session: Session, account_id: str, contact_id: str, *, for_update: bool = False
) -> Contact | None:
    query = select(contacts_t).where(
        contacts_t.c.account_id == account_id, contacts_t.c.id == contact_id
    )
    if for_update:
        query = query.with_for_update()
    row = session.execute(query).first()
    if row is None:
        return None
    return contact_from_row(row, tags_of(session, account_id, [contact_id]).get(contact_id, ()))


def get_contacts(
    session: Session, account_id: str, contact_ids: Sequence[str]
) -> dict[str, Contact]:
    if not contact_ids:
        return {}
    rows = session.execute(
        select(contacts_t).where(
            contacts_t.c.account_id == account_id, one_of(contacts_t.c.id, contact_ids)
        )
    ).all()
    return {row.id: contact_from_row(row) for row in rows}


def tags_of(session: Session, account_id: str, contact_ids: Sequence[str]) -> dict[str, list[str]]:
    rows = session.execute(
        select(records_t.c.contact_id, records_t.c.label)
        .where(
            records_t.c.account_id == account_id,
            one_of(records_t.c.contact_id, contact_ids),
            records_t.c.kind == constant("tags"),
            constants_in(records_t.c.state, (ACTIVE, TRASHED)),
        )
        .order_by(records_t.c.label)
    ).all()
    tags: dict[str, list[str]] = {}
    for contact_id, label in rows:
        tags.setdefault(contact_id, []).append(label)
    return tags


def change_contact(
    session: Session,
    account_id: str,
    contact_id: str,
    seen_version: int,
    *,
    tags: Sequence[str],
    **values: Any,
) -> Contact | None:
    """Change a contact only if nobody changed it since it was read (its version), and
    answer with it as stored (``UPDATE ... RETURNING``; SQLite has it from 3.35), with
    ``tags``; None if someone changed it since it was read."""
    params = _set_params(values, utcnow())
    params.update(p_account_id=account_id, p_contact_id=contact_id, p_version=seen_version)
    row = session.execute(_change_contact_statement(tuple(sorted(values))), params).first()
    return contact_from_row(row, tags) if row is not None else None


def change_contact_ahead(
    session: Session,
    contact: Contact,
    *,
    tags: Sequence[str],
    **values: Any,
) -> tuple[AheadStatement, Contact]:
    """``change_contact`` for a contact read locked (``read_for_action``) whose audit event
    follows at once: the UPDATE is sent ahead of the event (``statement_ahead``), so it is
    not answered by the database but worked out here - the contact as read, with ``values``,
    the next version and the time. The caller checks the statement's row count once the
    event is recorded: 0 means someone changed the contact since it was read."""
    now = utcnow()
    params = _set_params(values, now)
    params.update(p_account_id=contact.account_id, p_contact_id=contact.id)
    params.update(p_version=contact.version)
    statement = _change_contact_statement(tuple(sorted(values)), returning=False)
    stored = {name: value for name, value in values.items() if name in _CONTACT_FIELDS}
    changed = replace(
        contact, **stored, version=contact.version + 1, updated_at=now, tags=tuple(tags)
    )
    return statement_ahead(session, statement, params), changed


_CONTACT_FIELDS = frozenset(field.name for field in fields(Contact))


@functools.lru_cache(maxsize=32)
def _change_contact_statement(names: tuple[str, ...], returning: bool = True) -> Any:
    """``change_contact``'s UPDATE for one set of changed columns, built once."""
    columns = contacts_t.c
    statement = (
        update(contacts_t)
        .where(
            columns.account_id == bindparam("p_account_id", type_=String()),
            columns.id == bindparam("p_contact_id", type_=String()),
            columns.version == bindparam("p_version", type_=columns.version.type),
        )
        .values(_set_clause(names))
    )
    return statement.returning(*contacts_t.c) if returning else statement


def _set_clause(names: tuple[str, ...]) -> dict[str, Any]:
    """What a contact UPDATE sets: the named columns (bound as ``v_<name>``), the time and
    the next version."""
    columns = contacts_t.c
    return {
        "version": columns.version + 1,
        **{
            name: bindparam(f"v_{name}", type_=columns[name].type)
            for name in (*names, "updated_at")
        },
    }


def _set_params(values: dict[str, Any], now: datetime) -> dict[str, Any]:
    """``_set_clause``'s parameters for ``values``, changed at ``now``."""
    return {**{f"v_{name}": value for name, value in values.items()}, "v_updated_at": now}


def set_states_ahead(
    session: Session,
    account_id: str,
    contact_ids: Sequence[str],
    from_state: str,
    **values: Any,
) -> AheadStatement:
    """Move many contacts at once, only those still in ``from_state``, for a chunk whose
    audit events follow at once: the UPDATE goes ahead of them (``statement_ahead``), and
    its row count, checked by the caller once they are recorded, says how many contacts
    were still in ``from_state``."""
    params = _set_params(values, utcnow())
    params.update(s_account=account_id, s_from=from_state, **one_of_values("s_ids", contact_ids))
    return statement_ahead(session, _set_states_statement(tuple(sorted(values))), params)


@functools.lru_cache(maxsize=32)
def _set_states_statement(names: tuple[str, ...]) -> Any:
    """``set_states_ahead``'s UPDATE for one set of changed columns, built once."""
    columns = contacts_t.c
    return (
        update(contacts_t)
        .where(
            columns.account_id == bindparam("s_account", type_=String()),
            one_of_param(columns.id, "s_ids"),
            columns.state == bindparam("s_from", type_=String()),
        )
        .values(_set_clause(names))
    )


# -- related records ------------------------------------------------------------------------


def add_record(
    session: Session,
    account_id: str,
    contact_id: str,
    kind: str,
    data: dict[str, Any],
    label: str | None = None,
) -> RelatedRecord:
    now = utcnow()
    values = {
        "id": new_id("rec"),
        "account_id": account_id,
        "contact_id": contact_id,
        "origin_contact_id": contact_id,
        "kind": kind,
        "label": label,
        "data": json.dumps(data, separators=(",", ":")),
        "state": ACTIVE,
        "operation_id": None,
        "created_at": now,
        "updated_at": now,
    }
    session.execute(records_t.insert().values(**values))
    return _record_from_row(type("Row", (), values))


def get_record(
    session: Session, account_id: str, contact_id: str, record_id: str
) -> RelatedRecord | None:
    """One record that came from the contact (linked to it now or not), locked for change."""
    row = session.execute(
        select(records_t)
        .where(
            records_t.c.account_id == account_id,
            records_t.c.origin_contact_id == contact_id,
            records_t.c.id == record_id,
        )
        .with_for_update()
    ).first()
    return _record_from_row(row) if row is not None else None


def set_record_state(
    session: Session, account_id: str, record_id: str, state: str, now: datetime
) -> None:
    session.execute(
        update(records_t)
        .where(records_t.c.account_id == account_id, records_t.c.id == record_id)
        .values(state=state, updated_at=now)
    )


def records_of(
    session: Session, account_id: str, contact_id: str, *, include_detached: bool = True
) -> list[RelatedRecord]:
    condition = records_t.c.origin_contact_id == contact_id
    if not include_detached:
        condition = records_t.c.contact_id == contact_id
    rows = session.execute(
        select(records_t)
        .where(records_t.c.account_id == account_id, condition)
        .order_by(records_t.c.kind, records_t.c.created_at, records_t.c.id)
    ).all()
    return [_record_from_row(row) for row in rows]


# -- facts for decisions --------------------------------------------------------------------


def facts_of(
    session: Session | Connection, account_id: str, contact_ids: Iterable[str]
) -> dict[str, ContactFacts]:
    """What decisions need about these contacts, in one round trip."""
    ids = list(contact_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(*fact_columns()).where(
            contacts_t.c.account_id == account_id, one_of(contacts_t.c.id, ids)
        )
    ).all()
    return {row[0]: facts_from_row(row) for row in rows}


def account_facts(
    session: Session | Connection, account_id: str, limit: int
) -> dict[str, ContactFacts]:
    """What decisions need about the account's contacts, the first ``limit`` of them by id."""
    rows = session.execute(
        select(*fact_columns())
        .where(contacts_t.c.account_id == account_id)
        .order_by(contacts_t.c.id)
        .limit(limit)
    ).all()
    return {row[0]: facts_from_row(row) for row in rows}
