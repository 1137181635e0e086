"""Contacts, data-subject requests, bulk restore and jobs, policy and explain, legal holds:
each button calls the API's use case and is recorded as the API call would be."""

from __future__ import annotations

import json
import time
from typing import Any

from tests.console.conftest import Console, csrf_token


def _events(console: Console, action: str, account: str = "a") -> list[dict[str, Any]]:
    found = console.service.request(
        "GET", f"/v1/audit/events?account_id={account}&action={action}", console.officer
    )
    assert found.status_code == 200, found.get_data(as_text=True)
    events: list[dict[str, Any]] = found.get_json()["events"]
    return events


def _contact(console: Console, cid: str, name: str, account: str = "a", **extra: Any) -> None:
    token = console.admin if account == "a" else console.service.tokens["pia"]
    created = console.service.request(
        "POST", f"/v1/accounts/{account}/contacts", token, {"id": cid, "name": name, **extra}
    )
    assert created.status_code == 201, created.get_data(as_text=True)


def test_contact_search_and_a_contact_with_its_records(console: Console) -> None:
    _contact(console, "cy", "Cy Twombly", email="cy@example.com")
    note = console.service.request(
        "POST", "/v1/accounts/a/contacts/cy/records", console.admin,
        {"kind": "notes", "data": {"text": "met at the fair"}},
    )  # fmt: skip
    assert note.status_code == 201
    client = console.signed_in(console.user)
    found = client.get("/console/accounts/a/contacts?q=twombly").get_data(as_text=True)
    assert "Cy Twombly" in found
    assert "Ada Lovelace" not in found  # in the trash, not an active contact
    page = client.get("/console/accounts/a/contacts/cy").get_data(as_text=True)
    assert "met at the fair" in page
    assert "cy@example.com" in page
    # A plain user may not delete: the decision function refuses, so no button.
    assert "Delete…" not in page
    admin_page = console.signed_in(console.admin).get("/console/accounts/a/contacts/cy")
    assert "Delete…" in admin_page.get_data(as_text=True)
    assert "Restore…" not in admin_page.get_data(as_text=True)  # not in the trash


def test_delete_shows_the_impact_first_and_is_the_audited_api_delete(console: Console) -> None:
    _contact(console, "cy", "Cy Twombly")
    console.service.request(
        "POST", "/v1/accounts/a/contacts/cy/records", console.admin,
        {"kind": "tasks", "data": {"title": "call back"}},
    )  # fmt: skip
    client = console.signed_in(console.admin)
    preview = client.get("/console/accounts/a/contacts/cy/delete").get_data(as_text=True)
    assert "What this delete would do" in preview
    assert "tasks" in preview
    assert "to the trash, restorable" in preview
    assert "Type DELETE" not in preview  # the trash keeps it: no word to type
    token = csrf_token(client, "/console/accounts/a/contacts/cy/delete")
    done = client.post(
        "/console/accounts/a/contacts/cy/delete",
        data={"csrf_token": token, "reason_code": "duplicate"},
    )
    assert done.status_code == 302
    assert done.headers["Location"].endswith("/console/accounts/a/trash")
    trash = client.get("/console/accounts/a/trash").get_data(as_text=True)
    assert "Deleted cy" in trash
    assert 'id="contact-cy"' in trash
    [event] = _events(console, "contact.delete")[:1]
    assert (event["actor_id"], event["target_id"], event["outcome"]) == ("ann", "cy", "succeeded")
    assert event["reason_code"] == "duplicate"


def test_an_irreversible_delete_needs_delete_typed(console: Console) -> None:
    console.service.account("p", name="Purgers", cascade_profile="immediate-purge")
    admin = console.service.caller("pia", roles={"p": ["admin"]})
    _contact(console, "dee", "Dee Dee", account="p")
    client = console.signed_in(admin)
    preview = client.get("/console/accounts/p/contacts/dee/delete").get_data(as_text=True)
    assert "no trash, this delete cannot be undone" in preview
    assert "Type DELETE to confirm" in preview
    token = csrf_token(client, "/console/accounts/p/contacts/dee/delete")
    form = {"csrf_token": token, "reason_code": "duplicate", "confirm": "delete"}
    client.post("/console/accounts/p/contacts/dee/delete", data=form)
    refused = client.get("/console/accounts/p/contacts/dee/delete").get_data(as_text=True)
    assert "Delete of dee refused" in refused
    assert "confirm" in refused
    form["confirm"] = "DELETE"
    client.post("/console/accounts/p/contacts/dee/delete", data=form)
    state = console.service.request("GET", "/v1/accounts/p/contacts/dee", admin).get_json()
    assert state["state"] == "purged"
    outcomes = [e["outcome"] for e in _events_as(console, admin, "p", "contact.delete")]
    assert outcomes == ["succeeded", "failed"] or outcomes == ["succeeded", "denied"]


def _events_as(console: Console, token: str, account: str, action: str) -> list[dict[str, Any]]:
    found = console.service.request(
        "GET", f"/v1/audit/events?account_id={account}&action={action}", token
    )
    assert found.status_code == 200, found.get_data(as_text=True)
    events: list[dict[str, Any]] = found.get_json()["events"]
    return events


def test_a_bulk_restore_with_its_count_and_the_job_page_per_contact(console: Console) -> None:
    client = console.signed_in(console.admin)
    trash = client.get("/console/accounts/a/trash").get_data(as_text=True)
    assert "Restore all 2 in the trash" in trash
    token = csrf_token(client, "/console/accounts/a/trash")
    stale = client.post(
        "/console/accounts/a/trash/bulk-restore", data={"csrf_token": token, "expected_count": 3}
    )
    assert stale.status_code == 302
    assert "Bulk restore refused" in client.get("/console/accounts/a/trash").get_data(as_text=True)
    started = client.post(
        "/console/accounts/a/trash/bulk-restore", data={"csrf_token": token, "expected_count": 2}
    )
    assert started.status_code == 302
    job_url = started.headers["Location"]
    assert "/console/accounts/a/jobs/" in job_url
    for _ in range(50):
        page = client.get(job_url).get_data(as_text=True)
        if "succeeded" in page:
            break
        assert 'hx-trigger="every 1s"' in page  # polls itself while it runs
        time.sleep(0.1)
    assert 'id="item-ada"' in page
    assert 'id="item-bob"' in page
    assert 'value="2"' in page
    assert "every 1s" not in page
    assert _events(console, "job.started") or _events(console, "contact.restore")


def test_the_full_dsr_from_intake_to_certificate(console: Console) -> None:
    _contact(console, "eve", "Eve Example", email="eve@example.com")
    client = console.signed_in(console.officer)
    token = csrf_token(client, "/console/accounts/a/requests")
    intake = {
        "csrf_token": token, "type": "erasure", "jurisdiction": "gdpr",
        "email": "eve@example.com", "received_at": "2026-11-20", "channel": "email",
    }  # fmt: skip
    assert client.post("/console/accounts/a/requests", data=intake).status_code == 302
    queue = client.get("/console/accounts/a/requests").get_data(as_text=True)
    assert "Recorded request dsr_" in queue
    dsr_id = queue.split("Recorded request ")[1].split(",")[0]
    base = f"/console/accounts/a/requests/{dsr_id}"
    client.post(f"{base}/verify-identity", data={"csrf_token": token, "method": "email_link"})
    # A denial needs an exemption code and a text: without them, refused (the API's 422).
    client.post(f"{base}/deny", data={"csrf_token": token})
    assert "deny of " + dsr_id + " refused" in client.get("/console/accounts/a/requests").get_data(
        as_text=True
    )
    client.post(f"{base}/approve", data={"csrf_token": token})
    preview = client.get(f"{base}/execute").get_data(as_text=True)
    assert 'id="found-eve"' in preview
    assert "erased" in preview
    assert "eve@example.com" not in preview  # ids and counts only
    client.post(f"{base}/execute", data={"csrf_token": token})
    queue = client.get("/console/accounts/a/requests").get_data(as_text=True)
    assert "execute: completed, 1 erased" in queue
    for step in ("received → identity_verified", "identity_verified → approved", "→ completed"):
        assert step in queue
    certificate = client.get(f"{base}/certificate.json")
    assert certificate.status_code == 200
    assert "attachment" in certificate.headers["Content-Disposition"]
    body = json.loads(certificate.get_data(as_text=True))
    assert body["algorithm"] == "Ed25519"
    assert dsr_id in json.dumps(body["certificate"])
    recorded = console.service.request(
        "GET", f"/v1/audit/events?account_id=a&dsr_id={dsr_id}", console.officer
    ).get_json()["events"]
    actors = {(e["action"], e["actor_id"]) for e in recorded}
    for action in ("dsr.create", "dsr.verify_identity", "dsr.approve", "dsr.execute"):
        assert (action, "olga") in actors, actors
    assert ("contact.erased", "olga") in actors
    assert client.get(f"{base}/package.json").status_code == 409  # not an access request


def test_the_policy_page_and_an_explanation(console: Console) -> None:
    client = console.signed_in(console.officer)
    page = client.get("/console/accounts/a/policy").get_data(as_text=True)
    assert "contact.purge" in page
    assert "trash-retains-all" in page
    assert "policy tests pass" in page
    explained = client.get(
        "/console/accounts/a/policy?subject=ulf&action=contact.delete&contact_id=ada"
    ).get_data(as_text=True)
    assert "may not" in explained
    assert "not_permitted" in explained or "no_matching_rule" in explained
    explained = client.get(
        "/console/accounts/a/policy?subject=ann&action=contact.restore&contact_id=ada"
    ).get_data(as_text=True)
    assert "allowed" in explained
    assert "within_retention" in explained
    # A plain user reads no policy: the page is refused (403), as the API refuses it.
    refused = console.signed_in(console.user).get("/console/accounts/a/policy")
    assert refused.status_code == 403
    assert "may not policy.read" in refused.get_data(as_text=True)


def test_holds_are_listed_account_wide_active_and_trashed(console: Console) -> None:
    _contact(console, "cy", "Cy Twombly")
    officer = console.signed_in(console.officer)
    token = csrf_token(officer, "/console/accounts/a/holds")
    for cid in ("cy", "bob"):
        placed = officer.post(
            "/console/accounts/a/holds",
            data={"csrf_token": token, "contact_id": cid, "reason": "litigation"},
        )
        assert placed.status_code == 302
    page = officer.get("/console/accounts/a/holds").get_data(as_text=True)
    assert "Cy Twombly" in page
    assert "Bob Byte" in page
    assert "Ada Lovelace" not in page


def test_a_guarded_delete_shows_no_button_and_the_preview_says_why(console: Console) -> None:
    console.service.account("g", name="Guarded", cascade_profile="cascade-on-delete-guarded")
    admin = console.service.caller("pia", roles={"g": ["admin", "compliance_officer"]})
    _contact(console, "fay", "Fay Flow", account="g")
    enrolled = console.service.request(
        "POST", "/v1/accounts/g/contacts/fay/records", admin,
        {"kind": "workflow_enrollments", "data": {"name": "nurture"}},
    )  # fmt: skip
    assert enrolled.status_code == 201
    client = console.signed_in(admin)
    page = client.get("/console/accounts/g/contacts/fay").get_data(as_text=True)
    assert "Delete…" not in page  # the policy's guard refuses it now
    assert "Never held." in page  # an officer sees the contact's holds, and may place one
    assert "Place hold" in page
    preview = client.get("/console/accounts/g/contacts/fay/delete").get_data(as_text=True)
    assert "The policy refuses this delete now" in preview
    assert "active_workflow_enrollment" in preview
    assert '<form class="card confirm"' not in preview  # no form to submit


def test_the_explain_form_refuses_what_the_api_refuses_with_a_400(console: Console) -> None:
    client = console.signed_in(console.admin)
    for query in (
        f"subject={'x' * 20_000}&action=contact.delete&contact_id=ada",
        f"subject=ann&action=contact.delete&contact_id={'c' * 200}",
        "subject=a%20b&action=contact.delete&contact_id=ada",
        "subject=ann&action=contact.explode&contact_id=ada",
    ):
        response = client.get(f"/console/accounts/a/policy?{query}")
        assert response.status_code == 400, query[:80]
    assert (
        client.get(
            "/console/accounts/a/policy?subject=ann&action=contact.delete&contact_id=ada"
        ).status_code
        == 200
    )
