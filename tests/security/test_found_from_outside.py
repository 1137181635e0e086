"""Defects an outside review found after the first fixes; each test would catch its class."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from tests.conftest import Service
from tests.integration.lifecycle_fixtures import make_crm


def evaluation(account_id: str, subject: str = "x") -> dict[str, Any]:
    return {
        "subject": {"type": "user", "id": subject},
        "action": {"name": "delete"},
        "resource": {"type": "contact", "id": "c-1", "properties": {"account_id": account_id}},
    }


def chains(service: Service) -> set[str]:
    with service.state.engine.connect() as connection:
        return set(connection.execute(text("SELECT chain FROM audit_chain_heads")).scalars())


def test_a_lone_surrogate_in_any_json_string_is_a_400_naming_the_field(service: Service) -> None:
    crm = make_crm(service, "trash-retains-all")
    crm.contact("c-1", with_records=False)
    for path, raw in [
        ("/v1/accounts/acme/contacts", '{"id": "c-2", "name": "x\\ud800y"}'),
        ("/v1/accounts/acme/contacts", '{"id": "c-2", "tags": ["\\udfff"]}'),
        ("/v1/accounts/acme/contacts/c-1/records", '{"kind": "notes", "data": {"\\ud800": 1}}'),
        ("/v1/accounts/acme/contacts/c-1/legal-holds", '{"reason": "\\ud800"}'),
    ]:
        response = crm.call("POST", path, crm.officer, data=raw, content_type="application/json")
        assert response.status_code == 400, (path, response.get_json())
        assert response.mimetype == "application/problem+json"
    assert crm.call("GET", crm.path("c-2")).status_code == 404


def test_evaluation_says_nothing_about_which_accounts_exist_to_a_caller_with_no_part(
    service: Service,
) -> None:
    make_crm(service, "trash-retains-all")
    outsider = service.caller("bob", roles={})
    answers = []
    for account in ("acme", "ghost"):
        single = service.request(
            "POST", "/access/v1/evaluation", outsider, json=evaluation(account)
        )
        explained = service.request(
            "POST", "/v1/decisions/explain", outsider, json=evaluation(account)
        )
        batch = service.request(
            "POST", "/access/v1/evaluations", outsider,
            json={**evaluation(account), "evaluations": [{}]},
        )  # fmt: skip
        item = batch.get_json()["evaluations"][0]["context"]["error"]
        answers.append(
            (single.status_code, single.get_json()["type"], explained.status_code,
             item["status"], item["code"])
        )  # fmt: skip
    assert answers[0] == answers[1]
    assert answers[0][0] == 403


def test_audit_routes_refuse_the_reserved_platform_name_and_unknown_accounts_cleanly(
    service: Service,
) -> None:
    crm = make_crm(service, "trash-retains-all")
    before = chains(service)
    for method, path, body in [
        ("GET", "/v1/audit/events?account_id=platform", None),
        ("GET", "/v1/audit/export?account_id=platform", None),
        ("GET", "/v1/audit/checkpoints?account_id=platform", None),
        ("POST", "/v1/audit/verify", {"account_id": "platform"}),
    ]:
        response = crm.call(method, path, crm.root, body)
        assert response.status_code == 400, (path, response.get_json())
    for method, path, body in [
        ("POST", "/v1/audit/verify", {"account_id": "ghost1"}),
        ("GET", "/v1/audit/export?account_id=ghost1", None),
        ("GET", "/v1/audit/events?account_id=ghost1", None),
    ]:
        assert crm.call(method, path, crm.root, body).status_code == 404, path
    assert chains(service) == before  # naming an account never creates its chain


def test_a_bulk_restore_selects_trashed_contacts_by_the_tags_they_went_to_the_trash_with(
    service: Service,
) -> None:
    crm = make_crm(service, "trash-retains-all")
    crm.contact("c-1", with_records=False, tags=["bulk"])
    crm.contact("c-2", with_records=False, tags=["bulk"])
    crm.contact("c-3", with_records=False)
    for contact_id in ("c-1", "c-2", "c-3"):
        crm.delete(contact_id)
    body = {"filter": {"tag": "bulk"}, "expected_count": 2}
    job = crm.call("POST", "/v1/accounts/acme/contacts/bulk-restore", crm.admin, body)
    assert job.status_code == 202, job.get_json()
    states = {c: crm.call("GET", crm.path(c)).get_json()["state"] for c in ("c-1", "c-2", "c-3")}
    assert states == {"c-1": "active", "c-2": "active", "c-3": "trashed"}


def test_a_missing_confirmation_is_the_audited_422_not_a_schema_error(service: Service) -> None:
    crm = make_crm(service, "trash-retains-all", purge_enabled=True)
    crm.contact("c-1", with_records=False)
    crm.delete("c-1")
    purge = crm.call("POST", f"{crm.path('c-1')}/purge", crm.admin, {})
    assert purge.status_code == 422
    assert purge.get_json()["reason"]["code"] == "confirmation_required"
    bulk = crm.call(
        "POST", "/v1/accounts/acme/contacts/bulk-delete", crm.admin,
        {"ids": ["c-1"], "expected_count": 1, "reason_code": "duplicate"},
    )  # fmt: skip
    assert bulk.status_code == 422
    recorded = crm.call("GET", "/v1/audit/events?account_id=acme&limit=100", crm.root)
    codes = [e["reason_code"] for e in recorded.get_json()["events"]]
    assert codes.count("confirmation_required") == 2


def test_the_same_id_twice_in_a_bulk_selection_is_one_contact(service: Service) -> None:
    crm = make_crm(service, "trash-retains-all")
    crm.contact("c-1", with_records=False)
    body = {"ids": ["c-1", "c-1"], "expected_count": 1, "confirm": "DELETE",
            "reason_code": "duplicate"}  # fmt: skip
    assert (
        crm.call("POST", "/v1/accounts/acme/contacts/bulk-delete", crm.admin, body).status_code
        == 202
    )


def test_who_may_comes_before_why_a_plain_user_deleting_for_unsubscribe_is_a_403(
    service: Service,
) -> None:
    crm = make_crm(service, "trash-retains-all")
    crm.contact("c-1", with_records=False)
    refused = crm.delete("c-1", token=crm.user, reason="unsubscribe")
    assert refused.status_code == 403
    assert crm.delete("c-1", reason="unsubscribe").status_code == 422  # an admin is guided


def test_a_platform_admin_without_a_role_in_the_account_hears_one_code_everywhere(
    service: Service,
) -> None:
    crm = make_crm(service, "trash-retains-all")
    crm.contact("c-1", with_records=False)
    said = crm.call("POST", "/access/v1/evaluation", crm.root, {
        **evaluation("acme", "root"),
    }).get_json()["context"]["reason"]["code"]  # fmt: skip
    done = crm.delete("c-1", token=crm.root).get_json()["reason"]["code"]
    assert said == done == "no_role_in_account"
