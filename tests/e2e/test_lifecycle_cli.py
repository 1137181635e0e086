"""Operator commands for contacts: import, deletion rules, retention, overdue requests."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.server_process import cli

pytestmark = pytest.mark.e2e


@pytest.fixture
def env(sqlite_url: str, tmp_path: Path) -> dict[str, str]:
    engine = create_engine(sqlite_url)
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
    return {
        "POLICY_SERVICE_DATABASE_URL": sqlite_url,
        "POLICY_SERVICE_AUDIT_SIGNING_KEY": str(tmp_path / "key.pem"),
        "POLICY_SERVICE_AUDIT_ENCRYPTION_KEY": str(tmp_path / "kek.bin"),
    }


def test_contacts_import_from_csv_and_ndjson_reports_bad_lines(
    env: dict[str, str], tmp_path: Path
) -> None:
    csv_file = tmp_path / "contacts.csv"
    csv_file.write_text(
        "id,name,email,phone,tags\n"
        "c-1,Ada,ada@example.com,+44 20 7946 0000,vip;lead\n"
        "c-2,Bob,not-an-email,,\n"
        "c-3,Cy,cy@example.com,,\n"
    )
    result = cli("contacts", "import", str(csv_file), "--account", "acme", env=env)
    assert result.returncode == 1  # one bad line
    assert "imported 2, skipped 1" in result.stdout
    assert "line 3" in result.stdout
    ndjson = tmp_path / "contacts.ndjson"
    ndjson.write_text('{"id": "c-4", "email": "d@example.com"}\nnot json\n')
    result = cli("contacts", "import", str(ndjson), "--account", "acme", env=env)
    assert "imported 1, skipped 1" in result.stdout


def test_rules_run_previews_then_applies(env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "c.ndjson").write_text('{"id": "c-1", "tags": ["stale"]}\n{"id": "c-2"}\n')
    cli("contacts", "import", str(tmp_path / "c.ndjson"), "--account", "acme", env=env)
    engine = create_engine(env["POLICY_SERVICE_DATABASE_URL"])
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO deletion_rules VALUES ('rule_1', 'acme', 'stale', 'inactive', true,"
                " 'ada', CURRENT_TIMESTAMP)"
            )
        )
    preview = cli("rules", "run", "--account", "acme", "--dry-run", env=env)
    assert "would delete 1" in preview.stdout
    assert "c-1" in preview.stdout
    applied = cli("rules", "run", "--account", "acme", "--apply", env=env)
    assert "deleted 1" in applied.stdout
    with engine.connect() as connection:
        states = dict(connection.execute(text("SELECT id, state FROM contacts")).all())
    assert states == {"c-1": "trashed", "c-2": "active"}
    engine.dispose()


def test_retention_sweep_purges_what_has_expired(env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "c.ndjson").write_text('{"id": "c-1"}\n')
    cli("contacts", "import", str(tmp_path / "c.ndjson"), "--account", "acme", env=env)
    engine = create_engine(env["POLICY_SERVICE_DATABASE_URL"])
    with engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE contacts SET state = 'trashed', deleted_at = :at,"
                " delete_operation_id = 'op'"
            ),
            {"at": datetime.now(UTC) - timedelta(days=90)},
        )
    result = cli("retention", "sweep", env=env)
    assert result.returncode == 0, result.stderr
    assert "purged 1 contact(s) in 1 account(s)" in result.stdout
    engine.dispose()


def test_dsr_overdue_lists_late_requests_and_exits_1(env: dict[str, str]) -> None:
    assert cli("dsr", "overdue", env=env).returncode == 0
    engine = create_engine(env["POLICY_SERVICE_DATABASE_URL"])
    late = datetime.now(UTC) - timedelta(days=50)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO dsr_requests (id, type, jurisdiction, accounts, channel, status,"
                " received_at, due_at, extended, created_by, created_at, updated_at) VALUES"
                " ('dsr_1', 'erasure', 'ccpa', :accounts, 'email', 'received', :r, :d, false,"
                " 'cora', :r, :r)"
            ),
            {"accounts": json.dumps(["acme"]), "r": late, "d": late + timedelta(days=45)},
        )
    result = cli("dsr", "overdue", env=env)
    assert result.returncode == 1
    assert "dsr_1" in result.stdout
    assert "5 days late" in result.stdout
    engine.dispose()
