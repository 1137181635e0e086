"""Two workers on one database: each sees the other's changes within the sync interval,
and neither serves a cached decision that a change has made stale."""

import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DEFAULT_PACK, Service, add_rule
from tests.integration.conftest import evaluation
from tests.integration.conftest import two_workers as workers_on_one_database

SYNC_INTERVAL = 0.2


def two_workers(make_service: Any, database_url: str, **overrides: Any) -> tuple[Service, Service]:
    return workers_on_one_database(make_service, database_url, SYNC_INTERVAL, **overrides)


def ask(service: Service, body: dict[str, Any]) -> bool:
    response = service.request("POST", "/access/v1/evaluation", service.tokens["pep"], json=body)
    assert response.status_code == 200, response.get_json()
    return bool(response.get_json()["decision"])


# A platform admin's change through the first worker: the request, and the decision the
# second worker (which cached the opposite one) must answer within the sync interval.
ADMIN_CHANGES = [
    pytest.param(
        evaluation("uma", "delete"),
        ("PUT", "/v1/accounts/acme/members/uma", {"roles": ["admin"]}),
        True,
        id="a-role-granted",
    ),
    pytest.param(
        evaluation("uma", "read"),
        ("DELETE", "/v1/accounts/acme/members/uma", None),
        False,
        id="a-role-withdrawn",
    ),
    pytest.param(
        evaluation("ada", "purge", state="trashed", deleted_at="2026-11-20T00:00:00Z"),
        ("PATCH", "/v1/accounts/acme", {"purge_enabled": True}),
        True,
        id="an-account-setting-changed",
    ),
]


@pytest.mark.parametrize(("body", "change", "decided"), ADMIN_CHANGES)
def test_a_change_through_one_worker_reaches_the_other(
    make_service: Any,
    database_url: str,
    body: dict[str, Any],
    change: tuple[str, str, dict[str, Any] | None],
    decided: bool,
) -> None:
    first, second = two_workers(make_service, database_url)
    first.caller("ada", roles={"acme": ["admin"]})
    assert ask(second, body) is not decided  # now cached in the second worker
    method, path, json = change
    response = first.request(method, path, first.tokens["root"], json=json)
    assert response.status_code in (200, 204), response.get_json()
    time.sleep(SYNC_INTERVAL * 1.5)
    assert ask(second, body) is decided


def test_a_policy_reload_through_one_worker_reaches_the_other(
    make_service: Any, database_url: str, tmp_path: Path
) -> None:
    pack = tmp_path / "pack"
    shutil.copytree(DEFAULT_PACK, pack)
    model = (DEFAULT_PACK.parent / "casbin_model.conf").resolve()
    manifest = pack / "pack.toml"
    manifest.write_text(manifest.read_text().replace('"../casbin_model.conf"', f'"{model}"'))
    first, second = two_workers(make_service, database_url, policy_pack=pack)
    body = evaluation("uma", "export")
    assert ask(second, body) is False
    add_rule(pack, "p, user, *, contact, contact.export, , allow\n")
    response = first.request("POST", "/v1/policy/reload", first.tokens["root"])
    assert response.status_code == 200
    time.sleep(SYNC_INTERVAL * 1.5)
    assert ask(second, body) is True
    assert second.state.runtime.version == response.get_json()["version"]


def test_a_platform_admin_granted_elsewhere_is_recognised(
    make_service: Any, database_url: str
) -> None:
    from policy_service.accounts.tokens import issue_token

    first, second = two_workers(make_service, database_url)
    _, token = issue_token(first.state, "newroot")
    assert second.request("GET", "/v1/accounts/acme", token).status_code == 403
    issue_token(first.state, "newroot", platform_admin=True)
    time.sleep(SYNC_INTERVAL * 1.5)
    assert second.request("GET", "/v1/accounts/acme", token).status_code == 200


def test_a_contact_deleted_through_one_worker_changes_the_others_decisions(
    make_service: Any, database_url: str
) -> None:
    first, second = two_workers(make_service, database_url)
    first.caller("ada", roles={"acme": ["admin"]})
    first.caller("cora", roles={"acme": ["compliance_officer"]})
    created = first.request(
        "POST", "/v1/accounts/acme/contacts", first.tokens["ada"], json={"id": "c-1"}
    )
    assert created.status_code == 201
    restore = evaluation("ada", "restore")
    restore["resource"]["id"] = "c-1"
    assert ask(second, restore) is False  # active: nothing to restore; now cached in `second`
    deleted = first.request(
        "POST",
        "/v1/accounts/acme/contacts/c-1/delete",
        first.tokens["ada"],
        json={"reason_code": "duplicate"},
    )
    assert deleted.status_code == 200
    time.sleep(SYNC_INTERVAL * 1.5)
    assert ask(second, restore) is True
    first.request(
        "POST",
        "/v1/accounts/acme/contacts/c-1/legal-holds",
        first.tokens["cora"],
        json={"reason": "audit"},
    )
    purge = evaluation("ada", "purge")
    purge["resource"]["id"] = "c-1"
    first.request("PATCH", "/v1/accounts/acme", first.tokens["root"], json={"purge_enabled": True})
    time.sleep(SYNC_INTERVAL * 1.5)
    assert ask(second, purge) is False  # the hold placed through `first` is seen
