"""Who may call: bearer tokens, on-behalf-of, and the service role per account."""

from policy_service.accounts.tokens import revoke_tokens
from tests.integration.conftest import Tenants, evaluation


def test_no_token_is_a_401_with_a_bearer_challenge(tenants: Tenants) -> None:
    response = tenants.service.request("POST", "/access/v1/evaluation", None, json=evaluation())
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_an_unknown_token_is_a_401_naming_an_invalid_token(tenants: Tenants) -> None:
    response = tenants.post("/access/v1/evaluation", evaluation(), token="pst_not-a-real-token")
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_a_malformed_authorization_header_is_a_401(tenants: Tenants) -> None:
    response = tenants.service.client.post(
        "/access/v1/evaluation", json=evaluation(), headers={"Authorization": "Basic YWRhOnB3"}
    )
    assert response.status_code == 401


def test_a_revoked_token_no_longer_works(tenants: Tenants) -> None:
    assert tenants.post("/access/v1/evaluation", evaluation()).status_code == 200
    revoke_tokens(tenants.service.state, principal_id="pep-acme")
    assert tenants.post("/access/v1/evaluation", evaluation()).status_code == 401


def test_health_needs_no_token(tenants: Tenants) -> None:
    response = tenants.service.client.get("/health")
    assert response.status_code == 200
    assert response.get_json()["status"] == "ok"


def test_the_openapi_document_is_published(tenants: Tenants) -> None:
    document = tenants.service.client.get("/openapi.json").get_json()
    assert "/access/v1/evaluation" in document["paths"]
    assert "/v1/decisions/explain" in document["paths"]


def test_a_caller_without_the_service_role_in_the_account_is_refused(tenants: Tenants) -> None:
    response = tenants.post("/access/v1/evaluation", evaluation(account="acme"), tenants.pep_globex)
    assert response.status_code == 403
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["reason"]["code"] == "no_role_in_account"


def test_a_user_token_may_not_ask_for_decisions(tenants: Tenants) -> None:
    response = tenants.post("/access/v1/evaluation", evaluation(), tenants.ada)
    assert response.status_code == 403


def test_a_platform_admin_may_ask_about_any_account(tenants: Tenants) -> None:
    response = tenants.post("/access/v1/evaluation", evaluation(account="globex"), tenants.root)
    assert response.status_code == 200


def test_only_service_tokens_may_act_on_behalf_of_a_user(tenants: Tenants) -> None:
    response = tenants.service.request(
        "GET", "/v1/accounts/acme", tenants.uma, headers={"X-On-Behalf-Of": "ada"}
    )
    assert response.status_code == 403


def test_a_service_acting_for_a_user_gets_that_users_permissions(tenants: Tenants) -> None:
    as_admin = tenants.service.request(
        "GET", "/v1/accounts/acme/members", tenants.pep_acme, headers={"X-On-Behalf-Of": "ada"}
    )
    assert as_admin.status_code == 200
    as_user = tenants.service.request(
        "PUT",
        "/v1/accounts/acme/members/zed",
        tenants.pep_acme,
        json={"roles": ["user"]},
        headers={"X-On-Behalf-Of": "uma"},
    )
    assert as_user.status_code == 403


def test_a_service_may_not_act_for_users_of_another_account(tenants: Tenants) -> None:
    response = tenants.service.request(
        "GET", "/v1/accounts/acme/members", tenants.pep_globex, headers={"X-On-Behalf-Of": "ada"}
    )
    assert response.status_code == 403
