"""The real server, started as an operator would start it."""

import re
import time
from pathlib import Path
from typing import Any

import pytest

from tests.cli.runner import add_rule, copy_pack
from tests.cli.runner import cli as in_process_cli
from tests.server_process import call, cli, free_port, running_server

pytestmark = pytest.mark.e2e


def env_for(database_url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "POLICY_SERVICE_DATABASE_URL": database_url,
        "POLICY_SERVICE_AUDIT_SIGNING_KEY": str(tmp_path / "key.pem"),
        **extra,
    }


def evaluation(subject: str, action: str) -> dict[str, Any]:
    return {
        "subject": {"type": "user", "id": subject},
        "action": {"name": action},
        "resource": {"type": "contact", "id": "c-1", "properties": {"account_id": "demo"}},
    }


def test_serve_with_demo_migrates_seeds_and_prints_working_tokens(tmp_path: Path) -> None:
    env = env_for(f"sqlite:///{tmp_path / 'fresh.sqlite3'}", tmp_path)
    log = tmp_path / "server.log"
    with running_server(env, "--demo", log=log) as (base, _):
        printed = log.read_text()
        tokens = dict(re.findall(r"^\s+(demo-[a-z]+)\s+\S+\s+.*?(pst_\S+)$", printed, re.M))
        assert set(tokens) == {
            "demo-admin",
            "demo-user",
            "demo-officer",
            "demo-crm",
            "demo-platform",
        }
        status, answer = call(
            base,
            "POST",
            "/access/v1/evaluation",
            tokens["demo-crm"],
            evaluation("demo-admin", "delete"),
        )
        assert (status, answer["decision"]) == (200, True)
        status, answer = call(
            base,
            "POST",
            "/access/v1/evaluation",
            tokens["demo-crm"],
            evaluation("demo-user", "delete"),
        )
        assert (status, answer["decision"]) == (200, False)
        assert "pst_" not in "".join(
            line for line in printed.splitlines() if line.startswith("{")
        ), "tokens must never reach a log line"


def test_tokens_create_prints_the_token_alone_on_the_last_line_and_revoke_ends_it(
    sqlite_url: str, tmp_path: Path
) -> None:
    env = env_for(sqlite_url, tmp_path)
    created = cli("tokens", "create", "--principal", "ops", "--platform-admin", env=env)
    assert created.returncode == 0, created.stderr
    token = created.stdout.splitlines()[-1]
    assert re.fullmatch(r"pst_[A-Za-z0-9_-]{40,}", token)
    token_id = re.search(r"(tok_[0-9a-f]+)", created.stdout).group(1)  # type: ignore[union-attr]
    with running_server(env) as (base, _):
        assert call(base, "GET", "/v1/accounts", token)[0] == 200
        revoked = cli("tokens", "revoke", "--id", token_id, env=env)
        assert revoked.returncode == 0
        # The server caches tokens; the revocation reaches it through the change log within
        # the sync interval (0.5 s), like a role change.
        deadline = time.monotonic() + 2
        while call(base, "GET", "/v1/accounts", token)[0] != 401:
            assert time.monotonic() < deadline, "a revoked token still worked after 2 s"
            time.sleep(0.05)


def test_a_production_server_refuses_to_start_on_a_pack_whose_tests_fail(
    sqlite_url: str, tmp_path: Path
) -> None:
    # The pack's own tests run in each gunicorn worker as the app is built (an invalid pack,
    # by contrast, stops `serve` before gunicorn starts: tests/cli/test_serve.py).
    pack = copy_pack(tmp_path / "pack")
    add_rule(pack, "p, user, *, contact, contact.delete, , allow")
    env = {
        "POLICY_SERVICE_DATABASE_URL": sqlite_url,
        "POLICY_SERVICE_AUDIT_SIGNING_KEY": str(tmp_path / "key.pem"),
        "POLICY_SERVICE_AUDIT_ENCRYPTION_KEY": str(tmp_path / "kek.bin"),
        "POLICY_SERVICE_POLICY_PACK": str(pack),
    }
    # Makes the keys production needs (in this process: that command is not under test).
    assert in_process_cli("tokens", "list", env=env).exit_code == 0
    production = {**env, "POLICY_SERVICE_ENVIRONMENT": "production"}
    production["POLICY_SERVICE_SECRET_KEY"] = "s" * 32
    result = cli("serve", "--port", str(free_port()), "--workers", "1", env=production)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert re.search(r"seed_rules\.toml:\d+ a user may not delete a contact -- got allow", output)


@pytest.mark.postgres
def test_two_server_processes_see_each_others_membership_changes_within_two_seconds(
    postgres_url: str, tmp_path: Path
) -> None:
    env = env_for(postgres_url, tmp_path)
    admin = cli("tokens", "create", "--principal", "ops", "--platform-admin", env=env).stdout
    admin_token = admin.splitlines()[-1]
    with (
        running_server(env, workers=2) as (first, _),
        running_server(env, workers=2) as (second, _),
    ):
        assert (
            call(first, "POST", "/v1/accounts", admin_token, {"id": "demo", "name": "Demo"})[0]
            == 201
        )
        body = evaluation("uma", "delete")
        for base in (first, second):  # warm both servers' caches with a deny
            for _ in range(4):
                assert (
                    call(base, "POST", "/access/v1/evaluation", admin_token, body)[1]["decision"]
                    is False
                )
        status, _ = call(
            first, "PUT", "/v1/accounts/demo/members/uma", admin_token, {"roles": ["admin"]}
        )
        assert status == 200
        changed_at = time.monotonic()
        seen = False
        while time.monotonic() - changed_at < 2.0:
            answers = [
                call(second, "POST", "/access/v1/evaluation", admin_token, body)[1]["decision"]
                for _ in range(4)
            ]
            if all(answers):
                seen = True
                break
            time.sleep(0.05)
        assert seen, "the other server still answered on the old roles after 2 s"
        # And the policy version every worker reports is the same.
        versions = {
            call(base, "GET", "/health")[1]["policy_version"]
            for base in (first, second)
            for _ in range(4)
        }
        assert len(versions) == 1


@pytest.mark.parametrize(("server", "kept_alive"), [("granian", True), ("gunicorn", False)])
def test_the_default_server_keeps_a_callers_connection_alive_between_decisions(
    tmp_path: Path, server: str, kept_alive: bool
) -> None:
    import http.client
    import json

    env = env_for(f"sqlite:///{tmp_path / 'fresh.sqlite3'}", tmp_path)
    log = tmp_path / "server.log"
    with running_server(env, "--demo", "--server", server, log=log) as (base, _):
        token = dict(re.findall(r"^\s+(demo-crm)\s+\S+\s+.*?(pst_\S+)$", log.read_text(), re.M))
        connection = http.client.HTTPConnection(base.removeprefix("http://"), timeout=10)
        sockets = set()
        for subject in ("demo-admin", "demo-user", "demo-admin"):
            connection.request(
                "POST",
                "/access/v1/evaluation",
                json.dumps(evaluation(subject, "delete")),
                {
                    "Authorization": f"Bearer {token['demo-crm']}",
                    "Content-Type": "application/json",
                },
            )
            assert connection.sock is not None
            sockets.add(connection.sock.getsockname()[1])  # the caller's port: one connection?
            response = connection.getresponse()
            assert response.status == 200
            json.loads(response.read())
            assert (response.getheader("Connection") != "close") is kept_alive
        connection.close()
        assert (len(sockets) == 1) is kept_alive
