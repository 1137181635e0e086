"""The OpenID AuthZEN interop Todo vectors (40 single + 3 batch) against the real server,
started with the Todo policy pack through ordinary configuration."""

import json
from pathlib import Path
from typing import Any

import pytest

from tests.server_process import call, cli, running_server

HERE = Path(__file__).resolve().parent
# A copy of ../shared/conformance/authzen-todo (MIT, see the LICENSE beside it), so the
# test does not depend on where the checkout sits.
VECTORS = HERE / "authzen_todo_vectors" / "decisions-authorization-api-1_0-02.json"

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def vectors() -> dict[str, Any]:
    if not VECTORS.exists():
        pytest.fail(f"the interop vectors are missing: {VECTORS}")
    return json.loads(VECTORS.read_text())  # type: ignore[no-any-return]


def test_every_todo_interop_vector_passes(
    vectors: dict[str, Any], sqlite_url: str, tmp_path: Path
) -> None:
    env = {
        "POLICY_SERVICE_DATABASE_URL": sqlite_url,
        "POLICY_SERVICE_POLICY_PACK": str(HERE / "todo_pack"),
        "POLICY_SERVICE_AUDIT_SIGNING_KEY": str(tmp_path / "key.pem"),
    }
    created = cli("tokens", "create", "--principal", "interop-pep", "--service", env=env)
    assert created.returncode == 0, created.stderr
    pep_token = created.stdout.strip().splitlines()[-1]
    admin = cli("tokens", "create", "--principal", "interop-admin", "--platform-admin", env=env)
    admin_token = admin.stdout.strip().splitlines()[-1]

    with running_server(env, log=tmp_path / "server.log") as (base, _):
        status, _ = call(base, "POST", "/v1/accounts", admin_token, {"id": "todo", "name": "Todo"})
        assert status == 201
        status, _ = call(
            base,
            "PUT",
            "/v1/accounts/todo/members/interop-pep",
            admin_token,
            {"roles": ["service"]},
        )
        assert status == 200

        failures = []
        for number, vector in enumerate(vectors["evaluation"], start=1):
            status, answer = call(
                base, "POST", "/access/v1/evaluation", pep_token, vector["request"]
            )
            if status != 200 or answer["decision"] != vector["expected"]:
                failures.append((number, vector["request"], status, answer))
        for number, vector in enumerate(vectors["evaluations"], start=1):
            status, answer = call(
                base, "POST", "/access/v1/evaluations", pep_token, vector["request"]
            )
            if status != 200 or answer["evaluations"] != vector["expected"]:
                failures.append((f"batch {number}", vector["request"], status, answer))

    assert len(vectors["evaluation"]) == 40
    assert len(vectors["evaluations"]) == 3
    assert failures == []
