"""``policy-service db upgrade``."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, inspect

from tests.cli.runner import cli


def test_db_upgrade_migrates_a_new_database_and_is_idempotent(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.sqlite3'}"
    env = {"POLICY_SERVICE_DATABASE_URL": url}
    for _ in range(2):
        result = cli("db", "upgrade", env=env)
        assert result.exit_code == 0, result.output
        assert result.stdout == f"database is at the latest schema ({url})\n"
    engine = create_engine(url)
    tables = set(inspect(engine).get_table_names())
    engine.dispose()
    assert {"alembic_version", "accounts", "contacts", "audit_events", "jobs"} <= tables


def test_a_bad_setting_is_an_error_naming_the_variable_not_a_traceback(tmp_path: Path) -> None:
    result = cli(
        "db",
        "upgrade",
        env={
            "POLICY_SERVICE_DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}",
            "POLICY_SERVICE_JOB_RUNNER": "sometimes",
        },
    )
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: POLICY_SERVICE_JOB_RUNNER: expected thread, inline")
    assert not (tmp_path / "x.sqlite3").exists()
