"""A role in one account grants nothing in another, on every route the app has.

The walk below reads the app's URL map, so a route added later is called too: if it forgets
to authorize before it reads, or leaks what it read, this test fails.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import text

from tests.conftest import Service

PROBLEM = "application/problem+json"
# What only tenant B knows: none of it may reach a caller from outside B.
B_SECRETS = (
    "Bea Secret",
    "bea.secret@b.example",
    "+1 555 0100",
    "Bravo Corp",
    "matter-b-secret",
    "b-secret-tag",
    "note-b-secret",
    "hooks.bravo-secret.example",
)
# Routes that hold no tenant's data, open to any authenticated caller.
GLOBAL_READS = {
    ("GET", "/v1/cascade-profiles"),
    ("GET", "/v1/cascade-profiles/<name>"),
    ("GET", "/v1/audit/public-key"),
    ("GET", "/v1/accounts"),  # lists the caller's own accounts only
    ("GET", "/v1/dsr"),  # lists requests about the caller's accounts only
}
SKIPPED = {
    "static", "api-docs.openapi_json", "api-docs.docs", "api-docs.docs_asset",
    "console.asset",  # the console's stylesheet and htmx: the same for everyone
}  # fmt: skip
# The console (/console) signs in with a session cookie, not a bearer token: a caller
# without one is sent to the sign-in page (GET) or refused (POST: 401 without a session,
# 400 without the CSRF token the sign-in form carries). Its pages are HTML, not problems.
CONSOLE_SIGN_IN = "/console/sign-in"


def _console_refused(method: str, rule: str, response: Any) -> bool:
    if method == "GET" and rule == CONSOLE_SIGN_IN:
        return response.status_code == 200  # the form, and nothing else
    if method == "GET":
        return response.status_code == 302 and response.headers["Location"].endswith(
            CONSOLE_SIGN_IN
        )
    return response.status_code in (400, 401, 403)


@dataclass
class World:
    service: Service
    values: dict[str, str]
    outsiders: dict[str, tuple[str, dict[str, str]]]


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    return response.get_json()


@pytest.fixture
def world(service: Service) -> World:
    """Tenant B with a contact, records, a hold, a rule, a job, a request and events; tenant A
    with an admin and a service."""
    service.account("a", name="Alpha")
    service.account("b", name="Bravo Corp", purge_enabled=True)
    root = service.caller("root", platform_admin=True)
    bob = service.caller("bob", roles={"b": ["admin"]})
    officer = service.caller("cora", roles={"b": ["compliance_officer"]})
    alice = service.caller("alice", roles={"a": ["admin"]})
    svc_a = service.caller("svc-a", roles={"a": ["service"]}, kind="service")
    nobody = service.caller("nobody")

    def call(method: str, path: str, token: str, body: Any = None) -> Any:
        return service.request(method, path, token, json=body)

    contact = {"id": "b-c1", "name": "Bea Secret", "email": "bea.secret@b.example",
               "phone": "+1 555 0100", "tags": ["b-secret-tag"]}  # fmt: skip
    _ok(call("POST", "/v1/accounts/b/contacts", bob, contact), 201)
    _ok(call("POST", "/v1/accounts/b/contacts", bob, {"id": "b-c2", "name": "Bea Secret"}), 201)
    _ok(call("POST", "/v1/accounts/b/contacts", bob, {"id": "b-c3", "name": "Bea Secret"}), 201)
    record = _ok(
        call("POST", "/v1/accounts/b/contacts/b-c1/records", bob,
             {"kind": "workflow_enrollments", "data": {"text": "note-b-secret"}}),
        201,
    )  # fmt: skip
    _ok(
        call("POST", "/v1/accounts/b/contacts/b-c1/legal-holds", officer,
             {"reason": "matter-b-secret"}),
        201,
    )  # fmt: skip
    hook = _ok(
        call("POST", "/v1/accounts/b/webhooks", bob,
             {"url": "https://hooks.bravo-secret.example/in", "events": ["contact.deleted"]}),
        201,
    )  # fmt: skip
    _ok(call("POST", "/v1/accounts/b/dsr-systems", bob, {"name": "b-mirror"}), 201)
    _ok(call("POST", "/v1/accounts/b/contacts/b-c2/delete", bob, {"reason_code": "duplicate"}))
    deliveries = _ok(call("GET", f"/v1/accounts/b/webhooks/{hook['id']}/deliveries", bob))
    rule = _ok(
        call("POST", "/v1/accounts/b/deletion-rules", bob,
             {"tag": "b-secret-tag-rule", "reason_code": "data_cleanup"}),
        201,
    )  # fmt: skip
    job = _ok(
        call("POST", "/v1/accounts/b/contacts/bulk-delete", bob,
             {"ids": ["b-c3"], "confirm": "DELETE", "expected_count": 1,
              "reason_code": "duplicate"}),
        202,
    )  # fmt: skip
    dsr = _ok(
        call("POST", "/v1/dsr", officer,
             {"type": "erasure", "identity": {"email": "bea.secret@b.example"},
              "jurisdiction": "gdpr", "accounts": ["b"],
              "received_at": "2026-11-01T00:00:00Z"}),
        201,
    )  # fmt: skip
    events = _ok(call("GET", "/v1/audit/events?account_id=b&limit=5", root))["events"]
    values = {
        "account_id": "b",
        "contact_id": "b-c1",
        "record_id": record["id"],
        "user_id": "bob",
        "rule_id": rule["id"],
        "job_id": job["id"],
        "dsr_id": dsr["id"],
        "event_id": events[0]["event_id"],
        "webhook_id": hook["id"],
        "delivery_id": deliveries["deliveries"][0]["id"],
        "system": "b-mirror",
        "name": "trash-retains-all",
        "step": "approve",  # a console request step
        "hold_id": "hold-1",  # a console hold's lift button
        "fmt": "csv",  # a console audit export
        "action": "delete",  # a console contact action and its impact preview
        "document": "certificate",  # a console request download
    }
    outsiders = {
        "no role anywhere": (nobody, {}),
        "an admin of another account": (alice, {}),
        "a service of another account acting for B's admin": (
            svc_a, {"X-On-Behalf-Of": "bob"}
        ),
    }  # fmt: skip
    return World(service, values, outsiders)


def _bodies(values: dict[str, str]) -> dict[tuple[str, str], Any]:
    """A valid body per write route, so that only authorization can refuse it."""
    evaluation = {
        "subject": {"type": "user", "id": "bob"},
        "action": {"name": "delete"},
        "resource": {"type": "contact", "id": "b-c1", "properties": {"account_id": "b"}},
    }
    return {
        ("POST", "/access/v1/evaluation"): evaluation,
        ("POST", "/access/v1/evaluations"): {**evaluation, "evaluations": [{}]},
        ("POST", "/v1/decisions/explain"): evaluation,
        ("POST", "/access/v1/search/resource"): {
            "subject": {"type": "user", "id": "bob"}, "action": {"name": "read"},
            "resource": {"type": "contact", "properties": {"account_id": "b"}},
        },
        ("POST", "/access/v1/search/subject"): {
            "subject": {"type": "user"}, "action": {"name": "read"},
            "resource": evaluation["resource"],
        },
        ("POST", "/access/v1/search/action"): {
            "subject": evaluation["subject"], "resource": evaluation["resource"],
        },
        ("POST", "/v1/accounts"): {"id": "c", "name": "C"},
        ("PATCH", "/v1/accounts/<account_id>"): {"purge_enabled": False},
        ("PUT", "/v1/accounts/<account_id>/members/<user_id>"): {"roles": ["admin"]},
        ("POST", "/v1/accounts/<account_id>/contacts"): {"id": "x-1", "name": "X"},
        ("POST", "/v1/accounts/<account_id>/contacts/<contact_id>/records"): {
            "kind": "notes", "data": {"text": "x"}
        },
        ("POST", "/v1/accounts/<account_id>/contacts/<contact_id>/delete"): {
            "reason_code": "duplicate", "confirm": "DELETE"
        },
        ("POST", "/v1/accounts/<account_id>/contacts/<contact_id>/purge"): {"confirm": "PURGE"},
        ("POST", "/v1/accounts/<account_id>/contacts/<contact_id>/legal-holds"): {"reason": "r"},
        ("PATCH", "/v1/accounts/<account_id>/contacts/<contact_id>/records/<record_id>"): {
            "status": "ended"
        },
        ("POST", "/v1/accounts/<account_id>/contacts/bulk-restore"): {
            "ids": ["b-c2"], "expected_count": 1
        },
        ("POST", "/v1/accounts/<account_id>/contacts/bulk-delete"): {
            "ids": ["b-c1"], "confirm": "DELETE", "expected_count": 1, "reason_code": "duplicate"
        },
        ("POST", "/v1/accounts/<account_id>/deletion-rules"): {
            "tag": "t", "reason_code": "data_cleanup"
        },
        ("POST", "/v1/accounts/<account_id>/webhooks"): {
            "url": "https://x.example/h", "events": ["contact.deleted"]
        },
        ("POST", "/v1/accounts/<account_id>/dsr-systems"): {"name": "x"},
        ("POST", "/v1/dsr/<dsr_id>/systems/<system>/confirm"): {"counts": {"x": 1}},
        ("POST", "/v1/dsr"): {
            "type": "access", "identity": {"email": "bea.secret@b.example"},
            "jurisdiction": "gdpr", "accounts": ["b"], "received_at": "2026-11-01T00:00:00Z"
        },
        ("POST", "/v1/dsr/<dsr_id>/verify-identity"): {"method": "id card"},
        ("POST", "/v1/dsr/<dsr_id>/deny"): {"exemption_code": "legal_claims", "text": "x"},
        ("POST", "/v1/dsr/<dsr_id>/extend"): {"reason": "complex"},
        ("POST", "/v1/audit/verify"): {"account_id": "b"},
        ("POST", "/v1/policy/reload"): {},
        ("POST", "/v1/retention/sweep"): {},
        ("POST", "/v1/audit/checkpoints"): {"account_id": "b"},
    }  # fmt: skip


def _queries() -> dict[str, str]:
    return {
        "/v1/audit/events": "?account_id=b",
        "/v1/audit/export": "?account_id=b",
        "/v1/audit/verify": "?account_id=b",
        "/v1/audit/checkpoints": "?account_id=b",
        "/v1/audit/consistency": "?account_id=b&first=1&second=1",
        "/v1/decision-logs": "?account_id=b",
        "/v1/accounts/<account_id>/contacts/<contact_id>/impact": "?action=purge",
        "/v1/jobs/<job_id>/items": "?status=done",
    }


def _routes(world: World) -> list[tuple[str, str, str]]:
    """(method, rule, concrete path) for every route of the app but docs and static files."""
    routes = []
    for rule in world.service.app.url_map.iter_rules():
        if rule.endpoint in SKIPPED:
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: world.values[m.group(1)], rule.rule)
        path += _queries().get(rule.rule, "")
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            routes.append((method, rule.rule, path))
    return sorted(routes)


def test_every_route_refuses_callers_from_outside_the_tenant_and_leaks_nothing(
    world: World,
) -> None:
    bodies = _bodies(world.values)
    public = {("GET", "/health"), ("GET", "/.well-known/authzen-configuration")}
    failures = []
    called = 0
    for who, (token, headers) in world.outsiders.items():
        for method, rule, path in _routes(world):
            if (method, rule) in public:
                continue
            response = world.service.request(
                method, path, token, json=bodies.get((method, rule)), headers=headers
            )
            called += 1
            body = response.get_data(as_text=True)
            leaked = [secret for secret in B_SECRETS if secret in body]
            if leaked:
                failures.append(f"{who}: {method} {path} leaked {leaked}")
            if (method, rule) in GLOBAL_READS and response.status_code == 200:
                continue
            if rule.startswith("/console"):
                if not _console_refused(method, rule, response):
                    failures.append(f"{who}: {method} {path} -> {response.status_code}")
                continue
            if rule == "/access/v1/evaluations" and _every_item_refused(response):
                continue  # a batch answers each item: here every one with its 403
            if response.status_code not in (401, 403, 404) or response.mimetype != PROBLEM:
                failures.append(f"{who}: {method} {path} -> {response.status_code} {body[:160]}")
    assert called > 100
    assert not failures, "\n".join(failures)


def _every_item_refused(response: Any) -> bool:
    if response.status_code != 200:
        return False
    items = response.get_json()["evaluations"]
    return all(not item["decision"] and item["context"]["error"]["status"] == 403 for item in items)


def test_every_route_of_the_app_is_walked(world: World) -> None:
    walked = {(method, rule) for method, rule, _ in _routes(world)}
    assert ("GET", "/v1/accounts/<account_id>/contacts/<contact_id>/impact") in walked
    assert len(walked) >= 50


@pytest.mark.parametrize("who", ["no role anywhere", "an admin of another account"])
def test_unknown_and_foreign_accounts_and_contacts_answer_alike(world: World, who: str) -> None:
    token, headers = world.outsiders[who]
    job, dsr, event = (world.values[k] for k in ("job_id", "dsr_id", "event_id"))
    pairs = [
        ("/v1/accounts/b/contacts/b-c1", "/v1/accounts/zzz/contacts/b-c1"),
        ("/v1/accounts/b/contacts/b-c1", "/v1/accounts/b/contacts/nope"),
        ("/v1/accounts/b/contacts/b-c1/impact?action=purge",
         "/v1/accounts/zzz/contacts/nope/impact?action=purge"),
        ("/v1/accounts/b/trash", "/v1/accounts/zzz/trash"),
        ("/v1/accounts/b", "/v1/accounts/zzz"),
        (f"/v1/accounts/b/webhooks/{world.values['webhook_id']}",
         "/v1/accounts/zzz/webhooks/whep_nope"),
        (f"/v1/dsr/{dsr}/systems", "/v1/dsr/dsr_nope/systems"),
        (f"/v1/jobs/{job}", "/v1/jobs/job_nope"),
        (f"/v1/dsr/{dsr}", "/v1/dsr/dsr_nope"),
        (f"/v1/audit/events/{event}", "/v1/audit/events/00000000-0000-0000-0000-000000000000"),
        ("/v1/audit/events?account_id=b", "/v1/audit/events?account_id=zzz"),
    ]  # fmt: skip
    for real, made_up in pairs:
        one = world.service.request("GET", real, token, headers=headers)
        other = world.service.request("GET", made_up, token, headers=headers)
        assert one.status_code == other.status_code, (real, made_up)
        assert one.status_code in (403, 404)
        assert one.get_json()["type"] == other.get_json()["type"], (real, made_up)


def test_a_refusal_naming_an_account_that_does_not_exist_creates_no_chain(world: World) -> None:
    nobody, _ = world.outsiders["no role anywhere"]
    for index in range(5):
        world.service.request("GET", f"/v1/accounts/made-up-{index}/contacts", nobody)
        world.service.request("GET", f"/v1/audit/events?account_id=made-up-{index}", nobody)
    with world.service.state.engine.connect() as connection:
        chains = set(connection.execute(text("SELECT chain FROM audit_chain_heads")).scalars())
        recorded = connection.execute(
            text("SELECT count(*) FROM audit_events WHERE details LIKE '%made-up-%'")
        ).scalar_one()
    assert not any("made-up" in chain for chain in chains)
    assert recorded >= 10  # each refusal is still on record, in the platform chain
