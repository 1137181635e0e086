"""A contact as a single delete, restore or purge reads it: one statement.

The row (locked), the facts a decision needs and the contact's open records counted in
groups come back together, so an action reads nothing twice; ``ContactForAction`` then
answers what the cascade's counts and the contact's tags will be afterwards without another
round trip. The statement is built once per locking mode and only takes parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, bindparam, case, func, select, true
from sqlalchemy.orm import Session

from audit.tables import audit_subject_keys
from policy_service.domain.cascade import ACTIVE, OPEN_STATES, TRASHED
from policy_service.domain.contacts import Contact, ContactFacts, audit_subject
from policy_service.storage.contact_predicates import contacts_t, held, records_t
from policy_service.storage.contacts import contact_from_row
from policy_service.storage.sql_constructs import constant, constants_in


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
    # The contact's live wrapped audit data key, read in the same statement: the action's
    # event is encrypted with it without another round trip (None: none yet, or erased).
    audit_key: bytes | None = None

    def wrapped_keys(self) -> dict[str, bytes]:
        """For ``UnitOfWork.record``: the audit subject's wrapped key, if it was found."""
        if self.audit_key is None:
            return {}
        return {audit_subject(self.contact.account_id, self.contact.id): self.audit_key}

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


_TAG = case((records_t.c.kind == constant("tags"), records_t.c.label), else_=None)
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
            constants_in(records_t.c.state, OPEN_STATES),
        )
        .group_by(records_t.c.kind, records_t.c.state, _LINKED, records_t.c.operation_id, _TAG)
        .subquery("g")
    )
    audit_key = (
        select(audit_subject_keys.c.wrapped_key)
        .where(audit_subject_keys.c.subject_id == bindparam("audit_subject", type_=String()))
        .scalar_subquery()
        .label("g_audit_key")
    )
    query = (
        select(contacts_t, held().label("g_held"), audit_key, *groups.c)
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
        _READ_FOR_ACTION[for_update],
        {
            "account_id": account_id,
            "contact_id": contact_id,
            "audit_subject": audit_subject(account_id, contact_id),
        },
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
    key = None if first.g_audit_key is None else bytes(first.g_audit_key)
    read = ContactForAction(contact_from_row(first), facts, found)
    tags = read.tags_after()
    return ContactForAction(contact_from_row(first, tags), facts, found, key)
