"""The service sweeps retention and recovers orphaned jobs by itself: one worker of all per
interval, on a schedule kept in the database, through database outages."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from policy_service import scheduler as scheduling
from policy_service.scheduler import (
    AUDIT_CHECKPOINTS,
    JOB_RECOVERY,
    RETENTION_SWEEP,
    WEBHOOK_DELIVERY,
    Scheduler,
    Task,
    recover_jobs,
    sweep_retention,
)
from policy_service.state import ServiceState
from tests.conftest import Service, settings_for_tests
from tests.integration.lifecycle_fixtures import Crm, make_crm
from tests.integration.test_retention_and_rules import age
from tests.outage import database_away

UNREACHABLE = "postgresql+psycopg://postgres@127.0.0.1:1/nope"
HOUR = timedelta(hours=1)


def trashed(crm: Crm, contact_id: str, days: int) -> None:
    crm.contact(contact_id, with_records=False)
    crm.delete(contact_id)
    age(crm.service, contact_id, days)


def state_of(crm: Crm, contact_id: str) -> str:
    state: str = crm.call("GET", crm.path(contact_id)).get_json()["state"]
    return state


def sweep_events(crm: Crm) -> list[dict[str, Any]]:
    response = crm.call("GET", "/v1/audit/events?action=retention.sweep", crm.root)
    assert response.status_code == 200, response.get_json()
    events: list[dict[str, Any]] = response.get_json()["events"]
    return events


def wait_until(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def test_a_scheduled_tick_purges_contacts_past_their_window_and_health_reports_it(
    service: Service,
) -> None:
    crm = make_crm(service, "cascade-on-delete")
    trashed(crm, "old", 61)
    trashed(crm, "young", 10)
    assert service.client.get("/health").get_json()["retention_sweep"]["last_started_at"] is None

    outcomes = Scheduler.for_state(service.state).tick()

    assert outcomes == {
        RETENTION_SWEEP: "ran",
        JOB_RECOVERY: "ran",
        AUDIT_CHECKPOINTS: "ran",
        WEBHOOK_DELIVERY: "ran",
    }
    assert (state_of(crm, "old"), state_of(crm, "young")) == ("purged", "trashed")
    (event,) = sweep_events(crm)
    assert (event["actor_type"], event["actor_id"]) == ("system", "scheduler")
    assert event["details"]["purged"] == 1

    health = service.client.get("/health").get_json()
    assert (health["status"], health["database"], health["policy_state"]) == ("ok", "ok", "loaded")
    sweep = health["retention_sweep"]
    assert (sweep["outcome"], sweep["purged"], sweep["purged_accounts"], sweep["held"]) == (
        "succeeded", 1, 1, 0,
    )  # fmt: skip
    assert "purged_by_account" not in sweep  # which accounts exist is not for anyone who asks
    started = datetime.fromisoformat(sweep["last_started_at"])
    assert started <= datetime.fromisoformat(sweep["last_finished_at"])
    assert datetime.fromisoformat(sweep["next_run_at"]) == started + HOUR
    assert sweep["duration_seconds"] >= 0
    recovery = health["job_recovery"]
    assert (recovery["outcome"], recovery["resumed"]) == ("succeeded", 0)
    assert recovery["last_started_at"] is not None

    as_root = service.request("GET", "/health", crm.root).get_json()["retention_sweep"]
    assert as_root["purged_by_account"] == {"acme": 1}
    as_admin = service.request("GET", "/health", crm.admin).get_json()["retention_sweep"]
    assert "purged_by_account" not in as_admin
    assert service.request("GET", "/health", "pst_unknown").status_code == 200


def _concurrent_ticks(schedulers: list[Scheduler]) -> list[str]:
    barrier = threading.Barrier(len(schedulers))
    outcomes: list[str] = []
    errors: list[BaseException] = []

    def tick(scheduler: Scheduler) -> None:
        try:
            barrier.wait(5)
            outcomes.append(scheduler.tick()[RETENTION_SWEEP])
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=tick, args=(s,)) for s in schedulers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    return outcomes


def test_two_schedulers_on_one_database_ticking_at_once_sweep_exactly_once(
    make_service: Any, database_url: str
) -> None:
    first: Service = make_service(database_url)
    second: Service = make_service(database_url)  # another worker, or another host
    crm = make_crm(first, "cascade-on-delete")
    for n in range(3):
        trashed(crm, f"old-{n}", 61)

    def slow_sweep(state: ServiceState) -> dict[str, Any]:
        time.sleep(0.2)  # the others look while it runs
        return sweep_retention(state)

    def schedulers() -> list[Scheduler]:
        return [
            Scheduler(service.state, [Task(RETENTION_SWEEP, HOUR, slow_sweep)])
            for service in (first, second, first, second)
        ]

    outcomes = _concurrent_ticks(schedulers())
    assert Counter(outcomes)["ran"] == 1, outcomes
    assert set(outcomes) <= {"ran", "not_due", "busy"}, outcomes
    # And again, now that it has run: nobody, until the interval has passed ("busy": on
    # PostgreSQL another one held the lock while it found the sweep not due).
    assert set(_concurrent_ticks(schedulers())) <= {"not_due", "busy"}

    assert len(sweep_events(crm)) == 1
    assert {state_of(crm, f"old-{n}") for n in range(3)} == {"purged"}


def test_a_restarted_scheduler_within_the_interval_does_not_sweep_again(
    make_service: Any, database_url: str
) -> None:
    service: Service = make_service(database_url)
    crm = make_crm(service, "cascade-on-delete")
    trashed(crm, "old", 61)
    assert Scheduler.for_state(service.state).tick()[RETENTION_SWEEP] == "ran"
    trashed(crm, "later", 61)

    restarted: Service = make_service(database_url)
    scheduler = Scheduler.for_state(restarted.state)
    assert scheduler.tick()[RETENTION_SWEEP] == "not_due"
    assert state_of(crm, "later") == "trashed"
    assert len(sweep_events(crm)) == 1

    scheduler.clock = lambda: datetime.now(UTC) + HOUR + timedelta(seconds=1)
    assert scheduler.tick()[RETENTION_SWEEP] == "ran"
    assert state_of(crm, "later") == "purged"


def test_a_tick_while_the_database_is_unreachable_does_not_kill_the_thread(
    tmp_path: Path,
) -> None:
    state = ServiceState.build(settings_for_tests(UNREACHABLE, tmp_path))
    scheduler = Scheduler.for_state(state, poll_seconds=0.01)
    try:
        assert scheduler.tick() == {
            RETENTION_SWEEP: "deferred",
            JOB_RECOVERY: "deferred",
            AUDIT_CHECKPOINTS: "deferred",
            WEBHOOK_DELIVERY: "deferred",
        }
        scheduler.start()
        wait_until(lambda: scheduler.ticks >= 4, 10, "the scheduler stopped ticking")
        assert scheduler.alive
    finally:
        scheduler.stop()
        state.engine.dispose()


@pytest.mark.postgres
def test_a_scheduler_that_ticked_through_an_outage_sweeps_once_the_database_is_back(
    make_service: Any, postgres_url: str, postgres_admin: Engine
) -> None:
    service: Service = make_service(postgres_url)
    crm = make_crm(service, "cascade-on-delete")
    trashed(crm, "old", 61)
    scheduler = Scheduler.for_state(service.state, poll_seconds=0.05)
    try:
        with database_away(postgres_admin, postgres_url):
            scheduler.start()
            wait_until(lambda: scheduler.ticks >= 3, 10, "the scheduler stopped ticking")
            assert scheduler.alive
            assert scheduler.last_outcomes[RETENTION_SWEEP] == "deferred"
        wait_until(
            lambda: scheduler.last_outcomes.get(RETENTION_SWEEP) == "not_due", 15, "no sweep"
        )
        assert scheduler.alive
    finally:
        scheduler.stop()
    assert state_of(crm, "old") == "purged"
    assert len(sweep_events(crm)) == 1


def test_scheduled_recovery_resumes_jobs_whose_runner_died_and_leaves_queued_ones(
    make_service: Any, database_url: str
) -> None:
    service: Service = make_service(database_url, job_runner="off")
    crm = make_crm(service, "trash-retains-all")
    for n in range(3):
        crm.contact(f"c-{n}", with_records=False)
    body = {"confirm": "DELETE", "reason_code": "data_cleanup", "expected_count": 1}
    jobs = [
        crm.call("POST", "/v1/accounts/acme/contacts/bulk-delete", None, {**body, "ids": [c]})
        for c in ("c-0", "c-1")
    ]
    orphan, queued = (job.get_json()["id"] for job in jobs)
    with service.state.engine.begin() as connection:  # its runner took it, then died
        connection.execute(
            text(
                "UPDATE jobs SET status = 'running', lease_owner = 'dead', "
                "lease_until = '2000-01-01 00:00:00+00' WHERE id = :id"
            ),
            {"id": orphan},
        )

    recovery = Scheduler(service.state, [Task(JOB_RECOVERY, HOUR, recover_jobs)])
    assert recovery.tick() == {JOB_RECOVERY: "ran"}

    status = {j: crm.call("GET", f"/v1/jobs/{j}").get_json()["status"] for j in (orphan, queued)}
    assert status == {orphan: "succeeded", queued: "queued"}
    with service.state.engine.connect() as connection:
        runs = scheduling.read_status(connection, [JOB_RECOVERY])
    assert runs[JOB_RECOVERY].last_result == {"orphaned": 1, "resumed": 1}
