"""Contacts, related records, legal holds, bulk jobs and deletion rules.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
ID = 128


def upgrade() -> None:
    op.create_table(
        "contacts",
        sa.Column(
            "account_id",
            sa.String(ID),
            sa.ForeignKey(
                "accounts.id", ondelete="CASCADE", name="fk_contacts_account_id_accounts"
            ),
            nullable=False,
        ),
        sa.Column("id", sa.String(ID), nullable=False),
        sa.Column("name", sa.String(200)),
        sa.Column("email", sa.String(320)),
        sa.Column("phone", sa.String(40)),
        sa.Column("phone_normalized", sa.String(40)),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("deleted_at", TS),
        sa.Column("deleted_by", sa.String(ID)),
        sa.Column("delete_operation_id", sa.String(40)),
        sa.Column("delete_reason", sa.String(40)),
        sa.Column("purged_at", TS),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("account_id", "id", name="pk_contacts"),
    )
    op.create_index(
        "ix_contacts_account_state_deleted_at", "contacts", ["account_id", "state", "deleted_at"]
    )
    op.create_index("ix_contacts_account_email", "contacts", ["account_id", "email"])
    op.create_index("ix_contacts_account_phone", "contacts", ["account_id", "phone_normalized"])
    op.create_table(
        "related_records",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("account_id", sa.String(ID), nullable=False),
        sa.Column("contact_id", sa.String(ID)),
        sa.Column("origin_contact_id", sa.String(ID), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("label", sa.String(200)),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("operation_id", sa.String(40)),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_index(
        "ix_related_records_contact", "related_records", ["account_id", "contact_id", "kind"]
    )
    op.create_index(
        "ix_related_records_origin", "related_records", ["account_id", "origin_contact_id"]
    )
    op.create_index("ix_related_records_tag", "related_records", ["account_id", "kind", "label"])
    op.create_table(
        "legal_holds",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("account_id", sa.String(ID), nullable=False),
        sa.Column("contact_id", sa.String(ID), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("matter", sa.String(200)),
        sa.Column("placed_by", sa.String(ID), nullable=False),
        sa.Column("placed_at", TS, nullable=False),
        sa.Column("released_by", sa.String(ID)),
        sa.Column("released_at", TS),
    )
    op.create_index("ix_legal_holds_contact", "legal_holds", ["account_id", "contact_id"])
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("account_id", sa.String(ID), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("processed", sa.Integer, nullable=False),
        sa.Column("failed", sa.Integer, nullable=False),
        sa.Column("params", sa.Text, nullable=False),
        sa.Column("created_by", sa.String(ID), nullable=False),
        sa.Column("client_id", sa.String(ID)),
        sa.Column("request_id", sa.String(128)),
        sa.Column("lease_owner", sa.String(64)),
        sa.Column("lease_until", TS),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("finished_at", TS),
    )
    op.create_index("ix_jobs_status", "jobs", ["status"])
    op.create_table(
        "job_items",
        sa.Column(
            "job_id",
            sa.String(40),
            sa.ForeignKey("jobs.id", ondelete="CASCADE", name="fk_job_items_job_id_jobs"),
            nullable=False,
        ),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("contact_id", sa.String(ID), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.String(200)),
        sa.PrimaryKeyConstraint("job_id", "position", name="pk_job_items"),
    )
    op.create_index("ix_job_items_pending", "job_items", ["job_id", "status", "position"])
    op.create_table(
        "deletion_rules",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column(
            "account_id",
            sa.String(ID),
            sa.ForeignKey(
                "accounts.id", ondelete="CASCADE", name="fk_deletion_rules_account_id_accounts"
            ),
            nullable=False,
        ),
        sa.Column("tag", sa.String(200), nullable=False),
        sa.Column("reason_code", sa.String(40), nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("created_by", sa.String(ID), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_deletion_rules_account_id", "deletion_rules", ["account_id"])


def downgrade() -> None:
    for table in (
        "deletion_rules",
        "job_items",
        "jobs",
        "legal_holds",
        "related_records",
        "contacts",
    ):
        op.drop_table(table)
