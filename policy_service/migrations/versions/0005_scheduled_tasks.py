"""Scheduled tasks: the retention sweep's and job recovery's schedule, lease and last run.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "scheduled_tasks",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("next_run_at", TS),
        sa.Column("lease_owner", sa.String(200)),
        sa.Column("lease_until", TS),
        sa.Column("last_runner", sa.String(200)),
        sa.Column("last_started_at", TS),
        sa.Column("last_finished_at", TS),
        sa.Column("last_duration_ms", sa.Integer),
        sa.Column("last_outcome", sa.String(16)),
        sa.Column("last_result", sa.Text),
        sa.PrimaryKeyConstraint("name", name="pk_scheduled_tasks"),
    )


def downgrade() -> None:
    op.drop_table("scheduled_tasks")
