"""Exports for the backup the seeds advise before deleting (002, 004): one contact with every
related record as JSON, or many contacts as CSV, streamed."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from policy_service.audit_trail.recording import require
from policy_service.decisions.authorization import Caller
from policy_service.domain.clock import iso
from policy_service.domain.contacts import Contact, RelatedRecord
from policy_service.lifecycle.contacts import get_contact
from policy_service.lifecycle.events import export_event
from policy_service.ports import Acts, Stores
from policy_service.storage import contact_search
from policy_service.storage import contacts as store

CSV_COLUMNS = ("id", "name", "email", "phone", "tags", "state", "created_at")
PAGE = 500


def _record_export(
    state: Acts,
    caller: Caller,
    account_id: str,
    contact_id: str | None,
    details: dict[str, Any],
) -> None:
    """Record an export, of one contact or (``contact_id`` None) of many as CSV."""
    with state.unit_of_work() as uow:
        uow.record(export_event(state, caller, account_id, contact_id, details))
        uow.commit()


def export_contact(
    state: Acts, caller: Caller, account_id: str, contact_id: str
) -> tuple[Contact, list[RelatedRecord]]:
    require(state, caller, "contact", "contact.export", account_id=account_id)
    contact = get_contact(state, caller, account_id, contact_id)
    with state.unit_of_work(write=False) as uow:
        records = store.records_of(uow.session, account_id, contact_id)
    details = {"format": "json", "records": len(records)}
    _record_export(state, caller, account_id, contact_id, details)
    return contact, records


def export_csv(
    state: Acts,
    caller: Caller,
    account_id: str,
    *,
    query: str | None,
    tag: str | None,
    contact_state: str,
) -> Iterator[str]:
    require(state, caller, "contact", "contact.export", account_id=account_id)
    details = {"format": "csv", "query": query, "tag": tag, "contact_state": contact_state}
    _record_export(state, caller, account_id, None, details)
    return _rows(state, account_id, query, tag, contact_state)


def _rows(
    state: Stores, account_id: str, query: str | None, tag: str | None, contact_state: str
) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    after: str | None = None
    while True:
        with state.unit_of_work(write=False) as uow:
            page = contact_search.search_contacts(
                uow.session, account_id, contact_state, query, after=after, limit=PAGE, tag=tag
            )
        for contact in page:
            writer.writerow(
                [
                    contact.id,
                    contact.name or "",
                    contact.email or "",
                    contact.phone or "",
                    ";".join(contact.tags),
                    contact.state,
                    iso(contact.created_at),
                ]
            )
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        if len(page) < PAGE:
            return
        after = page[-1].id
