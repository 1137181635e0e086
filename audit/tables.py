"""The audit tables, on a MetaData of their own (the package does not depend on the service).

The schema itself is created by the service's Alembic migration ``0002_audit``, which also
installs the triggers that make ``audit_events`` and ``audit_checkpoints`` append-only; a
test keeps these definitions and the migration in step.

Protected personal data is stored as ciphertext; the per-subject data keys live in
``audit_subject_keys``, the one audit table that is neither append-only nor hashed, because
erasure has to be able to destroy a key.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeDecorator

ID: Final = 128
NAME: Final = 64


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp that is always aware and in UTC, on every backend: the one timestamp type
    of the service's storage (``policy_service.storage.tables`` uses it too).

    PostgreSQL keeps the zone (``timestamptz``); SQLite stores text without one and gives
    back naive values. Both come out of here aware, so nothing that reads a row meets a naive
    datetime, and nothing is written that is not UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return _utc(value) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return _utc(value) if value is not None else None


TS = UtcDateTime()

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s",
    }
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("event_id", String(36), primary_key=True),
    Column("chain", String(ID), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("occurred_at", TS, nullable=False),
    Column("recorded_at", TS, nullable=False),
    Column("account_id", String(ID)),
    Column("actor_type", String(NAME), nullable=False),
    Column("actor_id", String(ID)),
    # Canonical JSON text, so the verifier reads back exactly what was hashed.
    Column("actor_roles", Text, nullable=False),
    Column("client_id", String(ID)),
    Column("on_behalf_of", String(ID)),
    Column("action", String(ID), nullable=False),
    Column("target_type", String(NAME)),
    Column("target_id", String(ID)),
    Column("outcome", String(16), nullable=False),
    Column("reason_code", String(ID)),
    Column("request_id", String(ID)),
    Column("job_id", String(ID)),
    Column("dsr_id", String(ID)),
    Column("policy_version", String(NAME)),
    Column("cascade_profile", String(NAME)),
    Column("cascade_profile_version", String(NAME)),
    Column("details", Text, nullable=False),
    Column("subject_id", String(ID)),
    Column("protected", Text),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    # The fork guard: whatever goes wrong with locking, two events never share a position.
    UniqueConstraint("chain", "seq", name="uq_audit_events_chain_seq"),
    Index("ix_audit_events_account_id_event_id", "account_id", "event_id"),
    Index("ix_audit_events_actor_id_event_id", "actor_id", "event_id"),
    Index("ix_audit_events_action_event_id", "action", "event_id"),
    Index("ix_audit_events_target", "target_type", "target_id", "event_id"),
    # Partial: most events have no job or data-subject request, and skipping them saves an
    # index write per append.
    *(
        Index(
            f"ix_audit_events_{column}",
            column,
            postgresql_where=text(f"{column} IS NOT NULL"),
            sqlite_where=text(f"{column} IS NOT NULL"),
        )
        for column in ("request_id", "job_id", "dsr_id")
    ),
    Index("ix_audit_events_occurred_at", "occurred_at"),
)

# One row per chain: the lock appenders queue on, and a cache of the head. Not trusted by
# verification (it is updated in place), only compared against.
audit_chain_heads = Table(
    "audit_chain_heads",
    metadata,
    Column("chain", String(ID), primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
)

audit_checkpoints = Table(
    "audit_checkpoints",
    metadata,
    Column("chain", String(ID), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("key_id", String(NAME), nullable=False),
    Column("signature", String(128), nullable=False),
    # The RFC 9162 Merkle root over events 1..seq (hex) and the C2SP signed note that signs
    # it; NULL on checkpoints signed before migration 0007.
    Column("root_hash", String(64)),
    Column("note", Text),
    PrimaryKeyConstraint("chain", "seq", name="pk_audit_checkpoints"),
)

# The perfect subtree hashes of each chain's Merkle tree (level 0: leaf hashes), filled in
# up to each checkpoint when it is signed: what makes a proof a handful of lookups.
# Append-only, like the events.
audit_merkle_nodes = Table(
    "audit_merkle_nodes",
    metadata,
    Column("chain", String(ID), nullable=False),
    Column("level", Integer, nullable=False),
    Column("idx", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
    PrimaryKeyConstraint("chain", "level", "idx", name="pk_audit_merkle_nodes"),
)

audit_subject_keys = Table(
    "audit_subject_keys",
    metadata,
    Column("subject_id", String(ID), primary_key=True),
    # Which key-encryption key wrapped the data key (a fingerprint, not the key).
    Column("kek_id", String(16), nullable=False),
    # NULL once destroyed; the row stays as a tombstone so the subject is not re-keyed.
    Column("wrapped_key", LargeBinary),
    Column("created_at", TS, nullable=False),
    Column("destroyed_at", TS),
)


def upsert_ignoring(executor: Session | Connection, table: Table) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING`` for the executor's database (both have it)."""
    dialect = executor.dialect if isinstance(executor, Connection) else executor.get_bind().dialect
    module = postgresql if dialect.name == "postgresql" else sqlite
    return module.insert(table).on_conflict_do_nothing()
