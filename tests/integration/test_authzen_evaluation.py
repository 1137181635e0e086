"""POST /access/v1/evaluation on SQLite and PostgreSQL."""

from typing import Any

import pytest

from tests.integration.conftest import Tenants, evaluation

PROBLEM = "application/problem+json"


def test_an_admin_may_delete_and_the_answer_reports_the_policy_version(tenants: Tenants) -> None:
    response = tenants.post("/access/v1/evaluation", evaluation("ada", "delete"))
    assert response.status_code == 200
    body = response.get_json()
    assert body["decision"] is True
    version = tenants.service.state.runtime.version
    assert body["context"]["policy_version"] == version
    assert response.headers["X-Policy-Version"] == version


def test_a_deny_is_a_200_with_a_reason_code_and_text(tenants: Tenants) -> None:
    response = tenants.post("/access/v1/evaluation", evaluation("uma", "delete"))
    assert response.status_code == 200
    body = response.get_json()
    assert body["decision"] is False
    assert body["context"]["reason"]["code"] == "not_permitted"
    assert "contact.delete" in body["context"]["reason"]["text"]


def test_purge_is_refused_where_the_account_does_not_allow_it(tenants: Tenants) -> None:
    tenants.service.caller("gus", roles={"globex": ["admin"]})
    body = evaluation("gus", "purge", "globex", state="trashed", deleted_at="2026-01-01T00:00:00Z")
    response = tenants.post("/access/v1/evaluation", body, tenants.pep_globex)
    assert response.get_json()["decision"] is False
    assert response.get_json()["context"]["reason"]["code"] == "purge_disabled"
    assert "purge_enabled" in response.get_json()["context"]["reason"]["text"]


def test_a_caller_cannot_claim_purge_is_enabled_the_account_setting_wins(tenants: Tenants) -> None:
    tenants.service.caller("gus", roles={"globex": ["admin"]})
    body = evaluation("gus", "purge", "globex", state="trashed", purge_enabled=True)
    response = tenants.post("/access/v1/evaluation", body, tenants.pep_globex)
    assert response.get_json()["decision"] is False


def test_a_legal_hold_denies_purge_by_a_deny_rule(tenants: Tenants) -> None:
    body = evaluation(
        "ada", "purge", state="trashed", deleted_at="2026-11-01T00:00:00Z", legal_hold=True
    )
    response = tenants.post("/access/v1/evaluation", body)
    assert response.get_json()["context"]["reason"]["code"] == "legal_hold"
    assert "on_legal_hold" in response.get_json()["context"]["reason"]["text"]


def test_unknown_fields_are_ignored(tenants: Tenants) -> None:
    body = evaluation("ada", "delete")
    body["colour"] = "blue"
    body["subject"]["nickname"] = "A"
    response = tenants.post("/access/v1/evaluation", body)
    assert response.status_code == 200
    assert response.get_json()["decision"] is True


@pytest.mark.parametrize(
    ("mutate", "pointer"),
    [
        (lambda b: b.pop("subject"), "subject"),
        (lambda b: b.pop("action"), "action"),
        (lambda b: b.pop("resource"), "resource"),
        (lambda b: b["subject"].pop("id"), "subject"),
        (lambda b: b["subject"].pop("type"), "subject"),
        (lambda b: b["action"].pop("name"), "action"),
        (lambda b: b["resource"].pop("type"), "resource"),
        (lambda b: b["resource"].pop("id"), "resource"),
        (lambda b: b["subject"].update(id=42), "subject"),
        (lambda b: b.update(subject="ada"), "subject"),
        (lambda b: b["resource"].update(properties=[1, 2]), "resource"),
        (lambda b: b.update(context="now"), "context"),
    ],
)
def test_a_missing_or_mistyped_field_is_a_400_problem(
    tenants: Tenants, mutate: Any, pointer: str
) -> None:
    body = evaluation()
    mutate(body)
    response = tenants.post("/access/v1/evaluation", body)
    assert response.status_code == 400
    assert response.mimetype == PROBLEM
    problem = response.get_json()
    assert problem["status"] == 400
    assert pointer in problem["errors"]


@pytest.mark.parametrize(
    ("data", "content_type", "detail"),
    [
        (b'{"subject": ', "application/json", "not valid JSON"),
        (b"", "application/json", "empty"),
        (b"[1, 2]", "application/json", "JSON object"),
        (b'{"subject": {}}', "text/plain", "Content-Type"),
        (b"subject=ada", "application/x-www-form-urlencoded", "Content-Type"),
    ],
)
def test_a_malformed_body_is_a_400_problem(
    tenants: Tenants, data: bytes, content_type: str, detail: str
) -> None:
    response = tenants.service.client.post(
        "/access/v1/evaluation",
        data=data,
        content_type=content_type,
        headers={"Authorization": f"Bearer {tenants.pep_acme}"},
    )
    assert response.status_code == 400
    assert response.mimetype == PROBLEM
    assert detail in response.get_json()["detail"]


def test_a_property_of_the_wrong_type_is_a_400(tenants: Tenants) -> None:
    response = tenants.post("/access/v1/evaluation", evaluation(legal_hold="yes"))
    assert response.status_code == 400
    assert "legal_hold" in response.get_json()["detail"]


def test_a_resource_without_an_account_is_a_400(tenants: Tenants) -> None:
    body = evaluation()
    del body["resource"]["properties"]["account_id"]
    response = tenants.post("/access/v1/evaluation", body)
    assert response.status_code == 400
    assert "account_id" in response.get_json()["detail"]


def test_an_unknown_account_is_a_404(tenants: Tenants) -> None:
    response = tenants.post("/access/v1/evaluation", evaluation(account="initech"), tenants.root)
    assert response.status_code == 404
    assert response.mimetype == PROBLEM


def test_an_oversized_body_is_a_413_problem(tenants: Tenants) -> None:
    body = evaluation()
    body["context"] = {"padding": "x" * 1_100_000}
    response = tenants.post("/access/v1/evaluation", body)
    assert response.status_code == 413
    assert response.mimetype == PROBLEM


def test_every_response_echoes_a_request_id(tenants: Tenants) -> None:
    sent = tenants.post("/access/v1/evaluation", evaluation(), headers={"X-Request-ID": "abc-123"})
    assert sent.headers["X-Request-ID"] == "abc-123"
    generated = tenants.post("/access/v1/evaluation", evaluation())
    assert len(generated.headers["X-Request-ID"]) == 32
    hostile = tenants.post(
        "/access/v1/evaluation", evaluation(), headers={"X-Request-ID": "x\u2028y" * 100}
    )
    assert hostile.headers["X-Request-ID"] != "x\u2028y" * 100


def test_the_discovery_document_needs_no_token(tenants: Tenants) -> None:
    response = tenants.service.client.get("/.well-known/authzen-configuration")
    assert response.status_code == 200
    document = response.get_json()
    assert document["access_evaluation_endpoint"].endswith("/access/v1/evaluation")
    assert document["access_evaluations_endpoint"].endswith("/access/v1/evaluations")
