"""Webhook endpoints, the transactional outbox, deliveries and downstream DSR systems (issue 11).

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
ID = 128


def upgrade() -> None:
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column(
            "account_id",
            sa.String(ID),
            sa.ForeignKey(
                "accounts.id",
                name="fk_webhook_endpoints_account_id_accounts",
                ondelete="CASCADE",
            ),
            nullable=False,
        ),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("events", sa.Text, nullable=False),
        sa.Column("description", sa.String(200), nullable=False),
        sa.Column("secret_ciphertext", sa.Text, nullable=False),
        sa.Column("created_by", sa.String(ID), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_endpoints"),
    )
    op.create_index("ix_webhook_endpoints_account", "webhook_endpoints", ["account_id"])
    op.create_table(
        "webhook_outbox",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("message_id", sa.String(40), nullable=False),
        sa.Column("endpoint_id", sa.String(40), nullable=False),
        sa.Column("account_id", sa.String(ID), nullable=False),
        sa.Column("event_type", sa.String(40), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("dsr_id", sa.String(40)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", TS, nullable=False),
        sa.Column("lease_owner", sa.String(200)),
        sa.Column("lease_until", TS),
        sa.Column("last_status_code", sa.Integer),
        sa.Column("last_error", sa.String(500)),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("delivered_at", TS),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_outbox"),
    )
    op.create_index("ix_webhook_outbox_due", "webhook_outbox", ["status", "next_attempt_at"])
    op.create_index(
        "ix_webhook_outbox_endpoint", "webhook_outbox", ["endpoint_id", "created_at", "id"]
    )
    op.create_table(
        "webhook_attempts",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("delivery_id", sa.String(40), nullable=False),
        sa.Column("attempted_at", TS, nullable=False),
        sa.Column("status_code", sa.Integer),
        sa.Column("error", sa.String(500)),
        sa.Column("duration_ms", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_attempts"),
    )
    op.create_index("ix_webhook_attempts_delivery", "webhook_attempts", ["delivery_id", "id"])
    op.create_table(
        "dsr_systems",
        sa.Column(
            "account_id",
            sa.String(ID),
            sa.ForeignKey(
                "accounts.id", name="fk_dsr_systems_account_id_accounts", ondelete="CASCADE"
            ),
            nullable=False,
        ),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("endpoint_id", sa.String(40)),
        sa.Column("created_by", sa.String(ID), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("account_id", "name", name="pk_dsr_systems"),
    )
    op.create_table(
        "dsr_system_tasks",
        sa.Column(
            "dsr_id",
            sa.String(40),
            sa.ForeignKey("dsr_requests.id", name="fk_dsr_system_tasks_dsr_id_dsr_requests"),
            nullable=False,
        ),
        sa.Column("account_id", sa.String(ID), nullable=False),
        sa.Column("system", sa.String(64), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("delivery_id", sa.String(40)),
        sa.Column("counts", sa.Text),
        sa.Column("note", sa.Text),
        sa.Column("confirmed_by", sa.String(ID)),
        sa.Column("confirmed_at", TS),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("dsr_id", "account_id", "system", name="pk_dsr_system_tasks"),
    )


def downgrade() -> None:
    for table in (
        "dsr_system_tasks",
        "dsr_systems",
        "webhook_attempts",
        "webhook_outbox",
        "webhook_endpoints",
    ):
        op.drop_table(table)
