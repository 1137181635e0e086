"""Contacts and related records, and the set-based statements a cascade runs.

A cascade over a chunk of contacts is a handful of UPDATE statements (one per action), not a
loop over records: that is what lets a bulk delete of 100,000 contacts run at thousands a
second. Only ``anonymize`` rewrites each record's data, and only for the few kinds that have
business fields to keep.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    Boolean,
    Connection,
    String,
    Table,
    and_,
    any_,
    bindparam,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from policy_service.domain.cascade import (
    ACTIVE,
    ANONYMIZED,
    ANONYMIZED_FIELDS,
    DESTROYED,
    OPEN_STATES,
    RETAINED,
    STOPPED,
    TRASHED,
)
from policy_service.domain.clock import utcnow
from policy_service.domain.contacts import CascadeCounts, Contact, ContactFacts, RelatedRecord
from policy_service.domain.dsr import normalise_phone
from policy_service.storage.tables import ContactRow, LegalHoldRow, RelatedRecordRow

contacts_t = cast(Table, ContactRow.__table__)
records_t = cast(Table, RelatedRecordRow.__table__)
holds_t = cast(Table, LegalHoldRow.__table__)


class _OneOf(ColumnElement[bool]):
    """``column IN (...)`` for a list of ids. On PostgreSQL it binds one array parameter
    (``= ANY(%(ids)s)``) instead of one parameter per id: for a 500-contact chunk, rendering
    and parsing the expanded list cost more than running the statement."""

    inherit_cache = True
    type = Boolean()

    def __init__(self, column: Any, values: Sequence[str]) -> None:
        self.column = column
        self.values = bindparam(None, list(values), type_=ARRAY(String()))
        self.plain = column.in_(list(values))


@compiles(_OneOf)
def _one_of_default(element: _OneOf, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.plain, **kw))


@compiles(_OneOf, "postgresql")
def _one_of_postgresql(element: _OneOf, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.column == any_(element.values), **kw))


def one_of(column: Any, values: Sequence[str]) -> Any:
    return _OneOf(column, values)


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(10)}"


def _contact(row: Any, tags: Sequence[str] = ()) -> Contact:
    return Contact(
        account_id=row.account_id,
        id=row.id,
        name=row.name,
        email=row.email,
        phone=row.phone,
        state=row.state,
        deleted_at=row.deleted_at,
        deleted_by=row.deleted_by,
        delete_operation_id=row.delete_operation_id,
        delete_reason=row.delete_reason,
        purged_at=row.purged_at,
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
        tags=tuple(tags),
    )


def _record(row: Any) -> RelatedRecord:
    return RelatedRecord(
        id=row.id,
        account_id=row.account_id,
        contact_id=row.contact_id,
        origin_contact_id=row.origin_contact_id,
        kind=row.kind,
        label=row.label,
        data=json.loads(row.data),
        state=row.state,
        operation_id=row.operation_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


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
    return _contact(row, tags_of(session, account_id, [contact_id]).get(contact_id, ()))


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
    return {row.id: _contact(row) for row in rows}


def tags_of(session: Session, account_id: str, contact_ids: Sequence[str]) -> dict[str, list[str]]:
    rows = session.execute(
        select(records_t.c.contact_id, records_t.c.label)
        .where(
            records_t.c.account_id == account_id,
            one_of(records_t.c.contact_id, contact_ids),
            records_t.c.kind == "tags",
            records_t.c.state.in_((ACTIVE, TRASHED)),
        )
        .order_by(records_t.c.label)
    ).all()
    tags: dict[str, list[str]] = {}
    for contact_id, label in rows:
        tags.setdefault(contact_id, []).append(label)
    return tags


LIKE_ESCAPE = "\\"


def like_literal(text: str) -> str:
    """``text`` with LIKE's wildcards escaped: a search for ``50%_off`` finds that, not all."""
    return (
        text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2)
        .replace("%", LIKE_ESCAPE + "%")
        .replace("_", LIKE_ESCAPE + "_")
    )


def _search(query: str) -> Any:
    lowered = f"%{like_literal(query.lower())}%"
    return or_(
        func.lower(contacts_t.c.name).like(lowered, escape=LIKE_ESCAPE),
        func.lower(contacts_t.c.email).like(lowered, escape=LIKE_ESCAPE),
        contacts_t.c.phone.like(f"%{like_literal(query)}%", escape=LIKE_ESCAPE),
        contacts_t.c.id == query,
    )


def search_contacts(
    session: Session,
    account_id: str,
    state: str,
    query: str | None,
    *,
    after: str | None,
    limit: int,
    tag: str | None = None,
) -> list[Contact]:
    statement = (
        select(contacts_t)
        .where(contacts_t.c.account_id == account_id, contacts_t.c.state == state)
        .order_by(contacts_t.c.id)
        .limit(limit)
    )
    if query:
        statement = statement.where(_search(query))
    if after:
        statement = statement.where(contacts_t.c.id > after)
    if tag:
        statement = statement.where(contacts_t.c.id.in_(_tagged(account_id, tag, state)))
    rows = session.execute(statement).all()
    tags = tags_of(session, account_id, [row.id for row in rows]) if rows else {}
    return [_contact(row, tags.get(row.id, ())) for row in rows]


def _tagged(account_id: str, tag: str, contact_state: str = ACTIVE) -> Any:
    # A trashed contact's kept tags went to the trash with it: they still say what it was.
    tag_states = (ACTIVE, TRASHED) if contact_state == TRASHED else (ACTIVE,)
    return select(records_t.c.contact_id).where(
        records_t.c.account_id == account_id,
        records_t.c.kind == "tags",
        records_t.c.label == tag,
        records_t.c.state.in_(tag_states),
    )


def select_active_ids(
    session: Session,
    account_id: str,
    *,
    ids: Sequence[str] | None = None,
    tag: str | None = None,
    query: str | None = None,
) -> list[str]:
    """The active contacts a bulk selection names, in a stable order."""
    return select_ids(session, account_id, ACTIVE, ids=ids, tag=tag, query=query)


def select_ids(
    session: Session,
    account_id: str,
    state: str,
    *,
    ids: Sequence[str] | None = None,
    tag: str | None = None,
    query: str | None = None,
) -> list[str]:
    """The contacts in ``state`` a bulk selection names, in a stable order."""
    statement = (
        select(contacts_t.c.id)
        .where(contacts_t.c.account_id == account_id, contacts_t.c.state == state)
        .order_by(contacts_t.c.id)
    )
    if ids is not None:
        statement = statement.where(one_of(contacts_t.c.id, ids))
    if tag is not None:
        statement = statement.where(contacts_t.c.id.in_(_tagged(account_id, tag, state)))
    if query:
        statement = statement.where(_search(query))
    return list(session.execute(statement).scalars())


def bump_version(
    session: Session, account_id: str, contact_id: str, seen_version: int, **values: Any
) -> bool:
    """Change a contact only if nobody changed it since it was read (its version)."""
    result = session.execute(
        update(contacts_t)
        .where(
            contacts_t.c.account_id == account_id,
            contacts_t.c.id == contact_id,
            contacts_t.c.version == seen_version,
        )
        .values(version=contacts_t.c.version + 1, updated_at=utcnow(), **values)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def set_states(
    session: Session,
    account_id: str,
    contact_ids: Sequence[str],
    from_state: str,
    **values: Any,
) -> int:
    """Move many contacts at once, only those still in ``from_state``."""
    result = session.execute(
        update(contacts_t)
        .where(
            contacts_t.c.account_id == account_id,
            one_of(contacts_t.c.id, contact_ids),
            contacts_t.c.state == from_state,
        )
        .values(version=contacts_t.c.version + 1, updated_at=utcnow(), **values)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


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
    return _record(type("Row", (), values))


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
    return _record(row) if row is not None else None


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
    return [_record(row) for row in rows]


def open_counts(
    session: Session, account_id: str, contact_ids: Sequence[str]
) -> dict[tuple[str, str], int]:
    """(kind, state) -> how many linked records a cascade could still act on."""
    rows = session.execute(
        select(records_t.c.kind, records_t.c.state, func.count())
        .where(
            records_t.c.account_id == account_id,
            one_of(records_t.c.contact_id, contact_ids),
            records_t.c.state.in_(OPEN_STATES),
        )
        .group_by(records_t.c.kind, records_t.c.state)
    ).all()
    return {(kind, state): int(count) for kind, state, count in rows}


# Which record states each action moves, per phase. ``keep`` on delete hides active records
# with the contact; everything else acts on every record that is still open.
def _states_moved(phase: str, action: str) -> tuple[str, ...]:
    if action == "keep":
        return (ACTIVE,) if phase == "delete" else (ACTIVE, TRASHED)
    if action == "stop":
        return (ACTIVE, TRASHED)
    return tuple(OPEN_STATES)


def plan_cascade(
    open_by_kind_state: dict[tuple[str, str], int], actions: dict[str, str], phase: str
) -> CascadeCounts:
    counts = CascadeCounts()
    for (kind, state), count in open_by_kind_state.items():
        action = actions[kind]
        if state in _states_moved(phase, action):
            counts.add(kind, action, count)
    return counts


def run_cascade(
    session: Session,
    account_id: str,
    contact_ids: Sequence[str],
    actions: dict[str, str],
    phase: str,
    operation_id: str,
    now: datetime,
) -> None:
    """Apply ``actions`` (kind -> action) to the contacts' linked records, set-wise."""
    kinds_by_action: dict[str, list[str]] = {}
    for kind, action in actions.items():
        kinds_by_action.setdefault(action, []).append(kind)
    ids = list(contact_ids)
    for action, kinds in kinds_by_action.items():
        where = and_(
            records_t.c.account_id == account_id,
            one_of(records_t.c.contact_id, ids),
            records_t.c.kind.in_(kinds),
            records_t.c.state.in_(_states_moved(phase, action)),
        )
        common = {"operation_id": operation_id, "updated_at": now}
        if action == "keep":
            state = TRASHED if phase == "delete" else RETAINED
            session.execute(update(records_t).where(where).values(state=state, **common))
        elif action == "destroy":
            session.execute(
                update(records_t)
                .where(where)
                .values(state=DESTROYED, data="{}", label=None, **common)
            )
        elif action == "stop":
            session.execute(update(records_t).where(where).values(state=STOPPED, **common))
        elif action == "detach":
            session.execute(
                update(records_t).where(where).values(state=ACTIVE, contact_id=None, **common)
            )
        elif action == "anonymize":
            _anonymize(session, where, common)
        else:  # validated at load; reaching here is a bug
            raise ValueError(f"unknown cascade action {action!r}")


def _anonymize(session: Session, where: Any, common: dict[str, Any]) -> None:
    rows = session.execute(select(records_t.c.id, records_t.c.kind, records_t.c.data).where(where))
    updates = []
    for record_id, kind, data in rows.all():
        kept_fields = ANONYMIZED_FIELDS.get(kind, ())
        original = json.loads(data)
        kept = {key: original[key] for key in kept_fields if key in original}
        updates.append({"rid": record_id, "new_data": json.dumps(kept, separators=(",", ":"))})
    if updates:
        session.execute(
            update(records_t)
            .where(records_t.c.id == bindparam("rid"))
            .values(
                data=bindparam("new_data"),
                state=ANONYMIZED,
                contact_id=None,
                label=None,
                **common,
            ),
            updates,
        )


def restore_records(
    session: Session, account_id: str, contact_id: str, operation_id: str, now: datetime
) -> CascadeCounts:
    """Undo exactly what one delete hid: records it trashed come back, records it detached
    are re-attached. Destroyed, stopped and anonymized records stay as they are."""
    counts = CascadeCounts()
    base = and_(
        records_t.c.account_id == account_id,
        records_t.c.origin_contact_id == contact_id,
        records_t.c.operation_id == operation_id,
    )
    restorable = [
        (and_(base, records_t.c.state == TRASHED, records_t.c.contact_id == contact_id), "restore"),
        (and_(base, records_t.c.state == ACTIVE, records_t.c.contact_id.is_(None)), "reattach"),
    ]
    for where, action in restorable:
        for kind, count in session.execute(
            select(records_t.c.kind, func.count()).where(where).group_by(records_t.c.kind)
        ).all():
            counts.add(kind, action, int(count))
        session.execute(
            update(records_t)
            .where(where)
            .values(state=ACTIVE, contact_id=contact_id, operation_id=None, updated_at=now)
        )
    return counts


# -- facts for decisions --------------------------------------------------------------------


def facts_of(
    session: Session | Connection, account_id: str, contact_ids: Iterable[str]
) -> dict[str, ContactFacts]:
    """What decisions need about these contacts, in one round trip."""
    ids = list(contact_ids)
    if not ids:
        return {}
    held = (
        select(holds_t.c.id)
        .where(
            holds_t.c.account_id == contacts_t.c.account_id,
            holds_t.c.contact_id == contacts_t.c.id,
            holds_t.c.released_at.is_(None),
        )
        .exists()
    )
    rows = session.execute(
        select(
            contacts_t.c.id,
            contacts_t.c.state,
            contacts_t.c.deleted_at,
            held,
            _enrolled("workflow_enrollments"),
            _enrolled("campaign_enrollments"),
        ).where(contacts_t.c.account_id == account_id, one_of(contacts_t.c.id, ids))
    ).all()
    return {
        row[0]: ContactFacts(row[1], row[2], bool(row[3]), bool(row[4]), bool(row[5]))
        for row in rows
    }


def _enrolled(kind: str) -> Any:
    return (
        select(records_t.c.id)
        .where(
            records_t.c.account_id == contacts_t.c.account_id,
            records_t.c.contact_id == contacts_t.c.id,
            records_t.c.kind == kind,
            records_t.c.state == ACTIVE,
        )
        .exists()
    )


def active_enrollments(
    session: Session, account_id: str, contact_ids: Sequence[str], kind: str
) -> set[str]:
    return set(
        session.execute(
            select(records_t.c.contact_id)
            .where(
                records_t.c.account_id == account_id,
                one_of(records_t.c.contact_id, contact_ids),
                records_t.c.kind == kind,
                records_t.c.state == ACTIVE,
            )
            .distinct()
        ).scalars()
    )


# -- legal holds ------------------------------------------------------------------------------


def held_contacts(session: Session, account_id: str, contact_ids: Sequence[str]) -> set[str]:
    return set(
        session.execute(
            select(holds_t.c.contact_id).where(
                holds_t.c.account_id == account_id,
                one_of(holds_t.c.contact_id, contact_ids),
                holds_t.c.released_at.is_(None),
            )
        ).scalars()
    )


def open_counts_per_contact(
    session: Session, account_id: str, contact_ids: Sequence[str]
) -> dict[str, dict[tuple[str, str], int]]:
    """contact -> (kind, state) -> count, for the per-contact audit details of a chunk."""
    rows = session.execute(
        select(records_t.c.contact_id, records_t.c.kind, records_t.c.state, func.count())
        .where(
            records_t.c.account_id == account_id,
            one_of(records_t.c.contact_id, contact_ids),
            records_t.c.state.in_(OPEN_STATES),
        )
        .group_by(records_t.c.contact_id, records_t.c.kind, records_t.c.state)
    ).all()
    counts: dict[str, dict[tuple[str, str], int]] = {}
    for contact_id, kind, state, count in rows:
        counts.setdefault(contact_id, {})[(kind, state)] = int(count)
    return counts


def active_enrollments_any(
    session: Session, account_id: str, contact_ids: Sequence[str], kinds: Sequence[str]
) -> set[str]:
    if not kinds:
        return set()
    return set(
        session.execute(
            select(records_t.c.contact_id)
            .where(
                records_t.c.account_id == account_id,
                one_of(records_t.c.contact_id, contact_ids),
                records_t.c.kind.in_(list(kinds)),
                records_t.c.state == ACTIVE,
            )
            .distinct()
        ).scalars()
    )
