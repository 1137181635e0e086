"""Erasure across systems (issue 11): downstream systems get their task by webhook (a real
receiver checks the signature) or as a manual task; the request completes with the last
confirmation, its deadline covering the whole, and its certificate lists each system. On
SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from policy_service.integration.webhooks import deliver_due
from policy_service.privacy.certificate import canonical_json
from tests.conftest import Service
from tests.integration.lifecycle_fixtures import Crm, make_crm
from tests.integration.webhook_receiver import Receiver, payload_types

DSR_EVENTS = ["dsr.received", "dsr.approved", "dsr.completed"]


@pytest.fixture
def crm(service: Service) -> Crm:
    crm = make_crm(service, "trash-retains-all")
    crm.contact("c-1")  # ada@example.com
    return crm


@pytest.fixture
def mailer(crm: Crm) -> str:
    """The token of the downstream mailing system: a service of the account."""
    return crm.service.caller("svc-mailer", roles={crm.account: ["service"]}, kind="service")


def systems_path(crm: Crm) -> str:
    return f"/v1/accounts/{crm.account}/dsr-systems"


def set_up_systems(crm: Crm, receiver: Receiver) -> dict[str, Any]:
    """An endpoint for the mailer (which also wants the DSR events), the mailer on it, and a
    warehouse with no endpoint."""
    created = crm.call(
        "POST",
        f"/v1/accounts/{crm.account}/webhooks",
        crm.admin,
        {"url": receiver.url("mailer"), "events": DSR_EVENTS},
    )
    assert created.status_code == 201, created.get_json()
    endpoint: dict[str, Any] = created.get_json()
    receiver.secrets["mailer"] = endpoint["secret"]
    for body in ({"name": "mailer", "webhook_id": endpoint["id"]}, {"name": "warehouse"}):
        registered = crm.call("POST", systems_path(crm), crm.officer, body)
        assert registered.status_code == 201, registered.get_json()
    return endpoint


def erasure(crm: Crm, received_at: datetime | None = None) -> str:
    created = crm.call(
        "POST",
        "/v1/dsr",
        crm.officer,
        {
            "type": "erasure",
            "identity": {"email": "ada@example.com"},
            "jurisdiction": "gdpr",
            "accounts": [crm.account],
            "received_at": (received_at or datetime.now(UTC)).isoformat(),
        },
    )
    assert created.status_code == 201, created.get_json()
    dsr_id = str(created.get_json()["id"])
    for name, body in (("verify-identity", {"method": "email link"}), ("approve", None)):
        assert crm.call("POST", f"/v1/dsr/{dsr_id}/{name}", crm.officer, body).status_code == 200
    executed = crm.call("POST", f"/v1/dsr/{dsr_id}/execute", crm.officer)
    assert executed.status_code == 200, executed.get_json()
    return dsr_id


def confirm(crm: Crm, dsr_id: str, system: str, token: str, body: Any) -> Any:
    return crm.call("POST", f"/v1/dsr/{dsr_id}/systems/{system}/confirm", token, body)


def status_of(crm: Crm, dsr_id: str) -> dict[str, Any]:
    found: dict[str, Any] = crm.call("GET", f"/v1/dsr/{dsr_id}", crm.officer).get_json()
    return found


def test_an_erasure_completes_only_when_every_system_has_confirmed(
    crm: Crm, receiver: Receiver, mailer: str
) -> None:
    set_up_systems(crm, receiver)
    dsr_id = erasure(crm)
    assert status_of(crm, dsr_id)["status"] == "in_progress"  # erased here, systems to go
    tasks = crm.call("GET", f"/v1/dsr/{dsr_id}/systems", crm.officer).get_json()["tasks"]
    assert [(t["system"], t["mode"], t["status"]) for t in tasks] == [
        ("mailer", "webhook", "pending"),
        ("warehouse", "manual", "pending"),
    ]

    deliver_due(crm.service.state)
    got = receiver.at("mailer")
    assert all(r.verified for r in got)
    assert payload_types(got) == ["dsr.received", "dsr.approved", "dsr.system_task"]
    task = got[-1].payload
    assert task is not None
    assert task["data"]["identity"]["email"] == "ada@example.com"  # the system must find her
    assert task["data"]["confirm"] == f"/v1/dsr/{dsr_id}/systems/mailer/confirm"
    assert "ada@example.com" not in got[0].body  # the other events carry no identity

    confirmed = confirm(crm, dsr_id, "mailer", mailer, {"counts": {"subscribers": 1}})
    assert confirmed.status_code == 200, confirmed.get_json()
    assert confirmed.get_json()["status"] == "in_progress"
    refused = confirm(crm, dsr_id, "warehouse", crm.officer, {})
    assert refused.status_code == 422  # a manual task is closed with a note
    closed = confirm(crm, dsr_id, "warehouse", crm.officer, {"note": "rows dropped by hand"})
    assert closed.status_code == 200, closed.get_json()
    assert closed.get_json()["status"] == "completed"
    assert confirm(crm, dsr_id, "warehouse", crm.officer, {"note": "again"}).status_code == 409

    signed = crm.call("GET", f"/v1/dsr/{dsr_id}/certificate", crm.officer).get_json()
    certificate = signed["certificate"]
    assert certificate["accounts"][crm.account]["erased_contacts"] == ["c-1"]
    systems = {s["system"]: s for s in certificate["systems"]}
    assert systems["mailer"]["counts"] == {"subscribers": 1}
    assert systems["mailer"]["confirmed_by"] == "svc-mailer"
    assert systems["warehouse"]["mode"] == "manual"
    assert systems["warehouse"]["closed_with_note"] is True
    assert "rows dropped by hand" not in json.dumps(certificate)
    public_key = crm.service.state.signing_key.public_key()
    public_key.verify(base64.b64decode(signed["signature"]), canonical_json(certificate))
    assert status_of(crm, dsr_id)["identity_held"] is False

    deliver_due(crm.service.state)
    assert payload_types(receiver.at("mailer"))[-1] == "dsr.completed"


def test_a_task_sent_again_after_completion_no_longer_names_the_person(
    crm: Crm, receiver: Receiver, mailer: str
) -> None:
    endpoint = set_up_systems(crm, receiver)
    dsr_id = erasure(crm)
    deliver_due(crm.service.state)
    confirm(crm, dsr_id, "mailer", mailer, {"counts": {"subscribers": 1}})
    confirm(crm, dsr_id, "warehouse", crm.officer, {"note": "done"})
    tasks = crm.call("GET", f"/v1/dsr/{dsr_id}/systems", crm.officer).get_json()["tasks"]
    delivery_id = next(t["delivery_id"] for t in tasks if t["system"] == "mailer")
    path = f"/v1/accounts/{crm.account}/webhooks/{endpoint['id']}/deliveries/{delivery_id}"
    assert crm.call("POST", f"{path}/redeliver", crm.admin).status_code == 202
    deliver_due(crm.service.state)
    again = [r for r in receiver.at("mailer") if r.payload and r.payload["type"].endswith("task")]
    assert len(again) == 2
    assert "identity" not in again[-1].payload["data"]  # type: ignore[index]


def test_the_deadline_covers_the_systems_part_too(crm: Crm, receiver: Receiver) -> None:
    set_up_systems(crm, receiver)
    dsr_id = erasure(crm, received_at=datetime.now(UTC) - timedelta(days=40))
    request = status_of(crm, dsr_id)
    assert request["status"] == "in_progress"
    assert request["overdue"] is True
    late = crm.call("GET", "/v1/dsr?overdue=true", crm.officer).get_json()["requests"]
    assert [r["id"] for r in late] == [dsr_id]


def test_executing_again_while_systems_are_pending_changes_nothing(
    crm: Crm, receiver: Receiver, mailer: str
) -> None:
    set_up_systems(crm, receiver)
    dsr_id = erasure(crm)
    again = crm.call("POST", f"/v1/dsr/{dsr_id}/execute", crm.officer)
    assert again.get_json()["status"] == "in_progress"
    tasks = crm.call("GET", f"/v1/dsr/{dsr_id}/systems", crm.officer).get_json()["tasks"]
    assert len(tasks) == 2
    confirm(crm, dsr_id, "mailer", mailer, {"counts": {"subscribers": 1}})
    confirm(crm, dsr_id, "warehouse", crm.officer, {"note": "done"})
    assert status_of(crm, dsr_id)["status"] == "completed"


def test_only_the_accounts_systems_and_officers_confirm(
    crm: Crm, receiver: Receiver, mailer: str
) -> None:
    service = crm.service
    set_up_systems(crm, receiver)
    dsr_id = erasure(crm)
    service.account("other")
    outsider = service.caller("svc-other", roles={"other": ["service"]}, kind="service")
    counts = {"counts": {"subscribers": 1}}
    foreign = confirm(crm, dsr_id, "mailer", outsider, counts)
    made_up = confirm(crm, "dsr_nope", "mailer", outsider, counts)
    assert foreign.status_code == made_up.status_code == 404
    assert foreign.get_json()["type"] == made_up.get_json()["type"]
    assert confirm(crm, dsr_id, "nope", mailer, counts).status_code == 404
    assert confirm(crm, dsr_id, "mailer", crm.admin, counts).status_code == 403
    assert confirm(crm, dsr_id, "mailer", mailer, {}).status_code == 422  # counts, please
    assert crm.call("GET", f"/v1/dsr/{dsr_id}/systems", outsider).status_code == 404
    assert crm.call("GET", systems_path(crm), crm.user).status_code == 403


def test_a_system_is_registered_with_an_endpoint_of_its_own_account(
    crm: Crm, receiver: Receiver
) -> None:
    endpoint = set_up_systems(crm, receiver)
    crm.service.account("other")
    olga = crm.service.caller("olga", roles={"other": ["admin"]})
    theirs = crm.call(
        "POST",
        "/v1/accounts/other/dsr-systems",
        olga,
        {"name": "mailer", "webhook_id": endpoint["id"]},
    )
    assert theirs.status_code == 422
    twice = crm.call("POST", systems_path(crm), crm.officer, {"name": "warehouse"})
    assert twice.status_code == 409
    in_use = crm.call("DELETE", f"/v1/accounts/{crm.account}/webhooks/{endpoint['id']}", crm.admin)
    assert in_use.status_code == 409
    listed = crm.call("GET", systems_path(crm), crm.admin).get_json()["systems"]
    assert [(s["name"], s["mode"]) for s in listed] == [
        ("mailer", "webhook"),
        ("warehouse", "manual"),
    ]
    removed = crm.call("DELETE", f"{systems_path(crm)}/warehouse", crm.admin)
    assert removed.status_code == 204
    assert crm.call("DELETE", f"{systems_path(crm)}/warehouse", crm.admin).status_code == 404


def test_an_erasure_with_no_systems_completes_at_once(crm: Crm) -> None:
    dsr_id = erasure(crm)
    assert status_of(crm, dsr_id)["status"] == "completed"
    signed = crm.call("GET", f"/v1/dsr/{dsr_id}/certificate", crm.officer).get_json()
    assert "systems" not in signed["certificate"]


def test_a_manual_task_is_announced_to_endpoints_that_want_it_without_the_identity(
    crm: Crm, receiver: Receiver
) -> None:
    set_up_systems(crm, receiver)
    tickets = crm.call(
        "POST",
        f"/v1/accounts/{crm.account}/webhooks",
        crm.admin,
        {"url": receiver.url("tickets"), "events": ["dsr.system_task"]},
    ).get_json()
    receiver.secrets["tickets"] = tickets["secret"]
    erasure(crm)
    deliver_due(crm.service.state)
    [notice] = receiver.at("tickets")
    assert notice.verified
    assert notice.payload is not None
    assert (notice.payload["data"]["system"], notice.payload["data"]["mode"]) == (
        "warehouse",
        "manual",
    )
    assert "identity" not in notice.payload["data"]
    assert "ada@example.com" not in notice.body
