"""Finding contacts: the contact list's search, a bulk selection, the trash past its window.

Each reads ids (or rows) in id order, so a caller pages by "after this id". The text and tag
conditions are the shared predicates of ``storage/contact_predicates.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from policy_service.domain.cascade import ACTIVE, TRASHED
from policy_service.domain.contacts import Contact
from policy_service.storage.contact_predicates import contacts_t, fact_columns, matching, tagged
from policy_service.storage.contacts import contact_from_row, tags_of
from policy_service.storage.sql_constructs import one_of


def candidate_facts(
    session: Session, account_id: str, predicate: Any, after: str | None, limit: int
) -> list[Any]:
    """The next ``limit`` contacts of the account (after id ``after``) matching a decision
    search's SQL predicate, as the rows of their facts (``fact_columns``), in id order."""
    statement = (
        select(*fact_columns())
        .where(contacts_t.c.account_id == account_id, predicate)
        .order_by(contacts_t.c.id)
        .limit(limit)
    )
    if after is not None:
        statement = statement.where(contacts_t.c.id > after)
    return list(session.execute(statement).all())


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
        statement = statement.where(matching(query))
    if after:
        statement = statement.where(contacts_t.c.id > after)
    if tag:
        statement = statement.where(contacts_t.c.id.in_(tagged(account_id, tag, state)))
    rows = session.execute(statement).all()
    tags = tags_of(session, account_id, [row.id for row in rows]) if rows else {}
    return [contact_from_row(row, tags.get(row.id, ())) for row in rows]


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
        statement = statement.where(contacts_t.c.id.in_(tagged(account_id, tag, state)))
    if query:
        statement = statement.where(matching(query))
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
