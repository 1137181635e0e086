"""``policy-service db``: the database schema."""

from __future__ import annotations

import click

from policy_service.cli.common import load_settings


@click.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply the migrations to POLICY_SERVICE_DATABASE_URL."""
    from policy_service.storage.database import create_database_engine
    from policy_service.storage.migrate import upgrade

    settings = load_settings()
    engine = create_database_engine(settings.database_url)
    upgrade(engine)
    engine.dispose()
    click.echo(f"database is at the latest schema ({engine.url.render_as_string()})")
