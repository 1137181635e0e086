"""What a completed request hands over: an erasure's signed certificate, an access request's
package.

The certificate lists per account and related kind what was erased or restricted (ids and
counts, no personal data), signed with the audit checkpoint key (Ed25519 over its JSON with
sorted keys and no spaces). The package holds the person's contacts, related records and
lifecycle history (personal fields decrypted); it is kept sealed with the request.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from audit import EventFilter, query_events
from audit.keys import key_id
from policy_service.audit_trail.evidence import dsr_evidence
from policy_service.decisions.authorization import Caller
from policy_service.domain.clock import iso
from policy_service.domain.contacts import Contact, RelatedRecord, audit_subject
from policy_service.domain.errors import Conflict
from policy_service.ports import Certifies, SealedActs, Signs
from policy_service.privacy.events import package_read_event
from policy_service.privacy.records import accounts_of, load_visible
from policy_service.privacy.sealing import unseal
from policy_service.storage import contacts as store
from policy_service.storage.dsr import DsrItem, Session
from policy_service.storage.tables import DsrRow

HISTORY_PAGE = 200

# Certificates, packages and their summaries are JSON documents handed out as they are.
Document = dict[str, Any]


def canonical_json(value: object) -> bytes:
    """What the certificate's signature covers: sorted keys, no spaces, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def erasure_summary(items: Sequence[DsrItem]) -> Document:
    """Per account and related kind, what was erased or restricted: counts and ids only."""
    per_account: dict[str, Document] = {}
    for item in items:
        entry = per_account.setdefault(
            item.account_id,
            {"erased_contacts": [], "restricted": [], "erased_records": {}, "refused": []},
        )
        detail = json.loads(item.detail or "{}")
        if item.status == "erased":
            entry["erased_contacts"].append(item.contact_id)
            for kind, actions in detail.get("cascade", {}).items():
                kinds = entry["erased_records"].setdefault(kind, {})
                for action, count in actions.items():
                    kinds[action] = kinds.get(action, 0) + count
        elif item.status == "restricted":
            entry["restricted"].append({"contact_id": item.contact_id, "holds": detail["holds"]})
        elif item.status == "refused":
            entry["refused"].append({"contact_id": item.contact_id, "reason": detail["reason"]})
    return {"accounts": per_account}


def sign_certificate(state: Certifies, row: DsrRow, result: Document, now: datetime) -> None:
    """Write the request's certificate and its signature to its row."""
    certificate = {
        "dsr_id": row.id,
        "type": row.type,
        "jurisdiction": row.jurisdiction,
        "received_at": iso(row.received_at),
        "completed_at": iso(now),
        "policy_version": state.runtime.version,
        "key_id": key_id(state.signing_key.public_key()),
        **result,
    }
    body = canonical_json(certificate)
    row.result = body.decode()
    row.signature = base64.b64encode(state.signing_key.sign(body)).decode()


# -- an access request's package ---------------------------------------------------------------


def _history(state: Signs, session: Session, account_id: str, contact_id: str) -> list[Document]:
    """The contact's lifecycle events, oldest page first, personal fields decrypted."""
    history: list[Document] = []
    wanted = EventFilter(subject_id=audit_subject(account_id, contact_id))
    kek = state.audit.key_encryption_key
    cursor = None
    while True:
        page = query_events(session, wanted, cursor, HISTORY_PAGE, key_encryption_key=kek)
        history.extend(
            {
                "at": iso(e.occurred_at),
                "action": e.action,
                "outcome": e.outcome,
                "actor_type": e.actor_type,
                "details": dict(e.details),
                "personal_data": dict(e.protected) if e.protected else None,
            }
            for e in page.events
        )
        if page.next_cursor is None:
            return history
        cursor = page.next_cursor


def _contact_json(
    contact: Contact, records: Sequence[RelatedRecord], history: list[Document]
) -> Document:
    return {
        "account_id": contact.account_id,
        "id": contact.id,
        "name": contact.name,
        "email": contact.email,
        "phone": contact.phone,
        "state": contact.state,
        "tags": list(contact.tags),
        "created_at": iso(contact.created_at),
        "records": [
            {"kind": r.kind, "state": r.state, "data": r.data, "created_at": iso(r.created_at)}
            for r in records
        ],
        "history": history,
    }


def access_summary_and_package(
    state: Signs, session: Session, items: Sequence[DsrItem]
) -> tuple[Document, Document]:
    """Everything held about the person (the package) and, for the certificate, per account
    the contacts and how many records were found (the summary)."""
    package: Document = {"contacts": []}
    summary: Document = {"accounts": {}}
    for item in items:
        contact = store.get_contact(session, item.account_id, item.contact_id)
        if contact is None:
            continue
        records = store.records_of(session, item.account_id, item.contact_id)
        history = _history(state, session, item.account_id, item.contact_id)
        package["contacts"].append(_contact_json(contact, records, history))
        entry = summary["accounts"].setdefault(item.account_id, {"contacts": [], "records": 0})
        entry["contacts"].append(contact.id)
        entry["records"] += len(records)
    return summary, package


# -- reading them ------------------------------------------------------------------------------


def certificate(state: SealedActs, caller: Caller, dsr_id: str) -> Document:
    with state.unit_of_work(write=False) as uow:
        row = load_visible(state, uow.session, caller, dsr_id)
        if row.result is None or row.signature is None:
            raise Conflict(f"request {dsr_id} is {row.status}; it has no certificate yet")
        document = {
            "certificate": json.loads(row.result),
            "signature": row.signature,
            "algorithm": "Ed25519",
            "signed": "the UTF-8 JSON of `certificate` with sorted keys and no spaces",
        }
    # Outside the signature: each proof stands on its own signed checkpoint note.
    return {**document, "evidence": dsr_evidence(state, dsr_id)}


def access_package(state: SealedActs, caller: Caller, dsr_id: str) -> Document:
    """The package, decrypted; each read is recorded."""
    with state.unit_of_work(write=False) as uow:
        row = load_visible(state, uow.session, caller, dsr_id)
        if row.type != "access":
            raise Conflict(f"request {dsr_id} is an {row.type} request; it has no package")
        if row.package_ciphertext is None:
            raise Conflict(f"request {dsr_id} is {row.status}; the package is not ready")
        package: Document = unseal(state, row.id, row.package_ciphertext)
        accounts = accounts_of(row)
    with state.unit_of_work() as uow:
        uow.record(package_read_event(state, caller, dsr_id, accounts))
        uow.commit()
    return package
