"""The audit log as compliance officers and platform admins use it, on both databases."""

import io
import json
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import text

from audit import verify_export
from tests.integration.conftest import Tenants, with_officers


@pytest.fixture
def audited(tenants: Tenants) -> Tenants:
    service = with_officers(tenants).service
    # More history: one refused attempt, a service acting for a user.
    service.request(
        "PUT", "/v1/accounts/globex/members/zed", tenants.ada, json={"roles": ["admin"]}
    )
    service.request(
        "PUT",
        "/v1/accounts/acme/members/yan",
        tenants.pep_acme,
        json={"roles": ["user"]},
        headers={"X-On-Behalf-Of": "ada", "X-Request-ID": "req-yan-1"},
    )
    return tenants


def events(tenants: Tenants, token: str, **query: Any) -> Any:
    query_string = urlencode(query)
    return tenants.service.request("GET", f"/v1/audit/events?{query_string}", token)


def test_a_membership_change_is_recorded_with_actor_roles_and_before_after(
    audited: Tenants,
) -> None:
    cora = audited.service.tokens["cora"]
    found = events(audited, cora, account_id="acme", action="membership.changed").get_json()
    zed = next(e for e in found["events"] if e["target_id"] == "zed")
    assert zed["actor_id"] == "ada"
    assert zed["actor_roles"] == ["admin"]
    assert zed["outcome"] == "succeeded"
    assert zed["details"] == {"roles_before": [], "roles_after": ["user"]}
    assert zed["policy_version"] == audited.service.state.runtime.version
    assert len(zed["hash"]) == 64


def test_a_service_acting_for_a_user_records_both_and_the_request_id(audited: Tenants) -> None:
    cora = audited.service.tokens["cora"]
    found = events(audited, cora, account_id="acme", request_id="req-yan-1").get_json()["events"]
    assert len(found) == 1
    assert found[0]["actor_id"] == "ada"
    assert found[0]["client_id"] == "pep-acme"
    assert found[0]["on_behalf_of"] == "ada"


def test_a_refused_attempt_is_recorded_in_the_account_it_was_aimed_at(audited: Tenants) -> None:
    gail = audited.service.tokens["gail"]
    found = events(audited, gail, account_id="globex", outcome="denied").get_json()["events"]
    # Refused at the edge, before the route read anything: ada has no part in globex.
    assert [(e["action"], e["actor_id"], e["reason_code"]) for e in found] == [
        ("account.access", "ada", "no_role_in_account")
    ]
    assert found[0]["details"]["request"] == "PUT /v1/accounts/<account_id>/members/<user_id>"


def test_an_officer_reads_their_own_account_only(audited: Tenants) -> None:
    cora = audited.service.tokens["cora"]
    assert events(audited, cora, account_id="acme").status_code == 200
    refused = events(audited, cora, account_id="globex")
    assert refused.status_code == 403
    assert refused.mimetype == "application/problem+json"
    # All accounts at once is for platform admins: an officer is told to name the account.
    everything = events(audited, cora)
    assert everything.status_code == 400
    assert "account_id is required" in everything.get_json()["detail"]


def test_users_and_services_may_not_read_the_audit_log(audited: Tenants) -> None:
    assert events(audited, audited.uma, account_id="acme").status_code == 403
    assert events(audited, audited.pep_acme, account_id="acme").status_code == 403


def test_a_platform_admin_reads_every_account(audited: Tenants) -> None:
    found = events(audited, audited.root, limit=500).get_json()["events"]
    assert {e["account_id"] for e in found} >= {"acme", "globex"}


def test_events_come_newest_first_in_cursor_pages(audited: Tenants) -> None:
    for user in ("u1", "u2"):
        audited.service.request(
            "PUT", f"/v1/accounts/acme/members/{user}", audited.ada, json={"roles": ["user"]}
        )
    first = events(audited, audited.root, account_id="acme", limit=2).get_json()
    second = events(
        audited, audited.root, account_id="acme", limit=2, cursor=first["next_cursor"]
    ).get_json()
    ids = [e["event_id"] for e in first["events"] + second["events"]]
    assert ids == sorted(ids, reverse=True)
    assert len(set(ids)) == len(ids) == 4


def test_bad_filters_are_400s(audited: Tenants) -> None:
    for query in ({"outcome": "maybe"}, {"limit": 0}, {"since": "yesterday"}, {"colour": "x"}):
        response = events(audited, audited.root, **query)
        assert response.status_code == 400, query
        assert response.mimetype == "application/problem+json"
    assert events(audited, audited.root, cursor="garbage").status_code == 400


def test_one_event_is_readable_by_id_only_by_those_who_see_its_account(audited: Tenants) -> None:
    root_view = events(audited, audited.root, account_id="globex").get_json()["events"][0]
    path = f"/v1/audit/events/{root_view['event_id']}"
    assert audited.service.request("GET", path, audited.service.tokens["gail"]).status_code == 200
    # Outside the event's account it is answered as if it did not exist: ids are not probed.
    foreign = audited.service.request("GET", path, audited.service.tokens["cora"])
    unknown = audited.service.request(
        "GET", "/v1/audit/events/nope", audited.service.tokens["cora"]
    )
    assert foreign.status_code == unknown.status_code == 404
    assert foreign.get_json()["type"] == unknown.get_json()["type"]
    missing = audited.service.request("GET", "/v1/audit/events/nope", audited.root)
    assert missing.status_code == 404


def test_an_export_streams_verifies_offline_and_is_itself_recorded(audited: Tenants) -> None:
    cora = audited.service.tokens["cora"]
    response = audited.service.request("GET", "/v1/audit/export?account_id=acme", cora)
    assert response.status_code == 200
    assert response.mimetype == "application/x-ndjson"
    body = response.get_data()
    public_key = audited.service.client.get("/v1/audit/public-key").get_data(as_text=True)
    report = verify_export(io.BytesIO(body), public_key)
    assert report.ok, report
    assert report.events_checked == 3  # two membership changes and the export itself
    recorded = events(audited, cora, account_id="acme", action="audit.export").get_json()
    assert len(recorded["events"]) == 1
    assert recorded["events"][0]["actor_id"] == "cora"


def test_a_csv_export_is_for_people(audited: Tenants) -> None:
    cora = audited.service.tokens["cora"]
    response = audited.service.request("GET", "/v1/audit/export?account_id=acme&format=csv", cora)
    assert response.status_code == 200
    lines = response.get_data(as_text=True).splitlines()
    assert "action" in lines[0]
    assert len(lines) >= 4


def test_verification_passes_and_is_itself_recorded(audited: Tenants) -> None:
    cora = audited.service.tokens["cora"]
    response = audited.service.request(
        "POST", "/v1/audit/verify", cora, json={"account_id": "acme"}
    )
    assert response.status_code == 200
    report = response.get_json()
    assert report["ok"] is True
    assert report["events_checked"] == 2  # the two membership changes in acme
    recorded = events(audited, cora, account_id="acme", action="audit.verify").get_json()["events"]
    assert recorded[0]["details"]["ok"] is True


def test_verification_reports_a_tampered_event(audited: Tenants) -> None:
    engine = audited.service.state.engine
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
        else:
            triggers = "SELECT name FROM sqlite_master WHERE type='trigger' AND tbl_name=:t"
            for (name,) in connection.execute(text(triggers), {"t": "audit_events"}).all():
                connection.execute(text(f'DROP TRIGGER "{name}"'))
        connection.execute(
            text("UPDATE audit_events SET target_id = 'x' WHERE chain = 'acme' AND seq = 2")
        )
    response = audited.service.request(
        "POST", "/v1/audit/verify", audited.root, json={"account_id": "acme"}
    )
    report = response.get_json()
    assert report["ok"] is False
    assert report["first_bad_seq"] == 2


def test_the_database_refuses_to_change_or_delete_audit_events(audited: Tenants) -> None:
    engine = audited.service.state.engine
    for statement in ("UPDATE audit_events SET outcome = 'failed'", "DELETE FROM audit_events"):
        with (
            pytest.raises(Exception, match=r"(?i)append-only|not allowed|refuse"),
            engine.begin() as connection,
        ):
            connection.execute(text(statement))


def test_a_policy_reload_is_recorded_in_the_platform_chain(audited: Tenants) -> None:
    audited.service.request("POST", "/v1/policy/reload", audited.root)
    found = events(audited, audited.root, action="policy.reload").get_json()["events"]
    assert found[0]["account_id"] is None
    assert found[0]["chain"] == "platform"


def test_checkpoints_are_listed_and_signed_on_demand(audited: Tenants) -> None:
    cora = audited.service.tokens["cora"]
    signed = audited.service.request(
        "POST", "/v1/audit/checkpoints", cora, json={"account_id": "acme"}
    )
    assert signed.status_code == 200
    listed = audited.service.request("GET", "/v1/audit/checkpoints?account_id=acme", cora)
    checkpoints = listed.get_json()["checkpoints"]
    assert checkpoints[-1]["seq"] == signed.get_json()["seq"]
    assert json.loads(json.dumps(checkpoints))  # plain JSON


def test_the_public_key_needs_no_token(audited: Tenants) -> None:
    response = audited.service.client.get("/v1/audit/public-key")
    assert response.status_code == 200
    assert "BEGIN PUBLIC KEY" in response.get_data(as_text=True)


def test_an_optional_body_may_be_left_out(audited: Tenants) -> None:
    """POST /v1/audit/verify takes an optional body: none at all verifies every chain."""
    response = audited.service.client.post(
        "/v1/audit/verify", headers={"Authorization": f"Bearer {audited.root}"}
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["ok"] is True
