"""Issue 10 over HTTP: Merkle checkpoints, inclusion and consistency proofs, signed exports."""

from __future__ import annotations

import io
from typing import Any

import pytest

from audit import (
    NOTE_KEY_NAME,
    load_public_key,
    verify_consistency_proof,
    verify_export,
    verify_inclusion_proof,
)
from audit.note import open_note
from tests.integration.conftest import Tenants, with_officers


@pytest.fixture
def audited(tenants: Tenants) -> Tenants:
    return with_officers(tenants)


def _get(tenants: Tenants, path: str, token: str) -> Any:
    return tenants.service.request("GET", path, token)


def _sign(tenants: Tenants, token: str) -> dict[str, Any]:
    response = tenants.service.request(
        "POST", "/v1/audit/checkpoints", token, json={"account_id": "acme"}
    )
    assert response.status_code == 200, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def _public_key(tenants: Tenants) -> Any:
    return load_public_key(tenants.service.client.get("/v1/audit/public-key").get_data())


def test_checkpoints_carry_tree_size_root_signed_at_and_a_signed_note(audited: Tenants) -> None:
    cora = audited.service.tokens["cora"]
    signed = _sign(audited, cora)
    listed = _get(audited, "/v1/audit/checkpoints?account_id=acme", cora).get_json()
    newest = listed["checkpoints"][-1]
    assert newest["tree_size"] == newest["seq"] == signed["tree_size"]
    assert len(newest["root_hash"]) == 64
    assert newest["signed_at"] == newest["created_at"]
    text = open_note(newest["note"], NOTE_KEY_NAME, _public_key(audited))
    assert text.splitlines()[1] == str(newest["tree_size"])


def test_an_event_proof_verifies_offline_and_is_hidden_from_other_tenants(
    audited: Tenants,
) -> None:
    cora = audited.service.tokens["cora"]
    event = _get(audited, "/v1/audit/events?account_id=acme&limit=1", cora).get_json()
    event_id = event["events"][0]["event_id"]
    _sign(audited, cora)
    response = _get(audited, f"/v1/audit/events/{event_id}/proof", cora)
    assert response.status_code == 200, response.get_json()
    proof = response.get_json()
    assert set(proof) >= {"chain", "leaf_index", "tree_size", "leaf_hash", "audit_path"}
    assert proof["checkpoint"]["tree_size"] == proof["tree_size"]
    assert verify_inclusion_proof(proof, _public_key(audited)) is None
    size = proof["tree_size"]
    pinned = _get(audited, f"/v1/audit/events/{event_id}/proof?tree_size={size}", cora)
    assert pinned.get_json()["audit_path"] == proof["audit_path"]
    # Another tenant's officer: the same 404 as an id that does not exist.
    gail = audited.service.tokens["gail"]
    foreign = _get(audited, f"/v1/audit/events/{event_id}/proof", gail)
    unknown = _get(audited, "/v1/audit/events/nope/proof", gail)
    assert foreign.status_code == unknown.status_code == 404
    assert foreign.get_json()["type"] == unknown.get_json()["type"]
    no_such_size = _get(audited, f"/v1/audit/events/{event_id}/proof?tree_size=999999", cora)
    assert no_such_size.status_code == 404


def test_a_consistency_proof_between_two_checkpoints_verifies_offline(audited: Tenants) -> None:
    cora = audited.service.tokens["cora"]
    first = _sign(audited, cora)["tree_size"]
    audited.service.request(
        "PUT", "/v1/accounts/acme/members/zoe", audited.ada, json={"roles": ["user"]}
    )
    second = _sign(audited, cora)["tree_size"]
    assert second > first
    path = f"/v1/audit/consistency?account_id=acme&first={first}&second={second}"
    response = _get(audited, path, cora)
    assert response.status_code == 200, response.get_json()
    assert verify_consistency_proof(response.get_json(), _public_key(audited)) is None
    assert _get(audited, path, audited.service.tokens["gail"]).status_code == 403
    missing = f"/v1/audit/consistency?account_id=acme&first={first + 100}&second={first + 100}"
    assert _get(audited, missing, cora).status_code == 404
    backwards = f"/v1/audit/consistency?account_id=acme&first={second}&second={first}"
    assert _get(audited, backwards, cora).status_code == 400


def test_an_export_over_http_ends_signed(audited: Tenants) -> None:
    cora = audited.service.tokens["cora"]
    body = _get(audited, "/v1/audit/export?account_id=acme", cora).get_data()
    report = verify_export(io.BytesIO(body), _public_key(audited))
    assert report.ok, report
    assert report.unanchored_events == 0
    cut = b"".join(body.splitlines(keepends=True)[:-2]) + body.splitlines(keepends=True)[-1]
    assert not verify_export(io.BytesIO(cut), _public_key(audited)).ok


def test_a_proof_the_tampered_log_cannot_give_answers_409_not_500(audited: Tenants) -> None:
    from tests.audit.conftest import disable_append_only

    cora = audited.service.tokens["cora"]
    for role in ("user", "admin", "user"):
        audited.service.request(
            "PUT", "/v1/accounts/acme/members/zoe", audited.ada, json={"roles": [role]}
        )
    size = _sign(audited, cora)["tree_size"]
    assert size >= 3
    engine = audited.service.state.engine
    with engine.connect() as connection:
        first = connection.exec_driver_sql(
            "SELECT event_id FROM audit_events WHERE chain = 'acme' AND seq = 1"
        ).scalar_one()
    disable_append_only(engine)
    with engine.begin() as connection:  # a superuser removes the event next to it
        connection.exec_driver_sql("DELETE FROM audit_events WHERE chain = 'acme' AND seq = 2")
    response = _get(audited, f"/v1/audit/events/{first}/proof?tree_size={size}", cora)
    assert response.status_code == 409, response.get_json()
    assert response.mimetype == "application/problem+json"
    assert "audit verification" in response.get_json()["detail"]
    consistency = f"/v1/audit/consistency?account_id=acme&first=1&second={size}"
    assert _get(audited, consistency, cora).status_code in (404, 409)
