"""Alembic environment: run by ``policy-service db upgrade`` and at start.

The caller passes an open connection in ``config.attributes["connection"]``; there is no
alembic.ini and no URL in here, so the one configuration table stays the only source.
"""

from __future__ import annotations

from alembic import context

from policy_service.storage.tables import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    transaction_per_migration=True,
)
with context.begin_transaction():
    context.run_migrations()
