"""Operator commands for contacts: import, deletion rules, retention, bulk jobs, overdue
data-subject requests."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, text

from tests.cli.runner import cli


def database(env: dict[str, str]) -> Engine:
    return create_engine(env["POLICY_SERVICE_DATABASE_URL"])


def import_ndjson(env: dict[str, str], tmp_path: Path, *lines: str) -> None:
    source = tmp_path / "c.ndjson"
    source.write_text("".join(line + "\n" for line in lines))
    result = cli("contacts", "import", str(source), "--account", "acme", env=env)
    assert result.exit_code == 0, result.output


def states(engine: Engine) -> dict[str, str]:
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT id, state FROM contacts")).all()
    return {str(contact_id): str(state) for contact_id, state in rows}


# -- contacts import --------------------------------------------------------------------------


def test_contacts_import_from_csv_and_ndjson_reports_bad_lines(
    acme: dict[str, str], tmp_path: Path
) -> None:
    csv_file = tmp_path / "contacts.csv"
    csv_file.write_text(
        "id,name,email,phone,tags\n"
        "c-1,Ada,ada@example.com,+44 20 7946 0000,vip;lead\n"
        "c-2,Bob,not-an-email,,\n"
        "c-3,Cy,cy@example.com,,\n"
    )
    result = cli("contacts", "import", str(csv_file), "--account", "acme", env=acme)
    assert result.exit_code == 1  # one bad line
    assert "imported 2, skipped 1" in result.stdout
    assert re.search(r"^  line 3: ", result.stdout, re.MULTILINE), result.stdout
    assert "importing" in result.stderr  # the progress bar goes to stderr
    ndjson = tmp_path / "contacts.ndjson"
    ndjson.write_text('{"id": "c-4", "email": "d@example.com"}\nnot json\n')
    result = cli("contacts", "import", str(ndjson), "--account", "acme", env=acme)
    assert result.exit_code == 1
    assert "imported 1, skipped 1" in result.stdout
    assert "line 2" in result.stdout
    engine = database(acme)
    assert states(engine) == {"c-1": "active", "c-3": "active", "c-4": "active"}
    engine.dispose()


def test_contacts_import_format_option_overrides_the_file_suffix(
    acme: dict[str, str], tmp_path: Path
) -> None:
    source = tmp_path / "contacts.txt"  # neither .ndjson nor .jsonl: read as CSV by default
    source.write_text('{"id": "c-1"}\n')
    as_ndjson = cli(
        "contacts", "import", str(source), "--account", "acme", "--format", "ndjson", env=acme
    )
    assert (as_ndjson.exit_code, as_ndjson.stdout) == (0, "imported 1, skipped 0\n")


def test_contacts_import_needs_an_existing_file_and_an_account(
    acme: dict[str, str], tmp_path: Path
) -> None:
    missing = cli("contacts", "import", str(tmp_path / "nope.csv"), "--account", "acme", env=acme)
    assert missing.exit_code == 2
    assert "does not exist" in missing.stderr
    (tmp_path / "c.csv").write_text("id\nc-1\n")
    no_account = cli("contacts", "import", str(tmp_path / "c.csv"), env=acme)
    assert no_account.exit_code == 2
    assert "Missing option '--account'" in no_account.stderr


# -- deletion rules ---------------------------------------------------------------------------


def test_rules_run_previews_then_applies(acme: dict[str, str], tmp_path: Path) -> None:
    import_ndjson(acme, tmp_path, '{"id": "c-1", "tags": ["stale"]}', '{"id": "c-2"}')
    engine = database(acme)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO deletion_rules VALUES ('rule_1', 'acme', 'stale', 'inactive', true,"
                " 'ada', CURRENT_TIMESTAMP)"
            )
        )
    preview = cli("rules", "run", "--account", "acme", "--dry-run", env=acme)
    assert preview.exit_code == 0, preview.output
    assert preview.stdout == "rule rule_1 (tag 'stale' -> inactive): would delete 1\n  c-1\n"
    assert states(engine) == {"c-1": "active", "c-2": "active"}
    default = cli("rules", "run", "--account", "acme", env=acme)  # a preview by default
    assert default.stdout == preview.stdout
    applied = cli("rules", "run", "--account", "acme", "--apply", env=acme)
    assert applied.exit_code == 0, applied.output
    assert applied.stdout == "rule rule_1 (tag 'stale' -> inactive): deleted 1\n  c-1\n"
    assert states(engine) == {"c-1": "trashed", "c-2": "active"}
    engine.dispose()


# -- retention --------------------------------------------------------------------------------


def test_retention_sweep_purges_what_has_expired_and_reports_held_contacts(
    acme: dict[str, str], tmp_path: Path
) -> None:
    import_ndjson(acme, tmp_path, '{"id": "c-1"}', '{"id": "c-2"}', '{"id": "c-3"}')
    engine = database(acme)
    with engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE contacts SET state = 'trashed', deleted_at = :at,"
                " delete_operation_id = 'op' WHERE id IN ('c-1', 'c-2')"
            ),
            {"at": datetime.now(UTC) - timedelta(days=90)},
        )
        connection.execute(
            text(
                "INSERT INTO legal_holds (id, account_id, contact_id, reason, placed_by,"
                " placed_at) VALUES ('hold_1', 'acme', 'c-2', 'litigation', 'ada',"
                " CURRENT_TIMESTAMP)"
            )
        )
    result = cli("retention", "sweep", env=acme)
    assert result.exit_code == 0, result.output
    assert result.stdout == "purged 1 contact(s) in 1 account(s)\nheld (not purged): acme/c-2\n"
    assert states(engine) == {"c-1": "purged", "c-2": "trashed", "c-3": "active"}
    engine.dispose()


def test_retention_sweep_with_nothing_to_purge(acme: dict[str, str]) -> None:
    result = cli("retention", "sweep", env=acme)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("purged 0 contact(s) in ")


# -- bulk jobs --------------------------------------------------------------------------------


def queue_bulk_delete(
    acme: dict[str, str], tmp_path: Path, make_service: Any, sqlite_url: str, ids: list[str]
) -> str:
    """Queue a bulk delete through the API of an app that runs no jobs itself."""
    service = make_service(
        sqlite_url,
        job_runner="off",
        audit_signing_key=tmp_path / "key.pem",
        audit_encryption_key=tmp_path / "kek.bin",
    )
    admin = service.caller("ada", roles={"acme": ["admin"]})
    response = service.request(
        "POST",
        "/v1/accounts/acme/contacts/bulk-delete",
        admin,
        {"ids": ids, "expected_count": len(ids), "confirm": "DELETE", "reason_code": "inactive"},
    )
    assert response.status_code == 202, response.get_json()
    job = response.get_json()
    assert job["status"] == "queued"
    return str(job["id"])


def test_jobs_run_runs_one_job_to_its_end(
    acme: dict[str, str], tmp_path: Path, make_service: Any, sqlite_url: str
) -> None:
    import_ndjson(acme, tmp_path, '{"id": "c-1"}', '{"id": "c-2"}', '{"id": "c-3"}')
    job_id = queue_bulk_delete(acme, tmp_path, make_service, sqlite_url, ["c-1", "c-2"])
    result = cli("jobs", "run", "--job", job_id, env=acme)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"job {job_id}: succeeded, 2/2 processed, 0 skipped\n"
    engine = database(acme)
    assert states(engine) == {"c-1": "trashed", "c-2": "trashed", "c-3": "active"}
    engine.dispose()
    assert cli("jobs", "run", env=acme).stdout == "ran 0 job(s)\n"


def test_jobs_run_runs_every_queued_job_and_leaves_a_held_one(
    acme: dict[str, str], tmp_path: Path, make_service: Any, sqlite_url: str
) -> None:
    import_ndjson(acme, tmp_path, '{"id": "c-1"}', '{"id": "c-2"}')
    held = queue_bulk_delete(acme, tmp_path, make_service, sqlite_url, ["c-1"])
    engine = database(acme)
    with engine.begin() as connection:  # another runner, alive, holds the lease
        connection.execute(
            text("UPDATE jobs SET status = 'running', lease_owner = 'elsewhere', lease_until = :u"),
            {"u": datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=1)},
        )
    queue_bulk_delete(acme, tmp_path, make_service, sqlite_url, ["c-2"])
    ran = cli("jobs", "run", env=acme)
    assert (ran.exit_code, ran.stdout) == (0, "ran 1 job(s)\n")
    assert states(engine) == {"c-1": "active", "c-2": "trashed"}
    engine.dispose()
    result = cli("jobs", "run", "--job", held, env=acme)
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"job {held}: running, 0/1 processed, 0 skipped (held by another runner)\n"
    )


# -- data-subject requests --------------------------------------------------------------------


def test_dsr_overdue_lists_late_requests_and_exits_1(acme: dict[str, str]) -> None:
    nothing = cli("dsr", "overdue", env=acme)
    assert (nothing.exit_code, nothing.stdout) == (0, "0 overdue request(s)\n")
    engine = database(acme)
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
    engine.dispose()
    result = cli("dsr", "overdue", env=acme)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[-1] == "1 overdue request(s)"
    assert re.fullmatch(
        r"dsr_1  erasure  ccpa  received\s+due \d{4}-\d{2}-\d{2} \(5 days late\)", lines[0]
    ), lines[0]


# -- issue 15: the README's import command as written; rules run with no rules ---------------


def test_contacts_import_as_written_in_the_readme_acts_as_the_accounts_admin(
    env: dict[str, str], tmp_path: Path
) -> None:
    engine = database(env)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO accounts VALUES ('solo', 'Solo', 'trash-retains-all', 60, true,"
                " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
        connection.execute(
            text("INSERT INTO memberships VALUES ('solo', 'sam', 'admin', CURRENT_TIMESTAMP)")
        )
    source = tmp_path / "contacts.csv"
    source.write_text(
        "id,name,email,phone,tags\nc-1,Ada,ada@example.com,,\nc-2,Bob,not-an-email,,\n"
    )
    result = cli("contacts", "import", str(source), "--account", "solo", env=env)
    assert result.exit_code == 1, result.output
    assert "imported 1, skipped 1" in result.stdout
    assert "line 3: email: not an email address" in result.stdout  # the field is named
    assert "as sam" in result.stderr
    assert "rows/s" in result.stderr  # a real progress bar: counts and a rate
    with engine.connect() as connection:
        actor = connection.execute(
            text("SELECT actor_id FROM audit_events WHERE action = 'contact.created'")
        ).scalar_one()
    assert actor == "sam"  # the import is recorded as the admin's
    engine.dispose()


def test_contacts_import_names_unknown_and_mistyped_fields(
    acme: dict[str, str], tmp_path: Path
) -> None:
    source = tmp_path / "c.ndjson"
    source.write_text('{"id": "c-1", "colour": "red"}\n{"id": "c-2", "name": 5}\n')
    result = cli("contacts", "import", str(source), "--account", "acme", env=acme)
    assert "line 1: colour: unknown field" in result.stdout
    assert "line 2: name: must be a string" in result.stdout


def test_rules_run_says_so_when_there_are_no_rules(acme: dict[str, str]) -> None:
    result = cli("rules", "run", "--account", "acme", env=acme)
    assert result.exit_code == 0
    assert "no enabled deletion rules" in result.stdout
