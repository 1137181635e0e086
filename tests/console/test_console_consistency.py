"""What a console page shows agrees with the database and with what the policy lets the
caller open: changes made through the API on another worker show at once, buttons are decided
on the facts the page just read, and a page the policy refuses is a 403 without a menu link."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from tests.conftest import Service
from tests.console.conftest import Console, sign_in
from tests.integration.conftest import two_workers

ACTIONS = ("Delete…", "Restore…", "Purge…")


def _signed_in(service: Service, token: str) -> FlaskClient:
    client = service.app.test_client()
    assert sign_in(client, token).status_code == 302
    return client


def _buttons(client: FlaskClient, path: str) -> set[str]:
    page = client.get(path)
    assert page.status_code == 200, page.get_data(as_text=True)[:300]
    text = page.get_data(as_text=True)
    return {label for label in ACTIONS if label in text}


def _trash_buttons(client: FlaskClient) -> set[str]:
    text = client.get("/console/accounts/acme/trash").get_data(as_text=True)
    return {a for a in ("Restore", "Purge") if f'aria-label="{a} Cleo"' in text}


def _workers(
    make_service: Any, sqlite_url: str, console_interval: float
) -> tuple[Service, Service]:
    """The API worker (syncing at once) and the console's worker, on one database, with
    acme purging and an admin (ann) whose token both accept."""
    api, other = two_workers(make_service, sqlite_url, 0.0)
    api.caller("ann", roles={"acme": ["admin"]})
    console = make_service(sqlite_url, sync_interval=console_interval)
    console.tokens = api.tokens
    for path, body in (
        ("/v1/accounts/acme/contacts", {"id": "c-1", "name": "Cleo"}),
        ("/v1/accounts/acme/contacts/c-1/delete", {"reason_code": "duplicate"}),
    ):
        done = api.request("POST", path, api.tokens["ann"], body)
        assert done.status_code in (200, 201), done.get_data(as_text=True)
    del other
    return api, console


def test_buttons_follow_a_restore_and_delete_made_through_the_api_on_another_worker(
    make_service: Any, sqlite_url: str
) -> None:
    # The console's worker would not sync for an hour: the buttons must still be decided on
    # what the page read from the database, never on its cached facts.
    api, console = _workers(make_service, sqlite_url, console_interval=3600)
    client = _signed_in(console, api.tokens["ann"])
    contact, trash = "/console/accounts/acme/contacts/c-1", "/console/accounts/acme/trash"
    assert _buttons(client, contact) == {"Restore…"}
    assert _trash_buttons(client) == {"Restore"}

    restored = api.request("POST", "/v1/accounts/acme/contacts/c-1/restore", api.tokens["ann"])
    assert restored.status_code == 200, restored.get_data(as_text=True)
    page = client.get(contact).get_data(as_text=True)
    assert "<small><code>c-1</code> · active</small>" in page
    assert _buttons(client, contact) == {"Delete…"}
    assert "c-1" not in client.get(trash).get_data(as_text=True)

    deleted = api.request(
        "POST", "/v1/accounts/acme/contacts/c-1/delete", api.tokens["ann"],
        {"reason_code": "duplicate"},
    )  # fmt: skip
    assert deleted.status_code == 200
    assert "· trashed</small>" in client.get(contact).get_data(as_text=True)
    assert _buttons(client, contact) == {"Restore…"}
    assert _trash_buttons(client) == {"Restore"}


def test_every_console_request_syncs_the_worker_like_an_api_request(
    make_service: Any, sqlite_url: str
) -> None:
    """A role granted through the API on another worker opens the page on the next console
    request (interval 0), with no API request to this worker in between."""
    api, console = _workers(make_service, sqlite_url, console_interval=0.0)
    client = _signed_in(console, api.tokens["uma"])  # a plain user of acme
    assert client.get("/console/accounts/acme/audit").status_code == 403
    granted = api.request(
        "PUT", "/v1/accounts/acme/members/uma", api.tokens["ann"],
        {"roles": ["compliance_officer"]},
    )  # fmt: skip
    assert granted.status_code == 200, granted.get_data(as_text=True)
    assert client.get("/console/accounts/acme/audit").status_code == 200
    assert 'href="/console/accounts/acme/audit"' in client.get("/console/accounts/acme").get_data(
        as_text=True
    )


def test_the_console_respects_the_sync_interval(
    make_service: Any, sqlite_url: str, monkeypatch: Any
) -> None:
    api, console = _workers(make_service, sqlite_url, console_interval=3600)
    client = _signed_in(console, api.tokens["ann"])
    client.get("/console/accounts/acme")  # loaded and synced once
    reads: list[int] = []
    source = console.state.source
    original = source.current_version

    def counted() -> int:
        reads.append(1)
        return original()

    monkeypatch.setattr(source, "current_version", counted)
    for _ in range(3):
        assert client.get("/console/accounts/acme").status_code == 200
    assert reads == []  # within the interval: no change-log read per page


PAGES = ("contacts", "trash", "holds", "jobs", "audit", "requests", "policy")


def test_a_page_the_policy_refuses_is_a_403_and_is_not_in_the_menu(console: Console) -> None:
    client = console.signed_in(console.user)  # a plain user of account a
    overview = client.get("/console/accounts/a").get_data(as_text=True)
    opened: dict[str, int] = {}
    for name in PAGES:
        answer = client.get(f"/console/accounts/a/{name}")
        opened[name] = answer.status_code
        linked = f'href="/console/accounts/a/{name}"' in overview
        assert linked == (answer.status_code == 200), (name, answer.status_code, linked)
        if answer.status_code == 403:
            assert "may not" in answer.get_data(as_text=True)
    assert opened["audit"] == 403
    assert opened["policy"] == 403
    assert opened["requests"] == 403
    assert opened["contacts"] == 200
    # The refusal is recorded as the API's would be.
    refusals = console.service.request(
        "GET", "/v1/audit/events?account_id=a&action=audit.read&outcome=denied", console.officer
    ).get_json()["events"]
    assert any(e["actor_id"] == "ulf" for e in refusals), refusals
    # An officer opens them and sees them all in the menu.
    officer = console.signed_in(console.officer)
    menu = officer.get("/console/accounts/a").get_data(as_text=True)
    for name in ("audit", "requests", "policy"):
        assert officer.get(f"/console/accounts/a/{name}").status_code == 200
        assert f'href="/console/accounts/a/{name}"' in menu
