"""An erasure waiting on downstream systems, finished from the console: its tasks with their
status, an officer closing a manual task with a note (the API's confirm, audited alike), and
no Execute once its own execution is done."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from tests.console.conftest import Console, csrf_token


def _executed_erasure(console: Console) -> tuple[FlaskClient, str, str]:
    service = console.service
    for system in ("warehouse", "billing"):
        registered = service.request(
            "POST", "/v1/accounts/a/dsr-systems", console.admin, {"name": system}
        )
        assert registered.status_code == 201, registered.get_data(as_text=True)
    created = service.request(
        "POST", "/v1/accounts/a/contacts", console.admin,
        {"id": "eve", "name": "Eve", "email": "eve@example.com"},
    )  # fmt: skip
    assert created.status_code == 201
    client = console.signed_in(console.officer)
    token = csrf_token(client, "/console/accounts/a/requests")
    intake = {
        "csrf_token": token, "type": "erasure", "jurisdiction": "gdpr",
        "email": "eve@example.com", "channel": "email",
    }  # fmt: skip
    assert client.post("/console/accounts/a/requests", data=intake).status_code == 302
    queue = client.get("/console/accounts/a/requests").get_data(as_text=True)
    dsr_id = queue.split("Recorded request ")[1].split(",")[0]
    base = f"/console/accounts/a/requests/{dsr_id}"
    client.post(f"{base}/verify-identity", data={"csrf_token": token, "method": "email_link"})
    client.post(f"{base}/approve", data={"csrf_token": token})
    # Before: the preview says executing will not complete it, and names the systems.
    preview = client.get(f"{base}/execute").get_data(as_text=True)
    assert "Executing does not complete this erasure" in preview
    assert "<code>warehouse</code>" in preview
    assert "<code>billing</code>" in preview
    assert "would complete with a signed certificate" not in preview
    assert "Execute erasure" in preview
    done = client.post(f"{base}/execute", data={"csrf_token": token})
    assert done.status_code == 302
    return client, token, dsr_id


def _status(console: Console, dsr_id: str) -> str:
    found = console.service.request("GET", f"/v1/dsr/{dsr_id}", console.officer)
    assert found.status_code == 200, found.get_data(as_text=True)
    status: str = found.get_json()["status"]
    return status


def _tasks(console: Console, dsr_id: str) -> dict[str, Any]:
    found = console.service.request("GET", f"/v1/dsr/{dsr_id}/systems", console.officer)
    assert found.status_code == 200, found.get_data(as_text=True)
    return {t["system"]: t for t in found.get_json()["tasks"]}


def test_an_erasure_waiting_on_systems_is_finished_from_the_console(console: Console) -> None:
    client, token, dsr_id = _executed_erasure(console)
    base = f"/console/accounts/a/requests/{dsr_id}"
    assert _status(console, dsr_id) == "in_progress"
    queue = client.get("/console/accounts/a/requests").get_data(as_text=True)
    assert "waiting for 2 downstream system(s) to confirm" in queue
    section = queue.split(f'id="req-{dsr_id}"')[1].split("</section>")[0]
    assert "Downstream systems" in section
    assert f'id="task-{dsr_id}-a-warehouse"' in section
    assert section.count("Close task") == 2
    assert "Execute…" not in section  # its own execution is done
    preview = client.get(f"{base}/execute").get_data(as_text=True)
    assert "Execute erasure" not in preview
    assert "would complete" not in preview
    assert "completes once 2 of its 2 downstream system(s) confirm" in preview

    # A note is required, and held to the API's limit (2000).
    confirm = f"{base}/systems/warehouse/confirm"
    for note in ("", "   ", "n" * 2001):
        answer = client.post(confirm, data={"csrf_token": token, "account_id": "a", "note": note})
        assert answer.status_code == 400, answer.get_data(as_text=True)[:300]
        assert 'data-field="note"' in answer.get_data(as_text=True)
    assert _tasks(console, dsr_id)["warehouse"]["status"] == "pending"

    closed = client.post(
        confirm, data={"csrf_token": token, "account_id": "a", "note": "rows deleted by hand"}
    )
    assert closed.status_code == 302
    queue = client.get("/console/accounts/a/requests").get_data(as_text=True)
    assert "1 system(s) still to confirm" in queue
    tasks = _tasks(console, dsr_id)
    assert tasks["warehouse"]["status"] == "confirmed"
    assert tasks["warehouse"]["confirmed_by"] == "olga"
    assert _status(console, dsr_id) == "in_progress"
    section = queue.split(f'id="req-{dsr_id}"')[1].split("</section>")[0]
    assert "by olga" in section
    assert "rows deleted by hand" in section
    assert section.count("Close task") == 1

    client.post(
        f"{base}/systems/billing/confirm",
        data={"csrf_token": token, "account_id": "a", "note": "invoice anonymised"},
    )
    assert _status(console, dsr_id) == "completed"
    assert "the request is completed" in client.get("/console/accounts/a/requests").get_data(
        as_text=True
    )
    # Recorded as the API's confirm is.
    events = console.service.request(
        "GET", f"/v1/audit/events?account_id=a&dsr_id={dsr_id}&action=dsr.system_confirmed",
        console.officer,
    ).get_json()["events"]  # fmt: skip
    assert sorted(e["details"]["system"] for e in events) == ["billing", "warehouse"]
    assert {e["actor_id"] for e in events} == {"olga"}
