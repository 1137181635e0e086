"""Webhooks (issue 11): endpoints, the transactional outbox, signed at-least-once delivery with
backoff, the delivery log and redeliver - sent to a real receiver on 127.0.0.1 that checks
each signature with the ``standardwebhooks`` library. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from policy_service.config import Settings
from policy_service.domain.clock import as_utc, utcnow
from policy_service.integration import metrics
from policy_service.integration.webhooks import Answer, backoff, deliver_due, http_send
from policy_service.storage.tables import WebhookOutboxRow
from tests.conftest import Service
from tests.integration.lifecycle_fixtures import Crm, make_crm
from tests.integration.webhook_receiver import Receiver, payload_types

CONTACT_EVENTS = ["contact.deleted", "contact.restored", "contact.purged"]


@pytest.fixture
def crm(make_service: Any, database_url: str) -> Crm:
    service = make_service(database_url, webhook_max_attempts=3, webhook_retry_base_seconds=10.0)
    return make_crm(service, "trash-retains-all", purge_enabled=True)


def register(crm: Crm, receiver: Receiver, path: str, events: list[str]) -> dict[str, Any]:
    response = crm.call(
        "POST",
        f"/v1/accounts/{crm.account}/webhooks",
        crm.admin,
        {"url": receiver.url(path), "events": events},
    )
    assert response.status_code == 201, response.get_json()
    created: dict[str, Any] = response.get_json()
    receiver.secrets[path] = created["secret"]
    return created


def outbox_rows(service: Service) -> list[WebhookOutboxRow]:
    with service.state.session_factory() as session:
        return list(session.execute(select(WebhookOutboxRow)).scalars())


def make_due(service: Service) -> None:
    """Time passes: every pending delivery is due now."""
    with service.state.session_factory() as session:
        session.execute(update(WebhookOutboxRow).values(next_attempt_at=utcnow()))
        session.commit()


def log_of(crm: Crm, webhook_id: str) -> list[dict[str, Any]]:
    path = f"/v1/accounts/{crm.account}/webhooks/{webhook_id}/deliveries"
    response = crm.call("GET", path, crm.admin)
    assert response.status_code == 200, response.get_json()
    deliveries: list[dict[str, Any]] = response.get_json()["deliveries"]
    return deliveries


def test_lifecycle_events_reach_the_receiver_signed_and_without_personal_data(
    crm: Crm, receiver: Receiver
) -> None:
    endpoint = register(crm, receiver, "crm", CONTACT_EVENTS)
    assert endpoint["secret"].startswith("whsec_")
    crm.contact("c-1")
    for call in (crm.delete, crm.restore, crm.delete, crm.purge):
        assert call("c-1").status_code == 200
    report = deliver_due(crm.service.state)
    assert report.succeeded == 4
    got = receiver.at("crm")
    assert [r.verified for r in got] == [True] * 4
    assert payload_types(got) == [
        "contact.deleted",
        "contact.restored",
        "contact.deleted",
        "contact.purged",
    ]
    assert len({r.headers["webhook-id"] for r in got}) == 4
    first = got[0].payload
    assert first is not None
    assert first["data"]["contact_id"] == "c-1"
    assert first["data"]["account_id"] == crm.account
    assert all("Ada" not in r.body and "ada@example.com" not in r.body for r in got)
    log = log_of(crm, endpoint["id"])
    assert [d["status"] for d in log] == ["succeeded"] * 4
    assert all(d["attempts"][0]["status_code"] == 204 for d in log)
    # The secret is shown once: never again.
    shown = crm.call("GET", f"/v1/accounts/{crm.account}/webhooks/{endpoint['id']}").get_json()
    assert "secret" not in shown
    assert shown["events"] == sorted(CONTACT_EVENTS)


def test_an_endpoint_gets_only_the_events_it_asked_for(crm: Crm, receiver: Receiver) -> None:
    register(crm, receiver, "purges", ["contact.purged"])
    crm.contact("c-1", with_records=False)
    assert crm.delete("c-1").status_code == 200
    assert outbox_rows(crm.service) == []
    assert crm.purge("c-1").status_code == 200
    assert [row.event_type for row in outbox_rows(crm.service)] == ["contact.purged"]


def test_a_refused_action_writes_no_outbox_row(crm: Crm, receiver: Receiver) -> None:
    register(crm, receiver, "crm", CONTACT_EVENTS)
    crm.contact("c-1", with_records=False)
    assert crm.delete("c-1", token=crm.user).status_code == 403
    assert crm.purge("c-1").status_code == 409  # not in the trash
    assert outbox_rows(crm.service) == []


def test_an_action_that_fails_after_its_event_leaves_no_outbox_row(
    crm: Crm, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The outbox row is written in the action's transaction: when the action fails after
    it was written (here: the change-log write at the end), it goes with the rest."""
    register(crm, receiver, "crm", CONTACT_EVENTS)
    crm.contact("c-1", with_records=False)
    state = crm.service.state

    def broken(*_: Any) -> None:
        raise RuntimeError("the database went away mid-transaction")

    monkeypatch.setattr(type(state), "contacts_changed", broken)
    crm.service.app.config["PROPAGATE_EXCEPTIONS"] = False
    assert crm.delete("c-1").status_code == 500
    monkeypatch.undo()
    assert outbox_rows(crm.service) == []
    stored = crm.call("GET", crm.path("c-1")).get_json()
    assert stored.get("contact", stored)["state"] == "active"


def test_failed_attempts_back_off_then_give_up_and_redeliver_starts_again(
    crm: Crm, receiver: Receiver
) -> None:
    endpoint = register(crm, receiver, "flaky", CONTACT_EVENTS)
    receiver.script["flaky"] = [500, 503, 500]
    crm.contact("c-1", with_records=False)
    crm.delete("c-1")
    failures_before = metrics.WEBHOOK_FAILURES.labels("contact.deleted")._value.get()
    state = crm.service.state
    waits = []
    for attempt in (1, 2, 3):
        before = utcnow()
        report = deliver_due(state)
        assert report.sent == 1
        [row] = outbox_rows(crm.service)
        assert row.attempts == attempt
        if attempt < 3:
            assert row.status == "pending"
            waits.append((as_utc(row.next_attempt_at) - before).total_seconds())
            assert deliver_due(state).sent == 0  # not due yet
            make_due(crm.service)
    # Exponential with jitter: the n-th wait is within [base*2^(n-1)/2, base*2^(n-1)].
    assert 5 <= waits[0] <= 10.5
    assert 10 <= waits[1] <= 20.5
    [row] = outbox_rows(crm.service)
    assert row.status == "failed"
    assert metrics.WEBHOOK_FAILURES.labels("contact.deleted")._value.get() == failures_before + 3
    [logged] = log_of(crm, endpoint["id"])
    assert [a["status_code"] for a in logged["attempts"]] == [500, 503, 500]
    assert logged["next_attempt_at"] is None

    path = f"/v1/accounts/{crm.account}/webhooks/{endpoint['id']}/deliveries/{logged['id']}"
    again = crm.call("POST", f"{path}/redeliver", crm.admin)
    assert again.status_code == 202, again.get_json()
    assert again.get_json()["status"] == "pending"
    assert deliver_due(state).succeeded == 1
    [logged] = log_of(crm, endpoint["id"])
    assert logged["status"] == "succeeded"
    assert [a["status_code"] for a in logged["attempts"]] == [500, 503, 500, 204]
    ids = {r.headers["webhook-id"] for r in receiver.at("flaky")}
    assert len(ids) == 1  # the same message each time: the receiver can drop duplicates


def test_a_receiver_that_is_down_is_a_failed_attempt(crm: Crm, receiver: Receiver) -> None:
    response = crm.call(
        "POST",
        f"/v1/accounts/{crm.account}/webhooks",
        crm.admin,
        {"url": "http://127.0.0.1:9/nobody", "events": ["contact.deleted"]},
    )
    assert response.status_code == 201
    crm.contact("c-1", with_records=False)
    crm.delete("c-1")
    report = deliver_due(crm.service.state)
    assert report.retrying == 1
    [row] = outbox_rows(crm.service)
    assert row.last_status_code is None
    assert row.last_error


def test_backoff_doubles_up_to_its_cap_with_jitter() -> None:
    settings = Settings.from_env(
        {}, webhook_retry_base_seconds=10.0, webhook_retry_max_seconds=100.0
    )
    rng = random.Random(7)
    for attempts, full in ((1, 10), (2, 20), (3, 40), (4, 80), (5, 100), (9, 100)):
        waits = [backoff(settings, attempts, rng).total_seconds() for _ in range(50)]
        assert all(full / 2 <= w <= full for w in waits)
        assert len(set(waits)) > 1  # jittered


def test_each_delivery_is_sent_by_one_runner_only(crm: Crm, receiver: Receiver) -> None:
    register(crm, receiver, "crm", ["contact.deleted"])
    for n in range(8):
        crm.contact(f"c-{n}", with_records=False)
        crm.delete(f"c-{n}")
    sent: dict[str, int] = {}
    lock = threading.Lock()

    def send(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> Answer:
        with lock:
            sent[headers["webhook-id"]] = sent.get(headers["webhook-id"], 0) + 1
        return http_send(url, body, headers, timeout)

    state = crm.service.state
    runners = [
        threading.Thread(target=deliver_due, args=(state,), kwargs={"send": send, "limit": 3})
        for _ in range(3)
    ]
    for runner in runners:
        runner.start()
    for runner in runners:
        runner.join(30)
    assert sorted(sent.values()) == [1] * 8
    assert {row.status for row in outbox_rows(crm.service)} == {"succeeded"}


def test_a_bulk_job_announces_each_contact_and_its_end(crm: Crm, receiver: Receiver) -> None:
    register(crm, receiver, "jobs", ["contact.deleted", "job.finished"])
    for n in (1, 2):
        crm.contact(f"c-{n}", with_records=False)
    started = crm.call(
        "POST",
        f"/v1/accounts/{crm.account}/contacts/bulk-delete",
        crm.admin,
        {"ids": ["c-1", "c-2"], "confirm": "DELETE", "expected_count": 2,
         "reason_code": "duplicate"},
    )  # fmt: skip
    assert started.status_code == 202, started.get_json()
    deliver_due(crm.service.state)
    got = receiver.at("jobs")
    assert sorted(payload_types(got)) == ["contact.deleted", "contact.deleted", "job.finished"]
    finished = next(r.payload for r in got if r.payload and r.payload["type"] == "job.finished")
    assert finished is not None
    assert finished["data"]["job_id"] == started.get_json()["id"]
    assert finished["data"]["status"] == "succeeded"


def test_another_worker_picks_up_a_new_endpoint_through_the_change_log(
    crm: Crm, receiver: Receiver, make_service: Any, database_url: str
) -> None:
    other = make_service(database_url)
    crm.contact("c-1", with_records=False)
    crm.contact("c-2", with_records=False)
    # The other worker learns the account has no endpoints (and caches it) ...
    assert other.request("POST", f"{crm.path('c-1')}/delete", crm.admin,
                         {"reason_code": "duplicate"}).status_code == 200  # fmt: skip
    register(crm, receiver, "crm", ["contact.deleted"])
    other.state.sync_now()  # ... until its change-log poll sees the new one
    assert other.request("POST", f"{crm.path('c-2')}/delete", crm.admin,
                         {"reason_code": "duplicate"}).status_code == 200  # fmt: skip
    rows = outbox_rows(crm.service)
    assert [json.loads(r.payload)["data"]["contact_id"] for r in rows] == ["c-2"]


def test_removing_an_endpoint_stops_its_events_and_drops_its_log(
    crm: Crm, receiver: Receiver
) -> None:
    endpoint = register(crm, receiver, "crm", ["contact.deleted"])
    crm.contact("c-1", with_records=False)
    crm.delete("c-1")
    path = f"/v1/accounts/{crm.account}/webhooks/{endpoint['id']}"
    assert crm.call("DELETE", path, crm.admin).status_code == 204
    assert crm.call("GET", path, crm.admin).status_code == 404
    crm.restore("c-1")
    crm.delete("c-1")
    assert outbox_rows(crm.service) == []


def test_webhooks_are_managed_only_by_the_accounts_admins(crm: Crm, receiver: Receiver) -> None:
    service = crm.service
    endpoint = register(crm, receiver, "crm", ["contact.deleted"])
    service.account("other")
    stranger = service.caller("olga", roles={"other": ["admin"]})
    mine = f"/v1/accounts/{crm.account}/webhooks"
    body = {"url": receiver.url("x"), "events": ["contact.deleted"]}
    assert crm.call("POST", mine, crm.user, body).status_code == 403
    assert crm.call("GET", mine, crm.officer).status_code == 403
    assert crm.call("GET", mine, stranger).status_code == 403
    # Another account's endpoint, named under one's own account, does not exist.
    theirs = f"/v1/accounts/other/webhooks/{endpoint['id']}"
    for method, suffix in (("GET", ""), ("DELETE", ""), ("GET", "/deliveries")):
        assert crm.call(method, theirs + suffix, stranger).status_code == 404
    assert crm.call("GET", "/v1/accounts/other/webhooks/whep_nope", stranger).status_code == 404
    assert crm.call("GET", f"{mine}/{endpoint['id']}", crm.root).status_code == 200


def test_an_endpoint_needs_an_http_url_and_known_events(crm: Crm) -> None:
    mine = f"/v1/accounts/{crm.account}/webhooks"
    for body in (
        {"url": "ftp://example.com/x", "events": ["contact.deleted"]},
        {"url": "http://example.com/x", "events": ["contact.exploded"]},
        {"url": "http://example.com/x", "events": []},
        {"url": "http://user:secret@example.com/x", "events": ["contact.deleted"]},
        {"url": "http://example.com:99999/x", "events": ["contact.deleted"]},
        {"url": "http://example.com:0/x", "events": ["contact.deleted"]},
    ):
        response = crm.call("POST", mine, crm.admin, body)
        assert response.status_code in (400, 422), body
        assert response.mimetype == "application/problem+json"
        assert "secret" not in response.get_data(as_text=True)
    assert crm.call("GET", mine, crm.admin).get_json()["webhooks"] == []


def test_with_an_endpoint_an_action_costs_one_statement_more_at_most(
    crm: Crm, receiver: Receiver
) -> None:
    from tests.integration.test_lifecycle_statements import BUDGET, counted

    register(crm, receiver, "crm", CONTACT_EVENTS)
    crm.contact("c-warm", with_records=False)
    crm.delete("c-warm")
    crm.contact("c-1")
    service = crm.service
    service.state.runtime.sync_interval = 3600.0
    engine = service.state.engine
    with counted(engine) as seen:
        assert crm.delete("c-1").status_code == 200
    assert len(seen) <= BUDGET[engine.dialect.name] + 1
    with service.state.session_factory() as session:
        assert session.execute(select(func.count()).select_from(WebhookOutboxRow)).scalar() == 2


def test_a_delivery_is_due_at_once_and_leased_while_sent(crm: Crm, receiver: Receiver) -> None:
    from policy_service.storage import webhooks as queries

    register(crm, receiver, "crm", ["contact.deleted"])
    crm.contact("c-1", with_records=False)
    crm.delete("c-1")
    [row] = outbox_rows(crm.service)
    now = utcnow()
    with crm.service.state.session_factory() as session:
        assert queries.claim(session, row.id, "a", now, now + timedelta(minutes=2))
        assert not queries.claim(session, row.id, "b", now, now + timedelta(minutes=2))
        later = now + timedelta(minutes=3)  # the first runner died: its lease ran out
        assert queries.claim(session, row.id, "b", later, later + timedelta(minutes=2))
        session.commit()


def test_the_scheduler_sends_what_is_due_as_one_of_its_tasks(crm: Crm, receiver: Receiver) -> None:
    from policy_service.scheduler import WEBHOOK_DELIVERY, Scheduler

    register(crm, receiver, "crm", ["contact.deleted"])
    crm.contact("c-1", with_records=False)
    crm.delete("c-1")
    outcomes = Scheduler.for_state(crm.service.state).tick()
    assert outcomes[WEBHOOK_DELIVERY] == "ran"
    assert payload_types(receiver.at("crm")) == ["contact.deleted"]


def test_a_redirect_is_a_failed_attempt_not_followed(crm: Crm, receiver: Receiver) -> None:
    register(crm, receiver, "moved", ["contact.deleted"])
    receiver.script["moved"] = [302]
    crm.contact("c-1", with_records=False)
    crm.delete("c-1")
    assert deliver_due(crm.service.state).retrying == 1
    [row] = outbox_rows(crm.service)
    assert (row.status, row.last_status_code) == ("pending", 302)


def test_in_production_private_addresses_are_refused_unless_allowed() -> None:
    from policy_service.integration.webhooks import address_refused

    production = Settings.from_env({}, environment="production", secret_key="k" * 32)
    assert address_refused(production, "http://127.0.0.1:8080/in") is not None
    assert address_refused(production, "http://169.254.169.254/latest") is not None
    allowed = production.with_overrides(webhook_allow_private_addresses=True)
    assert address_refused(allowed, "http://127.0.0.1:8080/in") is None
    assert address_refused(Settings.from_env({}), "http://127.0.0.1:8080/in") is None


def test_old_finished_deliveries_leave_the_log(crm: Crm, receiver: Receiver) -> None:
    from policy_service.integration.webhooks import prune_log

    register(crm, receiver, "crm", ["contact.deleted", "contact.restored"])
    crm.contact("c-1", with_records=False)
    crm.delete("c-1")
    deliver_due(crm.service.state)
    crm.restore("c-1")  # still pending: kept however old
    with crm.service.state.session_factory() as session:
        session.execute(update(WebhookOutboxRow).values(created_at=utcnow() - timedelta(days=31)))
        session.commit()
    assert prune_log(crm.service.state) == 1
    assert [row.event_type for row in outbox_rows(crm.service)] == ["contact.restored"]


def test_metrics_count_deliveries_failures_and_the_outbox(crm: Crm, receiver: Receiver) -> None:
    register(crm, receiver, "flaky", ["contact.deleted"])
    receiver.script["flaky"] = [500]
    crm.contact("c-1", with_records=False)
    crm.delete("c-1")
    deliver_due(crm.service.state)
    text = metrics.exposition(crm.service.state)[0].decode()
    assert (
        'policy_service_webhook_deliveries_total{event="contact.deleted",outcome="pending"}' in text
    )
    assert 'policy_service_webhook_failures_total{event="contact.deleted"}' in text
    assert 'policy_service_webhook_outbox{status="pending"} 1.0' in text
