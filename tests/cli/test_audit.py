"""``policy-service audit ...`` as an operator and an outside auditor run it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.cli.runner import cli

OFFLINE = {"POLICY_SERVICE_DATABASE_URL": "sqlite:////nonexistent/never-opened.db"}


@pytest.fixture
def audited(env: dict[str, str]) -> dict[str, str]:
    """``env`` with five events in the log, checkpointed every two."""
    environment = {**env, "POLICY_SERVICE_AUDIT_CHECKPOINT_EVERY": "2"}
    for principal in ("ops-1", "ops-2", "ops-3", "ops-4", "ops-5"):
        result = cli("tokens", "create", "--principal", principal, env=environment)
        assert result.exit_code == 0, result.output
    return environment


def export_with_key(env: dict[str, str], tmp_path: Path) -> tuple[Path, Path]:
    export = tmp_path / "audit.ndjson"
    key = tmp_path / "public.pem"
    exported = cli("audit", "export", "--output", str(export), env=env)
    assert exported.exit_code == 0, exported.output
    lines = export.read_text().count("\n")
    assert exported.stdout == f"wrote {lines} lines to {export}\n"
    public_key = cli("audit", "public-key", env=env)
    assert public_key.exit_code == 0
    key.write_text(public_key.stdout)
    return export, key


def test_verify_passes_on_an_untouched_log_and_is_recorded(audited: dict[str, str]) -> None:
    result = cli("audit", "verify", "--json", env=audited)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert report["events_checked"] == 5
    assert report["checkpoints_valid"] == report["checkpoints_total"] == 2
    again = json.loads(cli("audit", "verify", "--json", env=audited).stdout)
    assert again["events_checked"] == 6  # the first verification run is now an event too


def test_verify_prints_a_one_line_summary(audited: dict[str, str]) -> None:
    result = cli("audit", "verify", env=audited)
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "OK: 5 events in 1 chain(s); checkpoints valid 2/2; gaps 0; "
        "events after the last checkpoint 1\n"
    )


def test_verify_exits_1_naming_the_first_bad_event(audited: dict[str, str]) -> None:
    engine = create_engine(audited["POLICY_SERVICE_DATABASE_URL"])
    with engine.begin() as connection:
        for (name,) in connection.execute(
            text("SELECT name FROM sqlite_master WHERE type='trigger' AND tbl_name='audit_events'")
        ).all():
            connection.execute(text(f'DROP TRIGGER "{name}"'))
        connection.execute(text("DELETE FROM audit_events WHERE seq = 3"))
    engine.dispose()
    result = cli("audit", "verify", env=audited)
    assert result.exit_code == 1
    assert result.stdout.startswith("FAILED")
    assert "seq 3" in result.stdout
    assert re.search(r"^first bad: chain \S+ seq 3: ", result.stdout, re.MULTILINE)
    assert re.search(r"^gap: chain \S+ seq 3\.\.3$", result.stdout, re.MULTILINE)
    as_json = json.loads(cli("audit", "verify", "--json", env=audited).stdout)
    assert (as_json["ok"], as_json["first_bad_seq"]) == (False, 3)


def test_an_export_verifies_offline_and_a_tampered_one_does_not(
    audited: dict[str, str], tmp_path: Path
) -> None:
    export, key = export_with_key(audited, tmp_path)
    assert key.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    verify = ("audit", "verify", "--export", str(export), "--public-key", str(key))
    verified = cli(*verify, env=OFFLINE)
    assert verified.exit_code == 0, verified.output
    assert verified.stdout.startswith("OK")
    assert not Path("/nonexistent/never-opened.db").exists()

    lines = export.read_text().splitlines()
    tampered = [line.replace('"ops-2"', '"ops-9"') for line in lines]
    assert tampered != lines
    export.write_text("\n".join(tampered) + "\n")
    refused = cli(*verify, env=OFFLINE)
    assert refused.exit_code == 1
    assert "FAILED" in refused.stdout


def test_offline_verify_needs_the_public_key(audited: dict[str, str], tmp_path: Path) -> None:
    export, _ = export_with_key(audited, tmp_path)
    result = cli("audit", "verify", "--export", str(export), env=OFFLINE)
    assert result.exit_code == 2
    assert "--export needs --public-key" in result.stderr


def test_an_export_is_itself_recorded_and_csv_is_offered(
    audited: dict[str, str], tmp_path: Path
) -> None:
    export, _ = export_with_key(audited, tmp_path)
    lines = [json.loads(line) for line in export.read_text().splitlines()]
    actions = [line["record"]["action"] for line in lines if line["type"] == "event"]
    assert actions[-1] == "audit.export"
    assert lines[-1]["type"] == "end"
    assert len(actions) == 6  # five tokens and the export
    csv_file = tmp_path / "audit.csv"
    result = cli("audit", "export", "-o", str(csv_file), "--format", "csv", env=audited)
    assert result.exit_code == 0, result.output
    header = csv_file.read_text().splitlines()[0]
    assert "action" in header.split(",")


def test_checkpoint_signs_the_head_of_the_platform_chain_now(audited: dict[str, str]) -> None:
    result = cli("audit", "checkpoint", env=audited)
    assert result.exit_code == 0, result.output
    found = re.fullmatch(r"checkpoint (\S+) seq (\d+) ([0-9a-f]+)\n", result.stdout)
    assert found is not None, result.stdout
    assert int(found.group(2)) == 5
    report = json.loads(cli("audit", "verify", "--json", env=audited).stdout)
    assert report["ok"] is True
    assert report["checkpoints_valid"] == report["checkpoints_total"] == 3


def test_production_without_keys_says_how_to_make_them_and_create_keys_does(
    env: dict[str, str], tmp_path: Path
) -> None:
    keys = tmp_path / "keys"
    production = {
        **env,
        "POLICY_SERVICE_ENVIRONMENT": "production",
        "POLICY_SERVICE_SECRET_KEY": "s" * 32,
        "POLICY_SERVICE_AUDIT_SIGNING_KEY": str(keys / "signing.pem"),
        "POLICY_SERVICE_AUDIT_ENCRYPTION_KEY": str(keys / "kek.bin"),
    }
    refused = cli("tokens", "create", "--principal", "ops", env=production)
    assert refused.exit_code == 1
    assert "policy-service audit create-keys" in refused.output
    assert "Traceback" not in refused.output
    created = cli("audit", "create-keys", env=production)
    assert created.exit_code == 0, created.output
    assert created.output.split() == [
        "created",
        str(keys / "signing.pem"),
        "created",
        str(keys / "kek.bin"),
    ]
    assert (keys / "kek.bin").stat().st_mode & 0o777 == 0o600
    again = cli("audit", "create-keys", env=production)
    assert again.output.split()[::2] == ["kept", "kept"]
    assert cli("tokens", "create", "--principal", "ops", env=production).exit_code == 0
