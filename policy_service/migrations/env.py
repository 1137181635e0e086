"""Alembic environment: run by ``policy-service db upgrade`` and at start.

The caller passes an open connection in ``config.attributes["connection"]``; there is no
alembic.ini and no URL in here, so the one configuration table stays the only source.
"""

from __future__ import annotations

from alembic import context

from audit.tables import metadata as audit_metadata
from policy_service.storage.tables import Base

# Both: autogenerate compares the database with every table the code declares, the audit
# log's included - with only one, it would propose dropping the other's tables.
TARGET_METADATA = [Base.metadata, audit_metadata]

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=TARGET_METADATA,
    render_as_batch=connection.dialect.name == "sqlite",
    transaction_per_migration=True,
)
with context.begin_transaction():
    context.run_migrations()
