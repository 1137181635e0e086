"""X-Consistency-Token on the real server: gunicorn, two workers that each sync only once a
minute, so a decision right after a change is right on both only thanks to the token."""

import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.server_process import cli, running_server

pytestmark = pytest.mark.e2e
HEADER = "X-Consistency-Token"


def call(
    base: str, method: str, path: str, token: str, body: Any = None, consistency: str | None = None
) -> tuple[int, Any, str | None]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    if body is not None:
        request.add_header("Content-Type", "application/json")
    if consistency is not None:
        request.add_header(HEADER, consistency)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            payload = response.read()
            return response.status, json.loads(payload or b"null"), response.headers.get(HEADER)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null"), error.headers.get(HEADER)


def test_a_decision_sent_with_the_writes_token_sees_the_write_on_every_worker(
    sqlite_url: str, tmp_path: Path
) -> None:
    env = {
        "POLICY_SERVICE_DATABASE_URL": sqlite_url,
        "POLICY_SERVICE_AUDIT_SIGNING_KEY": str(tmp_path / "key.pem"),
        "POLICY_SERVICE_SYNC_INTERVAL": "60",
    }
    created = cli("tokens", "create", "--principal", "ops", "--platform-admin", env=env)
    assert created.returncode == 0, created.stderr
    admin = created.stdout.splitlines()[-1]
    body = {
        "subject": {"type": "user", "id": "uma"},
        "action": {"name": "delete"},
        "resource": {"type": "contact", "id": "c-1", "properties": {"account_id": "demo"}},
    }
    with running_server(env, workers=2) as (base, _):
        status, _, token = call(base, "POST", "/v1/accounts", admin, {"id": "demo", "name": "D"})
        assert status == 201
        assert token is not None
        for _ in range(8):  # every worker has answered "no" and cached it
            assert call(base, "POST", "/access/v1/evaluation", admin, body)[1]["decision"] is False
        status, _, token = call(
            base, "PUT", "/v1/accounts/demo/members/uma", admin, {"roles": ["admin"]}
        )
        assert status == 200
        assert token is not None
        started = time.monotonic()
        for _ in range(8):
            status, answer, answered_at = call(
                base, "POST", "/access/v1/evaluation", admin, body, consistency=token
            )
            assert (status, answer["decision"]) == (200, True)
            assert answered_at is not None
            assert int(answered_at) >= int(token)
        assert time.monotonic() - started < 5  # caught up at once, not after the interval
        status, answer, _ = call(
            base, "POST", "/access/v1/evaluation", admin, body, consistency="soon"
        )
        assert (status, answer["type"]) == (
            400,
            "urn:policy-service:problem:invalid-consistency-token",
        )
