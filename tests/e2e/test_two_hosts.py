"""Two service instances on one PostgreSQL, as two hosts would run them (issue 11 section 6):
a role change, a token revocation and a policy reload made through one reach every worker
of the other within 1 s."""

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.cli.runner import copy_pack
from tests.server_process import call, cli, running_server

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

REACH_S = 1.0
ASKS = 6  # calls per check: each lands on one of a host's two workers


def within(seconds: float, every_worker_sees: Callable[[], bool], what: str) -> float:
    """How long until every worker of the other host sees the change (when the first check
    that saw it began); fails past ``seconds``."""
    started = time.monotonic()
    while True:
        checked_at = time.monotonic() - started
        assert checked_at < seconds, f"{what} had not reached the other host"
        if every_worker_sees():
            return checked_at
        time.sleep(0.02)


def evaluation(subject: str) -> dict[str, Any]:
    return {
        "subject": {"type": "user", "id": subject},
        "action": {"name": "delete"},
        "resource": {"type": "contact", "id": "c-1", "properties": {"account_id": "acme"}},
    }


def test_changes_made_through_one_host_reach_the_other_within_a_second(
    postgres_url: str, tmp_path: Path
) -> None:
    pack = copy_pack(tmp_path / "pack")  # both hosts deploy the same pack files
    env = {
        "POLICY_SERVICE_DATABASE_URL": postgres_url,
        "POLICY_SERVICE_AUDIT_SIGNING_KEY": str(tmp_path / "key.pem"),
        "POLICY_SERVICE_AUDIT_ENCRYPTION_KEY": str(tmp_path / "kek.bin"),
        "POLICY_SERVICE_POLICY_PACK": str(pack),
    }
    root = cli("tokens", "create", "--principal", "ops", "--platform-admin", env=env)
    root_token = root.stdout.splitlines()[-1]
    with (
        running_server(env, workers=2) as (one, _),
        running_server(env, workers=2) as (other, _),
    ):
        assert (
            call(one, "POST", "/v1/accounts", root_token, {"id": "acme", "name": "Acme"})[0] == 201
        )
        pep = cli("tokens", "create", "--principal", "crm", "--service", env=env)
        pep_token = pep.stdout.splitlines()[-1]
        assert (
            call(one, "PUT", "/v1/accounts/acme/members/crm", root_token, {"roles": ["service"]})[0]
            == 200
        )

        def decisions(base: str, token: str, subject: str) -> set[Any]:
            return {
                call(base, "POST", "/access/v1/evaluation", token, evaluation(subject))[1].get(
                    "decision"
                )
                for _ in range(ASKS)
            }

        within(5, lambda: decisions(other, pep_token, "uma") == {False}, "the service's role")
        # 1. A role change.
        status, _ = call(
            one, "PUT", "/v1/accounts/acme/members/uma", root_token, {"roles": ["admin"]}
        )
        assert status == 200
        role_s = within(REACH_S, lambda: decisions(other, pep_token, "uma") == {True}, "a role")

        # 2. A token revocation (the operator's CLI on the first host).
        token_id = re.search(r"(tok_[0-9a-f]+)", pep.stdout).group(1)  # type: ignore[union-attr]
        for base in (one, other):
            assert {call(base, "GET", "/v1/accounts/acme", pep_token)[0] for _ in range(ASKS)}
        assert cli("tokens", "revoke", "--id", token_id, env=env).returncode == 0
        revoke_s = within(
            REACH_S,
            lambda: (
                {call(other, "GET", "/v1/accounts/acme", pep_token)[0] for _ in range(ASKS)}
                == {401}
            ),
            "a token revocation",
        )

        # 3. A policy reload: a new pack version on disk, reloaded through the first host.
        rules = pack / "rules.csv"
        rules.write_text(rules.read_text() + "# reviewed 2026-11-22\n")
        status, reloaded = call(one, "POST", "/v1/policy/reload", root_token)
        assert status == 200, reloaded
        version = reloaded["version"]
        reload_s = within(
            REACH_S,
            lambda: (
                {call(other, "GET", "/health")[1]["policy_version"] for _ in range(ASKS)}
                == {version}
            ),
            "a policy reload",
        )
    print(f"reached the other host: role {role_s:.3f} s, ", end="")
    print(f"revocation {revoke_s:.3f} s, reload {reload_s:.3f} s")
