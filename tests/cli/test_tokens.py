"""``policy-service tokens create / revoke / list``."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.cli.runner import add_rule, cli

TOKEN = re.compile(r"pst_[A-Za-z0-9_-]{40,}")


def create(env: dict[str, str], *args: str) -> tuple[str, str]:
    """(token id, token) of a new token."""
    result = cli("tokens", "create", *args, env=env)
    assert result.exit_code == 0, result.output
    found = re.search(r"(tok_[0-9a-f]+)", result.stdout)
    assert found is not None, result.stdout
    return found.group(1), result.stdout.splitlines()[-1]


def test_tokens_create_prints_the_token_alone_on_the_last_line(env: dict[str, str]) -> None:
    result = cli("tokens", "create", "--principal", "ops", "--platform-admin", env=env)
    assert result.exit_code == 0, result.output
    first, token = result.stdout.splitlines()
    assert re.fullmatch(r"token tok_[0-9a-f]+ for user ops", first)
    assert TOKEN.fullmatch(token)
    service = cli("tokens", "create", "--principal", "crm", "--service", env=env)
    assert re.fullmatch(r"token tok_[0-9a-f]+ for service crm", service.stdout.splitlines()[0])


def test_tokens_list_shows_owners_and_status_never_the_token(env: dict[str, str]) -> None:
    ops_id, ops_token = create(env, "--principal", "ops", "--label", "laptop")
    crm_id, _ = create(env, "--principal", "crm", "--service")
    listed = cli("tokens", "list", env=env)
    assert listed.exit_code == 0, listed.output
    lines = listed.stdout.splitlines()
    assert len(lines) == 2
    assert ops_token not in listed.stdout
    by_id = {line.split()[0]: line.split(None, 1)[1] for line in lines}
    assert by_id[ops_id].split() == ["ops", "active", "laptop"]
    assert by_id[crm_id].split() == ["crm", "active"]
    only_crm = cli("tokens", "list", "--principal", "crm", env=env)
    assert [line.split()[0] for line in only_crm.stdout.splitlines()] == [crm_id]


def test_tokens_revoke_by_id_then_again_exits_1(env: dict[str, str]) -> None:
    token_id, _ = create(env, "--principal", "ops")
    kept_id, _ = create(env, "--principal", "ops")
    revoked = cli("tokens", "revoke", "--id", token_id, env=env)
    assert (revoked.exit_code, revoked.stdout) == (0, "revoked 1 token(s)\n")
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    statuses = {
        line.split()[0]: line.split(None, 2)[2].strip()
        for line in cli("tokens", "list", env=env).stdout.splitlines()
    }
    assert statuses == {token_id: f"revoked {today}", kept_id: "active"}
    again = cli("tokens", "revoke", "--id", token_id, env=env)
    assert (again.exit_code, again.stdout) == (1, "revoked 0 token(s)\n")


def test_tokens_revoke_by_principal_ends_all_of_theirs(env: dict[str, str]) -> None:
    for _ in range(2):
        create(env, "--principal", "ops")
    other_id, _ = create(env, "--principal", "crm", "--service")
    revoked = cli("tokens", "revoke", "--principal", "ops", env=env)
    assert (revoked.exit_code, revoked.stdout) == (0, "revoked 2 token(s)\n")
    listed = cli("tokens", "list", env=env).stdout.splitlines()
    active = [line for line in listed if "active" in line]
    assert [line.split()[0] for line in active] == [other_id]


def test_a_revoked_token_stops_working_in_a_running_app(
    env: dict[str, str], make_service: Any, sqlite_url: str, tmp_path: Path
) -> None:
    token_id, token = create(env, "--principal", "ops", "--platform-admin")
    service = make_service(
        sqlite_url,
        audit_signing_key=tmp_path / "key.pem",
        audit_encryption_key=tmp_path / "kek.bin",
    )
    assert service.request("GET", "/v1/accounts", token).status_code == 200
    assert cli("tokens", "revoke", "--id", token_id, env=env).exit_code == 0
    # The app caches tokens; the revocation reaches it through the change log within the
    # sync interval (0.5 s), like a role change.
    deadline = time.monotonic() + 2
    while service.request("GET", "/v1/accounts", token).status_code != 401:
        assert time.monotonic() < deadline, "a revoked token still worked after 2 s"
        time.sleep(0.05)


def test_tokens_refusals_are_errors_not_tracebacks(env: dict[str, str]) -> None:
    neither = cli("tokens", "revoke", env=env)
    assert neither.exit_code == 1
    assert neither.stderr == "Error: name a token id, a principal or a label to revoke\n"
    bad = cli("tokens", "create", "--principal", "not a valid id!", env=env)
    assert bad.exit_code == 1
    assert bad.stderr == "Error: invalid principal id\n"
    missing = cli("tokens", "create", env=env)
    assert missing.exit_code == 2
    assert "Missing option '--principal'" in missing.stderr


def test_an_invalid_pack_is_named_before_the_database_is_touched(
    env: dict[str, str], pack: Path
) -> None:
    line = add_rule(pack, "p, admin, *, contact, contact.delete, , perhaps")
    result = cli("tokens", "list", env={**env, "POLICY_SERVICE_POLICY_PACK": str(pack)})
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: invalid policy pack: ")
    assert f"rules.csv:{line}" in result.stderr
