"""Data-subject requests, their transitions and items, and the suppression list.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
ID = 128


def upgrade() -> None:
    op.create_table(
        "dsr_requests",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("jurisdiction", sa.String(8), nullable=False),
        sa.Column("accounts", sa.Text, nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("due_at", TS, nullable=False),
        sa.Column("extended", sa.Boolean, nullable=False),
        sa.Column("identity_ciphertext", sa.Text),
        sa.Column("exemption_code", sa.String(40)),
        sa.Column("result", sa.Text),
        sa.Column("signature", sa.String(200)),
        sa.Column("package_ciphertext", sa.Text),
        sa.Column("created_by", sa.String(ID), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("completed_at", TS),
    )
    op.create_index("ix_dsr_requests_status", "dsr_requests", ["status"])
    op.create_table(
        "dsr_transitions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "dsr_id",
            sa.String(40),
            sa.ForeignKey("dsr_requests.id", name="fk_dsr_transitions_dsr_id_dsr_requests"),
            nullable=False,
        ),
        sa.Column("from_status", sa.String(24), nullable=False),
        sa.Column("to_status", sa.String(24), nullable=False),
        sa.Column("step", sa.String(24), nullable=False),
        sa.Column("by", sa.String(ID), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("note", sa.Text),
    )
    op.create_index("ix_dsr_transitions_dsr_id", "dsr_transitions", ["dsr_id"])
    op.create_table(
        "dsr_items",
        sa.Column(
            "dsr_id",
            sa.String(40),
            sa.ForeignKey("dsr_requests.id", name="fk_dsr_items_dsr_id_dsr_requests"),
            nullable=False,
        ),
        sa.Column("account_id", sa.String(ID), nullable=False),
        sa.Column("contact_id", sa.String(ID), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text),
        sa.PrimaryKeyConstraint("dsr_id", "account_id", "contact_id", name="pk_dsr_items"),
    )
    op.create_table(
        "suppression_entries",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("account_id", sa.String(ID), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("dsr_id", sa.String(40), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index(
        "ix_suppression_lookup",
        "suppression_entries",
        ["account_id", "kind", "digest"],
        unique=True,
    )


def downgrade() -> None:
    for table in ("suppression_entries", "dsr_items", "dsr_transitions", "dsr_requests"):
        op.drop_table(table)
