from __future__ import annotations

from sqlalchemy import Engine, inspect

from audit.tables import metadata


def test_the_migration_creates_the_tables_the_package_declares(engine: Engine) -> None:
    inspector = inspect(engine)
    for table in metadata.sorted_tables:
        columns = {c["name"]: c for c in inspector.get_columns(table.name)}
        assert set(columns) == set(table.columns.keys()), table.name
        for column in table.columns:
            assert columns[column.name]["nullable"] == column.nullable, (table.name, column.name)
    uniques = {u["name"] for u in inspector.get_unique_constraints("audit_events")}
    assert "uq_audit_events_chain_seq" in uniques
    indexes = {i["name"] for i in inspector.get_indexes("audit_events")}
    declared = {i.name for i in metadata.tables["audit_events"].indexes}
    assert declared <= indexes
