"""POST /v1/decisions/explain: the decision and everything it rested on."""

from tests.integration.conftest import Tenants, evaluation


def explain(tenants: Tenants, body: dict) -> dict:  # type: ignore[type-arg]
    response = tenants.post("/v1/decisions/explain", body)
    assert response.status_code == 200, response.get_json()
    return response.get_json()  # type: ignore[no-any-return]


def test_an_allow_names_the_rule_file_and_line(tenants: Tenants) -> None:
    result = explain(tenants, evaluation("ada", "delete"))
    assert result["decision"] is True
    assert result["deciding_rule"]["file"] == "rules.csv"
    assert result["deciding_rule"]["rule"].startswith("p, admin, *, contact, contact.delete")
    assert result["roles"]["account"] == ["admin"]
    assert result["policy_version"] == tenants.service.state.runtime.version


def test_a_failed_condition_is_shown_with_its_value(tenants: Tenants) -> None:
    result = explain(
        tenants, evaluation("ada", "restore", state="trashed", deleted_at="2020-01-01T00:00:00Z")
    )
    assert result["decision"] is False
    assert result["reason"]["code"] == "retention_expired"
    conditions = {c["name"]: c["value"] for c in result["conditions"]}
    assert conditions == {"in_trash": True, "within_retention": False}


def test_facts_say_where_they_came_from_and_the_store_wins(tenants: Tenants) -> None:
    result = explain(tenants, evaluation("ada", "purge", state="trashed", purge_enabled=False))
    facts = {f["name"]: f for f in result["facts"]}
    assert facts["purge_enabled"] == {"name": "purge_enabled", "value": True, "source": "store"}
    assert facts["contact_state"]["source"] == "request"
    assert facts["retention_days"]["source"] == "store"
    assert facts["legal_hold"]["source"] == "default"


def test_a_deny_rule_is_the_deciding_rule(tenants: Tenants) -> None:
    body = evaluation(
        "ada", "purge", state="trashed", deleted_at="2026-11-20T00:00:00Z", legal_hold=True
    )
    result = explain(tenants, body)
    assert result["decision"] is False
    assert result["deciding_rule"]["effect"] == "deny"
    matched = [r["effect"] for r in result["matched_rules"]]
    assert sorted(matched) == ["allow", "deny"]


def test_explain_is_authorized_like_evaluation(tenants: Tenants) -> None:
    response = tenants.post("/v1/decisions/explain", evaluation(), tenants.pep_globex)
    assert response.status_code == 403
