"""``policy-service serve`` up to the point where the HTTP server takes over (it is replaced here;
tests/e2e/test_server.py starts the real one)."""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from policy_service.accounts.tokens import principal_for_token
from policy_service.config import Settings
from policy_service.state import ServiceState
from policy_service.storage import migrate
from tests.cli.runner import add_rule, cli


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """Each server start ``serve`` asks for, instead of starting one."""
    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(
        "policy_service.serving.serve",
        lambda *args, server: calls.append((*args, server)),
    )
    return calls


def fresh_env(tmp_path: Path, database: Path) -> dict[str, str]:
    return {
        "POLICY_SERVICE_DATABASE_URL": f"sqlite:///{database}",
        "POLICY_SERVICE_AUDIT_SIGNING_KEY": str(tmp_path / "key.pem"),
        "POLICY_SERVICE_AUDIT_ENCRYPTION_KEY": str(tmp_path / "kek.bin"),
    }


def test_serve_with_demo_migrates_seeds_and_prints_working_tokens(
    tmp_path: Path, started: list[tuple[Any, ...]]
) -> None:
    env = fresh_env(tmp_path, tmp_path / "fresh.sqlite3")
    result = cli(
        "serve", "--demo", "--host", "127.0.0.2", "--port", "8123", "--workers", "3", env=env
    )
    assert result.exit_code == 0, result.output
    assert started == [("127.0.0.2", 8123, 3, 1, "granian")]
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Demo accounts, one per seed article (README, Tour): demo ")
    for account in ("demo-cascade", "demo-guarded", "demo-purge"):
        assert account in lines[0]
    assert re.fullmatch(r"ready to serve after \d+\.\d\ds; starting granian", lines[-1])
    assert "API description: http://127.0.0.2:8123/openapi.json" in lines
    tokens = dict(re.findall(r"^\s+(demo-[a-z]+)\s+\S+\s+.*?(pst_\S+)$", result.stdout, re.M))
    assert set(tokens) == {"demo-admin", "demo-user", "demo-officer", "demo-crm", "demo-platform"}
    # The tokens, for the shell to source (beside the instance's keys), and where they are.
    sourced = tmp_path / "demo-tokens.env"
    assert f"source {sourced}" in result.stdout
    assert sourced.stat().st_mode & 0o077 == 0  # secrets: the owner's alone
    exported = dict(re.findall(r"^export (\w+)=(\S+)$", sourced.read_text(), re.M))
    assert exported["API"] == "http://127.0.0.2:8123"
    assert exported["CRM_TOKEN"] == tokens["demo-crm"]
    assert exported["ADMIN_TOKEN"] == tokens["demo-admin"]
    assert exported["GUARDED_ENROLLMENT"]
    settings = Settings.from_env(env)
    state = ServiceState.build(settings)
    state.load()
    for principal, token in tokens.items():
        assert principal_for_token(state, token).id == principal
    state.engine.dispose()


def test_serve_without_demo_prints_no_tokens(
    tmp_path: Path, started: list[tuple[Any, ...]]
) -> None:
    result = cli("serve", env=fresh_env(tmp_path, tmp_path / "fresh.sqlite3"))
    assert result.exit_code == 0, result.output
    assert started == [("127.0.0.1", 8000, 2, 1, "granian")]
    assert "pst_" not in result.output
    assert result.stdout.startswith("ready to serve after ")


def test_serve_waits_for_the_database_then_starts(
    tmp_path: Path, started: list[tuple[Any, ...]], monkeypatch: pytest.MonkeyPatch
) -> None:
    real_upgrade = migrate.upgrade
    waits: list[float] = []

    def upgrade(engine: Any) -> None:
        if len(waits) < 3:  # the database is away for the first three tries
            raise OperationalError("connect", {}, sqlite3.OperationalError("connection refused"))
        real_upgrade(engine)

    monkeypatch.setattr(migrate, "upgrade", upgrade)
    monkeypatch.setattr(time, "sleep", waits.append)  # the waits between tries
    result = cli("serve", env=fresh_env(tmp_path, tmp_path / "fresh.sqlite3"))
    assert result.exit_code == 0, result.output
    assert waits == [0.5, 1.0, 2.0]
    waiting = result.stderr.splitlines()
    assert [line.rsplit(" ", 1)[1] for line in waiting] == ["0.5s", "1s", "2s"]
    assert all(
        re.fullmatch(r"waiting for the database \(.*connection refused\); next try in \S+", line)
        for line in waiting
    ), waiting
    assert len(started) == 1


def test_serve_raises_what_is_not_an_outage(
    tmp_path: Path, started: list[tuple[Any, ...]], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(_engine: Any) -> None:
        raise sqlite3.ProgrammingError("a fault, not an outage")

    monkeypatch.setattr("policy_service.storage.migrate.upgrade", broken)
    with pytest.raises(sqlite3.ProgrammingError):
        cli("serve", env=fresh_env(tmp_path, tmp_path / "fresh.sqlite3"))
    assert started == []


def test_an_invalid_pack_stops_the_start_naming_the_file_and_line(
    sqlite_url: str, tmp_path: Path, pack: Path, started: list[tuple[Any, ...]]
) -> None:
    lines = add_rule(pack, "p, admin, *, contact, contact.delete, , perhaps")
    env = {
        "POLICY_SERVICE_DATABASE_URL": sqlite_url,
        "POLICY_SERVICE_AUDIT_SIGNING_KEY": str(tmp_path / "key.pem"),
        "POLICY_SERVICE_POLICY_PACK": str(pack),
    }
    result = cli("serve", "--port", "8123", env=env)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: invalid policy pack: ")
    assert f"rules.csv:{lines}" in result.stderr
    assert "effect" in result.stderr
    assert started == []


def test_serve_can_still_hand_over_to_gunicorn(
    tmp_path: Path, started: list[tuple[Any, ...]]
) -> None:
    result = cli(
        "serve", "--server", "gunicorn", env=fresh_env(tmp_path, tmp_path / "fresh.sqlite3")
    )
    assert result.exit_code == 0, result.output
    assert started == [("127.0.0.1", 8000, 2, 1, "gunicorn")]
    assert result.stdout.rstrip().endswith("starting gunicorn")


def test_a_server_worker_freezes_its_start_up_heap_out_of_the_collector(tmp_path: Path) -> None:
    """In a process of its own: a frozen app is never collected, which tests must not do."""
    import os
    import subprocess
    import sys

    env = {
        **os.environ,
        "POLICY_SERVICE_DATABASE_URL": f"sqlite:///{tmp_path}/serve.sqlite3",
        "POLICY_SERVICE_AUDIT_SIGNING_KEY": str(tmp_path / "key.pem"),
        "POLICY_SERVICE_AUDIT_ENCRYPTION_KEY": str(tmp_path / "kek.bin"),
        "POLICY_SERVICE_JOB_RUNNER": "off",
    }
    script = (
        "import gc; from policy_service.serving import serving_app; "
        "app = serving_app(); print(app.name, gc.get_freeze_count() > 10000)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["policy_service", "True"]
