"""``policy-service audit ...`` as an operator and an outside auditor run it."""

import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.server_process import cli

pytestmark = pytest.mark.e2e


@pytest.fixture
def env(sqlite_url: str, tmp_path: Path) -> dict[str, str]:
    environment = {
        "POLICY_SERVICE_DATABASE_URL": sqlite_url,
        "POLICY_SERVICE_AUDIT_SIGNING_KEY": str(tmp_path / "key.pem"),
        "POLICY_SERVICE_AUDIT_ENCRYPTION_KEY": str(tmp_path / "kek.bin"),
        "POLICY_SERVICE_AUDIT_CHECKPOINT_EVERY": "2",
    }
    for principal in ("ops-1", "ops-2", "ops-3", "ops-4", "ops-5"):
        assert cli("tokens", "create", "--principal", principal, env=environment).returncode == 0
    return environment


def test_verify_passes_on_an_untouched_log_and_is_recorded(env: dict[str, str]) -> None:
    result = cli("audit", "verify", "--json", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert report["events_checked"] == 5
    assert report["checkpoints_valid"] == report["checkpoints_total"] == 2
    again = json.loads(cli("audit", "verify", "--json", env=env).stdout)
    assert again["events_checked"] == 6  # the first verification run is now an event too


def test_verify_exits_1_naming_the_first_bad_event(env: dict[str, str]) -> None:
    engine = create_engine(env["POLICY_SERVICE_DATABASE_URL"])
    with engine.begin() as connection:
        for (name,) in connection.execute(
            text("SELECT name FROM sqlite_master WHERE type='trigger' AND tbl_name='audit_events'")
        ).all():
            connection.execute(text(f'DROP TRIGGER "{name}"'))
        connection.execute(text("DELETE FROM audit_events WHERE seq = 3"))
    engine.dispose()
    result = cli("audit", "verify", env=env)
    assert result.returncode == 1
    assert "FAILED" in result.stdout
    assert "seq 3" in result.stdout


def test_an_export_verifies_offline_and_a_tampered_one_does_not(
    env: dict[str, str], tmp_path: Path
) -> None:
    export = tmp_path / "audit.ndjson"
    key = tmp_path / "public.pem"
    assert cli("audit", "export", "--output", str(export), env=env).returncode == 0
    key.write_text(cli("audit", "public-key", env=env).stdout)
    offline_env = {"POLICY_SERVICE_DATABASE_URL": "sqlite:////nonexistent/never-opened.db"}
    verified = cli(
        "audit", "verify", "--export", str(export), "--public-key", str(key), env=offline_env
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.startswith("OK")

    lines = export.read_text().splitlines()
    tampered = [line.replace('"ops-2"', '"ops-9"') for line in lines]
    assert tampered != lines
    export.write_text("\n".join(tampered) + "\n")
    refused = cli(
        "audit", "verify", "--export", str(export), "--public-key", str(key), env=offline_env
    )
    assert refused.returncode == 1
    assert "FAILED" in refused.stdout
