"""Contacts and related records, and the set-based statements a cascade runs.

A cascade over a chunk of contacts is a handful of UPDATE statements (one per action), not a
loop over records: that is what lets a bulk delete of 100,000 contacts run at thousands a
second. Only ``anonymize`` rewrites each record's data, and only for the few kinds that have
business fields to keep.
"""

from __future__ import annotations

import functools
import json
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
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
    case,
    func,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal

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

    # The cache key covers the column and both parameters (each dialect renders one of them),
    # so a cached statement takes each call's own values. Without a traversal of its own the
    # construct had no cache key at all: every statement using it was compiled on each call.
    _traverse_internals = [
        ("column", InternalTraversal.dp_clauseelement),
        ("values", InternalTraversal.dp_clauseelement),
        ("plain", InternalTraversal.dp_clauseelement),
    ]
    inherit_cache = True
    type = Boolean()

    def __init__(self, column: Any, values: Sequence[str] | str) -> None:
        self.column = column
        if isinstance(values, str):  # the name of a parameter given at execution, twice
            self.values = bindparam(values, type_=ARRAY(String()))
            self.plain = column.in_(bindparam(f"{values}_list", expanding=True))
        else:
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


def one_of_param(column: Any, name: str) -> Any:
    """``one_of`` for a statement built once: the ids are given at execution, as
    ``one_of_values(name, ids)``."""
    return _OneOf(column, name)


def one_of_values(name: str, values: Sequence[str]) -> dict[str, list[str]]:
    return {name: list(values), f"{name}_list": list(values)}


class _KeptFields(ColumnElement[str]):
    """A record's JSON ``data`` cut down to ``fields`` (those present), as JSON text: what
    ``anonymize`` keeps, computed by the database so the cascade stays one statement."""

    _traverse_internals = [
        ("data", InternalTraversal.dp_clauseelement),
        ("array", InternalTraversal.dp_clauseelement),
        ("expanding", InternalTraversal.dp_clauseelement),
    ]
    inherit_cache = True
    type = String()

    def __init__(self, data: Any, fields: Sequence[str]) -> None:
        self.data = data
        self.array = bindparam(None, list(fields), type_=ARRAY(String()))
        self.expanding = bindparam(None, list(fields), expanding=True, type_=String())


# json_each gives JSON true/false as 1/0 on SQLite: they are put back as JSON, not numbers.
# Only compiled SQL goes into the holes: the data column and a bound parameter.
_KEPT_SQLITE = (
    "COALESCE((SELECT json_group_object(e.key, CASE e.type WHEN 'true' THEN json('true')"
    " WHEN 'false' THEN json('false') ELSE e.value END) FROM json_each({data}) AS e"
    " WHERE e.key IN {fields}), '{{}}')"
)
_KEPT_POSTGRESQL = (
    "COALESCE((SELECT json_object_agg(e.key, e.value) FROM json_each(CAST({data} AS json))"
    " AS e WHERE e.key = ANY({fields}))::text, '{{}}')"
)


@compiles(_KeptFields)
def _kept_fields_sqlite(element: _KeptFields, compiler: Any, **kw: Any) -> str:
    return _KEPT_SQLITE.format(
        data=compiler.process(element.data, **kw),
        fields=compiler.process(element.expanding, **kw),
    )


@compiles(_KeptFields, "postgresql")
def _kept_fields_postgresql(element: _KeptFields, compiler: Any, **kw: Any) -> str:
    return _KEPT_POSTGRESQL.format(
        data=compiler.process(element.data, **kw),
        fields=compiler.process(element.array, **kw),
    )


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
    return _contact(row, tags_of(session, account_id, [contact_id]).get(contact_id, ()))


@dataclass(frozen=True, slots=True)
class RecordGroup:
    """Open records that came from one contact, counted by what an action looks at."""

    kind: str
    state: str
    linked: bool  # still linked to the contact (not detached)
    operation_id: str | None
    tag: str | None  # the label, for tags only
    count: int


@dataclass(frozen=True, slots=True)
class ContactForAction:
    """A contact as one statement reads it for a delete, restore or purge: its row (locked),
    the facts a decision needs, and its open records counted in groups - everything the
    decision, the cascade's counts and the answer need, so nothing is read twice."""

    contact: Contact
    facts: ContactFacts
    groups: tuple[RecordGroup, ...]

    def open_counts(self) -> dict[tuple[str, str], int]:
        """(kind, state) -> linked open records: what ``open_counts`` would say."""
        counts: dict[tuple[str, str], int] = {}
        for group in self.groups:
            if group.linked:
                key = (group.kind, group.state)
                counts[key] = counts.get(key, 0) + group.count
        return counts

    def tags_after(
        self, moved: Callable[[RecordGroup], tuple[str, bool] | None] | None = None
    ) -> tuple[str, ...]:
        """The contact's tags (in label order) once each group ``moved`` names has been
        moved to its new (state, linked): what ``tags_of`` would then read."""
        tags: list[str] = []
        for group in self.groups:
            if group.kind != "tags" or group.tag is None:
                continue
            state, linked = (moved and moved(group)) or (group.state, group.linked)
            if linked and state in (ACTIVE, TRASHED):
                tags.extend([group.tag] * group.count)
        return tuple(tags)


_TAG = case((records_t.c.kind == "tags", records_t.c.label), else_=None)
# A record is linked to the contact it came from or to none (detached, anonymized): reading
# by origin_contact_id finds both, and "linked" is contact_id IS NOT NULL.
_LINKED = records_t.c.contact_id.is_not(None)


def _read_for_action_query(for_update: bool) -> Any:
    account_id = bindparam("account_id", type_=String())
    contact_id = bindparam("contact_id", type_=String())
    groups = (
        select(
            records_t.c.kind.label("g_kind"),
            records_t.c.state.label("g_state"),
            _LINKED.label("g_linked"),
            records_t.c.operation_id.label("g_operation_id"),
            _TAG.label("g_tag"),
            func.count().label("g_count"),
        )
        .where(
            records_t.c.account_id == account_id,
            records_t.c.origin_contact_id == contact_id,
            records_t.c.state.in_(sorted(OPEN_STATES)),
        )
        .group_by(records_t.c.kind, records_t.c.state, _LINKED, records_t.c.operation_id, _TAG)
        .subquery("g")
    )
    held = (
        select(holds_t.c.id)
        .where(
            holds_t.c.account_id == contacts_t.c.account_id,
            holds_t.c.contact_id == contacts_t.c.id,
            holds_t.c.released_at.is_(None),
        )
        .exists()
        .label("g_held")
    )
    query = (
        select(contacts_t, held, *groups.c)
        .select_from(contacts_t.outerjoin(groups, true()))
        .where(contacts_t.c.account_id == account_id, contacts_t.c.id == contact_id)
        .order_by(groups.c.g_tag)
    )
    return query.with_for_update(of=contacts_t) if for_update else query


# Built once: building a statement costs more Python than running a cached one.
_READ_FOR_ACTION = {flag: _read_for_action_query(flag) for flag in (True, False)}


def read_for_action(
    session: Session, account_id: str, contact_id: str, *, for_update: bool = True
) -> ContactForAction | None:
    """The contact, its facts and its open records' counts, in one statement."""
    rows = session.execute(
        _READ_FOR_ACTION[for_update], {"account_id": account_id, "contact_id": contact_id}
    ).all()
    if not rows:
        return None
    found = tuple(
        RecordGroup(
            row.g_kind,
            row.g_state,
            bool(row.g_linked),
            row.g_operation_id,
            row.g_tag,
            int(row.g_count),
        )
        for row in rows
        if row.g_kind is not None
    )
    first = rows[0]

    def enrolled(kind: str) -> bool:
        return any(g.kind == kind and g.state == ACTIVE and g.linked for g in found)

    facts = ContactFacts(
        first.state,
        first.deleted_at,
        bool(first.g_held),
        enrolled("workflow_enrollments"),
        enrolled("campaign_enrollments"),
    )
    read = ContactForAction(_contact(first), facts, found)
    tags = read.tags_after()
    return ContactForAction(_contact(first, tags), facts, found)


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


def expired_trash_ids(
    session: Session, account_id: str, cutoff: datetime, *, after: str, limit: int
) -> list[str]:
    """Trashed contacts deleted before ``cutoff`` (past their restore window), by id, after
    ``after``: the retention sweep's next chunk."""
    return list(
        session.execute(
            select(contacts_t.c.id)
            .where(
                contacts_t.c.account_id == account_id,
                contacts_t.c.state == TRASHED,
                contacts_t.c.deleted_at < cutoff,
                contacts_t.c.id > after,
            )
            .order_by(contacts_t.c.id)
            .limit(limit)
        ).scalars()
    )


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


def change_contact(
    session: Session,
    account_id: str,
    contact_id: str,
    seen_version: int,
    *,
    tags: Sequence[str],
    **values: Any,
) -> Contact | None:
    """``bump_version`` that answers with the contact as stored (``UPDATE ... RETURNING``;
    SQLite has it from 3.35), with ``tags``; None if someone changed it since it was read."""
    params = {f"v_{name}": value for name, value in values.items()}
    params.update(p_account_id=account_id, p_contact_id=contact_id, p_version=seen_version)
    params["v_updated_at"] = utcnow()
    row = session.execute(_change_contact_statement(tuple(sorted(values))), params).first()
    return _contact(row, tags) if row is not None else None


@functools.lru_cache(maxsize=32)
def _change_contact_statement(names: tuple[str, ...]) -> Any:
    """``change_contact``'s UPDATE for one set of changed columns, built once."""
    columns = contacts_t.c
    return (
        update(contacts_t)
        .where(
            columns.account_id == bindparam("p_account_id", type_=String()),
            columns.id == bindparam("p_contact_id", type_=String()),
            columns.version == bindparam("p_version", type_=columns.version.type),
        )
        .values(
            version=columns.version + 1,
            **{
                name: bindparam(f"v_{name}", type_=columns[name].type)
                for name in (*names, "updated_at")
            },
        )
        .returning(*contacts_t.c)
    )


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


def _state_after(action: str, phase: str) -> str:
    if action == "keep":
        return TRASHED if phase == "delete" else RETAINED
    return {
        "destroy": DESTROYED,
        "stop": STOPPED,
        "detach": ACTIVE,
        "anonymize": ANONYMIZED,
    }[action]


def cascade_moves(
    actions: dict[str, str], phase: str
) -> Callable[[RecordGroup], tuple[str, bool] | None]:
    """Where ``run_cascade`` moves a group of records: its new (state, linked), or None."""

    def move(group: RecordGroup) -> tuple[str, bool] | None:
        action = actions.get(group.kind)
        if not group.linked or action is None or group.state not in _states_moved(phase, action):
            return None
        return _state_after(action, phase), action not in ("detach", "anonymize")

    return move


def run_cascade(
    session: Session,
    account_id: str,
    contact_ids: Sequence[str],
    actions: dict[str, str],
    phase: str,
    operation_id: str,
    now: datetime,
) -> None:
    """Apply ``actions`` (kind -> action) to the contacts' linked records in one UPDATE: each
    kind has one action, so a CASE on the kind says what becomes of a record - including
    ``anonymize``, whose kept fields the database cuts out of the JSON itself."""
    for action in actions.values():
        if action not in ("keep", "destroy", "stop", "detach", "anonymize"):
            raise ValueError(f"unknown cascade action {action!r}")  # validated at load: a bug
    statement = _cascade_statement(tuple(sorted(actions.items())), phase)
    session.execute(
        statement,
        {
            "p_account_id": account_id,
            "p_operation_id": operation_id,
            "p_now": now,
            **one_of_values("p_contact_ids", contact_ids),
        },
    )


@functools.lru_cache(maxsize=64)
def _cascade_statement(actions: tuple[tuple[str, str], ...], phase: str) -> Any:
    """The cascade's UPDATE for one profile's actions in one phase, built once (building a
    statement costs more Python than running a cached one); the rest are parameters."""
    kinds_by_action: dict[str, list[str]] = {}
    for kind, action in actions:
        kinds_by_action.setdefault(action, []).append(kind)
    of_kind = records_t.c.kind.in_
    in_scope = or_(
        *(
            and_(of_kind(kinds), records_t.c.state.in_(_states_moved(phase, action)))
            for action, kinds in kinds_by_action.items()
        )
    )
    values: dict[str, Any] = {
        "state": case(
            *((of_kind(kinds), _state_after(a, phase)) for a, kinds in kinds_by_action.items()),
            else_=records_t.c.state,
        ),
        "operation_id": bindparam("p_operation_id", type_=String()),
        "updated_at": bindparam("p_now", type_=records_t.c.updated_at.type),
    }
    destroyed = kinds_by_action.get("destroy", [])
    anonymized = kinds_by_action.get("anonymize", [])
    unlinked = kinds_by_action.get("detach", []) + anonymized
    data_whens: list[tuple[Any, Any]] = []
    if destroyed:
        data_whens.append((of_kind(destroyed), "{}"))
    for kind in anonymized:
        kept = ANONYMIZED_FIELDS.get(kind, ())
        new_data = _KeptFields(records_t.c.data, kept) if kept else "{}"
        data_whens.append((records_t.c.kind == kind, new_data))
    if data_whens:
        values["data"] = case(*data_whens, else_=records_t.c.data)
    if destroyed or anonymized:
        values["label"] = case((of_kind(destroyed + anonymized), None), else_=records_t.c.label)
    if unlinked:
        values["contact_id"] = case((of_kind(unlinked), None), else_=records_t.c.contact_id)
    return (
        update(records_t)
        .where(
            records_t.c.account_id == bindparam("p_account_id", type_=String()),
            one_of_param(records_t.c.contact_id, "p_contact_ids"),
            in_scope,
        )
        .values(**values)
    )


def restore_moves(operation_id: str) -> Callable[[RecordGroup], tuple[str, bool] | None]:
    """Where ``restore_records`` moves a group of records: back to active and linked."""

    def move(group: RecordGroup) -> tuple[str, bool] | None:
        if group.operation_id == operation_id and _restored_by(group) is not None:
            return ACTIVE, True
        return None

    return move


def _restored_by(group: RecordGroup) -> str | None:
    if group.state == TRASHED and group.linked:
        return "restore"
    if group.state == ACTIVE and not group.linked:
        return "reattach"
    return None


def restorable_counts(groups: Iterable[RecordGroup], operation_id: str) -> CascadeCounts:
    """What ``restore_records`` will bring back, from a ``read_for_action``'s groups."""
    counts = CascadeCounts()
    for group in groups:
        action = _restored_by(group)
        if group.operation_id == operation_id and action is not None:
            counts.add(group.kind, action, group.count)
    return counts


def restore_records(
    session: Session,
    account_id: str,
    contact_id: str,
    operation_id: str,
    now: datetime,
    *,
    counts: CascadeCounts | None = None,
) -> CascadeCounts:
    """Undo exactly what one delete hid: records it trashed come back, records it detached
    are re-attached. Destroyed, stopped and anonymized records stay as they are. ``counts``:
    what it will bring back, when already known (``restorable_counts``)."""
    base = and_(
        records_t.c.account_id == account_id,
        records_t.c.origin_contact_id == contact_id,
        records_t.c.operation_id == operation_id,
    )
    restorable = [
        (and_(base, records_t.c.state == TRASHED, records_t.c.contact_id == contact_id), "restore"),
        (and_(base, records_t.c.state == ACTIVE, records_t.c.contact_id.is_(None)), "reattach"),
    ]
    if counts is None:
        counts = CascadeCounts()
        for where, action in restorable:
            for kind, count in session.execute(
                select(records_t.c.kind, func.count()).where(where).group_by(records_t.c.kind)
            ).all():
                counts.add(kind, action, int(count))
    session.execute(
        update(records_t)
        .where(or_(*(where for where, _ in restorable)))
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
