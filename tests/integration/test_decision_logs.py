"""Decision logs (issue 11): every decision answered has a decision_id, is logged with who
asked and what was answered, masked by configuration, read by compliance officers; and the
/metrics endpoint."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import func, select

from policy_service.api.app_state import get_state
from policy_service.api.decision_logs import get_decision_log
from policy_service.storage.decision_logs import decision_log_batches_t, decision_logs_t
from tests.conftest import Service
from tests.integration.conftest import Tenants, evaluation

PROBLEM = "application/problem+json"


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    return response.get_json()


@pytest.fixture
def officer(tenants: Tenants) -> str:
    return tenants.service.caller("olga", roles={"acme": ["compliance_officer"]})


def _logs(tenants: Tenants, token: str, query: str = "account_id=acme") -> Any:
    return tenants.service.request("GET", f"/v1/decision-logs?{query}", token)


def test_an_evaluation_is_logged_under_its_decision_id(tenants: Tenants, officer: str) -> None:
    body = evaluation("ada", "delete")
    body["subject"]["properties"] = {"email": "ada@acme.example"}
    body["resource"]["properties"]["name"] = "Bea Person"
    response = tenants.post("/access/v1/evaluation", body, headers={"X-Request-ID": "req-123"})
    answer = _ok(response)
    decision_id = answer["context"]["decision_id"]
    entries = _ok(_logs(tenants, officer))["entries"]
    (entry,) = [e for e in entries if e["decision_id"] == decision_id]
    assert entry["caller"] == "pep-acme"
    assert entry["on_behalf_of"] is None
    assert entry["subject"] == {"type": "user", "id": "ada"}
    assert entry["action"] == "contact.delete"
    assert entry["resource"] == {"type": "contact", "id": "c-1"}
    assert entry["decision"] is True
    assert entry["reason_code"] == "allowed"
    assert entry["policy_version"] == answer["context"]["policy_version"]
    assert entry["request_id"] == "req-123"
    assert entry["endpoint"] == "evaluation"
    # Personal data named by the mask setting is not kept.
    assert entry["details"]["subject_properties"] == {"email": "***"}
    assert entry["details"]["resource_properties"]["name"] == "***"
    assert entry["details"]["resource_properties"]["account_id"] == "acme"
    assert "ada@acme.example" not in str(entries)


def test_batch_explain_and_search_answers_carry_decision_ids(
    tenants: Tenants, officer: str
) -> None:
    batch = {
        "evaluations": [evaluation("ada", "delete"), evaluation("uma", "delete")],
        "options": {"include_context": True},
    }
    items = _ok(tenants.post("/access/v1/evaluations", batch))["evaluations"]
    ids = [item["context"]["decision_id"] for item in items]
    explained = _ok(tenants.post("/v1/decisions/explain", evaluation("uma", "purge")))
    ids.append(explained["context"]["decision_id"])
    search = {
        "subject": {"type": "user", "id": "ada"},
        "action": {"name": "read"},
        "resource": {"type": "contact", "properties": {"account_id": "acme"}},
    }
    found = _ok(tenants.post("/access/v1/search/resource", search))
    ids.append(found["context"]["decision_id"])
    assert len(set(ids)) == 4
    entries = {e["decision_id"]: e for e in _ok(_logs(tenants, officer))["entries"]}
    assert set(ids) <= set(entries)
    assert [entries[i]["decision"] for i in ids[:2]] == [True, False]
    assert entries[ids[1]]["reason_code"] == "not_permitted"
    assert entries[ids[2]]["endpoint"] == "explain"
    assert entries[ids[3]]["endpoint"] == "search/resource"


def test_filters_and_cursor(tenants: Tenants, officer: str) -> None:
    for subject, contact in (("ada", "c-1"), ("uma", "c-1"), ("ada", "c-2"), ("uma", "c-3")):
        body = evaluation(subject, "delete")
        body["resource"]["id"] = contact
        _ok(tenants.post("/access/v1/evaluation", body))
    assert len(_ok(_logs(tenants, officer, "account_id=acme&subject_id=ada"))["entries"]) == 2
    assert len(_ok(_logs(tenants, officer, "account_id=acme&resource_id=c-1"))["entries"]) == 2
    denied = _ok(_logs(tenants, officer, "account_id=acme&decision=false"))["entries"]
    assert {e["subject"]["id"] for e in denied} == {"uma"}
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    assert _ok(_logs(tenants, officer, f"account_id=acme&since={future}"))["entries"] == []
    assert len(_ok(_logs(tenants, officer, f"account_id=acme&until={future}"))["entries"]) == 4
    seen: list[str] = []
    query = "account_id=acme&limit=3"
    while True:
        page = _ok(_logs(tenants, officer, query))
        seen += [e["decision_id"] for e in page["entries"]]
        if not page["next_cursor"]:
            break
        query = f"account_id=acme&limit=3&cursor={page['next_cursor']}"
    assert len(seen) == len(set(seen)) == 4
    naive = datetime.now(UTC).replace(tzinfo=None).isoformat()
    now = datetime.now(UTC).isoformat()
    for parts in (
        [naive, "abc"],  # a time without an offset
        ["9999-12-31T23:59:59-23:59", "abc"],  # no such time in UTC
        ["0001-01-01T00:00:00+14:00", "abc"],
        [now, "\ud800"],  # a lone surrogate
        [now, "\u0000"],
        [now, 7],
        [1, "abc"],
        ["abc"],
    ):
        bad = _logs(tenants, officer, f"account_id=acme&cursor={_encoded(parts)}")
        assert (bad.status_code, bad.mimetype) == (400, PROBLEM), parts
    bad = _logs(tenants, officer, "account_id=acme&cursor=garbage")
    assert (bad.status_code, bad.mimetype) == (400, PROBLEM)
    for bound in ("since=9999-12-31T23:59:59-23:59", "until=0001-01-01T00:00:00%2B14:00"):
        for path in ("/v1/decision-logs?account_id=acme&", "/v1/audit/events?account_id=acme&"):
            bad = tenants.service.request("GET", path + bound, officer)
            assert (bad.status_code, bad.mimetype) == (400, PROBLEM), (path, bound)


def _encoded(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def test_only_those_who_read_the_accounts_audit_see_its_decisions(
    tenants: Tenants, officer: str
) -> None:
    _ok(tenants.post("/access/v1/evaluation", evaluation("ada", "delete")))
    for token in (tenants.uma, tenants.pep_acme, tenants.pep_globex):
        response = _logs(tenants, token)
        assert response.status_code == 403
        assert response.mimetype == PROBLEM
    assert _logs(tenants, officer, "").status_code == 400  # an officer must name the account
    assert len(_ok(_logs(tenants, tenants.root, ""))["entries"]) == 1
    assert len(_ok(_logs(tenants, tenants.ada))["entries"]) == 1  # admins read audit too


def test_a_full_queue_drops_and_counts_and_never_blocks(make_service: Any, sqlite_url: str) -> None:
    service: Service = make_service(sqlite_url, decision_log_queue_size=2)
    service.account("acme")
    pep = service.caller("pep-acme", roles={"acme": ["service"]}, kind="service")
    service.caller("ada", roles={"acme": ["admin"]})
    root = service.caller("root", platform_admin=True)
    for _ in range(5):
        answer = _ok(service.request("POST", "/access/v1/evaluation", pep, json=evaluation()))
        assert answer["decision"] is True
    page = _ok(service.request("GET", "/v1/decision-logs?account_id=acme", root))
    assert len(page["entries"]) == 2
    assert page["dropped"] == 3


def test_the_retention_sweep_deletes_old_entries(tenants: Tenants, officer: str) -> None:
    _ok(tenants.post("/access/v1/evaluation", evaluation("ada", "delete")))
    log = get_decision_log(tenants.service.app)
    log.flush()
    assert log.sweep(now=datetime.now(UTC) + timedelta(days=89)) == 0
    assert log.sweep(now=datetime.now(UTC) + timedelta(days=91)) == 1
    assert _ok(_logs(tenants, officer))["entries"] == []


def test_metrics_are_404_without_a_configured_token(tenants: Tenants) -> None:
    response = tenants.service.request("GET", "/metrics", tenants.root)
    assert response.status_code == 404
    assert response.mimetype == PROBLEM


def test_metrics_need_the_metrics_token(make_service: Any, sqlite_url: str) -> None:
    service: Service = make_service(sqlite_url, metrics_token="scrape-me")
    service.account("acme")
    pep = service.caller("pep-acme", roles={"acme": ["service"]}, kind="service")
    service.caller("ada", roles={"acme": ["admin"]})
    _ok(service.request("POST", "/access/v1/evaluation", pep, json=evaluation()))
    _ok(service.request("POST", "/access/v1/evaluation", pep, json=evaluation()))
    for token in (None, pep, "wrong"):
        response = service.request("GET", "/metrics", token)
        assert response.status_code == 401
        assert response.mimetype == PROBLEM
    response = service.request("GET", "/metrics", "scrape-me")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    for name in (
        'policy_service_request_duration_seconds_bucket{le="0.001",method="POST",'
        'route="/access/v1/evaluation",status="200"}',
        'policy_service_decisions_total{endpoint="evaluation",outcome="allow"}',
        "policy_service_decision_cache_hit_ratio",
        "policy_service_decision_log_dropped_total",
        "policy_service_jobs",
        # Creating the account and members appended audit events in this worker.
        "policy_service_audit_append_seconds_bucket",
        "policy_service_audit_events_appended_total",
    ):
        assert name in text, name
    appended = next(
        line
        for line in text.splitlines()
        if line.startswith("policy_service_audit_events_appended_total ")
    )
    assert float(appended.split()[1]) > 0


def test_awkward_characters_survive_the_batch_write(tenants: Tenants, officer: str) -> None:
    body = evaluation("ada", "delete")
    body["resource"]["id"] = "c\\1"
    body["subject"]["properties"] = {"note": 'tab\there, "quote", back\\slash,\nline'}
    decision_id = _ok(tenants.post("/access/v1/evaluation", body))["context"]["decision_id"]
    (entry,) = [
        e for e in _ok(_logs(tenants, officer))["entries"] if e["decision_id"] == decision_id
    ]
    assert entry["resource"]["id"] == "c\\1"
    assert entry["details"]["subject_properties"] == body["subject"]["properties"]


def test_a_batch_that_does_not_fit_keeps_what_fits(make_service: Any, sqlite_url: str) -> None:
    service: Service = make_service(sqlite_url, decision_log_queue_size=3)
    service.account("acme")
    pep = service.caller("pep-acme", roles={"acme": ["service"]}, kind="service")
    root = service.caller("root", platform_admin=True)
    batch = {"evaluations": [evaluation("ada", "delete")] * 5, "options": {"include_context": True}}
    items = _ok(service.request("POST", "/access/v1/evaluations", pep, json=batch))["evaluations"]
    assert len({item["context"]["decision_id"] for item in items}) == 5
    page = _ok(service.request("GET", "/v1/decision-logs?account_id=acme", root))
    assert {e["decision_id"] for e in page["entries"]} == {
        item["context"]["decision_id"] for item in items[:3]
    }
    assert page["dropped"] == 2


def test_batch_items_without_context_are_logged_all_the_same(
    tenants: Tenants, officer: str
) -> None:
    batch = {"evaluations": [evaluation("ada", "delete"), evaluation("uma", "delete")]}
    items = _ok(tenants.post("/access/v1/evaluations", batch))["evaluations"]
    assert items == [{"decision": True}, {"decision": False}]  # the bare AuthZEN answer
    get_decision_log(tenants.service.app).flush()
    entries = _ok(_logs(tenants, officer))["entries"]
    assert [(e["subject"]["id"], e["decision"]) for e in entries[-2:]] in (
        [("ada", True), ("uma", False)],
        [("uma", False), ("ada", True)],
    )


def _batch(*items: dict[str, Any]) -> dict[str, Any]:
    return {"evaluations": list(items), "options": {"include_context": True}}


def _ids(answer: Any) -> list[str]:
    return [item["context"]["decision_id"] for item in answer["evaluations"]]


def test_a_batch_across_accounts_is_read_by_each_account_alone(tenants: Tenants) -> None:
    service = tenants.service
    both = service.caller("pep-both", roles={"acme": ["service"], "globex": ["service"]})
    cora = service.caller("cora", roles={"acme": ["compliance_officer"]})
    gail = service.caller("gail", roles={"globex": ["compliance_officer"]})
    batch = _batch(
        evaluation("ada", "delete"),
        evaluation("ada", "read", account="globex"),
        evaluation("uma", "delete"),
    )
    ids = _ids(_ok(tenants.post("/access/v1/evaluations", batch, token=both)))
    acme = _ok(_logs(tenants, cora))["entries"]
    globex = _ok(_logs(tenants, gail, "account_id=globex"))["entries"]
    assert [e["decision_id"] for e in acme] == [ids[2], ids[0]]  # newest first: by id
    assert [e["decision_id"] for e in globex] == [ids[1]]
    assert {e["account_id"] for e in acme} == {"acme"}
    assert _logs(tenants, cora, "account_id=globex").status_code == 403
    everyone = _ok(_logs(tenants, tenants.root, ""))["entries"]
    assert {e["decision_id"] for e in everyone} == set(ids)


def test_batched_and_single_decisions_page_together_newest_first(
    tenants: Tenants, officer: str
) -> None:
    first = _ok(tenants.post("/access/v1/evaluation", evaluation("ada", "read")))
    batch = _batch(*(evaluation(s, "delete") for s in ("ada", "uma", "ada", "uma", "ada")))
    batched = _ids(_ok(tenants.post("/access/v1/evaluations", batch)))
    last = _ok(tenants.post("/access/v1/evaluation", evaluation("uma", "read")))
    expected = [last["context"]["decision_id"], *reversed(batched)]
    expected.append(first["context"]["decision_id"])
    seen: list[str] = []
    query = "account_id=acme&limit=2"
    while True:
        page = _ok(_logs(tenants, officer, query))
        assert len(page["entries"]) <= 2
        seen += [e["decision_id"] for e in page["entries"]]
        if not page["next_cursor"]:
            break
        query = f"account_id=acme&limit=2&cursor={page['next_cursor']}"
    assert seen == expected


def test_batched_decisions_answer_every_filter(tenants: Tenants, officer: str) -> None:
    other = evaluation("uma", "delete")
    other["resource"]["id"] = "c-2"
    batch = _batch(evaluation("ada", "delete"), other, evaluation("ada", "read"))
    ids = _ids(_ok(tenants.post("/access/v1/evaluations", batch)))

    def found(query: str) -> list[str]:
        return [e["decision_id"] for e in _ok(_logs(tenants, officer, query))["entries"]]

    assert found("account_id=acme&subject_id=uma") == [ids[1]]
    assert found("account_id=acme&resource_id=c-2") == [ids[1]]
    assert found("account_id=acme&resource_id=c-1&subject_id=ada") == [ids[2], ids[0]]
    assert found("account_id=acme&decision=false") == [ids[1]]
    assert found("account_id=acme&subject_id=nobody") == []
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    assert found(f"account_id=acme&since={future}") == []
    assert found(f"account_id=acme&until={future}") == [ids[2], ids[1], ids[0]]
    (entry,) = [e for e in _ok(_logs(tenants, officer))["entries"] if e["decision_id"] == ids[1]]
    assert entry["subject"] == {"type": "user", "id": "uma"}
    assert entry["resource"] == {"type": "contact", "id": "c-2"}
    assert (entry["decision"], entry["reason_code"]) == (False, "not_permitted")
    assert entry["endpoint"] == "evaluations"
    assert entry["caller"] == "pep-acme"


def test_awkward_ids_and_masked_properties_survive_a_batch(tenants: Tenants, officer: str) -> None:
    awkward = 'c\\1,{"x"}\ttab\nline'
    item = evaluation("ada", "delete", name="Bea Person")
    item["resource"]["id"] = awkward
    ids = _ids(_ok(tenants.post("/access/v1/evaluations", _batch(item))))
    (entry,) = _ok(_logs(tenants, officer, "account_id=acme&resource_id=" + quote(awkward)))[
        "entries"
    ]
    assert entry["decision_id"] == ids[0]
    assert entry["resource"]["id"] == awkward
    assert entry["details"]["resource_properties"]["name"] == "***"
    assert "Bea Person" not in str(entry)


def test_the_retention_sweep_counts_and_deletes_batched_decisions(
    tenants: Tenants, officer: str
) -> None:
    batch = _batch(evaluation("ada", "delete"), evaluation("uma", "delete"))
    _ok(tenants.post("/access/v1/evaluations", batch))
    log = get_decision_log(tenants.service.app)
    log.flush()
    assert log.sweep(now=datetime.now(UTC) + timedelta(days=89)) == 0
    assert log.sweep(now=datetime.now(UTC) + timedelta(days=91)) == 2
    assert _ok(_logs(tenants, officer))["entries"] == []


def test_decisions_answered_alone_are_written_together_each_with_its_own_id_and_request(
    tenants: Tenants, officer: str
) -> None:
    log = get_decision_log(tenants.service.app)
    log.flush()  # what setting the tenants up asked
    ids = []
    for n in range(3):
        answer = _ok(
            tenants.post(
                "/access/v1/evaluation",
                evaluation("ada", "delete"),
                headers={"X-Request-ID": f"req-{n}"},
            )
        )
        ids.append(answer["context"]["decision_id"])
    assert log.flush() == 3
    with get_state(tenants.service.app).session_factory() as session:
        rows = session.execute(select(decision_log_batches_t)).mappings().all()
        assert session.execute(select(func.count()).select_from(decision_logs_t)).scalar() == 0
    assert [(row["endpoint"], row["decisions"]) for row in rows] == [("evaluation", 3)]
    entries = _ok(_logs(tenants, officer))["entries"]
    assert [(e["decision_id"], e["request_id"]) for e in entries] == [
        (ids[2], "req-2"),
        (ids[1], "req-1"),
        (ids[0], "req-0"),
    ]
    times = [e["time"] for e in entries]
    assert times == sorted(times, reverse=True)


def test_the_mask_knows_a_name_in_any_case_spacing_or_width(tenants: Tenants, officer: str) -> None:
    body = evaluation("ada", "delete")
    variants = [
        "Email",
        "EMAIL",
        " email ",
        "\uff45\uff4d\uff41\uff49\uff4c",  # full-width
        "email\u200b",  # a zero-width space
        "e\u2011mail",  # a non-breaking hyphen
        "EMA\u0130L",  # a dotted capital I
        "First Name",
        "first-name",
    ]
    body["subject"]["properties"] = {
        name: f"leak{n}@example.com" for n, name in enumerate(variants)
    }
    body["resource"]["properties"]["contact"] = {"Phone": "+1 555 0100", "note": "kept"}
    batch = _batch(body)
    ids = [_ok(tenants.post("/access/v1/evaluation", body))["context"]["decision_id"]]
    ids += _ids(_ok(tenants.post("/access/v1/evaluations", batch)))
    entries = {e["decision_id"]: e for e in _ok(_logs(tenants, officer))["entries"]}
    for decision_id in ids:
        details = entries[decision_id]["details"]
        assert set(details["subject_properties"].values()) == {"***"}
        assert details["resource_properties"]["contact"] == {"Phone": "***", "note": "kept"}
    assert "leak" not in str(entries)
    assert "555" not in str(entries)


def test_items_that_could_not_be_decided_have_ids_and_are_logged_as_refusals(
    tenants: Tenants,
) -> None:
    bad = evaluation("ada", "delete")
    bad["resource"]["id"] = ""
    batch = _batch(42, bad, evaluation("ada", "delete"))
    answer = _ok(tenants.post("/access/v1/evaluations", batch))
    ids = _ids(answer)
    assert [item["decision"] for item in answer["evaluations"]] == [False, False, True]
    assert "error" in answer["evaluations"][0]["context"]
    prefix = ids[0][:-8]
    assert ids == [f"{prefix}{n:08x}" for n in range(3)]  # the suffix is the item's index
    entries = {e["decision_id"]: e for e in _ok(_logs(tenants, tenants.root, ""))["entries"]}
    assert [entries[i]["decision"] for i in ids] == [False, False, True]
    assert entries[ids[0]]["reason_code"] == entries[ids[1]]["reason_code"] != "allowed"
    # An item that names an account the caller may ask in is logged in it; one that names
    # none (or another tenant's) only where platform admins read.
    assert [entries[i]["account_id"] for i in ids] == [None, "acme", "acme"]
    theirs = evaluation("ada", "delete", account="globex")
    theirs["resource"]["id"] = ""
    (foreign,) = _ids(_ok(tenants.post("/access/v1/evaluations", _batch(theirs))))
    entries = {e["decision_id"]: e for e in _ok(_logs(tenants, tenants.root, ""))["entries"]}
    assert entries[foreign]["account_id"] is None


AWKWARD = ['c\\1,{"x"}', "tab\there", "line\nbreak\rreturn", "NULL", "\\N", "é 😀 ß", "{}", ""]


@pytest.mark.parametrize("awkward", AWKWARD)
def test_every_column_of_a_row_survives_the_write_as_it_was(engine: Any, awkward: str) -> None:
    """The rows go to PostgreSQL as COPY text formatted by the service itself: whatever a
    caller may send (the edge refuses only NUL) must come back exactly, and be found by the
    array filters."""
    import orjson
    from sqlalchemy.orm import Session

    from policy_service.storage import decision_logs

    at = datetime(2026, 11, 22, 12, 0, 0, 123456, tzinfo=UTC)
    items = [[0, "user", awkward, "contact.delete", "contact", awkward, True, awkward, "7", None]]
    row = (
        "abcdef0100000000",
        at,
        at,
        "evaluations",
        awkward or None,
        awkward or "caller",
        awkward or None,
        awkward or None,
        1,
        1,
        [awkward],
        [awkward],
        orjson.dumps(items).decode(),
    )
    decision_logs.write_batch(engine, [row])
    with Session(engine) as session:
        (entry,) = decision_logs.find(
            session, decision_logs.LogQuery(subject_id=awkward, resource_id=awkward), 10
        )
    assert entry["subject_id"] == entry["resource_id"] == entry["reason_code"] == awkward
    assert (entry["account_id"], entry["on_behalf_of"], entry["request_id"]) == (
        awkward or None,
        awkward or None,
        awkward or None,
    )
    assert entry["caller_id"] == (awkward or "caller")
    assert entry["decided_at"] == at
