"""Every console form is held to the API's input limits: a value the API refuses with a 400
re-renders the page with a 400 and the field's message, and changes nothing."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from tests.console.conftest import Console, csrf_token

LONG = "x" * 20_000


def _refused(answer: Any, field: str) -> str:
    page: str = answer.get_data(as_text=True)
    assert answer.status_code == 400, (answer.status_code, page[:400])
    assert f'data-field="{field}"' in page, page[:2000]
    assert "Nothing was changed" in page
    return page


def _api(console: Console, method: str, path: str, body: Any = None) -> Any:
    return console.service.request(method, path, console.admin, body)


def _state(console: Console, cid: str) -> str:
    found = _api(console, "GET", f"/v1/accounts/a/contacts/{cid}")
    assert found.status_code == 200
    state: str = found.get_json()["state"]
    return state


def _signed(console: Console, token: str, path: str) -> tuple[FlaskClient, str]:
    client = console.signed_in(token)
    return client, csrf_token(client, path)


def test_the_api_itself_refuses_what_the_console_now_refuses(console: Console) -> None:
    created = _api(console, "POST", "/v1/accounts/a/contacts", {"id": "cy", "name": "Cy"})
    assert created.status_code == 201
    api = _api(
        console, "POST", "/v1/accounts/a/contacts/cy/delete",
        {"reason_code": "duplicate", "reason_text": LONG},
    )  # fmt: skip
    assert api.status_code == 400


def test_delete_and_purge_forms(console: Console) -> None:
    assert _api(console, "POST", "/v1/accounts/a/contacts", {"id": "cy"}).status_code == 201
    client, token = _signed(console, console.admin, "/console/accounts/a/contacts/cy/delete")
    for form, field in (
        ({"reason_code": "duplicate", "reason_text": LONG}, "reason_text"),
        ({"reason_code": "duplicate", "reason_text": "y" * 501}, "reason_text"),
        ({"reason_code": "no-such-reason"}, "reason_code"),
        ({}, "reason_code"),
        ({"reason_code": "duplicate", "confirm": "z" * 21}, "confirm"),
    ):
        answer = client.post(
            "/console/accounts/a/contacts/cy/delete", data={"csrf_token": token, **form}
        )
        page = _refused(answer, field)
        assert "What this delete would do" in page  # the preview and its form again
        assert _state(console, "cy") == "active"
    # Within the limits, the same form deletes.
    done = client.post(
        "/console/accounts/a/contacts/cy/delete",
        data={"csrf_token": token, "reason_code": "duplicate", "reason_text": "y" * 500},
    )
    assert done.status_code == 302
    assert _state(console, "cy") == "trashed"
    purge = client.post(
        "/console/accounts/a/contacts/ada/purge", data={"csrf_token": token, "confirm": LONG}
    )
    _refused(purge, "confirm")
    assert _state(console, "ada") == "trashed"


def _jobs(console: Console) -> list[Any]:
    found = _api(console, "GET", "/v1/accounts/a/jobs")
    assert found.status_code == 200, found.get_data(as_text=True)
    jobs: list[Any] = found.get_json()["jobs"]
    return jobs


def test_bulk_restore_count_and_the_trash_search(console: Console) -> None:
    client, token = _signed(console, console.admin, "/console/accounts/a/trash")
    for count in ("0", "99999999999999999999999", "-1", "two", ""):
        answer = client.post(
            "/console/accounts/a/trash/bulk-restore",
            data={"csrf_token": token, "expected_count": count},
        )
        _refused(answer, "expected_count")
    long_query = client.post(
        "/console/accounts/a/trash/bulk-restore",
        data={"csrf_token": token, "expected_count": "2", "q": "q" * 201},
    )
    _refused(long_query, "filter.query")
    assert _jobs(console) == []
    assert _state(console, "ada") == "trashed"
    _refused(client.get("/console/accounts/a/trash?q=" + "q" * 201), "query")
    _refused(client.get("/console/accounts/a/contacts?q=" + "q" * 201), "q")


def test_the_legal_hold_form(console: Console) -> None:
    client, token = _signed(console, console.officer, "/console/accounts/a/holds")
    for form, field in (
        ({"contact_id": "ada", "reason": LONG}, "reason"),
        ({"contact_id": "ada", "reason": "r" * 501}, "reason"),
        ({"contact_id": "ada", "reason": "litigation", "matter": "m" * 201}, "matter"),
        ({"contact_id": "ada"}, "reason"),
        ({"contact_id": "not a valid id!" * 10, "reason": "litigation"}, "contact_id"),
        ({"reason": "litigation"}, "contact_id"),
    ):
        _refused(
            client.post("/console/accounts/a/holds", data={"csrf_token": token, **form}), field
        )
    holds = console.service.request(
        "GET", "/v1/accounts/a/contacts/ada/legal-holds", console.officer
    )
    assert holds.status_code == 200, holds.get_data(as_text=True)
    assert holds.get_json()["holds"] == []


def _requests(console: Console) -> list[Any]:
    found = console.service.request("GET", "/v1/dsr", console.officer)
    assert found.status_code == 200, found.get_data(as_text=True)
    requests: list[Any] = found.get_json()["requests"]
    return requests


def test_the_request_forms(console: Console) -> None:
    client, token = _signed(console, console.officer, "/console/accounts/a/requests")
    good = {"type": "erasure", "jurisdiction": "gdpr", "email": "eve@example.com"}
    for form, field in (
        ({**good, "email": "not-an-email"}, "identity.email"),
        ({**good, "email": "e" * 400 + "@example.com"}, "identity.email"),
        ({**good, "phone": "p" * 50}, "identity.phone"),
        ({**good, "type": "teleport"}, "type"),
        ({**good, "jurisdiction": "mars"}, "jurisdiction"),
        ({**good, "channel": "pigeon"}, "channel"),
        ({**good, "received_at": "yesterday"}, "received_at"),
    ):
        answer = client.post("/console/accounts/a/requests", data={"csrf_token": token, **form})
        _refused(answer, field)
    assert _requests(console) == []
    assert (
        client.post("/console/accounts/a/requests", data={"csrf_token": token, **good}).status_code
        == 302
    )
    (created,) = _requests(console)
    base = f"/console/accounts/a/requests/{created['id']}"
    for step, form, field in (
        ("verify-identity", {"method": "m" * 201}, "method"),
        ("deny", {"exemption_code": "c" * 41, "text": "why"}, "exemption_code"),
        ("deny", {"exemption_code": "legal_claims", "text": LONG}, "text"),
        ("extend", {"reason": "r" * 2001}, "reason"),
        ("extend", {}, "reason"),
    ):
        _refused(client.post(f"{base}/{step}", data={"csrf_token": token, **form}), field)
    (unchanged,) = _requests(console)
    assert unchanged["status"] == "received"
    assert unchanged["extended"] is False


def test_the_audit_explorer_filters(console: Console) -> None:
    client = console.signed_in(console.officer)
    for query, field in (
        ("actor_id=" + "a" * 129, "actor_id"),
        ("outcome=maybe", "outcome"),
        ("since=last-week", "since"),
        ("cursor=" + "c" * 201, "cursor"),
    ):
        _refused(client.get(f"/console/accounts/a/audit?{query}"), field)
        _refused(client.get(f"/console/accounts/a/audit/export/csv?{query}"), field)
    assert client.get("/console/accounts/a/audit?actor_id=ann&since=2026-01-01").status_code == 200
