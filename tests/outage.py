"""Take a test's own PostgreSQL database away from the service, and give it back."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url


def database_name(url: str) -> str:
    name = make_url(url).database
    assert name, url
    return name


def end_connections(admin: Engine, name: str) -> None:
    with admin.connect() as connection:
        connection.execute(
            text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"),
            {"name": name},
        )


def allow_connections(admin: Engine, url: str, allowed: bool) -> None:
    name = database_name(url)
    with admin.connect() as connection:
        connection.execute(
            text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(allowed).lower()}')
        )


@contextmanager
def database_away(admin: Engine, url: str) -> Iterator[None]:
    """Refuse new connections to the database and end the open ones, as a crash would."""
    allow_connections(admin, url, False)
    end_connections(admin, database_name(url))
    try:
        yield
    finally:
        allow_connections(admin, url, True)
