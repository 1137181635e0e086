"""The real server survives its database going away and recovers by itself when it returns.

gunicorn's master shuts down when a worker cannot boot, so the outage is combined with the
death of a worker: its replacement must boot without the database, answer 503 while it is
away, and serve normally once it is back, like the worker that lived through it, with no
restart.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.outage import allow_connections, database_away
from tests.server_process import cli, fetch, running_server

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.slow]

PROBLEM_JSON = "application/problem+json"
EVALUATION = "/access/v1/evaluation"
SYNC_INTERVAL = 0.5  # the default


def evaluation() -> dict[str, Any]:
    return {
        "subject": {"type": "user", "id": "uma"},
        "action": {"name": "delete"},
        "resource": {"type": "contact", "id": "c-1", "properties": {"account_id": "before"}},
    }


def worker_pids(master: int) -> set[int]:
    """The master's children, read from /proc (gunicorn forks its workers directly)."""
    children = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # the process ended while we looked
            continue
        # The command name is in parentheses and may hold spaces: the fields follow the last ")".
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == master and fields[0] != "Z":
            children.add(int(entry.name))
    return children


def threads(pid: int) -> int:
    try:
        return len(list(Path(f"/proc/{pid}/task").iterdir()))
    except OSError:
        return 0


def events(log: Path, name: str) -> int:
    """How many times the server logged the event ``name``."""
    count = 0
    for line in log.read_text().splitlines():
        if line.startswith("{"):
            with contextlib.suppress(ValueError):  # the last line, half written
                count += json.loads(line).get("event") == name
    return count


def wait_for(condition: Any, timeout: float, message: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, message
        time.sleep(0.1)


def assert_unavailable(status: int, headers: Message, body: Any, what: str) -> None:
    assert status == 503, f"{what}: {status} {body}"
    assert headers.get_content_type() == PROBLEM_JSON, what
    assert body["status"] == 503, what


def env_for(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        "POLICY_SERVICE_DATABASE_URL": database_url,
        "POLICY_SERVICE_AUDIT_SIGNING_KEY": str(tmp_path / "key.pem"),
        "POLICY_SERVICE_AUDIT_ENCRYPTION_KEY": str(tmp_path / "kek.bin"),
    }


def test_the_server_survives_the_database_going_away_and_recovers_by_itself(
    postgres_url: str, postgres_admin: Engine, tmp_path: Path
) -> None:
    env = env_for(postgres_url, tmp_path)
    created = cli("tokens", "create", "--principal", "ops", "--platform-admin", env=env)
    assert created.returncode == 0, created.stderr
    token = created.stdout.splitlines()[-1]
    log = tmp_path / "server.log"
    with running_server(env, workers=2, log=log) as (base, master):
        # Both workers up and loaded (one may still be booting when the first /health answers).
        wait_for(lambda: events(log, "state.loaded") == 2, 20, "the workers did not load")
        assert fetch(base, "POST", "/v1/accounts", token, {"id": "before", "name": "B"})[0] == 201
        for _ in range(4):  # the workers' caches now hold the token and the decision
            assert fetch(base, "POST", EVALUATION, token, evaluation())[0] == 200
        first_workers = worker_pids(master.pid)
        assert len(first_workers) == 2

        with database_away(postgres_admin, postgres_url):
            # A worker may answer from its caches on state as old as the sync interval
            # (0.5 s), no older.
            time.sleep(SYNC_INTERVAL + 0.2)
            # Several requests of each kind, so that both workers answer some.
            for _ in range(6):
                status, headers, body = fetch(base, "GET", "/health")
                assert_unavailable(status, headers, body, "/health")
                assert body["database"] == "unreachable"
                assert body["policy_version"]
                status, headers, body = fetch(base, "GET", "/v1/accounts", token)
                assert_unavailable(status, headers, body, "GET /v1/accounts")
                assert headers["Retry-After"]
                # Cached, but the answer would now rest on state older than that.
                status, headers, body = fetch(base, "POST", EVALUATION, token, evaluation())
                assert_unavailable(status, headers, body, "an evaluation")
                assert headers["Retry-After"]
            status, headers, body = fetch(
                base, "POST", "/v1/accounts", token, {"id": "during", "name": "D"}
            )
            assert_unavailable(status, headers, body, "POST /v1/accounts")
            assert headers["Retry-After"]

            # A worker dies while the database is away; gunicorn replaces it, and the
            # replacement must boot without it or the master gives up and exits.
            killed = min(first_workers)
            os.kill(killed, signal.SIGKILL)

            def replaced() -> set[int] | None:
                pids = worker_pids(master.pid)
                return pids if len(pids) == 2 and killed not in pids else None

            workers = wait_for(replaced, 20, "gunicorn did not replace the killed worker")
            (replacement,) = workers - first_workers
            # create_app() has returned once the worker runs a second thread (the one that
            # retries loading, to start the job runner).
            wait_for(lambda: threads(replacement) >= 2, 20, "the replacement did not boot")
            for _ in range(6):
                status, headers, body = fetch(base, "GET", "/v1/accounts", token)
                assert_unavailable(status, headers, body, "GET /v1/accounts")
                assert headers["Retry-After"]
                status, _, body = fetch(base, "GET", "/health")
                assert status == 503, body
            assert master.poll() is None, "gunicorn's master exited"
            assert worker_pids(master.pid) == workers, "a worker died"
            assert events(log, "state.loaded") == 2

        wait_for(
            lambda: fetch(base, "GET", "/health")[0] == 200,
            15,
            "/health did not recover within 15 s of the database's return",
        )
        # The replacement loads by itself (its retry, or the first request it is given).
        wait_for(lambda: events(log, "state.loaded") == 3, 10, "the replacement did not load")
        for _ in range(6):  # both workers, not just the first to recover
            status, _, body = fetch(base, "GET", "/health")
            assert status == 200, body
            assert (body["status"], body["database"]) == ("ok", "ok")
            status, _, body = fetch(base, "GET", "/v1/accounts", token)
            assert status == 200, body
            assert {"before"} <= {account["id"] for account in body["accounts"]}
            assert fetch(base, "POST", EVALUATION, token, evaluation())[0] == 200
        assert fetch(base, "POST", "/v1/accounts", token, {"id": "after", "name": "A"})[0] == 201
        assert master.poll() is None
        assert worker_pids(master.pid) == workers
        (survivor,) = workers & first_workers
        assert threads(survivor) >= 2, "the job runner of the worker that lived through it died"
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    failures = [line for line in lines if line.get("event") == "request" and line["status"] >= 500]
    assert failures, "the log should show the 503s"
    assert {line["status"] for line in failures} == {503}, "no request may fail with a 500"


def test_serve_started_while_the_database_is_away_waits_for_it(
    postgres_url: str, postgres_admin: Engine, tmp_path: Path
) -> None:
    log = tmp_path / "server.log"
    allow_connections(postgres_admin, postgres_url, False)

    def let_it_back_once_it_waits() -> None:
        # Driven by what the server says, not by a timer: on a loaded machine the server may
        # take longer to boot than any fixed delay.
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline:
            if log.exists() and "waiting for the database" in log.read_text():
                break
            time.sleep(0.1)
        allow_connections(postgres_admin, postgres_url, True)

    back = threading.Thread(target=let_it_back_once_it_waits)
    back.start()
    try:
        with running_server(env_for(postgres_url, tmp_path), log=log) as (base, _):
            assert fetch(base, "GET", "/health")[0] == 200
    finally:
        back.join()
        allow_connections(postgres_admin, postgres_url, True)
    assert "waiting for the database" in log.read_text()
