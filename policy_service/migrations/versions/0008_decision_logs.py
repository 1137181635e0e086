"""Decision logs: every decision answered, kept for compliance officers (issue 11).

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "decision_logs",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("decided_at", TS, nullable=False),
        sa.Column("endpoint", sa.String(32), nullable=False),
        sa.Column("account_id", sa.String(128)),
        sa.Column("caller_id", sa.String(128), nullable=False),
        sa.Column("on_behalf_of", sa.String(128)),
        sa.Column("subject_type", sa.String(64)),
        sa.Column("subject_id", sa.String(128)),
        sa.Column("action", sa.String(128)),
        sa.Column("resource_type", sa.String(64)),
        sa.Column("resource_id", sa.String(256)),
        sa.Column("decision", sa.Boolean, nullable=False),
        sa.Column("reason_code", sa.String(64)),
        sa.Column("policy_version", sa.String(100)),
        sa.Column("request_id", sa.String(200)),
        sa.Column("details", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_decision_logs"),
    )
    op.create_index(
        "ix_decision_logs_account_time", "decision_logs", ["account_id", "decided_at", "id"]
    )
    op.create_index(
        "ix_decision_logs_subject", "decision_logs", ["account_id", "subject_id", "decided_at"]
    )
    op.create_index(
        "ix_decision_logs_resource", "decision_logs", ["account_id", "resource_id", "decided_at"]
    )
    op.create_index("ix_decision_logs_time", "decision_logs", ["decided_at"])


def downgrade() -> None:
    op.drop_table("decision_logs")
