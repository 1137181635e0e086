"""The console in a real browser: Debian's Chromium driven by Playwright.

Playwright's own browser download is not reachable here, so the tests launch the system
Chromium (``apt-get install chromium``; ``.ci/run`` installs it). Outside CI they skip when
Chromium or Playwright is missing; with ``CI=true`` they fail instead. The page tour saves a
screenshot of every page at 1280 px (``POLICY_SERVICE_SCREENSHOTS=docs/screenshots`` keeps
them for the README) and checks that none scrolls sideways at 390 px.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from werkzeug.serving import make_server

from policy_service.accounts.tokens import revoke_tokens
from tests.conftest import IN_CI
from tests.console.conftest import Console

CHROMIUM = Path(os.environ.get("POLICY_SERVICE_TEST_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = os.environ.get("POLICY_SERVICE_SCREENSHOTS")  # a directory, to keep them

pytestmark = pytest.mark.browser


def _missing() -> str | None:
    if not CHROMIUM.exists():
        return f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install playwright)"
    return None


@pytest.fixture
def browser_page() -> Iterator[Any]:
    problem = _missing()
    if problem is not None:
        if IN_CI:
            pytest.fail(f"the browser tests must run in CI: {problem}")
        pytest.skip(problem)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.set_default_timeout(10_000)
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        try:
            yield page
        finally:
            browser.close()
        # No CSP violation, no script error, on any page a test visited. (A 401 or 403 page
        # a test asks for is logged as a failed load: not a problem.)
        assert not [p for p in problems if not p.startswith("Failed to load resource")], problems


@pytest.fixture
def live_url(console: Console) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, console.service.app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


def _sign_in(page: Any, live_url: str, token: str) -> None:
    page.goto(f"{live_url}/console/")
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Your accounts").wait_for()


def _contact(console: Console, cid: str, name: str, **extra: Any) -> None:
    created = console.service.request(
        "POST", "/v1/accounts/a/contacts", console.admin, {"id": cid, "name": name, **extra}
    )
    assert created.status_code == 201, created.get_data(as_text=True)


def test_sign_in_shows_only_the_accounts_where_one_holds_a_role(
    console: Console, live_url: str, browser_page: Any
) -> None:
    page = browser_page
    page.goto(f"{live_url}/console/")
    assert page.url.endswith("/console/sign-in")
    page.get_by_label("API token").fill("pst_not-a-token")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text("That token is not valid.").wait_for()
    _sign_in(page, live_url, console.admin)
    assert page.get_by_role("link", name="a", exact=True).is_visible()
    assert page.get_by_text("Bravo Corp").count() == 0
    cookies = {c["name"]: c for c in page.context.cookies()}
    session = cookies["policy_console_sid"]
    assert session["httpOnly"]
    assert session["sameSite"] == "Strict"
    assert session["value"].startswith("cs_")
    assert console.admin not in json.dumps(list(cookies.values()))


def test_delete_to_the_trash_and_restore_then_purge_with_the_word_typed(
    console: Console, live_url: str, browser_page: Any
) -> None:
    page = browser_page
    _contact(console, "cy", "Cy Twombly")
    _sign_in(page, live_url, console.admin)
    page.goto(f"{live_url}/console/accounts/a/contacts")
    page.get_by_label("Search name, email, phone or id").fill("twombly")
    page.get_by_label("Search name, email, phone or id").press("Enter")
    page.get_by_role("link", name="Cy Twombly").click()
    page.get_by_role("link", name="Delete…").click()
    page.get_by_role("heading", name="What this delete would do").wait_for()
    page.get_by_label("Reason").select_option("duplicate")
    page.get_by_role("button", name="Delete Cy Twombly").click()
    page.get_by_text("Deleted cy").wait_for()
    assert page.locator("#contact-cy").count() == 1  # in the trash, with days left
    assert "60d" in page.locator("#contact-cy").inner_text()

    page.get_by_role("link", name="Restore Cy Twombly").click()
    page.get_by_role("heading", name="What this restore would do").wait_for()
    page.get_by_role("button", name="Restore Cy Twombly").click()
    page.get_by_text("Restored cy").wait_for()
    assert page.locator("#contact-cy").count() == 0

    page.get_by_role("link", name="Purge Bob Byte").click()
    confirm = page.get_by_label("Type PURGE to confirm")
    confirm.fill("purge")
    page.get_by_role("button", name="Purge Bob Byte").click()  # the browser refuses the word
    assert page.url.endswith("/contacts/bob/purge?back=trash")
    confirm.fill("PURGE")
    page.get_by_role("button", name="Purge Bob Byte").click()
    page.get_by_text("Purged bob").wait_for()
    contact = console.service.request("GET", "/v1/accounts/a/contacts/bob", console.admin)
    assert contact.get_json()["state"] == "purged"
    events = console.service.request(
        "GET", "/v1/audit/events?account_id=a&target_id=cy", console.officer
    ).get_json()["events"]
    assert [(e["action"], e["actor_id"]) for e in events][:2] == [
        ("contact.restore", "ann"),
        ("contact.delete", "ann"),
    ]


def test_one_data_subject_request_from_intake_to_certificate(
    console: Console, live_url: str, browser_page: Any
) -> None:
    page = browser_page
    _contact(console, "eve", "Eve Example", email="eve@example.com")
    _sign_in(page, live_url, console.officer)
    page.goto(f"{live_url}/console/accounts/a/requests")
    page.get_by_text("Record a new request").click()
    page.get_by_label("Type", exact=True).select_option("erasure")
    page.get_by_label("Email", exact=True).fill("eve@example.com")
    page.get_by_role("button", name="Record request").click()
    page.get_by_text("Recorded request").wait_for()
    page.get_by_label("Verified by").fill("email_link")
    page.get_by_role("button", name="Verify identity").click()
    page.get_by_role("button", name="Approve").click()
    page.get_by_role("link", name="Execute…").click()
    page.locator("#found-eve").wait_for()
    assert "erased" in page.locator("#found-eve").inner_text()
    page.get_by_role("button", name="Execute erasure").click()
    page.get_by_text("execute: completed, 1 erased").wait_for()
    timeline = page.locator("ol.timeline").first.inner_text()
    for step in ("received → identity_verified", "approved → in_progress", "→ completed"):
        assert step in timeline, timeline
    with page.expect_download() as download:
        page.get_by_role("link", name="Download certificate").click()
    certificate = json.loads(Path(download.value.path()).read_text())
    assert certificate["algorithm"] == "Ed25519"
    contact = console.service.request("GET", "/v1/accounts/a/contacts/eve", console.admin)
    assert contact.get_json()["state"] == "purged"


def test_the_verify_button_finds_a_tampered_event(
    console: Console, live_url: str, browser_page: Any
) -> None:
    page = browser_page
    _sign_in(page, live_url, console.officer)
    page.goto(f"{live_url}/console/accounts/a/audit?action=contact.delete")
    page.get_by_role("button", name="Verify the chain").click()  # htmx swaps the result in
    page.get_by_text("The chain verifies.").wait_for()
    assert page.url.endswith("action=contact.delete")  # no page load: htmx did it
    with console.service.state.engine.begin() as connection:  # SQLite: guards are triggers
        triggers = "SELECT name FROM sqlite_master WHERE type='trigger' AND tbl_name=:t"
        for (name,) in connection.execute(text(triggers), {"t": "audit_events"}).all():
            connection.execute(text(f'DROP TRIGGER "{name}"'))
        connection.execute(
            text("UPDATE audit_events SET target_id = 'x' WHERE chain = 'a' AND seq = 2")
        )
    page.get_by_role("button", name="Verify the chain").click()
    page.get_by_text("Verification FAILED.").wait_for()
    assert "chain a, sequence 2" in page.locator("#verification").inner_text()


def test_an_officer_does_not_see_another_account(
    console: Console, live_url: str, browser_page: Any
) -> None:
    page = browser_page
    _sign_in(page, live_url, console.officer)
    assert page.get_by_text("Alpha").is_visible()
    assert page.get_by_text("Bravo Corp").count() == 0
    for path in ("", "/contacts/b-1", "/audit", "/holds"):
        response = page.goto(f"{live_url}/console/accounts/b{path}")
        assert response is not None
        assert response.status == 403, path
        assert "Bea Secret" not in page.content()
        assert "Bravo" not in page.content()


def test_a_post_without_its_csrf_token_is_refused(
    console: Console, live_url: str, browser_page: Any
) -> None:
    page = browser_page
    _sign_in(page, live_url, console.admin)
    # The browser's own cookies, but no CSRF token: what a forged form would send.
    refused = page.context.request.post(
        f"{live_url}/console/accounts/a/contacts/ada/restore", form={"back": "trash"}
    )
    assert refused.status == 400
    assert "CSRF" in refused.text()
    trash = console.service.request("GET", "/v1/accounts/a/trash", console.admin).get_json()
    assert "ada" in {c["id"] for c in trash["contacts"]}


def test_sign_out_and_revoking_the_token_end_the_session(
    console: Console, live_url: str, browser_page: Any
) -> None:
    page = browser_page
    _sign_in(page, live_url, console.officer)
    page.get_by_role("button", name="Sign out").click()
    page.get_by_text("Signed out.").wait_for()
    page.goto(f"{live_url}/console/accounts/a")
    assert page.url.endswith("/console/sign-in")
    _sign_in(page, live_url, console.officer)
    page.goto(f"{live_url}/console/accounts/a/audit")
    assert page.url.endswith("/console/accounts/a/audit")
    revoke_tokens(console.service.state, principal_id="olga")
    page.reload()
    assert page.url.endswith("/console/sign-in")


def _tour_data(console: Console) -> dict[str, str]:
    """A contact with records, a held contact, requests, a finished job: every page has
    something to show. Returns ids the tour's paths need."""
    service, admin, officer = console.service, console.admin, console.officer
    _contact(console, "cy", "Cy Twombly", email="cy@example.com", tags=["vip"])
    for kind, data in (
        ("notes", {"text": "met at the fair"}),
        ("tasks", {"title": "call back"}),
        ("workflow_enrollments", {"name": "nurture"}),
    ):
        added = service.request(
            "POST", "/v1/accounts/a/contacts/cy/records", admin, {"kind": kind, "data": data}
        )
        assert added.status_code == 201, added.get_data(as_text=True)
    for cid in ("dot", "eli"):
        _contact(console, cid, cid.capitalize())
        service.request(
            "POST", f"/v1/accounts/a/contacts/{cid}/delete", admin, {"reason_code": "inactive"}
        )
    job = service.request(
        "POST", "/v1/accounts/a/contacts/bulk-restore", admin,
        {"ids": ["dot", "eli"], "expected_count": 2},
    ).get_json()  # fmt: skip
    service.request(
        "POST", "/v1/accounts/a/contacts/bob/legal-holds", officer,
        {"reason": "litigation", "matter": "m-7"},
    )  # fmt: skip
    ids = []
    for email in ("cy@example.com", "zed@example.com"):
        created = service.request(
            "POST", "/v1/dsr", officer,
            {"type": "erasure", "identity": {"email": email}, "jurisdiction": "gdpr",
             "accounts": ["a"], "received_at": "2026-11-01T00:00:00Z", "channel": "email"},
        ).get_json()  # fmt: skip
        ids.append(created["id"])
    service.request("POST", f"/v1/dsr/{ids[0]}/verify-identity", officer, {"method": "email_link"})
    service.request("POST", f"/v1/dsr/{ids[0]}/approve", officer)
    events = service.request("GET", "/v1/audit/events?account_id=a&limit=1", officer)
    return {"job": job["id"], "dsr": ids[0], "event": events.get_json()["events"][0]["event_id"]}


WIDEST = """[...document.querySelectorAll('main *')]
  .filter(e => e.getBoundingClientRect().right > 391)
  .slice(-3)
  .map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))"""


def test_every_page_at_1280_and_390_pixels(
    console: Console, live_url: str, browser_page: Any, tmp_path: Path
) -> None:
    page = browser_page
    ids = _tour_data(console)
    both = console.service.caller("max", roles={"a": ["admin", "compliance_officer"]})
    directory = Path(SCREENSHOTS) if SCREENSHOTS else tmp_path
    directory.mkdir(parents=True, exist_ok=True)
    base = f"{live_url}/console/accounts/a"
    pages = {
        "accounts": f"{live_url}/console/",
        "overview": base,
        "contacts": f"{base}/contacts",
        "contact": f"{base}/contacts/cy",
        "impact": f"{base}/contacts/cy/delete",
        "trash": f"{base}/trash",
        "holds": f"{base}/holds",
        "jobs": f"{base}/jobs",
        "job": f"{base}/jobs/{ids['job']}",
        "audit": f"{base}/audit",
        "event": f"{base}/audit/events/{ids['event']}",
        "requests": f"{base}/requests",
        "execute": f"{base}/requests/{ids['dsr']}/execute",
        "policy": f"{base}/policy?subject=ulf&action=contact.delete&contact_id=cy",
    }
    page.goto(f"{live_url}/console/sign-in")
    page.screenshot(path=str(directory / "console-sign-in.png"), full_page=True)
    _sign_in(page, live_url, both)
    for name, url in pages.items():
        response = page.goto(url)
        assert response is not None
        assert response.status == 200, name
        page.screenshot(path=str(directory / f"console-{name}.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    too_wide = {}
    for name, url in pages.items():
        page.goto(url)
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > 390:  # name the widest elements, to say what to fix
            too_wide[name] = page.evaluate(WIDEST)
        if name in ("overview", "trash", "requests"):
            page.screenshot(path=str(directory / f"console-{name}-390.png"), full_page=True)
    assert not too_wide, too_wide
    # Keyboard alone: the skip link is the first stop, and it leads to the content.
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(pages["trash"])
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"


def test_a_job_page_updates_its_progress_while_the_job_runs(
    console: Console, live_url: str, browser_page: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dataclasses import replace

    from policy_service.lifecycle.job_runner import run_job

    state = console.service.state
    monkeypatch.setattr(state, "settings", replace(state.settings, job_runner="off"))
    page = browser_page
    _sign_in(page, live_url, console.admin)
    page.goto(f"{live_url}/console/accounts/a/trash")
    page.get_by_role("button", name="Restore all 2 in the trash").click()
    page.get_by_text("Bulk restore of 2 contacts started.").wait_for()
    assert page.locator("#job-status").inner_text() == "queued"
    assert page.locator("#job-progress").get_attribute("value") == "0"
    job_id = page.url.rsplit("/", 1)[1]
    run_job(state, job_id)  # the runner, as a worker's background thread would
    page.locator("#job-status", has_text="succeeded").wait_for()  # htmx polled: no reload
    assert page.locator("#job-progress").get_attribute("value") == "2"
    assert page.get_by_text("Bulk restore of 2 contacts started.").count() == 1  # same page
    assert page.locator("#item-ada").inner_text().split()[-1] == "done"
