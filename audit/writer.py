"""Appending events: the only write path into the audit log.

The writer works inside the caller's transaction and never commits, so an action and its
audit event commit together or not at all. Per chain it takes the head row's lock
(``SELECT ... FOR UPDATE`` on PostgreSQL; on SQLite the caller's ``BEGIN IMMEDIATE`` already
holds the database write lock), numbers and hashes the events, inserts them with one
(executemany) statement and moves the head. The UNIQUE (chain, seq) constraint is the last
line of defence against a fork should the locking ever be bypassed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from audit import canonical
from audit.checkpoints import checkpoint_from_row, checkpoint_row, sign_checkpoint
from audit.crypto import check_kek, data_keys_for_writing, encrypt_fields
from audit.ids import new_event_id
from audit.records import (
    GENESIS_HASH,
    OUTCOMES,
    AuditEvent,
    Checkpoint,
    StoredEvent,
    chain_for,
)
from audit.tables import ID, NAME, audit_chain_heads, audit_checkpoints, audit_events

Executor = Session | Connection

# Column widths, checked here so both databases refuse the same input the same way.
_LIMITS: Final = {
    "account_id": ID,
    "actor_type": NAME,
    "actor_id": ID,
    "client_id": ID,
    "on_behalf_of": ID,
    "action": ID,
    "target_type": NAME,
    "target_id": ID,
    "reason_code": ID,
    "request_id": ID,
    "job_id": ID,
    "dsr_id": ID,
    "policy_version": NAME,
    "cascade_profile": NAME,
    "cascade_profile_version": NAME,
    "subject_id": ID,
}

_insert_events = insert(audit_events)
_move_heads = (
    update(audit_chain_heads)
    .where(audit_chain_heads.c.chain == bindparam("head_chain"))
    .values(seq=bindparam("head_seq"), hash=bindparam("head_hash"))
)
_select_head = (
    select(audit_chain_heads.c.seq, audit_chain_heads.c.hash)
    .where(audit_chain_heads.c.chain == bindparam("chain"))
    .with_for_update()
)


@dataclass(frozen=True, slots=True)
class _Prepared:
    event: AuditEvent
    chain: str
    roles: tuple[str, ...]
    roles_json: str
    details: dict[str, Any]
    details_json: str
    occurred_at: datetime | None


class AuditWriter:
    """Appends events to their chains and signs checkpoints.

    ``key_encryption_key`` (32 bytes) wraps the per-subject data keys that encrypt protected
    fields. With a ``signing_key`` the writer signs a checkpoint each time a chain's
    sequence number reaches a multiple of ``checkpoint_every``.
    """

    def __init__(
        self,
        key_encryption_key: bytes,
        signing_key: Ed25519PrivateKey | None = None,
        checkpoint_every: int = 1000,
    ) -> None:
        if checkpoint_every < 1:
            raise ValueError("checkpoint_every must be at least 1")
        self.key_encryption_key = check_kek(key_encryption_key)
        self.signing_key = signing_key
        self.checkpoint_every = checkpoint_every

    def append(self, session: Executor, event: AuditEvent) -> StoredEvent:
        return self.append_many(session, [event])[0]

    def append_many(self, session: Executor, events: Sequence[AuditEvent]) -> list[StoredEvent]:
        """Append events in order (one INSERT for all of them); returns them as stored."""
        prepared = [_prepare(event) for event in events]
        if not prepared:
            return []
        data_keys = data_keys_for_writing(
            session,
            self.key_encryption_key,
            (p.event.subject_id for p in prepared if p.event.protected and p.event.subject_id),
        )
        # Lock heads in name order so two batches spanning the same chains cannot deadlock.
        heads = {chain: _lock_head(session, chain) for chain in sorted({p.chain for p in prepared})}
        start = dict(heads)
        now = datetime.now(UTC)
        rows: list[dict[str, Any]] = []
        stored: list[StoredEvent] = []
        due: list[tuple[str, int, str]] = []
        for item in prepared:
            event = item.event
            seq, prev_hash = heads[item.chain]
            seq += 1
            event_id = new_event_id()
            occurred_at = item.occurred_at or now
            ciphertext = None
            if event.protected and event.subject_id is not None:  # _prepare checked both
                ciphertext = encrypt_fields(data_keys[event.subject_id], event_id, event.protected)
            fields: dict[str, Any] = {
                "account_id": event.account_id,
                "action": event.action,
                "actor_id": event.actor_id,
                "actor_roles": item.roles,
                "actor_type": event.actor_type,
                "cascade_profile": event.cascade_profile,
                "cascade_profile_version": event.cascade_profile_version,
                "chain": item.chain,
                "client_id": event.client_id,
                "details": item.details,
                "dsr_id": event.dsr_id,
                "event_id": event_id,
                "job_id": event.job_id,
                "occurred_at": canonical.format_timestamp(occurred_at),
                "on_behalf_of": event.on_behalf_of,
                "outcome": event.outcome,
                "policy_version": event.policy_version,
                "prev_hash": prev_hash,
                "protected": ciphertext,
                "reason_code": event.reason_code,
                "recorded_at": canonical.format_timestamp(now),
                "request_id": event.request_id,
                "seq": seq,
                "subject_id": event.subject_id,
                "target_id": event.target_id,
                "target_type": event.target_type,
            }
            digest = canonical.sha256_hex(canonical.event_record(fields))
            heads[item.chain] = (seq, digest)
            if self.signing_key is not None and seq % self.checkpoint_every == 0:
                due.append((item.chain, seq, digest))
            row = dict(fields)
            row.update(
                occurred_at=occurred_at,
                recorded_at=now,
                actor_roles=item.roles_json,
                details=item.details_json,
                hash=digest,
            )
            rows.append(row)
            stored.append(
                StoredEvent(
                    event_id=event_id,
                    chain=item.chain,
                    seq=seq,
                    occurred_at=occurred_at,
                    recorded_at=now,
                    account_id=event.account_id,
                    actor_type=event.actor_type,
                    actor_id=event.actor_id,
                    actor_roles=item.roles,
                    client_id=event.client_id,
                    on_behalf_of=event.on_behalf_of,
                    action=event.action,
                    target_type=event.target_type,
                    target_id=event.target_id,
                    outcome=event.outcome,
                    reason_code=event.reason_code,
                    request_id=event.request_id,
                    job_id=event.job_id,
                    dsr_id=event.dsr_id,
                    policy_version=event.policy_version,
                    cascade_profile=event.cascade_profile,
                    cascade_profile_version=event.cascade_profile_version,
                    details=item.details,
                    subject_id=event.subject_id,
                    protected_ciphertext=ciphertext,
                    protected=dict(event.protected) if event.protected else None,
                    prev_hash=prev_hash,
                    hash=digest,
                )
            )
        session.execute(_insert_events, rows)
        session.execute(
            _move_heads,
            [
                {"head_chain": chain, "head_seq": seq, "head_hash": digest}
                for chain, (seq, digest) in heads.items()
                if (seq, digest) != start[chain]
            ],
        )
        if due and self.signing_key is not None:
            session.execute(
                insert(audit_checkpoints),
                [
                    checkpoint_row(sign_checkpoint(self.signing_key, chain, seq, digest, now))
                    for chain, seq, digest in due
                ],
            )
        return stored

    def checkpoint(self, session: Executor, chain: str) -> Checkpoint:
        """Sign the chain's current head now (idempotent per head)."""
        if self.signing_key is None:
            raise RuntimeError("this writer has no signing key")
        seq, head_hash = _lock_head(session, chain)
        if seq == 0:
            raise ValueError(f"chain {chain!r} has no events to checkpoint")
        existing = session.execute(
            select(audit_checkpoints).where(
                audit_checkpoints.c.chain == chain, audit_checkpoints.c.seq == seq
            )
        ).mappings().first()
        if existing is not None:
            return checkpoint_from_row(existing)
        checkpoint = sign_checkpoint(self.signing_key, chain, seq, head_hash)
        session.execute(insert(audit_checkpoints), [checkpoint_row(checkpoint)])
        return checkpoint


def _lock_head(session: Executor, chain: str) -> tuple[int, str]:
    row = session.execute(_select_head, {"chain": chain}).first()
    if row is None:
        # A new chain: create its head row; ON CONFLICT because a concurrent first
        # append may be doing the same, then lock whichever row won.
        dialect = session.get_bind().dialect.name
        insert_head = (postgresql if dialect == "postgresql" else sqlite).insert(audit_chain_heads)
        session.execute(
            insert_head.values(chain=chain, seq=0, hash=GENESIS_HASH).on_conflict_do_nothing()
        )
        row = session.execute(_select_head, {"chain": chain}).one()
    return int(row[0]), str(row[1])


def _prepare(event: AuditEvent) -> _Prepared:
    """Validate one event and encode its JSON parts, before any lock is taken."""
    if event.outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {sorted(OUTCOMES)}, got {event.outcome!r}")
    if not event.action:
        raise ValueError("action is required")
    if not event.actor_type:
        raise ValueError("actor_type is required")
    for name, limit in _LIMITS.items():
        value = getattr(event, name)
        if value is not None and (not isinstance(value, str) or len(value) > limit):
            raise ValueError(f"{name} must be a string of at most {limit} characters")
    if event.protected:
        if event.subject_id is None:
            raise ValueError("protected fields need a subject_id (whose key encrypts them)")
        for key, value in event.protected.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise ValueError("protected fields map names to strings")
    occurred_at = event.occurred_at
    if occurred_at is not None:
        if occurred_at.tzinfo is None:
            raise ValueError("occurred_at must be timezone-aware")
        occurred_at = occurred_at.astimezone(UTC)
    if not isinstance(event.details, Mapping):
        raise ValueError("details must be a JSON object")
    canonical.check_json_value(event.details)
    # A deep copy through JSON: the stored event must not change if the caller's dict does.
    details: dict[str, Any] = json.loads(json.dumps(event.details))
    roles = tuple(sorted(set(event.actor_roles)))
    canonical.check_json_value(list(roles), "actor_roles")
    return _Prepared(
        event=event,
        chain=chain_for(event.account_id),
        roles=roles,
        roles_json=canonical.encode_value(list(roles)),
        details=details,
        details_json=canonical.encode_value(details),
        occurred_at=occurred_at,
    )
