"""Audit evidence (issue 10): chain heads only move forward; Merkle checkpoints.

Revision ID: 0007
Revises: 0006

Checkpoints gain the RFC 9162 Merkle root over the chain's events and the C2SP signed note
that signs it; ``audit_merkle_nodes`` keeps each chain's perfect subtree hashes (append-only,
like the events) so inclusion and consistency proofs are a few lookups.

``audit_chain_heads`` is updated in place on every append, so it cannot be append-only like
``audit_events`` and ``audit_checkpoints``; what an attacker would do to it is move a head
back after deleting the newest events (issue 10), so that is what the triggers refuse: a
lower ``seq``, a different hash at the same ``seq``, a renamed chain, a deleted row.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_REWIND = (
    "NEW.seq < OLD.seq OR NEW.chain <> OLD.chain OR (NEW.seq = OLD.seq AND NEW.hash <> OLD.hash)"
)


def upgrade() -> None:
    op.add_column("audit_checkpoints", sa.Column("root_hash", sa.String(64)))
    op.add_column("audit_checkpoints", sa.Column("note", sa.Text))
    op.create_table(
        "audit_merkle_nodes",
        sa.Column("chain", sa.String(128), nullable=False),
        sa.Column("level", sa.Integer, nullable=False),
        sa.Column("idx", sa.BigInteger, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("chain", "level", "idx", name="pk_audit_merkle_nodes"),
    )
    if op.get_bind().dialect.name == "postgresql":
        for suffix, when in (("append_only", "UPDATE OR DELETE"), ("no_truncate", "TRUNCATE")):
            each = "ROW" if suffix == "append_only" else "STATEMENT"
            op.execute(
                f"CREATE TRIGGER audit_merkle_nodes_{suffix} BEFORE {when} ON audit_merkle_nodes "
                f"FOR EACH {each} EXECUTE FUNCTION audit_refuse_change()"
            )
        op.execute(
            f"""
            CREATE FUNCTION audit_refuse_head_rewind() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_OP = 'DELETE' OR {_REWIND} THEN
                    RAISE EXCEPTION 'audit chain heads only move forward: % refused', TG_OP
                        USING ERRCODE = 'insufficient_privilege';
                END IF;
                RETURN NEW;
            END
            $$
            """
        )
        op.execute(
            "CREATE TRIGGER audit_chain_heads_forward_only BEFORE UPDATE OR DELETE "
            "ON audit_chain_heads FOR EACH ROW EXECUTE FUNCTION audit_refuse_head_rewind()"
        )
        op.execute(
            "CREATE TRIGGER audit_chain_heads_no_truncate BEFORE TRUNCATE ON audit_chain_heads "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()"
        )
    else:
        for operation in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_merkle_nodes_no_{operation.lower()} BEFORE {operation} "
                "ON audit_merkle_nodes BEGIN SELECT RAISE(ABORT, "
                f"'audit_merkle_nodes is append-only: {operation} refused'); END"
            )
        op.execute(
            "CREATE TRIGGER audit_chain_heads_no_delete BEFORE DELETE ON audit_chain_heads "
            "BEGIN SELECT RAISE(ABORT, 'audit chain heads only move forward: DELETE refused'); "
            "END"
        )
        op.execute(
            "CREATE TRIGGER audit_chain_heads_no_rewind BEFORE UPDATE ON audit_chain_heads "
            f"WHEN {_REWIND} "
            "BEGIN SELECT RAISE(ABORT, 'audit chain heads only move forward: UPDATE refused'); "
            "END"
        )


def downgrade() -> None:
    op.drop_table("audit_merkle_nodes")
    with op.batch_alter_table("audit_checkpoints") as batch:
        batch.drop_column("note")
        batch.drop_column("root_hash")
    if op.get_bind().dialect.name == "sqlite":
        # SQLite's batch mode rebuilt the table without 0002's triggers: put them back.
        for operation in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER IF NOT EXISTS audit_checkpoints_no_{operation.lower()} "
                f"BEFORE {operation} ON audit_checkpoints BEGIN SELECT RAISE(ABORT, "
                f"'audit_checkpoints is append-only: {operation} refused'); END"
            )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_chain_heads_no_truncate ON audit_chain_heads")
        op.execute("DROP TRIGGER IF EXISTS audit_chain_heads_forward_only ON audit_chain_heads")
        op.execute("DROP FUNCTION IF EXISTS audit_refuse_head_rewind()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_chain_heads_no_delete")
        op.execute("DROP TRIGGER IF EXISTS audit_chain_heads_no_rewind")
