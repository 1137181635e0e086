"""AuthZEN 1.0 search: every result evaluates to true through /access/v1/evaluation, and the
contacts, members and actions left out evaluate to false."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from policy_service.domain.clock import utcnow
from policy_service.storage.contact_predicates import contacts_t
from tests.integration.conftest import Tenants

PROBLEM = "application/problem+json"


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    return response.get_json()


@pytest.fixture
def world(tenants: Tenants) -> Tenants:
    """acme: 12 contacts; 8 in the trash, 2 of them past the window, 2 on hold."""
    service = tenants.service
    officer = service.caller("olga", roles={"acme": ["compliance_officer"]})
    service.caller("abe", roles={"acme": ["admin"]})
    for i in range(12):
        body = {"id": f"c-{i:02d}", "name": f"Person {i}"}
        _ok(service.request("POST", "/v1/accounts/acme/contacts", tenants.ada, json=body), 201)
    for i in (0, 1):
        path = f"/v1/accounts/acme/contacts/c-{i:02d}/legal-holds"
        _ok(service.request("POST", path, officer, json={"reason": "matter"}), 201)
    for i in range(8):
        path = f"/v1/accounts/acme/contacts/c-{i:02d}/delete"
        body = {"reason_code": "duplicate", "confirm": "DELETE"}
        _ok(service.request("POST", path, tenants.ada, json=body))
    state = service.state
    with state.session_factory() as session:
        session.execute(
            update(contacts_t)
            .where(contacts_t.c.account_id == "acme", contacts_t.c.id.in_(["c-02", "c-03"]))
            .values(deleted_at=utcnow() - timedelta(days=90))
        )
        session.commit()
    state.runtime.forget_contacts("acme")
    state.runtime.cache.clear()
    return tenants


def _search_resources(world: Tenants, subject: str, action: str, limit: int = 50) -> list[str]:
    ids: list[str] = []
    token = ""
    while True:
        body = {
            "subject": {"type": "user", "id": subject},
            "action": {"name": action},
            "resource": {"type": "contact", "properties": {"account_id": "acme"}},
            "page": {"limit": limit, **({"token": token} if token else {})},
        }
        answer = _ok(world.post("/access/v1/search/resource", body))
        assert len(answer["results"]) <= limit
        ids += [result["id"] for result in answer["results"]]
        token = answer["page"]["next_token"]
        if not token:
            return ids


def _decision(world: Tenants, subject: str, action: str, contact_id: str) -> bool:
    body = {
        "subject": {"type": "user", "id": subject},
        "action": {"name": action},
        "resource": {"type": "contact", "id": contact_id, "properties": {"account_id": "acme"}},
    }
    return bool(_ok(world.post("/access/v1/evaluation", body))["decision"])


ALL = [f"c-{i:02d}" for i in range(12)]


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("purge", ["c-02", "c-03", "c-04", "c-05", "c-06", "c-07"]),
        ("restore", ["c-00", "c-01", "c-04", "c-05", "c-06", "c-07"]),
        ("delete", ["c-08", "c-09", "c-10", "c-11"]),
        ("read", ALL),
    ],
)
def test_resource_search_answers_exactly_what_evaluation_answers(
    world: Tenants, action: str, expected: list[str]
) -> None:
    found = _search_resources(world, "ada", action)
    assert found == expected
    for contact_id in ALL:
        assert _decision(world, "ada", action, contact_id) is (contact_id in found)


def test_resource_search_pages_through_the_same_results(world: Tenants) -> None:
    assert _search_resources(world, "ada", "read", limit=5) == ALL
    assert _search_resources(world, "ada", "purge", limit=1) == _search_resources(
        world, "ada", "purge"
    )


def test_a_user_without_the_role_finds_nothing(world: Tenants) -> None:
    assert _search_resources(world, "uma", "purge") == []
    assert _search_resources(world, "nobody-at-all", "read") == []


def test_subject_search_names_the_members_who_may_restore(world: Tenants) -> None:
    body: dict[str, Any] = {
        "subject": {"type": "user"},
        "action": {"name": "restore"},
        "resource": {"type": "contact", "id": "c-04", "properties": {"account_id": "acme"}},
    }
    answer = _ok(world.post("/access/v1/search/subject", body))
    found = [result["id"] for result in answer["results"]]
    assert found == ["abe", "ada"]
    for member in ("abe", "ada", "olga", "uma", "pep-acme"):
        assert _decision(world, member, "restore", "c-04") is (member in found)
    # Past the window nobody may.
    body["resource"]["id"] = "c-02"
    assert _ok(world.post("/access/v1/search/subject", body))["results"] == []
    # One a page.
    body["resource"]["id"] = "c-04"
    body["page"] = {"limit": 1}
    first = _ok(world.post("/access/v1/search/subject", body))
    assert [r["id"] for r in first["results"]] == ["abe"]
    body["page"] = {"limit": 1, "token": first["page"]["next_token"]}
    second = _ok(world.post("/access/v1/search/subject", body))
    assert [r["id"] for r in second["results"]] == ["ada"]


def test_action_search_gives_the_buttons_and_each_evaluates_to_true(world: Tenants) -> None:
    for contact_id, must, must_not in (
        ("c-10", {"delete", "read", "update"}, {"restore", "purge"}),
        ("c-05", {"restore", "purge", "read"}, {"delete"}),
        ("c-00", {"restore", "read"}, {"delete", "purge"}),
    ):
        body = {
            "subject": {"type": "user", "id": "ada"},
            "resource": {
                "type": "contact", "id": contact_id, "properties": {"account_id": "acme"}
            },
        }  # fmt: skip
        answer = _ok(world.post("/access/v1/search/action", body))
        names = {result["name"] for result in answer["results"]}
        assert must <= names, (contact_id, names)
        assert not must_not & names, (contact_id, names)
        for name in names | must_not:
            assert _decision(world, "ada", name, contact_id) is (name in names)


def test_search_needs_decision_evaluate_in_the_account(world: Tenants) -> None:
    body = {
        "subject": {"type": "user", "id": "ada"},
        "action": {"name": "read"},
        "resource": {"type": "contact", "properties": {"account_id": "acme"}},
    }
    response = world.post("/access/v1/search/resource", body, world.pep_globex)
    assert response.status_code == 403
    assert response.mimetype == PROBLEM
    response = world.post("/access/v1/search/resource", body, world.uma)
    assert response.status_code == 403
    assert response.mimetype == PROBLEM


def test_a_token_from_another_search_or_garbage_is_a_400(world: Tenants) -> None:
    body: dict[str, Any] = {
        "subject": {"type": "user", "id": "ada"},
        "action": {"name": "read"},
        "resource": {"type": "contact", "properties": {"account_id": "acme"}},
        "page": {"limit": 1},
    }
    token = _ok(world.post("/access/v1/search/resource", body))["page"]["next_token"]
    body["action"]["name"] = "purge"
    for bad in (token, "!!", "eyJ9"):
        body["page"] = {"token": bad}
        response = world.post("/access/v1/search/resource", body)
        assert response.status_code == 400
        assert response.mimetype == PROBLEM


def test_discovery_lists_the_search_endpoints(world: Tenants) -> None:
    document = _ok(world.service.request("GET", "/.well-known/authzen-configuration", None))
    for kind in ("subject", "resource", "action"):
        assert document[f"search_{kind}_endpoint"].endswith(f"/access/v1/search/{kind}")
