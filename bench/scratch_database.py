"""Throwaway PostgreSQL databases for the benchmarks, and loading rows into them by COPY.

Each benchmark creates its own database on the local server (``PG_ADMIN``) and drops it when
done, so runs never see each other's rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import create_engine, text

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
CONTACT_COPY = (
    "COPY contacts (account_id, id, name, email, phone, state, version, created_at,"
    " updated_at) FROM STDIN"
)
RECORD_COPY = (
    "COPY related_records (id, account_id, contact_id, origin_contact_id, kind, label,"
    " data, state, created_at, updated_at) FROM STDIN"
)


def create_scratch_database(prefix: str) -> tuple[str, Callable[[], None]]:
    """A new empty database named ``prefix`` and a random suffix: its URL, and how to drop
    it."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}", drop


def copy_rows(cursor: Any, statement: str, rows: Iterable[tuple[Any, ...]]) -> None:
    """``rows`` into a table through one COPY (a psycopg cursor)."""
    with cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)
