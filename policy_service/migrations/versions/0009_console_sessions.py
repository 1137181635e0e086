"""Console sessions kept on the server, so sign-out and token revocation end them (issue 12).

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "console_sessions",
        sa.Column("id_hash", sa.String(64), nullable=False),
        sa.Column(
            "principal_id",
            sa.String(128),
            sa.ForeignKey(
                "principals.id",
                ondelete="CASCADE",
                name="fk_console_sessions_principal_id_principals",
            ),
            nullable=False,
        ),
        sa.Column(
            "token_id",
            sa.String(32),
            sa.ForeignKey(
                "api_tokens.id", ondelete="CASCADE", name="fk_console_sessions_token_id_api_tokens"
            ),
            nullable=False,
        ),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("last_seen_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id_hash", name="pk_console_sessions"),
    )
    op.create_index("ix_console_sessions_principal_id", "console_sessions", ["principal_id"])
    op.create_index("ix_console_sessions_token_id", "console_sessions", ["token_id"])
    op.create_index("ix_console_sessions_expires_at", "console_sessions", ["expires_at"])


def downgrade() -> None:
    op.drop_table("console_sessions")
