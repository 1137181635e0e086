from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import DatabaseError

from audit import AuditWriter
from audit.tables import audit_checkpoints, audit_events
from policy_service.storage.unit_of_work import UnitOfWork
from tests.audit.conftest import CHECKPOINT_EVERY

STATEMENTS = {
    "update": "UPDATE {table} SET hash = 'x'",
    "delete": "DELETE FROM {table}",
    "truncate": "TRUNCATE {table}",
}


@pytest.mark.parametrize("table", ["audit_events", "audit_checkpoints"])
@pytest.mark.parametrize("operation", ["update", "delete", "truncate"])
def test_the_database_refuses_to_change_or_remove_audit_rows(
    engine: Engine, append: Callable[..., list[Any]], table: str, operation: str
) -> None:
    if operation == "truncate" and engine.dialect.name == "sqlite":
        pytest.skip("SQLite has no TRUNCATE (its DELETE FROM is refused)")
    append(CHECKPOINT_EVERY)
    with pytest.raises(DatabaseError, match="append-only"), engine.begin() as connection:
        connection.exec_driver_sql(STATEMENTS[operation].format(table=table))
    with engine.connect() as connection:
        events = connection.execute(select(func.count()).select_from(audit_events)).scalar()
        cps = connection.execute(select(func.count()).select_from(audit_checkpoints)).scalar()
    assert (events, cps) == (CHECKPOINT_EVERY, 1)


def test_the_writer_has_no_update_or_delete_path() -> None:
    public = {name for name in dir(AuditWriter) if not name.startswith("_")}
    assert public == {"append", "append_many", "checkpoint"}


def test_a_failed_append_rolls_back_with_the_callers_transaction(
    writer: AuditWriter, uow: Callable[..., UnitOfWork], engine: Engine
) -> None:
    from tests.audit.conftest import make_event

    with uow() as work:
        writer.append(work.session, make_event())
        work.rollback()
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(audit_events)).scalar() == 0
