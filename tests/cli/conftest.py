"""Fixtures for the in-process CLI tests: a fresh SQLite database and keys per test."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.cli.runner import copy_pack


@pytest.fixture
def env(sqlite_url: str, tmp_path: Path) -> dict[str, str]:
    """The environment an operator's shell would have: a migrated database and key files."""
    return {
        "POLICY_SERVICE_DATABASE_URL": sqlite_url,
        "POLICY_SERVICE_AUDIT_SIGNING_KEY": str(tmp_path / "key.pem"),
        "POLICY_SERVICE_AUDIT_ENCRYPTION_KEY": str(tmp_path / "kek.bin"),
    }


@pytest.fixture
def acme(env: dict[str, str]) -> dict[str, str]:
    """``env`` with an account 'acme' (cascade-on-delete, 60 days), its importer service
    'import' and its admin 'ada'."""
    engine = create_engine(env["POLICY_SERVICE_DATABASE_URL"])
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO accounts VALUES ('acme', 'Acme', 'cascade-on-delete', 60, false,"
                " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
        for user, role in (("import", "service"), ("ada", "admin")):
            connection.execute(
                text("INSERT INTO memberships VALUES ('acme', :u, :r, CURRENT_TIMESTAMP)"),
                {"u": user, "r": role},
            )
    engine.dispose()
    return env


@pytest.fixture
def pack(tmp_path: Path) -> Path:
    """A copy of the shipped policy pack that a test may change."""
    return copy_pack(tmp_path / "pack")
