"""The migrations and the code's table declarations describe the same schema."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine

from audit.tables import metadata as audit_metadata
from policy_service.storage.tables import Base


def _differences(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={"compare_type": True, "render_as_batch": engine.dialect.name == "sqlite"},
        )
        return list(compare_metadata(context, [Base.metadata, audit_metadata]))


def test_autogenerate_finds_no_difference_between_the_migrations_and_the_tables(
    engine: Engine,
) -> None:
    assert _differences(engine) == []
