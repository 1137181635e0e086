"""Change-log versions from a sequence on PostgreSQL: no global row lock (issue 11 §6).

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite keeps bumping sync_state: it has no sequences, and one writer
    start = (
        op.get_bind()
        .execute(
            sa.text(
                "SELECT greatest((SELECT coalesce(max(version), 0) FROM change_log),"
                " (SELECT coalesce(max(version), 0) FROM sync_state)) + 1"
            )
        )
        .scalar_one()
    )
    op.execute(sa.text(f"CREATE SEQUENCE change_versions START WITH {int(start)}"))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(sa.text("DROP SEQUENCE change_versions"))
