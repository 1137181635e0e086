"""The console through Flask's test client: sign-in, session, CSRF, CSP, isolation, buttons."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from policy_service.console import session as console_session
from tests.console.conftest import Console, csrf_token, sign_in


def test_sign_in_gives_an_http_only_strict_cookie_that_is_not_the_token(console: Console) -> None:
    client = console.client()
    assert client.get("/console/").headers["Location"].endswith("/console/sign-in")
    response = sign_in(client, console.admin)
    assert response.status_code == 302
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert "Path=/console" in cookie
    assert "Secure" not in cookie  # only in production
    assert console.admin not in cookie
    page = client.get("/console/").get_data(as_text=True)
    assert "Alpha" in page
    assert "Bravo" not in page  # no role there


def test_a_bad_or_service_token_does_not_sign_in(console: Console) -> None:
    client = console.client()
    assert sign_in(client, "pst_not-a-token").status_code == 401
    service = console.service.caller("crm", roles={"a": ["service"]}, kind="service")
    refused = sign_in(client, service)
    assert refused.status_code == 401
    assert "for people" in refused.get_data(as_text=True)
    assert client.get("/console/").status_code == 302


def test_sign_out_ends_the_session(console: Console) -> None:
    client = console.signed_in(console.admin)
    token = csrf_token(client, "/console/")
    assert client.post("/console/sign-out", data={"csrf_token": token}).status_code == 302
    assert client.get("/console/accounts/a").status_code == 302


def test_the_session_expires(console: Console, monkeypatch: pytest.MonkeyPatch) -> None:
    client = console.signed_in(console.admin)
    assert client.get("/console/accounts/a").status_code == 200
    later = datetime.now(UTC) + timedelta(minutes=60, seconds=1)  # the default: 60 minutes
    monkeypatch.setattr(console_session, "utcnow", lambda: later)
    response = client.get("/console/accounts/a")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/console/sign-in")


def test_a_post_without_its_csrf_token_is_refused_and_changes_nothing(console: Console) -> None:
    client = console.signed_in(console.admin)
    refused = client.post("/console/accounts/a/contacts/ada/restore", data={})
    assert refused.status_code == 400
    assert "CSRF" in refused.get_data(as_text=True)
    forged = client.post("/console/accounts/a/contacts/ada/restore", data={"csrf_token": "x.y.z"})
    assert forged.status_code == 400
    trash = console.service.request("GET", "/v1/accounts/a/trash", console.admin).get_json()
    assert "ada" in {c["id"] for c in trash["contacts"]}


def test_the_json_api_needs_no_csrf_token(console: Console) -> None:
    restored = console.service.request("POST", "/v1/accounts/a/contacts/ada/restore", console.admin)
    assert restored.status_code == 200
    assert "Set-Cookie" not in restored.headers  # the API starts no console session


def test_console_pages_carry_a_strict_csp_and_no_inline_script(console: Console) -> None:
    signed_in = console.signed_in(console.officer)
    for path in ("/console/sign-in", "/console/", "/console/accounts/a",
                 "/console/accounts/a/trash", "/console/accounts/a/jobs",
                 "/console/accounts/a/audit", "/console/accounts/a/requests"):  # fmt: skip
        client = console.client() if path.endswith("sign-in") else signed_in
        response = client.get(path)
        assert response.status_code == 200, path
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert "unsafe-eval" not in csp
        assert "frame-ancestors 'none'" in csp
        scripts = re.findall(r"<script\b[^>]*>", response.get_data(as_text=True))
        assert scripts, path
        assert all("src=" in tag for tag in scripts), path
        assert "on" + "click=" not in response.get_data(as_text=True)


def test_an_admin_of_another_account_sees_nothing_of_it(console: Console) -> None:
    client = console.signed_in(console.outsider)
    assert "Alpha" not in client.get("/console/").get_data(as_text=True)
    for path in ("/console/accounts/a", "/console/accounts/a/trash", "/console/accounts/a/audit",
                 "/console/accounts/a/jobs", "/console/accounts/a/requests"):  # fmt: skip
        response = client.get(path)
        assert response.status_code == 403, path
        body = response.get_data(as_text=True)
        assert "Ada" not in body
        assert "Lovelace" not in body
    token = csrf_token(client, "/console/")
    refused = client.post("/console/accounts/a/contacts/ada/restore", data={"csrf_token": token})
    assert refused.status_code == 403
    trash = console.service.request("GET", "/v1/accounts/a/trash", console.admin).get_json()
    assert "ada" in {c["id"] for c in trash["contacts"]}
    # The refusal is recorded as the API's account gate records it.
    events = console.service.request(
        "GET", "/v1/audit/events?account_id=a&action=account.access", console.officer
    ).get_json()["events"]
    assert any(e["actor_id"] == "bea" and e["outcome"] == "denied" for e in events)


def test_a_plain_user_sees_the_trash_without_buttons_the_policy_refuses(console: Console) -> None:
    page = console.signed_in(console.user).get("/console/accounts/a/trash")
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Ada Lovelace" in body
    assert ">Restore<" not in body
    assert ">Purge<" not in body
    admin_page = console.signed_in(console.admin).get("/console/accounts/a/trash")
    admin_body = admin_page.get_data(as_text=True)
    assert ">Restore<" in admin_body
    assert ">Purge<" in admin_body


def test_restore_from_the_console_is_the_api_restore_and_is_audited(console: Console) -> None:
    client = console.signed_in(console.admin)
    token = csrf_token(client, "/console/accounts/a/trash")
    done = client.post(
        "/console/accounts/a/contacts/ada/restore", data={"csrf_token": token, "back": "trash"}
    )
    assert done.status_code == 302
    assert "Restored ada" in client.get("/console/accounts/a/trash").get_data(as_text=True)
    contact = console.service.request("GET", "/v1/accounts/a/contacts/ada", console.admin)
    assert contact.get_json()["state"] == "active"
    events = console.service.request(
        "GET", "/v1/audit/events?account_id=a&action=contact.restore", console.officer
    ).get_json()["events"]
    assert [(e["actor_id"], e["outcome"], e["target_id"]) for e in events] == [
        ("ann", "succeeded", "ada")
    ]


def test_purge_needs_the_word_typed(console: Console) -> None:
    client = console.signed_in(console.admin)
    token = csrf_token(client, "/console/accounts/a/trash")
    client.post(
        "/console/accounts/a/contacts/bob/purge", data={"csrf_token": token, "confirm": "x"}
    )
    page = client.get("/console/accounts/a/trash").get_data(as_text=True)
    assert "Purge of bob refused" in page
    client.post(
        "/console/accounts/a/contacts/bob/purge", data={"csrf_token": token, "confirm": "PURGE"}
    )
    contact = console.service.request("GET", "/v1/accounts/a/contacts/bob", console.admin)
    assert contact.get_json()["state"] == "purged"


def test_overview_and_audit_explorer_with_verify(console: Console) -> None:
    client = console.signed_in(console.officer)
    overview = client.get("/console/accounts/a").get_data(as_text=True)
    assert "<svg" in overview
    assert "Audit events per day" in overview
    audit = client.get("/console/accounts/a/audit?action=contact.delete").get_data(as_text=True)
    assert "contact.delete" in audit
    assert "contact.create" not in audit
    token = csrf_token(client, "/console/accounts/a/audit")
    verified = client.post(
        "/console/accounts/a/audit/verify",
        data={"csrf_token": token},
        headers={"HX-Request": "true"},
    )
    assert verified.status_code == 200
    assert "The chain verifies." in verified.get_data(as_text=True)
    overview = client.get("/console/accounts/a").get_data(as_text=True)
    assert "intact" in overview


def test_the_request_queue_takes_steps_through_the_dsr_service(console: Console) -> None:
    created = console.service.request(
        "POST", "/v1/dsr", console.officer,
        {"type": "erasure", "identity": {"email": "ada@example.com"}, "jurisdiction": "gdpr",
         "accounts": ["a"], "received_at": "2026-11-01T00:00:00Z"},
    )  # fmt: skip
    assert created.status_code == 201, created.get_data(as_text=True)
    dsr_id = created.get_json()["id"]
    client = console.signed_in(console.officer)
    overview = client.get("/console/accounts/a").get_data(as_text=True)
    assert dsr_id in overview
    assert "d</span>" in overview  # a days-left badge
    queue = client.get("/console/accounts/a/requests").get_data(as_text=True)
    assert "Verify identity" in queue
    assert "Approve" not in queue  # not before the identity is verified
    token = csrf_token(client, "/console/accounts/a/requests")
    done = client.post(
        f"/console/accounts/a/requests/{dsr_id}/verify-identity",
        data={"csrf_token": token, "method": "passport"},
    )
    assert done.status_code == 302
    queue = client.get("/console/accounts/a/requests").get_data(as_text=True)
    assert "verify-identity: done" in queue
    assert "received → identity_verified by olga" in queue
    request = console.service.request("GET", f"/v1/dsr/{dsr_id}", console.officer).get_json()
    assert request["status"] == "identity_verified"
    # A plain user of the account does not handle requests: no queue, no buttons.
    user_queue = console.signed_in(console.user).get("/console/accounts/a/requests")
    assert "Verify identity" not in user_queue.get_data(as_text=True)


def test_a_hold_placed_in_the_console_hides_the_purge_button(console: Console) -> None:
    officer = console.signed_in(console.officer)
    token = csrf_token(officer, "/console/accounts/a/holds")
    placed = officer.post(
        "/console/accounts/a/holds",
        data={"csrf_token": token, "contact_id": "bob", "reason": "litigation", "matter": "m-7"},
    )
    assert placed.status_code == 302
    holds = officer.get("/console/accounts/a/holds").get_data(as_text=True)
    assert "Placed a legal hold on bob" in holds
    assert "litigation" in holds
    admin_trash = console.signed_in(console.admin).get("/console/accounts/a/trash")
    row = admin_trash.get_data(as_text=True).split('id="contact-bob"')[1].split("</tr>")[0]
    assert "legal hold" in row
    assert ">Restore<" in row  # a hold never blocks restore
    assert ">Purge<" not in row  # the policy refuses purge under a hold
    hold_id = console.service.request(
        "GET", "/v1/accounts/a/contacts/bob/legal-holds", console.officer
    ).get_json()["holds"][0]["id"]
    lifted = officer.post(
        f"/console/accounts/a/holds/bob/{hold_id}/lift", data={"csrf_token": token}
    )
    assert lifted.status_code == 302
    assert "No contact is on legal hold" in officer.get("/console/accounts/a/holds").get_data(
        as_text=True
    )


def test_the_audit_export_is_the_api_export_and_is_recorded(console: Console) -> None:
    client = console.signed_in(console.officer)
    assert "NDJSON (verifiable)" in client.get("/console/accounts/a/audit").get_data(as_text=True)
    exported = client.get("/console/accounts/a/audit/export/csv?action=contact.delete")
    assert exported.status_code == 200
    assert exported.mimetype == "text/csv"
    lines = exported.get_data(as_text=True).strip().splitlines()
    assert len(lines) == 3  # the header and the two deletes
    events = console.service.request(
        "GET", "/v1/audit/events?account_id=a&action=audit.export", console.officer
    ).get_json()["events"]
    assert [(e["actor_id"], e["details"]["format"]) for e in events] == [("olga", "csv")]
    assert client.get("/console/accounts/a/audit/export/xml").status_code == 404


def test_the_verify_button_shows_where_a_tampered_chain_breaks(console: Console) -> None:
    engine = console.service.state.engine
    with engine.begin() as connection:  # SQLite: the audit table's guards are triggers
        triggers = "SELECT name FROM sqlite_master WHERE type='trigger' AND tbl_name=:t"
        for (name,) in connection.execute(text(triggers), {"t": "audit_events"}).all():
            connection.execute(text(f'DROP TRIGGER "{name}"'))
        connection.execute(
            text("UPDATE audit_events SET target_id = 'x' WHERE chain = 'a' AND seq = 2")
        )
    client = console.signed_in(console.officer)
    token = csrf_token(client, "/console/accounts/a/audit")
    page = client.post("/console/accounts/a/audit/verify", data={"csrf_token": token})
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "Verification FAILED." in body
    assert "chain <code>a</code>, sequence 2" in body
    assert "FAILED" in client.get("/console/accounts/a").get_data(as_text=True)


def test_in_production_the_cookie_is_secure(
    make_service: Any, sqlite_url: str, tmp_path: Path
) -> None:
    # Production creates no keys: make them as an operator would.
    from audit import load_or_create_signing_key
    from policy_service.audit_trail.keys import load_or_create_kek

    load_or_create_signing_key(tmp_path / "audit_signing_key.pem", create=True)
    load_or_create_kek(tmp_path / "kek.bin", create=True)
    service = make_service(
        sqlite_url, environment="production", secret_key="k" * 32,
        audit_encryption_key=tmp_path / "kek.bin",
    )  # fmt: skip
    service.account("a")
    token = service.caller("ann", roles={"a": ["admin"]})
    response = sign_in(service.app.test_client(), token)
    assert response.status_code == 302
    assert "Secure" in response.headers["Set-Cookie"]


def test_the_jobs_page_lists_a_bulk_job_with_its_progress(console: Console) -> None:
    started = console.service.request(
        "POST", "/v1/accounts/a/contacts/bulk-restore", console.admin,
        {"ids": ["ada", "bob"], "expected_count": 2},
    )  # fmt: skip
    assert started.status_code == 202, started.get_data(as_text=True)
    page = console.signed_in(console.officer).get("/console/accounts/a/jobs")
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "bulk_restore" in body
    assert 'value="2"' in body  # the progress bar: 2 of 2
    assert "every 2s" not in body  # finished: no polling
