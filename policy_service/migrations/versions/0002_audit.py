"""The append-only, tamper-evident audit log (the ``audit`` package's tables).

Revision ID: 0002
Revises: 0001

``audit_events`` and ``audit_checkpoints`` refuse UPDATE and DELETE (and TRUNCATE on
PostgreSQL) through triggers, so not even a bug in the service can rewrite history;
``audit_chain_heads`` (a lock row and cache per chain) and ``audit_subject_keys`` (data keys
that erasure destroys) stay writable. Mirrors ``audit/tables.py``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
ID = 128
NAME = 64
APPEND_ONLY = ("audit_events", "audit_checkpoints")


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("event_id", sa.String(36), primary_key=True),
        sa.Column("chain", sa.String(ID), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("occurred_at", TS, nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
        sa.Column("account_id", sa.String(ID)),
        sa.Column("actor_type", sa.String(NAME), nullable=False),
        sa.Column("actor_id", sa.String(ID)),
        sa.Column("actor_roles", sa.Text, nullable=False),
        sa.Column("client_id", sa.String(ID)),
        sa.Column("on_behalf_of", sa.String(ID)),
        sa.Column("action", sa.String(ID), nullable=False),
        sa.Column("target_type", sa.String(NAME)),
        sa.Column("target_id", sa.String(ID)),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("reason_code", sa.String(ID)),
        sa.Column("request_id", sa.String(ID)),
        sa.Column("job_id", sa.String(ID)),
        sa.Column("dsr_id", sa.String(ID)),
        sa.Column("policy_version", sa.String(NAME)),
        sa.Column("cascade_profile", sa.String(NAME)),
        sa.Column("cascade_profile_version", sa.String(NAME)),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("subject_id", sa.String(ID)),
        sa.Column("protected", sa.Text),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name="pk_audit_events"),
        sa.UniqueConstraint("chain", "seq", name="uq_audit_events_chain_seq"),
    )
    for name, columns in (
        ("ix_audit_events_account_id_event_id", ["account_id", "event_id"]),
        ("ix_audit_events_actor_id_event_id", ["actor_id", "event_id"]),
        ("ix_audit_events_action_event_id", ["action", "event_id"]),
        ("ix_audit_events_target", ["target_type", "target_id", "event_id"]),
        ("ix_audit_events_occurred_at", ["occurred_at"]),
    ):
        op.create_index(name, "audit_events", columns)
    # Most events carry no job or data-subject request: partial indexes skip them, which
    # saves an index write per append.
    for column in ("request_id", "job_id", "dsr_id"):
        present = sa.text(f"{column} IS NOT NULL")
        op.create_index(
            f"ix_audit_events_{column}",
            "audit_events",
            [column],
            postgresql_where=present,
            sqlite_where=present,
        )
    op.create_table(
        "audit_chain_heads",
        sa.Column("chain", sa.String(ID), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("chain", name="pk_audit_chain_heads"),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("chain", sa.String(ID), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("key_id", sa.String(NAME), nullable=False),
        sa.Column("signature", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("chain", "seq", name="pk_audit_checkpoints"),
    )
    op.create_table(
        "audit_subject_keys",
        sa.Column("subject_id", sa.String(ID), nullable=False),
        sa.Column("kek_id", sa.String(16), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("destroyed_at", TS),
        sa.PrimaryKeyConstraint("subject_id", name="pk_audit_subject_keys"),
    )
    if op.get_bind().dialect.name == "postgresql":
        _postgresql_triggers()
    else:
        _sqlite_triggers()


def _postgresql_triggers() -> None:
    op.execute(
        """
        CREATE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit table % is append-only: % refused', TG_TABLE_NAME, TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END
        $$
        """
    )
    for table in APPEND_ONLY:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()"
        )
        # Row triggers do not fire on TRUNCATE; it needs a statement trigger of its own.
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()"
        )


def _sqlite_triggers() -> None:
    for table in APPEND_ONLY:
        for operation in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{operation.lower()} BEFORE {operation} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {operation} refused'); END"
            )


def downgrade() -> None:
    # Dropping the tables drops their triggers; the PostgreSQL function goes explicitly.
    for table in ("audit_subject_keys", "audit_checkpoints", "audit_chain_heads", "audit_events"):
        op.drop_table(table)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS audit_refuse_change()")
