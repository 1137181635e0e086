"""POST /access/v1/evaluations: defaults, per-item replacement, semantics, bad items."""

from typing import Any

import pytest

from tests.integration.conftest import Tenants, evaluation


def batch(items: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "subject": {"type": "user", "id": "ada"},
        "resource": {"type": "contact", "id": "c-1", "properties": {"account_id": "acme"}},
        "evaluations": items,
        **extra,
    }


def decisions(response: Any) -> list[bool]:
    assert response.status_code == 200, response.get_json()
    return [item["decision"] for item in response.get_json()["evaluations"]]


def test_top_level_fields_are_defaults_for_each_item(tenants: Tenants) -> None:
    items = [
        {"action": {"name": "delete"}},
        {"action": {"name": "read"}},
        {"action": {"name": "purge"}},
    ]
    assert decisions(tenants.post("/access/v1/evaluations", batch(items))) == [True, True, False]


def test_a_key_in_an_item_replaces_the_whole_default_object(tenants: Tenants) -> None:
    # The item's subject has no properties and another id: nothing of the default survives.
    items = [
        {"action": {"name": "delete"}},
        {"action": {"name": "delete"}, "subject": {"type": "user", "id": "uma"}},
    ]
    assert decisions(tenants.post("/access/v1/evaluations", batch(items))) == [True, False]


def test_items_carry_no_context_unless_asked(tenants: Tenants) -> None:
    items = [{"action": {"name": "delete"}}]
    plain = tenants.post("/access/v1/evaluations", batch(items)).get_json()
    assert plain == {"evaluations": [{"decision": True}]}
    asked = tenants.post(
        "/access/v1/evaluations", batch(items, options={"include_context": True})
    ).get_json()
    assert asked["evaluations"][0]["context"]["reason"]["code"] == "allowed"


@pytest.mark.parametrize(
    ("semantic", "expected"),
    [
        ("execute_all", [True, False, True, False]),
        ("deny_on_first_deny", [True, False]),
        ("permit_on_first_permit", [True]),
    ],
)
def test_evaluation_semantics_end_the_answer_at_the_deciding_item(
    tenants: Tenants, semantic: str, expected: list[bool]
) -> None:
    names = ["delete", "purge", "read", "restore"]
    items = [{"action": {"name": name}} for name in names]
    body = batch(items, options={"evaluations_semantic": semantic})
    assert decisions(tenants.post("/access/v1/evaluations", body)) == expected


def test_permit_on_first_permit_runs_past_denies(tenants: Tenants) -> None:
    items = [
        {"action": {"name": "purge"}},
        {"action": {"name": "restore"}},
        {"action": {"name": "read"}},
    ]
    body = batch(items, options={"evaluations_semantic": "permit_on_first_permit"})
    assert decisions(tenants.post("/access/v1/evaluations", body)) == [False, False, True]


def test_a_bad_item_is_denied_with_its_error_and_the_batch_still_answers(tenants: Tenants) -> None:
    items = [
        {"action": {"name": "delete"}},
        {"action": {"label": "no name"}},
        "not an object",
        {
            "action": {"name": "delete"},
            "resource": {"type": "contact", "id": "x", "properties": {"account_id": "nowhere"}},
        },
        {"action": {"name": "delete"}},
    ]
    response = tenants.post("/access/v1/evaluations", batch(items))
    answers = response.get_json()["evaluations"]
    assert [a["decision"] for a in answers] == [True, False, False, False, True]
    assert answers[1]["context"]["error"]["status"] == 400
    assert "action" in answers[1]["context"]["error"]["errors"]
    assert answers[2]["context"]["error"]["status"] == 400
    assert answers[3]["context"]["error"]["status"] == 403  # unknown or not ours: alike
    assert "context" not in answers[0]


def test_an_item_about_an_account_the_caller_may_not_ask_about_is_denied_alone(
    tenants: Tenants,
) -> None:
    other = {"type": "contact", "id": "x", "properties": {"account_id": "globex"}}
    items = [{"action": {"name": "delete"}, "resource": other}, {"action": {"name": "delete"}}]
    answers = tenants.post("/access/v1/evaluations", batch(items)).get_json()["evaluations"]
    assert answers[0]["decision"] is False
    assert answers[0]["context"]["error"]["status"] == 403
    assert answers[1] == {"decision": True}


def test_without_items_the_batch_behaves_as_a_single_evaluation(tenants: Tenants) -> None:
    body = evaluation("ada", "delete")
    response = tenants.post("/access/v1/evaluations", body)
    assert response.get_json()["decision"] is True


def test_an_unknown_semantic_is_a_400(tenants: Tenants) -> None:
    body = batch([{"action": {"name": "delete"}}], options={"evaluations_semantic": "first"})
    response = tenants.post("/access/v1/evaluations", body)
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"


def test_evaluations_that_are_not_a_list_are_a_400(tenants: Tenants) -> None:
    response = tenants.post("/access/v1/evaluations", batch({"action": {"name": "delete"}}))  # type: ignore[arg-type]
    assert response.status_code == 400


def test_too_many_items_are_a_400(tenants: Tenants) -> None:
    items = [{"action": {"name": "read"}}] * 1001
    response = tenants.post("/access/v1/evaluations", batch(items))
    assert response.status_code == 400
    assert "at most 1000" in response.get_json()["detail"]


def test_the_caller_is_checked_once_per_account_and_every_foreign_item_is_still_refused(
    tenants: Tenants, monkeypatch: pytest.MonkeyPatch
) -> None:
    from policy_service.decisions import authorization

    checked: list[str] = []
    real = authorization.check_in_account

    def counting(runtime: Any, caller: Any, account_id: str, obj: str, action: str) -> Any:
        checked.append(account_id)
        return real(runtime, caller, account_id, obj, action)

    monkeypatch.setattr(authorization, "check_in_account", counting)
    other = {"type": "contact", "id": "x", "properties": {"account_id": "globex"}}
    items = [{"action": {"name": "delete"}}, {"action": {"name": "delete"}, "resource": other}] * 5
    answers = tenants.post("/access/v1/evaluations", batch(items)).get_json()["evaluations"]
    assert [a["decision"] for a in answers] == [True, False] * 5
    assert all(a["context"]["error"]["status"] == 403 for a in answers[1::2])
    assert checked.count("acme") == 1  # allowed once: the rest of the batch trusts it
    assert checked.count("globex") == 5  # refused: asked again for each item
