"""Two clients acting on one contact at once: one wins, the other gets a 409, and the
contact is never half-cascaded."""

import threading
from typing import Any

from tests.conftest import Service
from tests.integration.lifecycle_fixtures import make_crm


def race(service: Service, calls: list[tuple[str, str, Any]], token: str) -> list[int]:
    barrier = threading.Barrier(len(calls))
    statuses: list[int] = [0] * len(calls)

    def run(index: int, method: str, path: str, body: Any) -> None:
        client = service.app.test_client()
        barrier.wait()
        response = client.open(
            path, method=method, json=body, headers={"Authorization": f"Bearer {token}"}
        )
        statuses[index] = response.status_code

    threads = [threading.Thread(target=run, args=(i, *call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return statuses


def test_two_simultaneous_deletes_one_wins_one_gets_409(service: Service) -> None:
    crm = make_crm(service, "trash-retains-all")
    crm.contact("c-1")
    path = f"{crm.path('c-1')}/delete"
    body = {"reason_code": "duplicate"}
    statuses = race(service, [("POST", path, body), ("POST", path, body)], crm.admin)
    assert sorted(statuses) == [200, 409]
    assert set(crm.states("c-1").values()) == {"trashed"}
    events = crm.call(
        "GET", "/v1/audit/events?account_id=acme&action=contact.delete&outcome=succeeded",
        crm.officer,
    ).get_json()["events"]  # fmt: skip
    assert len(events) == 1


def test_a_restore_racing_a_purge_leaves_one_whole_outcome(service: Service) -> None:
    crm = make_crm(service, "trash-retains-all", purge_enabled=True)
    crm.contact("c-1")
    crm.delete("c-1")
    statuses = race(
        service,
        [
            ("POST", f"{crm.path('c-1')}/restore", None),
            ("POST", f"{crm.path('c-1')}/purge", {"confirm": "PURGE"}),
        ],
        crm.admin,
    )
    assert sorted(statuses) == [200, 409]
    contact = crm.call("GET", crm.path("c-1")).get_json()
    states = set(crm.states("c-1").values())
    if contact["state"] == "active":
        assert states == {"active"}
    else:
        assert contact["state"] == "purged"
        assert states <= {"destroyed", "retained", "stopped", "anonymized"}  # nothing half-way
