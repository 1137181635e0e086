"""The set-based statements a cascade runs over a contact's related records.

A cascade over a chunk of contacts is one UPDATE (a CASE on the record's kind says what
becomes of it), not a loop over records: that is what lets a bulk delete of 100,000 contacts
run at thousands a second. Only ``anonymize`` rewrites a record's data, and the database cuts
the kept fields out of the JSON itself. The counts say beforehand what a cascade will move
(``plan_cascade``, ``restorable_counts``), and the ``*_moves`` functions say how a
``read_for_action``'s groups look afterwards.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import String, and_, bindparam, case, func, or_, select, update
from sqlalchemy.orm import Session

from audit.writer import AheadStatement
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
from policy_service.domain.contacts import CascadeCounts
from policy_service.storage.action_reads import RecordGroup
from policy_service.storage.contact_predicates import records_t
from policy_service.storage.sql_constructs import (
    constant,
    constants_in,
    kept_fields,
    one_of,
    one_of_param,
    one_of_values,
    statement_ahead,
)


def open_counts(
    session: Session, account_id: str, contact_ids: Sequence[str]
) -> dict[tuple[str, str], int]:
    """(kind, state) -> how many linked records a cascade could still act on."""
    rows = session.execute(
        select(records_t.c.kind, records_t.c.state, func.count())
        .where(
            records_t.c.account_id == account_id,
            one_of(records_t.c.contact_id, contact_ids),
            constants_in(records_t.c.state, OPEN_STATES),
        )
        .group_by(records_t.c.kind, records_t.c.state)
    ).all()
    return {(kind, state): int(count) for kind, state, count in rows}


def open_counts_per_contact(
    session: Session, account_id: str, contact_ids: Sequence[str]
) -> dict[str, dict[tuple[str, str], int]]:
    """contact -> (kind, state) -> count, for the per-contact audit details of a chunk."""
    rows = session.execute(
        select(records_t.c.contact_id, records_t.c.kind, records_t.c.state, func.count())
        .where(
            records_t.c.account_id == account_id,
            one_of(records_t.c.contact_id, contact_ids),
            constants_in(records_t.c.state, OPEN_STATES),
        )
        .group_by(records_t.c.contact_id, records_t.c.kind, records_t.c.state)
    ).all()
    counts: dict[str, dict[tuple[str, str], int]] = {}
    for contact_id, kind, state, count in rows:
        counts.setdefault(contact_id, {})[(kind, state)] = int(count)
    return counts


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
    """Where ``cascade_ahead`` moves a group of records: its new (state, linked), or None."""

    def move(group: RecordGroup) -> tuple[str, bool] | None:
        action = actions.get(group.kind)
        if not group.linked or action is None or group.state not in _states_moved(phase, action):
            return None
        return _state_after(action, phase), action not in ("detach", "anonymize")

    return move


def cascade_ahead(
    session: Session,
    account_id: str,
    contact_ids: Sequence[str],
    actions: dict[str, str],
    phase: str,
    operation_id: str,
    now: datetime,
) -> AheadStatement:
    """Apply ``actions`` (kind -> action) to the contacts' linked records in one UPDATE: each
    kind has one action, so a CASE on the kind says what becomes of a record - including
    ``anonymize``, whose kept fields the database cuts out of the JSON itself.

    The audit events of the contacts follow at once: on PostgreSQL the UPDATE is returned
    to be sent ahead of them (``UnitOfWork.record(..., ahead=...)``), so the database
    updates the records while the writer encodes the events, in the same round trips;
    elsewhere it runs now (see ``statement_ahead``)."""
    for action in actions.values():
        if action not in ("keep", "destroy", "stop", "detach", "anonymize"):
            raise ValueError(f"unknown cascade action {action!r}")  # validated at load: a bug
    values = {
        "p_account_id": account_id,
        "p_operation_id": operation_id,
        "p_now": now,
        **one_of_values("p_contact_ids", contact_ids),
    }
    statement = _cascade_statement(tuple(sorted(actions.items())), phase)
    return statement_ahead(session, statement, values)


@functools.lru_cache(maxsize=64)
def _cascade_statement(actions: tuple[tuple[str, str], ...], phase: str) -> Any:
    """The cascade's UPDATE for one profile's actions in one phase, built once (building a
    statement costs more Python than running a cached one); the rest are parameters."""
    kinds_by_action: dict[str, list[str]] = {}
    for kind, action in actions:
        kinds_by_action.setdefault(action, []).append(kind)

    # The kinds and states are the profile's and the service's own words, written into the
    # statement: it is built and compiled once per profile and phase, and binds five values.
    def of_kind(kinds: list[str]) -> Any:
        return constants_in(records_t.c.kind, kinds)

    in_scope = or_(
        *(
            and_(of_kind(kinds), constants_in(records_t.c.state, _states_moved(phase, action)))
            for action, kinds in kinds_by_action.items()
        )
    )
    values: dict[str, Any] = {
        "state": case(
            *(
                (of_kind(kinds), constant(_state_after(a, phase)))
                for a, kinds in kinds_by_action.items()
            ),
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
        new_data = kept_fields(records_t.c.data, kept) if kept else "{}"
        data_whens.append((records_t.c.kind == constant(kind), new_data))
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
) -> CascadeCounts:
    """Undo exactly what one delete hid: records it trashed come back, records it detached
    are re-attached. Destroyed, stopped and anonymized records stay as they are. Returns what
    came back, counted first (a restore that read its counts with the contact uses
    ``restore_ahead`` and ``restorable_counts`` instead)."""
    base = and_(
        records_t.c.account_id == account_id,
        records_t.c.origin_contact_id == contact_id,
        records_t.c.operation_id == operation_id,
    )
    restorable = [
        (and_(base, records_t.c.state == TRASHED, records_t.c.contact_id == contact_id), "restore"),
        (and_(base, records_t.c.state == ACTIVE, records_t.c.contact_id.is_(None)), "reattach"),
    ]
    counts = CascadeCounts()
    for where, action in restorable:
        for kind, count in session.execute(
            select(records_t.c.kind, func.count()).where(where).group_by(records_t.c.kind)
        ).all():
            counts.add(kind, action, int(count))
    session.execute(_RESTORE, _restore_values(account_id, contact_id, operation_id, now))
    return counts


def restore_ahead(
    session: Session, account_id: str, contact_id: str, operation_id: str, now: datetime
) -> AheadStatement:
    """``restore_records``' UPDATE, for a restore whose counts were read with the contact:
    on PostgreSQL sent ahead of the audit event (as ``cascade_ahead``), elsewhere run now."""
    values = _restore_values(account_id, contact_id, operation_id, now)
    return statement_ahead(session, _RESTORE, values)


def _restore_values(
    account_id: str, contact_id: str, operation_id: str, now: datetime
) -> dict[str, Any]:
    return {"r_account": account_id, "r_contact": contact_id, "r_op": operation_id, "r_now": now}


def _restore_statement() -> Any:
    contact = bindparam("r_contact", type_=String())
    base = and_(
        records_t.c.account_id == bindparam("r_account", type_=String()),
        records_t.c.origin_contact_id == contact,
        records_t.c.operation_id == bindparam("r_op", type_=String()),
    )
    trashed = and_(base, records_t.c.state == constant(TRASHED), records_t.c.contact_id == contact)
    detached = and_(base, records_t.c.state == constant(ACTIVE), records_t.c.contact_id.is_(None))
    return (
        update(records_t)
        .where(or_(trashed, detached))
        .values(
            state=constant(ACTIVE),
            contact_id=contact,
            operation_id=None,
            updated_at=bindparam("r_now", type_=records_t.c.updated_at.type),
        )
    )


# Built once, like the cascade's: what one delete hid comes back.
_RESTORE = _restore_statement()
