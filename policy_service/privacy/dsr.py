"""Data-subject requests (GDPR / CCPA erasure and access), run by compliance officers.

Every step is recorded twice: in ``dsr_transitions`` (who, when, from, to) and as an audit
event carrying the request's id. The identity is kept encrypted while the request is open
and wiped once it is completed or denied. An erasure writes the contacts it found to
``dsr_items`` first and works through them a chunk at a time, so an interrupted erasure run
again finishes the same way, without erasing anything twice or missing a contact.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.orm import Session

from audit import EventFilter, query_events
from audit.keys import key_id
from policy_service.audit_trail.recording import caller_event, require, require_visible
from policy_service.decisions.authorization import Caller, check_in_account
from policy_service.domain import dsr as rules
from policy_service.domain.clock import as_utc, iso, utcnow
from policy_service.domain.contacts import PURGED, audit_subject
from policy_service.domain.dsr import Identity
from policy_service.domain.errors import Conflict, InvalidInput, NotFound, Unprocessable
from policy_service.domain.identifiers import PLATFORM_DOMAIN
from policy_service.lifecycle.actions import decide_on_contact, load_account
from policy_service.lifecycle.bulk import ChunkRaced, purge_chunk_rows
from policy_service.state import ServiceState
from policy_service.storage import contacts as store
from policy_service.storage.tables import (
    AccountRow,
    ContactRow,
    DsrItemRow,
    DsrRow,
    DsrTransitionRow,
    LegalHoldRow,
    SuppressionRow,
)
from policy_service.storage.unit_of_work import UnitOfWork

ALL = "all"
ERASURE_PROFILE = "erasure"
CLOCK_SKEW = timedelta(minutes=5)
PAGE = 200


@dataclass(frozen=True)
class DataSubjectRequest:
    id: str
    type: str
    jurisdiction: str
    accounts: list[str] | str
    channel: str
    status: str
    received_at: datetime
    due_at: datetime
    extended: bool
    exemption_code: str | None
    created_by: str
    created_at: datetime
    completed_at: datetime | None
    has_identity: bool
    transitions: list[dict[str, Any]]

    def days_left(self, now: datetime) -> int:
        return rules.days_left(self.due_at, now)

    def overdue(self, now: datetime) -> bool:
        return self.status in rules.OPEN and as_utc(self.due_at) < now


# -- keys --------------------------------------------------------------------------------------


def _key(state: ServiceState, purpose: bytes) -> bytes:
    """A 32-byte key for one purpose, derived from the service secret (or, in development,
    the audit key-encryption key), so no extra key file has to be managed."""
    material = state.settings.secret_key.encode() or state.audit.key_encryption_key
    return HKDF(algorithm=SHA256(), length=32, salt=None, info=b"policy-service:" + purpose).derive(
        material
    )


def _seal(state: ServiceState, dsr_id: str, data: Any) -> str:
    nonce = os.urandom(12)
    sealed = AESGCM(_key(state, b"dsr")).encrypt(nonce, json.dumps(data).encode(), dsr_id.encode())
    return base64.b64encode(nonce + sealed).decode()


def _open(state: ServiceState, dsr_id: str, token: str) -> Any:
    raw = base64.b64decode(token)
    plain = AESGCM(_key(state, b"dsr")).decrypt(raw[:12], raw[12:], dsr_id.encode())
    return json.loads(plain)


def suppression_digest(state: ServiceState, kind: str, value: str) -> str:
    return hmac.new(
        _key(state, b"suppression"), f"{kind}:{value}".encode(), hashlib.sha256
    ).hexdigest()


def is_suppressed(
    state: ServiceState, session: Session, account_id: str, email: str | None, phone: str | None
) -> bool:
    identity = Identity(email, phone).normalised()
    digests = [
        ("email", suppression_digest(state, "email", identity.email)) if identity.email else None,
        ("phone", suppression_digest(state, "phone", identity.phone)) if identity.phone else None,
    ]
    wanted = [d for d in digests if d is not None]
    if not wanted:
        return False
    found = session.execute(
        select(SuppressionRow.id)
        .where(
            SuppressionRow.account_id.in_((account_id, ALL)),
            or_(*(and_(SuppressionRow.kind == k, SuppressionRow.digest == d) for k, d in wanted)),
        )
        .limit(1)
    ).first()
    return found is not None


# -- reading -----------------------------------------------------------------------------------


def _request(session: Session, row: DsrRow) -> DataSubjectRequest:
    transitions = [
        {"step": t.step, "from": t.from_status, "to": t.to_status, "by": t.by,
         "at": iso(t.at), "note": t.note}
        for t in session.execute(
            select(DsrTransitionRow)
            .where(DsrTransitionRow.dsr_id == row.id)
            .order_by(DsrTransitionRow.id)
        ).scalars()
    ]  # fmt: skip
    accounts = json.loads(row.accounts)
    return DataSubjectRequest(
        row.id, row.type, row.jurisdiction, accounts, row.channel, row.status,
        as_utc(row.received_at), as_utc(row.due_at), row.extended, row.exemption_code,
        row.created_by, as_utc(row.created_at),
        as_utc(row.completed_at) if row.completed_at else None,
        row.identity_ciphertext is not None, transitions,
    )  # fmt: skip


def _authorize(
    state: ServiceState, caller: Caller, accounts: list[str] | str, dsr_id: str | None = None
) -> None:
    """dsr.manage in every account the request covers (platform-wide for all accounts). For
    an existing request named by id, a caller with no part in its accounts is told it does
    not exist, as for an unknown id."""
    hidden = NotFound(f"no data-subject request {dsr_id}")
    if accounts == ALL:
        if dsr_id is None:
            require(state, caller, "dsr", "dsr.manage", account_id=None, platform=True)
        else:
            require_visible(
                state, caller, "dsr", "dsr.manage", account_id=None, hidden=hidden,
                target_type="dsr", target_id=dsr_id,
            )  # fmt: skip
        return
    for account_id in accounts:
        if dsr_id is None:
            require(state, caller, "dsr", "dsr.manage", account_id=account_id)
        else:
            require_visible(
                state, caller, "dsr", "dsr.manage", account_id=account_id, hidden=hidden,
                target_type="dsr", target_id=dsr_id,
            )  # fmt: skip


def _chain_account(accounts: list[str] | str) -> str | None:
    """A request about one account is recorded in that account's chain; others in the
    platform chain."""
    return accounts[0] if isinstance(accounts, list) and len(accounts) == 1 else None


def _load(state: ServiceState, session: Session, caller: Caller, dsr_id: str) -> DsrRow:
    row = session.get(DsrRow, dsr_id)
    if row is None:
        raise NotFound(f"no data-subject request {dsr_id}")
    _authorize(state, caller, json.loads(row.accounts), dsr_id)
    return row


def get_request(state: ServiceState, caller: Caller, dsr_id: str) -> DataSubjectRequest:
    with state.unit_of_work(write=False) as uow:
        return _request(uow.session, _load(state, uow.session, caller, dsr_id))


def list_requests(
    state: ServiceState, caller: Caller, *, status: str | None, overdue: bool
) -> list[DataSubjectRequest]:
    """Requests the caller may see: every one for platform admins, else those about accounts
    where the caller holds ``dsr.manage``."""
    now = utcnow()
    platform = check_in_account(state.runtime, caller, PLATFORM_DOMAIN, "dsr", "dsr.manage")
    with state.unit_of_work(write=False) as uow:
        query = select(DsrRow).order_by(DsrRow.due_at)
        if status is not None:
            query = query.where(DsrRow.status == status)
        found = []
        for row in uow.session.execute(query).scalars():
            accounts = json.loads(row.accounts)
            visible = platform.allowed or (
                accounts != ALL
                and all(
                    check_in_account(state.runtime, caller, a, "dsr", "dsr.manage").allowed
                    for a in accounts
                )
            )
            request = _request(uow.session, row) if visible else None
            if request is not None and (not overdue or request.overdue(now)):
                found.append(request)
        return found


def overdue_requests(state: ServiceState) -> list[DataSubjectRequest]:
    """For ``policy-service dsr overdue``: every open request past its deadline."""
    now = utcnow()
    with state.unit_of_work(write=False) as uow:
        rows = uow.session.execute(
            select(DsrRow).where(DsrRow.status.in_(rules.OPEN)).order_by(DsrRow.due_at)
        ).scalars()
        return [r for r in (_request(uow.session, row) for row in rows) if r.overdue(now)]


# -- creating and moving through the steps --------------------------------------------------------


def create_request(
    state: ServiceState,
    caller: Caller,
    *,
    type: str,
    identity: Identity,
    jurisdiction: str,
    accounts: list[str] | str,
    received_at: datetime,
    channel: str,
) -> DataSubjectRequest:
    _authorize(state, caller, accounts)
    normalised = identity.normalised()
    if normalised.is_empty():
        raise InvalidInput("an identity needs an email or a phone", errors={"identity": ["empty"]})
    now = utcnow()
    received_at = received_at if received_at.tzinfo else received_at.replace(tzinfo=UTC)
    if received_at > now + CLOCK_SKEW:
        raise InvalidInput("received_at is in the future", errors={"received_at": ["future"]})
    if isinstance(accounts, list):
        for account_id in accounts:
            load_account(state, account_id)
    dsr_id = store.new_id("dsr")
    with state.unit_of_work() as uow:
        row = DsrRow(
            id=dsr_id,
            type=type,
            jurisdiction=jurisdiction,
            accounts=json.dumps(accounts),
            channel=channel,
            status=rules.RECEIVED,
            received_at=received_at,
            due_at=rules.first_deadline(jurisdiction, received_at),
            extended=False,
            identity_ciphertext=_seal(
                state, dsr_id, {"email": normalised.email, "phone": normalised.phone}
            ),
            created_by=caller.acting_subject,
            created_at=now,
            updated_at=now,
        )
        uow.session.add(row)
        uow.session.flush()
        _transition(state, uow, caller, row, "create", "", rules.RECEIVED, None)
        uow.commit()
        return _request(uow.session, row)


def _transition(
    state: ServiceState,
    uow: Any,
    caller: Caller,
    row: DsrRow,
    step: str,
    from_status: str,
    to_status: str,
    note: str | None,
    details: dict[str, Any] | None = None,
) -> None:
    now = utcnow()
    row.status = to_status
    row.updated_at = now
    uow.session.add(
        DsrTransitionRow(
            dsr_id=row.id, from_status=from_status, to_status=to_status, step=step,
            by=caller.acting_subject, at=now, note=note,
        )
    )  # fmt: skip
    uow.record(
        caller_event(
            state.runtime, caller, f"dsr.{step.replace('-', '_')}", "succeeded",
            account_id=_chain_account(json.loads(row.accounts)), target_type="dsr",
            target_id=row.id, dsr_id=row.id,
            details={"type": row.type, "jurisdiction": row.jurisdiction, "from": from_status,
                     "to": to_status, "due_at": iso(row.due_at),
                     **(details or {})},
            subject_id=f"dsr/{row.id}" if note else None,
            protected={"note": note} if note else None,
        )
    )  # fmt: skip


@contextmanager
def _step(
    state: ServiceState, caller: Caller, dsr_id: str, step: str
) -> Iterator[tuple[UnitOfWork, DsrRow]]:
    """A unit of work holding the request's row locked, once the step is known to apply.

    The caller is authorized before the write transaction opens: a refusal is recorded in a
    unit of work of its own, which must not wait on this one's lock (SQLite has one writer).
    """
    with state.unit_of_work(write=False) as reading:
        found = reading.session.get(DsrRow, dsr_id)
        accounts = json.loads(found.accounts) if found is not None else None
    if accounts is None:
        raise NotFound(f"no data-subject request {dsr_id}")
    _authorize(state, caller, accounts, dsr_id)
    with state.unit_of_work() as uow:
        row = uow.session.get(DsrRow, dsr_id, with_for_update=True)
        if row is None:
            raise NotFound(f"no data-subject request {dsr_id}")
        if row.status not in rules.TRANSITIONS[step]:
            raise Conflict(
                f"request {dsr_id} is {row.status}; {step} applies to "
                f"{', '.join(sorted(rules.TRANSITIONS[step]))}",
                status_now=row.status,
            )
        yield uow, row


def verify_identity(
    state: ServiceState, caller: Caller, dsr_id: str, method: str
) -> DataSubjectRequest:
    with _step(state, caller, dsr_id, "verify-identity") as (uow, row):
        _transition(state, uow, caller, row, "verify-identity", row.status,
                    rules.IDENTITY_VERIFIED, None, {"method": method})  # fmt: skip
        uow.commit()
        return _request(uow.session, row)


def approve(state: ServiceState, caller: Caller, dsr_id: str) -> DataSubjectRequest:
    with _step(state, caller, dsr_id, "approve") as (uow, row):
        _transition(state, uow, caller, row, "approve", row.status, rules.APPROVED, None)
        uow.commit()
        return _request(uow.session, row)


def deny(
    state: ServiceState, caller: Caller, dsr_id: str, exemption_code: str | None, text: str | None
) -> DataSubjectRequest:
    with _step(state, caller, dsr_id, "deny") as (uow, row):
        codes = rules.EXEMPTIONS[row.jurisdiction]
        if exemption_code is None or exemption_code not in codes or not (text or "").strip():
            raise Unprocessable(
                "a denial needs an exemption code and a text",
                errors={"exemption_code": [f"one of {sorted(codes)}"], "text": ["required"]},
            )
        row.exemption_code = exemption_code
        row.identity_ciphertext = None  # nothing more will be done with it
        ground = {"exemption_code": exemption_code, "ground": codes[exemption_code]}
        _transition(state, uow, caller, row, "deny", row.status, rules.DENIED, text, ground)
        uow.commit()
        return _request(uow.session, row)


def extend(state: ServiceState, caller: Caller, dsr_id: str, reason: str) -> DataSubjectRequest:
    with _step(state, caller, dsr_id, "extend") as (uow, row):
        if row.extended:
            raise Conflict(f"request {dsr_id} was already extended once")
        if as_utc(row.due_at) < utcnow():
            raise Conflict("the first deadline has passed; an extension had to be made before it")
        if not reason.strip():
            raise InvalidInput("an extension needs its reason", errors={"reason": ["required"]})
        previous = as_utc(row.due_at)
        row.due_at = rules.extended_deadline(row.jurisdiction, previous)
        row.extended = True
        _transition(state, uow, caller, row, "extend", row.status, row.status, reason,
                    {"previous_due_at": iso(previous)})  # fmt: skip
        uow.commit()
        return _request(uow.session, row)


# -- executing ---------------------------------------------------------------------------------


def execute(state: ServiceState, caller: Caller, dsr_id: str) -> DataSubjectRequest:
    """Carry the request out. Run again after an interruption, it finishes the same way."""
    with _step(state, caller, dsr_id, "execute") as (uow, row):
        if row.status == rules.APPROVED:
            _transition(state, uow, caller, row, "execute", row.status, rules.IN_PROGRESS, None)
        identity = Identity(**_open(state, row.id, row.identity_ciphertext or ""))
        accounts: list[str] | str = json.loads(row.accounts)
        kind = row.type
        uow.commit()
    account_ids = _account_ids(state, accounts)
    _find_contacts(state, dsr_id, account_ids, identity)
    if kind == "erasure":
        result = _erase(state, caller, dsr_id, accounts, account_ids, identity)
        package = None
    else:
        result, package = _access(state, dsr_id, account_ids)
    return _complete(state, caller, dsr_id, result, package)


def _account_ids(state: ServiceState, accounts: list[str] | str) -> list[str]:
    if accounts != ALL:
        return list(accounts)
    with state.unit_of_work(write=False) as uow:
        return list(uow.session.execute(select(AccountRow.id).order_by(AccountRow.id)).scalars())


def _find_contacts(
    state: ServiceState, dsr_id: str, account_ids: list[str], identity: Identity
) -> None:
    """Record every contact the identity matches (active or in the trash) as an item."""
    matches = []
    if identity.email:
        matches.append(ContactRow.email == identity.email)
    if identity.phone:
        matches.append(ContactRow.phone_normalized == identity.phone)
    with state.unit_of_work() as uow:
        known = {
            (a, c)
            for a, c in uow.session.execute(
                select(DsrItemRow.account_id, DsrItemRow.contact_id).where(
                    DsrItemRow.dsr_id == dsr_id
                )
            )
        }
        found = uow.session.execute(
            select(ContactRow.account_id, ContactRow.id)
            .where(
                ContactRow.account_id.in_(account_ids),
                ContactRow.state != PURGED,
                or_(*matches),
            )
            .order_by(ContactRow.account_id, ContactRow.id)
        ).all()
        new = [
            {"dsr_id": dsr_id, "account_id": a, "contact_id": c, "status": "pending"}
            for a, c in found
            if (a, c) not in known
        ]
        if new:
            uow.session.execute(insert(DsrItemRow), new)
        uow.commit()


def _erase(
    state: ServiceState,
    caller: Caller,
    dsr_id: str,
    accounts: list[str] | str,
    account_ids: list[str],
    identity: Identity,
) -> dict[str, Any]:
    profile = state.runtime.pack.cascade_profiles.get(ERASURE_PROFILE)
    if profile is None:
        raise Conflict("the policy pack has no 'erasure' cascade profile")
    for account_id in account_ids:
        account = load_account(state, account_id)
        while True:
            with state.unit_of_work() as uow:
                pending = list(
                    uow.session.execute(
                        select(DsrItemRow.contact_id)
                        .where(
                            DsrItemRow.dsr_id == dsr_id,
                            DsrItemRow.account_id == account_id,
                            DsrItemRow.status == "pending",
                        )
                        .order_by(DsrItemRow.contact_id)
                        .limit(state.settings.job_chunk_size)
                    ).scalars()
                )
                if not pending:
                    break
                if _erase_chunk(state, uow, caller, account, profile, dsr_id, pending):
                    uow.commit()
    _suppress(state, caller, dsr_id, accounts, account_ids, identity)
    return _certificate_body(state, dsr_id)


def _erase_chunk(
    state: ServiceState,
    uow: Any,
    caller: Caller,
    account: Any,
    profile: Any,
    dsr_id: str,
    pending: list[str],
) -> bool:
    session = uow.session
    found = store.get_contacts(session, account.id, pending)
    facts = store.facts_of(session, account.id, pending)
    to_erase = []
    outcomes: dict[str, tuple[str, dict[str, Any]]] = {}
    for contact_id in pending:
        contact = found.get(contact_id)
        if contact is None or contact.state == PURGED:
            outcomes[contact_id] = ("gone", {})
            continue
        decision = decide_on_contact(
            state, caller, account, contact_id, "contact.erase", facts[contact_id]
        )
        if decision.allowed:
            to_erase.append(contact)
        elif decision.reason.code == "legal_hold":
            outcomes[contact_id] = (
                "restricted",
                {"holds": _holds(session, account.id, contact_id)},
            )
        else:
            outcomes[contact_id] = (
                "refused",
                {"reason_code": decision.reason.code, "reason": decision.reason.text},
            )
    if to_erase:
        try:
            counts = purge_chunk_rows(
                state, uow, caller, account, profile, to_erase,
                action="contact.erased", reason_code="erasure_request",
                operation_id=store.new_id("op"), dsr_id=dsr_id,
            )  # fmt: skip
        except ChunkRaced:
            return False
        for contact in to_erase:
            outcomes[contact.id] = ("erased", {"cascade": counts[contact.id].as_dict()})
    for contact_id, (status, detail) in outcomes.items():
        session.execute(
            update(DsrItemRow)
            .where(
                DsrItemRow.dsr_id == dsr_id,
                DsrItemRow.account_id == account.id,
                DsrItemRow.contact_id == contact_id,
            )
            .values(status=status, detail=json.dumps(detail))
        )
    return True


def _holds(session: Session, account_id: str, contact_id: str) -> list[str]:
    return list(
        session.execute(
            select(LegalHoldRow.id).where(
                LegalHoldRow.account_id == account_id,
                LegalHoldRow.contact_id == contact_id,
                LegalHoldRow.released_at.is_(None),
            )
        ).scalars()
    )


def _suppress(
    state: ServiceState,
    caller: Caller,
    dsr_id: str,
    accounts: list[str] | str,
    account_ids: list[str],
    identity: Identity,
) -> None:
    scopes = [ALL] if accounts == ALL else account_ids
    entries = [
        (scope, kind, suppression_digest(state, kind, value))
        for scope in scopes
        for kind, value in (("email", identity.email), ("phone", identity.phone))
        if value
    ]
    with state.unit_of_work() as uow:
        for scope, kind, digest in entries:
            exists = uow.session.execute(
                select(SuppressionRow.id).where(
                    SuppressionRow.account_id == scope,
                    SuppressionRow.kind == kind,
                    SuppressionRow.digest == digest,
                )
            ).first()
            if exists is None:
                uow.session.add(
                    SuppressionRow(
                        id=store.new_id("sup"), account_id=scope, kind=kind, digest=digest,
                        dsr_id=dsr_id, created_at=utcnow(),
                    )
                )  # fmt: skip
        uow.commit()


@dataclass(frozen=True)
class _Item:
    account_id: str
    contact_id: str
    status: str
    detail: str | None


def _items(state: ServiceState, dsr_id: str) -> list[_Item]:
    with state.unit_of_work(write=False) as uow:
        return [
            _Item(*row)
            for row in uow.session.execute(
                select(
                    DsrItemRow.account_id,
                    DsrItemRow.contact_id,
                    DsrItemRow.status,
                    DsrItemRow.detail,
                )
                .where(DsrItemRow.dsr_id == dsr_id)
                .order_by(DsrItemRow.account_id, DsrItemRow.contact_id)
            )
        ]


def _certificate_body(state: ServiceState, dsr_id: str) -> dict[str, Any]:
    """Per account and related kind, what was erased or restricted: counts and ids only."""
    per_account: dict[str, dict[str, Any]] = {}
    for item in _items(state, dsr_id):
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


def _access(state: ServiceState, dsr_id: str, account_ids: list[str]) -> tuple[dict[str, Any], Any]:
    """Everything held about the person: contacts, related records, lifecycle history."""
    package: dict[str, Any] = {"contacts": []}
    summary: dict[str, Any] = {"accounts": {}}
    kek = state.audit.key_encryption_key
    with state.unit_of_work(write=False) as uow:
        for item in _items(state, dsr_id):
            contact = store.get_contact(uow.session, item.account_id, item.contact_id)
            if contact is None:
                continue
            records = store.records_of(uow.session, item.account_id, item.contact_id)
            history: list[dict[str, Any]] = []
            cursor = None
            while True:
                page = query_events(
                    uow.session,
                    EventFilter(subject_id=audit_subject(item.account_id, item.contact_id)),
                    cursor,
                    PAGE,
                    key_encryption_key=kek,
                )
                history.extend(
                    {"at": iso(e.occurred_at), "action": e.action, "outcome": e.outcome,
                     "actor_type": e.actor_type, "details": dict(e.details),
                     "personal_data": dict(e.protected) if e.protected else None}
                    for e in page.events
                )  # fmt: skip
                if page.next_cursor is None:
                    break
                cursor = page.next_cursor
            package["contacts"].append(
                {
                    "account_id": contact.account_id,
                    "id": contact.id,
                    "name": contact.name,
                    "email": contact.email,
                    "phone": contact.phone,
                    "state": contact.state,
                    "tags": list(contact.tags),
                    "created_at": iso(contact.created_at),
                    "records": [
                        {
                            "kind": r.kind,
                            "state": r.state,
                            "data": r.data,
                            "created_at": iso(r.created_at),
                        }
                        for r in records
                    ],
                    "history": history,
                }
            )
            entry = summary["accounts"].setdefault(item.account_id, {"contacts": [], "records": 0})
            entry["contacts"].append(contact.id)
            entry["records"] += len(records)
    return summary, package


def _complete(
    state: ServiceState,
    caller: Caller,
    dsr_id: str,
    result: dict[str, Any],
    package: Any,
) -> DataSubjectRequest:
    with state.unit_of_work() as uow:
        row = uow.session.get(DsrRow, dsr_id, with_for_update=True)
        assert row is not None
        if row.status != rules.IN_PROGRESS:
            return _request(uow.session, row)
        now = utcnow()
        public_key = state.signing_key.public_key()
        certificate = {
            "dsr_id": row.id,
            "type": row.type,
            "jurisdiction": row.jurisdiction,
            "received_at": iso(row.received_at),
            "completed_at": iso(now),
            "policy_version": state.runtime.version,
            "key_id": key_id(public_key),
            **result,
        }
        body = canonical_json(certificate)
        row.result = body.decode()
        row.signature = base64.b64encode(state.signing_key.sign(body)).decode()
        if package is not None:
            row.package_ciphertext = _seal(state, row.id, package)
        row.identity_ciphertext = None
        row.completed_at = now
        _transition(state, uow, caller, row, "complete", rules.IN_PROGRESS, rules.COMPLETED, None,
                    {"result": result})  # fmt: skip
        uow.commit()
        return _request(uow.session, row)


def canonical_json(value: Any) -> bytes:
    """What the certificate's signature covers: sorted keys, no spaces, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def certificate(state: ServiceState, caller: Caller, dsr_id: str) -> dict[str, Any]:
    with state.unit_of_work(write=False) as uow:
        row = _load(state, uow.session, caller, dsr_id)
        if row.result is None or row.signature is None:
            raise Conflict(f"request {dsr_id} is {row.status}; it has no certificate yet")
        return {
            "certificate": json.loads(row.result),
            "signature": row.signature,
            "algorithm": "Ed25519",
            "signed": "the UTF-8 JSON of `certificate` with sorted keys and no spaces",
        }


def access_package(state: ServiceState, caller: Caller, dsr_id: str) -> Any:
    with state.unit_of_work(write=False) as uow:
        row = _load(state, uow.session, caller, dsr_id)
        if row.type != "access":
            raise Conflict(f"request {dsr_id} is an {row.type} request; it has no package")
        if row.package_ciphertext is None:
            raise Conflict(f"request {dsr_id} is {row.status}; the package is not ready")
        package = _open(state, row.id, row.package_ciphertext)
        accounts = json.loads(row.accounts)
    with state.unit_of_work() as uow:
        uow.record(
            caller_event(
                state.runtime, caller, "dsr.package_read", "succeeded",
                account_id=_chain_account(accounts), target_type="dsr",
                target_id=dsr_id, dsr_id=dsr_id,
            )
        )  # fmt: skip
        uow.commit()
    return package
