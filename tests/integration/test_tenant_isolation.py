"""A role in one account grants nothing in another, through every path."""

import pytest

from tests.integration.conftest import Tenants, evaluation

ACTIONS = ["read", "delete", "restore", "purge", "export", "bulk_delete"]


@pytest.mark.parametrize("action", ACTIONS)
def test_an_admin_of_acme_is_granted_nothing_in_globex(tenants: Tenants, action: str) -> None:
    body = evaluation("ada", action, "globex", state="trashed", deleted_at="2026-11-20T00:00:00Z")
    answer = tenants.post("/access/v1/evaluation", body, tenants.pep_globex).get_json()
    assert answer["decision"] is False
    assert answer["context"]["reason"]["code"] == "no_role_in_account"


def test_a_user_with_roles_in_both_accounts_gets_each_accounts_roles_only(tenants: Tenants) -> None:
    tenants.service.caller("ada", roles={"globex": ["user"]})
    in_acme = tenants.post("/access/v1/evaluation", evaluation("ada", "delete", "acme"))
    in_globex = tenants.post(
        "/access/v1/evaluation", evaluation("ada", "delete", "globex"), tenants.pep_globex
    )
    assert in_acme.get_json()["decision"] is True
    assert in_globex.get_json()["decision"] is False


def test_a_service_of_one_account_cannot_learn_decisions_about_another(tenants: Tenants) -> None:
    response = tenants.post(
        "/access/v1/evaluation", evaluation("ada", "delete", "acme"), tenants.pep_globex
    )
    assert response.status_code == 403
