"""A service on SQLite with one of everything the API can show: contacts active, trashed and
held, related records, a deletion rule, a finished bulk job, completed erasure and access
requests, and a signed checkpoint. Contract tests read and fuzz it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from policy_service.storage import database
from tests.conftest import Service
from tests.integration.lifecycle_fixtures import Crm, make_crm

ACCOUNT = "acme"


@dataclass
class World:
    crm: Crm
    # Per path parameter of the API, values that name something that exists.
    existing: dict[str, tuple[str, ...]]

    @property
    def service(self) -> Service:
        return self.crm.service

    def ok(self, method: str, path: str, token: str | None = None, body: Any = None) -> Any:
        response = self.crm.call(method, path, token or self.crm.root, body)
        assert response.status_code < 300, (method, path, response.get_json())
        return response


def _dsr(world: World, type_: str, email: str) -> str:
    crm = world.crm
    created = world.ok(
        "POST",
        "/v1/dsr",
        crm.officer,
        {
            "type": type_,
            "identity": {"email": email},
            "jurisdiction": "gdpr",
            "accounts": [ACCOUNT],
            "received_at": datetime.now(UTC).isoformat(),
        },
    ).get_json()
    dsr_id = str(created["id"])
    world.ok("POST", f"/v1/dsr/{dsr_id}/verify-identity", crm.officer, {"method": "email link"})
    world.ok("POST", f"/v1/dsr/{dsr_id}/approve", crm.officer)
    world.ok("POST", f"/v1/dsr/{dsr_id}/execute", crm.officer)
    return dsr_id


def build_world(service: Service) -> World:
    crm = make_crm(service, "trash-retains-all", purge_enabled=True)
    world = World(crm, {})
    hook = world.ok(
        "POST",
        f"/v1/accounts/{ACCOUNT}/webhooks",
        crm.admin,
        {"url": "https://hooks.example.com/in", "events": ["contact.deleted", "dsr.completed"]},
    ).get_json()
    crm.contact("c-1")  # active, with one record of every related kind
    crm.contact("c-2", with_records=False, email="bob@example.com")
    crm.delete("c-2")  # in the trash
    crm.contact("c-3", with_records=False, email="cy@example.com")
    hold = world.ok(
        "POST", f"{crm.path('c-3')}/legal-holds", crm.officer, {"reason": "litigation"}
    ).get_json()
    rule = world.ok(
        "POST",
        f"/v1/accounts/{ACCOUNT}/deletion-rules",
        crm.admin,
        {"tag": "spam", "reason_code": "data_cleanup"},
    ).get_json()
    crm.contact("c-4", with_records=False, email="dee@example.com")
    job = world.ok(
        "POST",
        f"/v1/accounts/{ACCOUNT}/contacts/bulk-delete",
        crm.admin,
        {"ids": ["c-4"], "confirm": "DELETE", "expected_count": 1, "reason_code": "inactive"},
    ).get_json()
    crm.contact("c-5", with_records=False, email="eve@example.com")
    erasure = _dsr(world, "erasure", "eve@example.com")
    access = _dsr(world, "access", "ada@example.com")
    # Registered after the requests ran, so that they completed without waiting on it.
    world.ok("POST", f"/v1/accounts/{ACCOUNT}/dsr-systems", crm.admin, {"name": "mailer"})
    deliveries = world.ok(
        "GET", f"/v1/accounts/{ACCOUNT}/webhooks/{hook['id']}/deliveries", crm.admin
    ).get_json()["deliveries"]
    world.ok("POST", "/v1/audit/checkpoints", crm.root, {"account_id": ACCOUNT})
    events = world.ok("GET", f"/v1/audit/events?account_id={ACCOUNT}&limit=1").get_json()
    world.existing.update(
        account_id=(ACCOUNT,),
        contact_id=("c-1", "c-2", "c-3"),  # active with records, trashed, held
        user_id=("uma",),
        name=("trash-retains-all",),
        rule_id=(rule["id"],),
        job_id=(job["id"],),
        dsr_id=(erasure, access),  # completed: a certificate; a package
        event_id=(events["events"][0]["event_id"],),
        webhook_id=(hook["id"],),
        delivery_id=(deliveries[0]["id"],),
        system=("mailer",),
    )
    assert hold["contact_id"] == "c-3"
    return world


@pytest.fixture
def short_lock_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """A request that waits on a lock its own request holds (see test_known_bugs) would hang
    for the full busy timeout (30 s) before its 503; nothing else runs concurrently here."""
    monkeypatch.setattr(database, "SQLITE_BUSY_TIMEOUT_MS", 500)


@pytest.fixture
def world(short_lock_wait: None, sqlite_service: Service) -> World:
    return build_world(sqlite_service)
