"""The console in a real browser: Debian's Chromium driven by Playwright.

Playwright's own browser download is not reachable here, so the test launches the system
Chromium (``apt-get install chromium``; ``.ci/run`` installs it). Outside CI the test skips
when Chromium or Playwright is missing; with ``CI=true`` it fails instead.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

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
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        try:
            yield page
        finally:
            browser.close()


@pytest.fixture
def live_url(console: Console) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, console.service.app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


def _shot(page: Any, tmp_path: Path, name: str) -> Path:
    directory = Path(SCREENSHOTS) if SCREENSHOTS else tmp_path
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"console-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def test_sign_in_restore_from_the_trash_and_find_it_in_the_audit_explorer(
    console: Console, live_url: str, browser_page: Any, tmp_path: Path
) -> None:
    page = browser_page
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))

    page.goto(f"{live_url}/console/")
    page.get_by_label("API token").fill(console.admin)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="a", exact=True).click()
    page.get_by_role("heading", name="Trash").wait_for()
    assert page.get_by_text("2", exact=True).first.is_visible()  # two contacts in the trash
    _shot(page, tmp_path, "overview")

    page.get_by_role("link", name="Trash", exact=True).click()
    page.get_by_role("button", name="Restore Ada Lovelace").click()
    page.get_by_text("Restored ada").wait_for()
    assert page.locator("#contact-ada").count() == 0
    assert page.locator("#contact-bob").count() == 1
    _shot(page, tmp_path, "trash")
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    _shot(page, tmp_path, "trash-390")
    page.set_viewport_size({"width": 1280, "height": 900})

    page.get_by_role("link", name="Audit", exact=True).click()
    page.get_by_label("action").fill("contact.restore")
    page.get_by_role("button", name="Filter").click()
    row = page.locator("table.events tbody tr")
    assert row.count() == 1
    assert "contact.restore" in row.inner_text()
    assert "ada" in row.inner_text()
    assert "ann" in row.inner_text()

    dsr = console.service.request(
        "POST", "/v1/dsr", console.officer,
        {"type": "erasure", "identity": {"email": "ada@example.com"}, "jurisdiction": "gdpr",
         "accounts": ["a"], "received_at": "2026-11-01T00:00:00Z"},
    )  # fmt: skip
    assert dsr.status_code == 201
    # The compliance officer verifies the chain (an admin may not: no button for them).
    assert page.get_by_role("button", name="Verify the chain").count() == 0
    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("API token").fill(console.officer)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{live_url}/console/accounts/a")
    _shot(page, tmp_path, "overview-officer")
    page.goto(f"{live_url}/console/accounts/a/audit?action=contact.restore")
    page.get_by_role("button", name="Verify the chain").click()  # htmx swaps the result in
    page.get_by_text("The chain verifies.").wait_for()
    assert page.url.endswith("action=contact.restore")  # no full page load: htmx did it
    _shot(page, tmp_path, "audit")
    assert not problems, problems  # no CSP violations, no script errors
