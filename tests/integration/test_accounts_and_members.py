"""Accounts (platform admins) and role assignments, and their effect on decisions."""

from tests.integration.conftest import Tenants, evaluation


def test_a_platform_admin_creates_an_account_with_defaults(tenants: Tenants) -> None:
    response = tenants.post("/v1/accounts", {"id": "initech", "name": "Initech"}, tenants.root)
    assert response.status_code == 201
    account = response.get_json()
    assert account["retention_days"] == 60
    assert account["purge_enabled"] is False
    assert tenants.service.request("GET", "/v1/accounts/initech", tenants.root).status_code == 200


def test_only_platform_admins_create_accounts(tenants: Tenants) -> None:
    for token in (tenants.ada, tenants.pep_acme, tenants.uma):
        response = tenants.post("/v1/accounts", {"id": "initech", "name": "Initech"}, token)
        assert response.status_code == 403
        assert response.mimetype == "application/problem+json"


def test_a_duplicate_account_is_a_409(tenants: Tenants) -> None:
    response = tenants.post("/v1/accounts", {"id": "acme", "name": "Acme again"}, tenants.root)
    assert response.status_code == 409


def test_invalid_account_input_is_a_400_and_creates_nothing(tenants: Tenants) -> None:
    for body in (
        {"id": "Bad Id!", "name": "x"},
        {"id": "ok", "name": "x", "retention_days": "sixty"},
        {"id": "ok", "name": "x", "retention_days": 0},
        {"id": "ok", "name": "x", "purge_enabled": "yes"},
        {"id": "ok"},
        {"id": "ok", "name": "x", "unexpected": 1},
    ):
        response = tenants.post("/v1/accounts", body, tenants.root)
        assert response.status_code == 400, body
        assert response.mimetype == "application/problem+json"
    assert tenants.service.request("GET", "/v1/accounts/ok", tenants.root).status_code == 404


def test_patching_purge_enabled_changes_purge_decisions(tenants: Tenants) -> None:
    tenants.service.caller("gus", roles={"globex": ["admin"]})
    body = evaluation("gus", "purge", "globex", state="trashed", deleted_at="2026-11-01T00:00:00Z")
    assert tenants.post("/access/v1/evaluation", body, tenants.root).get_json()["decision"] is False
    patched = tenants.service.request(
        "PATCH", "/v1/accounts/globex", tenants.root, json={"purge_enabled": True}
    )
    assert patched.status_code == 200
    assert patched.get_json()["purge_enabled"] is True
    assert tenants.post("/access/v1/evaluation", body, tenants.root).get_json()["decision"] is True


def test_accounts_are_listed_in_pages(tenants: Tenants) -> None:
    first = tenants.service.request("GET", "/v1/accounts?limit=1", tenants.root).get_json()
    assert [a["id"] for a in first["accounts"]] == ["acme"]
    second = tenants.service.request(
        "GET", f"/v1/accounts?limit=1&after={first['next_after']}", tenants.root
    ).get_json()
    assert [a["id"] for a in second["accounts"]] == ["globex"]


def test_an_account_admin_reads_their_account_but_not_another(tenants: Tenants) -> None:
    assert tenants.service.request("GET", "/v1/accounts/acme", tenants.ada).status_code == 200
    assert tenants.service.request("GET", "/v1/accounts/globex", tenants.ada).status_code == 403


def test_granting_a_role_takes_effect_on_the_next_decision(tenants: Tenants) -> None:
    body = evaluation("uma", "delete")
    assert tenants.post("/access/v1/evaluation", body).get_json()["decision"] is False
    response = tenants.service.request(
        "PUT", "/v1/accounts/acme/members/uma", tenants.ada, json={"roles": ["admin"]}
    )
    assert response.status_code == 200
    assert response.get_json()["roles"] == ["admin"]
    assert tenants.post("/access/v1/evaluation", body).get_json()["decision"] is True


def test_removing_a_member_withdraws_every_role(tenants: Tenants) -> None:
    body = evaluation("ada", "delete")
    assert tenants.post("/access/v1/evaluation", body).get_json()["decision"] is True
    response = tenants.service.request("DELETE", "/v1/accounts/acme/members/ada", tenants.root)
    assert response.status_code == 204
    answer = tenants.post("/access/v1/evaluation", body).get_json()
    assert answer["decision"] is False
    assert answer["context"]["reason"]["code"] == "no_role_in_account"
    again = tenants.service.request("DELETE", "/v1/accounts/acme/members/ada", tenants.root)
    assert again.status_code == 404


def test_an_unknown_role_is_a_400(tenants: Tenants) -> None:
    response = tenants.service.request(
        "PUT", "/v1/accounts/acme/members/zed", tenants.ada, json={"roles": ["overlord"]}
    )
    assert response.status_code == 400
    assert "overlord" in response.get_json()["detail"]


def test_roles_must_be_a_non_empty_list_of_strings(tenants: Tenants) -> None:
    for body in ({"roles": []}, {"roles": "admin"}, {"roles": [1]}, {}):
        response = tenants.service.request(
            "PUT", "/v1/accounts/acme/members/zed", tenants.ada, json=body
        )
        assert response.status_code == 400, body


def test_an_admin_of_one_account_cannot_grant_roles_in_another(tenants: Tenants) -> None:
    response = tenants.service.request(
        "PUT", "/v1/accounts/globex/members/ada", tenants.ada, json={"roles": ["admin"]}
    )
    assert response.status_code == 403
    body = evaluation("ada", "delete", "globex")
    assert tenants.post("/access/v1/evaluation", body, tenants.root).get_json()["decision"] is False


def test_members_of_an_unknown_account_are_a_404(tenants: Tenants) -> None:
    response = tenants.service.request(
        "PUT", "/v1/accounts/initech/members/zed", tenants.root, json={"roles": ["user"]}
    )
    assert response.status_code == 404
