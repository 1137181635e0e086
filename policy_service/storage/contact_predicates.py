"""The contact tables as Core tables, and the predicates over a contact row that several
statements share: whether it is on legal hold, whether it has an active enrollment, whether
it matches a search's text or tag.

Each predicate is correlated with ``contacts_t``, so it fits any statement that selects
contacts: the contact reads in ``storage/``, and the SQL form of policy conditions in
``decisions/search.py``. ``FACT_COLUMNS`` and ``facts_from_row`` read the facts a decision
needs in the same statement.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from policy_service.domain.cascade import ACTIVE, TRASHED
from policy_service.domain.contacts import ContactFacts
from policy_service.storage.tables import ContactRow, LegalHoldRow, RelatedRecordRow

contacts_t = cast(Table, ContactRow.__table__)
records_t = cast(Table, RelatedRecordRow.__table__)
holds_t = cast(Table, LegalHoldRow.__table__)


def held() -> ColumnElement[bool]:
    """The contact is on an unreleased legal hold."""
    return (
        select(holds_t.c.id)
        .where(
            holds_t.c.account_id == contacts_t.c.account_id,
            holds_t.c.contact_id == contacts_t.c.id,
            holds_t.c.released_at.is_(None),
        )
        .exists()
    )


def enrolled(kind: str) -> ColumnElement[bool]:
    """The contact has an active, linked record of ``kind`` (an enrollment)."""
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


def fact_columns() -> tuple[Any, ...]:
    """The columns ``facts_from_row`` reads, first the contact's id."""
    return (
        contacts_t.c.id,
        contacts_t.c.state,
        contacts_t.c.deleted_at,
        held(),
        enrolled("workflow_enrollments"),
        enrolled("campaign_enrollments"),
    )


def facts_from_row(row: Any) -> ContactFacts:
    """What a decision needs about a contact, from a row selected with ``fact_columns``."""
    return ContactFacts(row[1], row[2], bool(row[3]), bool(row[4]), bool(row[5]))


LIKE_ESCAPE = "\\"


def like_literal(text: str) -> str:
    """``text`` with LIKE's wildcards escaped: a search for ``50%_off`` finds that, not all."""
    return (
        text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2)
        .replace("%", LIKE_ESCAPE + "%")
        .replace("_", LIKE_ESCAPE + "_")
    )


def matching(query: str) -> ColumnElement[bool]:
    """The contact's name, email or phone contains ``query``, or its id is ``query``."""
    lowered = f"%{like_literal(query.lower())}%"
    return or_(
        func.lower(contacts_t.c.name).like(lowered, escape=LIKE_ESCAPE),
        func.lower(contacts_t.c.email).like(lowered, escape=LIKE_ESCAPE),
        contacts_t.c.phone.like(f"%{like_literal(query)}%", escape=LIKE_ESCAPE),
        contacts_t.c.id == query,
    )


def tagged(account_id: str, tag: str, contact_state: str = ACTIVE) -> Any:
    """The ids of the contacts tagged ``tag``, to go in ``contacts_t.c.id.in_(...)``."""
    # A trashed contact's kept tags went to the trash with it: they still say what it was.
    tag_states = (ACTIVE, TRASHED) if contact_state == TRASHED else (ACTIVE,)
    return select(records_t.c.contact_id).where(
        records_t.c.account_id == account_id,
        records_t.c.kind == "tags",
        records_t.c.label == tag,
        records_t.c.state.in_(tag_states),
    )
