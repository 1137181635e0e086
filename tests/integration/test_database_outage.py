"""The app without its database: it starts, refuses with 503 what needs the database, says so
on /health, and serves again by itself once the database is back."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from policy_service.state import ServiceState
from policy_service.storage import database
from policy_service.storage.database import create_database_engine
from tests.conftest import Service, settings_for_tests
from tests.integration.conftest import evaluation
from tests.outage import database_away, database_name, end_connections

UNREACHABLE = "postgresql+psycopg://postgres@127.0.0.1:1/nope"
PROBLEM_JSON = "application/problem+json"
SYNC_INTERVAL = 0.1


def assert_unavailable(response: Any) -> dict[str, Any]:
    assert response.status_code == 503, response.get_json()
    assert response.mimetype == PROBLEM_JSON
    assert response.headers["Retry-After"]
    body: dict[str, Any] = response.get_json()
    assert body["status"] == 503
    return body


def test_the_app_starts_without_its_database_and_answers_503(make_service: Any) -> None:
    service: Service = make_service(UNREACHABLE)
    assert service.state.loaded is False

    body = assert_unavailable(service.client.get("/health"))
    assert body["database"] == "unreachable"
    assert body["policy_state"] == "not_loaded"
    assert body["policy_version"] == service.state.runtime.version

    token = "pst_" + "x" * 43  # cannot be checked without the database
    assert_unavailable(service.request("GET", "/v1/accounts", token))
    assert_unavailable(service.request("POST", "/access/v1/evaluation", token, evaluation()))
    # What does not need the database still works.
    assert service.client.get("/openapi.json").status_code == 200
    assert service.request("GET", "/v1/accounts", None).status_code == 401


@pytest.mark.postgres
def test_workers_started_before_and_during_an_outage_serve_again_when_it_ends(
    make_service: Any, postgres_url: str, postgres_admin: Engine
) -> None:
    before: Service = make_service(postgres_url, sync_interval=SYNC_INTERVAL)
    before.account("acme")
    root = before.caller("root", platform_admin=True)
    assert before.request("GET", "/v1/accounts", root).status_code == 200

    with database_away(postgres_admin, postgres_url):
        during: Service = make_service(postgres_url, sync_interval=SYNC_INTERVAL)
        assert during.state.loaded is False
        time.sleep(SYNC_INTERVAL * 1.5)  # past the state `before` may still answer from
        for service, policy_state in ((before, "loaded"), (during, "not_loaded")):
            body = assert_unavailable(service.client.get("/health"))
            assert (body["database"], body["policy_state"]) == ("unreachable", policy_state)
            assert_unavailable(service.request("GET", "/v1/accounts", root))
            assert_unavailable(
                service.request("POST", "/v1/accounts", root, json={"id": "x", "name": "X"})
            )

    for service in (before, during):
        response = service.client.get("/health")
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["policy_state"] == "loaded"
        response = service.request("GET", "/v1/accounts", root)
        assert response.status_code == 200, response.get_json()
        assert [account["id"] for account in response.get_json()["accounts"]] == ["acme"]
    assert during.state.loaded is True


@pytest.mark.postgres
def test_work_waiting_for_the_state_starts_once_the_database_is_back(
    postgres_url: str, postgres_admin: Engine, tmp_path: Path
) -> None:
    state = ServiceState.build(settings_for_tests(postgres_url, tmp_path))
    started = threading.Event()
    try:
        with database_away(postgres_admin, postgres_url):
            assert state.try_load() is False
            loader = state.load_in_background(then=started.set)
            assert not started.wait(0.5)
            assert state.loaded is False
        assert started.wait(10), "the loader did not load once the database was back"
        assert state.loaded is True
        loader.join(1)
        assert not loader.is_alive()
    finally:
        state.engine.dispose()


@pytest.mark.postgres
def test_an_idle_pooled_connection_that_died_is_replaced_before_use(
    postgres_url: str, postgres_admin: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = create_database_engine(postgres_url)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        end_connections(postgres_admin, database_name(postgres_url))  # as a restart would
        monkeypatch.setattr(database, "IDLE_PING_AFTER_S", 0.0)
        with engine.connect() as connection:
            assert connection.execute(text("SELECT 1")).scalar() == 1
    finally:
        engine.dispose()
