"""Data-subject request execution as a leased, resumable job: its lease and its executor.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("dsr_requests", sa.Column("lease_owner", sa.String(200)))
    op.add_column("dsr_requests", sa.Column("lease_until", TS))
    op.add_column("dsr_requests", sa.Column("executor", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("dsr_requests") as batch:
        for column in ("executor", "lease_until", "lease_owner"):
            batch.drop_column(column)
