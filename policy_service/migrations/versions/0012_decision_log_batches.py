"""Decision log batches: decisions written together, a row per batch request and account or
per writer flush, account, endpoint and caller (issue 11).

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
ID_LIST = sa.JSON().with_variant(ARRAY(sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "decision_log_batches",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("decided_at", TS, nullable=False),
        sa.Column("first_at", TS, nullable=False),
        sa.Column("endpoint", sa.String(32), nullable=False),
        sa.Column("account_id", sa.String(128)),
        sa.Column("caller_id", sa.String(128), nullable=False),
        sa.Column("on_behalf_of", sa.String(128)),
        sa.Column("request_id", sa.String(200)),
        sa.Column("decisions", sa.Integer, nullable=False),
        sa.Column("allowed", sa.Integer, nullable=False),
        sa.Column("subject_ids", ID_LIST, nullable=False),
        sa.Column("resource_ids", ID_LIST, nullable=False),
        sa.Column("items", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_decision_log_batches"),
    )
    op.create_index(
        "ix_decision_log_batches_account_time",
        "decision_log_batches",
        ["account_id", "decided_at", "id"],
    )
    op.create_index("ix_decision_log_batches_time", "decision_log_batches", ["decided_at"])
    op.create_index(
        "ix_decision_log_batches_subjects",
        "decision_log_batches",
        ["subject_ids"],
        postgresql_using="gin",
    )
    op.create_index(
        "ix_decision_log_batches_resources",
        "decision_log_batches",
        ["resource_ids"],
        postgresql_using="gin",
    )


def downgrade() -> None:
    op.drop_table("decision_log_batches")
