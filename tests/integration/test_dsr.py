"""Data-subject requests end to end, on SQLite and PostgreSQL."""

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from sqlalchemy import text

from policy_service.decisions.authorization import Caller
from policy_service.privacy import execution
from policy_service.privacy.certificate_check import verify_certificate
from policy_service.scheduler import (
    JOB_RECOVERY,
    Scheduler,
    Task,
    read_status,
    recover_jobs,
)
from tests.cli.runner import cli
from tests.conftest import Service
from tests.integration.lifecycle_fixtures import Crm, make_crm

ADA = {"email": "ada@example.com", "phone": "+44 20 7946 0000"}


@pytest.fixture
def crm(service: Service) -> Crm:
    crm = make_crm(service, "trash-retains-all")
    service.account("globex", cascade_profile="cascade-on-delete")
    service.caller("cora", roles={"acme": ["compliance_officer"], "globex": ["compliance_officer"]})
    service.caller("uma", roles={"acme": ["user"], "globex": ["user"]})
    return crm


def request(crm: Crm, body: dict[str, Any] | None = None, token: str | None = None) -> Any:
    payload = {
        "type": "erasure",
        "identity": ADA,
        "jurisdiction": "gdpr",
        "accounts": ["acme", "globex"],
        "received_at": datetime.now(UTC).isoformat(),
        "channel": "email",
        **(body or {}),
    }
    return crm.call("POST", "/v1/dsr", token or crm.officer, payload)


def step(crm: Crm, dsr_id: str, name: str, body: Any = None) -> Any:
    return crm.call("POST", f"/v1/dsr/{dsr_id}/{name}", crm.officer, body)


def run_erasure(crm: Crm) -> str:
    created = request(crm)
    assert created.status_code == 201, created.get_json()
    dsr_id = created.get_json()["id"]
    assert step(crm, dsr_id, "verify-identity", {"method": "email link"}).status_code == 200
    assert step(crm, dsr_id, "approve").status_code == 200
    executed = step(crm, dsr_id, "execute")
    assert executed.status_code == 200, executed.get_json()
    assert executed.get_json()["status"] == "completed"
    return str(dsr_id)


def in_globex(crm: Crm, contact_id: str, **fields: Any) -> None:
    body = {"id": contact_id, "name": "Ada L.", "email": "ADA@example.com", **fields}
    created = crm.call("POST", "/v1/accounts/globex/contacts", crm.user, body)
    assert created.status_code == 201, created.get_json()


def test_an_erasure_across_two_accounts_purges_every_match(crm: Crm) -> None:
    crm.contact("c-1")  # ada@example.com in acme, active, with every kind of record
    crm.contact("c-2", with_records=False)
    crm.delete("c-2")  # another Ada record, in the trash
    crm.contact("c-3", with_records=False, email="grace@example.com", phone="+1 555 0100")
    in_globex(crm, "g-1")
    dsr_id = run_erasure(crm)

    for path in (crm.path("c-1"), crm.path("c-2"), "/v1/accounts/globex/contacts/g-1"):
        contact = crm.call("GET", path, crm.officer).get_json()
        assert (contact["state"], contact["name"], contact["email"]) == ("purged", None, None)
    assert crm.call("GET", crm.path("c-3")).get_json()["state"] == "active"
    commission = crm.records("c-1")["commission_records"][0]
    assert commission["state"] == "anonymized"
    assert "agent_note" not in commission["data"]

    request_now = crm.call("GET", f"/v1/dsr/{dsr_id}", crm.officer).get_json()
    assert request_now["identity_held"] is False  # no plaintext identity once completed
    steps = [t["step"] for t in request_now["transitions"]]
    assert steps == ["create", "verify-identity", "approve", "execute", "complete"]


def test_the_certificate_lists_what_was_erased_and_verifies_with_the_public_key(crm: Crm) -> None:
    crm.contact("c-1")
    in_globex(crm, "g-1")
    dsr_id = run_erasure(crm)
    signed = crm.call("GET", f"/v1/dsr/{dsr_id}/certificate", crm.officer).get_json()
    certificate = signed["certificate"]
    assert certificate["accounts"]["acme"]["erased_contacts"] == ["c-1"]
    assert certificate["accounts"]["acme"]["erased_records"]["notes"] == {"destroy": 1}
    assert certificate["accounts"]["globex"]["erased_contacts"] == ["g-1"]
    text_of = json.dumps(certificate).lower()
    assert "ada@example.com" not in text_of  # ids and counts, no personal data
    assert "2079460000" not in text_of
    pem = crm.service.client.get("/v1/audit/public-key").get_data()
    key = load_pem_public_key(pem)
    body = json.dumps(certificate, sort_keys=True, separators=(",", ":")).encode()
    key.verify(base64.b64decode(signed["signature"]), body)  # type: ignore[union-attr]


def test_the_certificate_embeds_a_proof_of_each_audit_event_checkable_offline(
    crm: Crm, tmp_path: Path
) -> None:
    crm.contact("c-1")
    in_globex(crm, "g-1")
    dsr_id = run_erasure(crm)
    served = crm.call("GET", f"/v1/dsr/{dsr_id}/certificate", crm.officer)
    assert served.status_code == 200, served.get_json()
    signed = served.get_json()
    pem = crm.service.client.get("/v1/audit/public-key").get_data()
    assert verify_certificate(signed, pem) == ([], len(signed["evidence"]))
    records = [json.loads(item["record"]) for item in signed["evidence"]]
    assert {r["dsr_id"] for r in records} == {dsr_id}
    actions = {r["action"] for r in records}
    assert {"contact.erased", "dsr.complete"} <= actions, actions
    assert {r["chain"] for r in records} >= {"acme", "globex"}
    # The last event was covered by a checkpoint signed at certificate time.
    last = max(r["seq"] for r in records if r["chain"] == "acme")
    proof = next(i["proof"] for i in signed["evidence"] if i["proof"]["chain"] == "acme")
    assert proof["tree_size"] >= last
    assert "ada@example.com" not in json.dumps(signed["evidence"]).lower()
    offline = {"POLICY_SERVICE_DATABASE_URL": "sqlite:////nonexistent/never-opened.db"}
    (tmp_path / "key.pem").write_bytes(pem)
    (tmp_path / "certificate.json").write_text(json.dumps(signed))
    check = ("audit", "verify-certificate", str(tmp_path / "certificate.json"))
    result = cli(*check, "--public-key", str(tmp_path / "key.pem"), env=offline)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"OK: certificate of request {dsr_id} is signed")

    again = crm.call("GET", f"/v1/dsr/{dsr_id}/certificate", crm.officer).get_json()
    assert [i["proof"]["tree_size"] for i in again["evidence"]] == [
        i["proof"]["tree_size"] for i in signed["evidence"]
    ]  # nothing new to sign: the same checkpoints

    edited = json.loads(json.dumps(signed))
    edited["evidence"][0]["record"] = edited["evidence"][0]["record"].replace(
        '"outcome":"succeeded"', '"outcome":"failed"'
    )
    problems, _ = verify_certificate(edited, pem)
    assert any("hash" in p for p in problems), problems
    other = json.loads(json.dumps(signed))
    other["certificate"]["dsr_id"] = "dsr-other"
    problems, _ = verify_certificate(other, pem)
    assert any("signature" in p for p in problems)
    assert any("dsr_id" in p for p in problems)
    moved = json.loads(json.dumps(signed))
    moved["evidence"][0]["proof"]["audit_path"].reverse()
    moved["evidence"][0]["proof"]["audit_path"].append("00" * 32)
    assert verify_certificate(moved, pem)[0]
    (tmp_path / "certificate.json").write_text(json.dumps(edited))
    result = cli(*check, "--public-key", str(tmp_path / "key.pem"), env=offline)
    assert result.exit_code == 1
    assert result.stdout.startswith("FAILED: ")


def test_a_held_contact_is_restricted_not_erased(crm: Crm) -> None:
    crm.contact("c-1", with_records=False)
    crm.call("POST", f"{crm.path('c-1')}/legal-holds", crm.officer, {"reason": "litigation"})
    dsr_id = run_erasure(crm)
    assert crm.call("GET", crm.path("c-1")).get_json()["state"] == "active"
    certificate = crm.call("GET", f"/v1/dsr/{dsr_id}/certificate", crm.officer).get_json()[
        "certificate"
    ]
    restricted = certificate["accounts"]["acme"]["restricted"]
    assert [r["contact_id"] for r in restricted] == ["c-1"]
    assert restricted[0]["holds"][0].startswith("hold_")


def test_re_creating_an_erased_person_is_refused_unless_overridden_and_audited(crm: Crm) -> None:
    crm.contact("c-1", with_records=False)
    run_erasure(crm)
    again = crm.call("POST", "/v1/accounts/acme/contacts", crm.user,
                     {"id": "c-9", "email": "Ada@Example.COM"})  # fmt: skip
    assert again.status_code == 409
    assert again.get_json()["reason"]["code"] == "suppressed"
    by_phone_only = crm.call("POST", "/v1/accounts/acme/contacts", crm.user,
                             {"id": "c-8", "phone": "+44 20 7946 0000"})  # fmt: skip
    assert by_phone_only.status_code == 409  # the fixture's Ada had this phone too
    overridden = crm.call("POST", "/v1/accounts/acme/contacts", crm.user,
                          {"id": "c-9", "email": "ada@example.com",
                           "suppression_override": "new contract signed 2026-11-20"})  # fmt: skip
    assert overridden.status_code == 201
    events = crm.call(
        "GET", "/v1/audit/events?account_id=acme&action=contact.suppression_overridden",
        crm.officer,
    ).get_json()["events"]  # fmt: skip
    assert events[0]["actor_id"] == "uma"
    assert events[0]["protected"]["override_reason"] == "new contract signed 2026-11-20"


def test_the_suppression_list_holds_no_plaintext(crm: Crm) -> None:
    crm.contact("c-1", with_records=False)
    run_erasure(crm)
    with crm.service.state.engine.connect() as connection:
        rows = connection.execute(text("SELECT * FROM suppression_entries")).all()
        requests = connection.execute(text("SELECT * FROM dsr_requests")).all()
    assert len(rows) == 4  # email and phone, in two accounts
    for stored in (repr(rows).lower(), repr(requests).lower()):
        # The personal data itself, not a substring random hex ids could contain.
        assert "ada@example.com" not in stored
        assert "2079460000" not in stored
        assert "7946 0000" not in stored


def test_the_chain_verifies_after_erasure_and_erased_fields_read_as_erased(crm: Crm) -> None:
    crm.contact("c-1", with_records=False)
    run_erasure(crm)
    report = crm.call("POST", "/v1/audit/verify", crm.officer, {"account_id": "acme"}).get_json()
    assert report["ok"] is True
    created = crm.call(
        "GET", "/v1/audit/events?account_id=acme&action=contact.created&target_id=c-1",
        crm.officer,
    ).get_json()["events"][0]  # fmt: skip
    assert created["protected"] == {"erased": True}


def test_a_denial_needs_an_exemption_code_and_a_text(crm: Crm) -> None:
    dsr_id = request(crm).get_json()["id"]
    assert step(crm, dsr_id, "deny", {"text": "no"}).status_code == 422
    assert step(crm, dsr_id, "deny", {"exemption_code": "legal_claims"}).status_code == 422
    assert step(crm, dsr_id, "deny", {"exemption_code": "because", "text": "x"}).status_code == 422
    denied = step(crm, dsr_id, "deny", {"exemption_code": "legal_claims", "text": "pending suit"})
    assert denied.status_code == 200
    assert (denied.get_json()["status"], denied.get_json()["exemption_code"]) == (
        "denied", "legal_claims",
    )  # fmt: skip
    assert step(crm, dsr_id, "approve").status_code == 409


def test_steps_follow_the_order_and_a_wrong_step_is_a_409(crm: Crm) -> None:
    dsr_id = request(crm).get_json()["id"]
    assert step(crm, dsr_id, "approve").status_code == 409  # identity not verified yet
    assert step(crm, dsr_id, "execute").status_code == 409


def test_an_extension_is_allowed_once_before_the_deadline(crm: Crm) -> None:
    received = datetime(2026, 10, 31, 12, tzinfo=UTC)
    dsr_id = request(crm, {"received_at": received.isoformat()}).get_json()["id"]
    first = crm.call("GET", f"/v1/dsr/{dsr_id}", crm.officer).get_json()
    assert first["due_at"].startswith("2026-11-30")
    extended = step(crm, dsr_id, "extend", {"reason": "complex: 40 linked records"})
    assert extended.status_code == 200
    assert extended.get_json()["due_at"].startswith("2027-01-30")
    assert step(crm, dsr_id, "extend", {"reason": "again"}).status_code == 409


def test_an_extension_after_the_first_deadline_is_refused(crm: Crm) -> None:
    received = datetime.now(UTC) - timedelta(days=40)
    dsr_id = request(crm, {"received_at": received.isoformat()}).get_json()["id"]
    assert step(crm, dsr_id, "extend", {"reason": "late"}).status_code == 409
    overdue = crm.call("GET", "/v1/dsr?overdue=true", crm.officer).get_json()["requests"]
    assert [r["id"] for r in overdue] == [dsr_id]
    assert overdue[0]["days_left"] < 0


def test_only_compliance_officers_of_every_named_account_handle_a_request(crm: Crm) -> None:
    assert request(crm, token=crm.admin).status_code == 403
    assert request(crm, {"accounts": "all"}).status_code == 403  # platform admins only
    assert request(crm, {"accounts": "all"}, token=crm.root).status_code == 201
    bad = request(crm, {"identity": {}})
    assert bad.status_code == 400
    assert request(crm, {"jurisdiction": "lgpd"}).status_code == 400
    future = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    assert request(crm, {"received_at": future}).status_code == 400


def test_an_access_request_packages_contacts_records_and_decrypted_history(crm: Crm) -> None:
    crm.contact("c-1")
    crm.delete("c-1")
    crm.restore("c-1")
    created = request(crm, {"type": "access"})
    dsr_id = created.get_json()["id"]
    step(crm, dsr_id, "verify-identity", {"method": "id document"})
    step(crm, dsr_id, "approve")
    assert step(crm, dsr_id, "execute").get_json()["status"] == "completed"
    package = crm.call("GET", f"/v1/dsr/{dsr_id}/package", crm.officer).get_json()
    contact = package["contacts"][0]
    assert (contact["id"], contact["email"]) == ("c-1", "ada@example.com")
    assert len(contact["records"]) == 13
    actions = [h["action"] for h in contact["history"]]
    assert {"contact.created", "contact.delete", "contact.restore"} <= set(actions)
    deleted = next(h for h in contact["history"] if h["action"] == "contact.delete")
    assert deleted["personal_data"]["email"] == "ada@example.com"
    assert (
        crm.call("GET", crm.path("c-1")).get_json()["state"] == "active"
    )  # access changes nothing


def test_an_interrupted_erasure_resumes_to_the_same_final_state(
    crm: Crm, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(5):
        crm.contact(f"c-{n}", with_records=n == 0)
    in_globex(crm, "g-1")
    crm.service.state.settings = crm.service.state.settings.with_overrides(job_chunk_size=2)
    dsr_id = request(crm).get_json()["id"]
    step(crm, dsr_id, "verify-identity", {"method": "email link"})
    step(crm, dsr_id, "approve")

    real_chunk = execution.erase_chunk
    calls = {"n": 0}

    def dies_on_the_second_chunk(*args: Any) -> bool:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("killed")
        return real_chunk(*args)

    monkeypatch.setattr(execution, "erase_chunk", dies_on_the_second_chunk)
    with pytest.raises(RuntimeError, match="killed"):
        execution.execute(crm.service.state, Caller("cora", "user"), dsr_id)
    monkeypatch.setattr(execution, "erase_chunk", real_chunk)
    assert crm.call("GET", f"/v1/dsr/{dsr_id}", crm.officer).get_json()["status"] == "in_progress"

    resumed = step(crm, dsr_id, "execute")
    assert resumed.get_json()["status"] == "completed"
    certificate = crm.call("GET", f"/v1/dsr/{dsr_id}/certificate", crm.officer).get_json()[
        "certificate"
    ]
    assert certificate["accounts"]["acme"]["erased_contacts"] == [f"c-{n}" for n in range(5)]
    assert certificate["accounts"]["globex"]["erased_contacts"] == ["g-1"]
    events = crm.call(
        "GET", f"/v1/audit/events?dsr_id={dsr_id}&action=contact.erased&limit=100", crm.root
    ).get_json()["events"]
    assert sorted(e["target_id"] for e in events) == ["c-0", "c-1", "c-2", "c-3", "c-4", "g-1"]


# -- execution as a leased, resumable job --------------------------------------------------------

CORA = Caller("cora", "user")


def approved_erasure(crm: Crm) -> str:
    """Five contacts of Ada in acme and one in globex, two a chunk: four chunks."""
    for n in range(5):
        crm.contact(f"c-{n}", with_records=n == 0)
    in_globex(crm, "g-1")
    crm.service.state.settings = crm.service.state.settings.with_overrides(job_chunk_size=2)
    dsr_id = str(request(crm).get_json()["id"])
    step(crm, dsr_id, "verify-identity", {"method": "email link"})
    step(crm, dsr_id, "approve")
    return dsr_id


def erased(crm: Crm, dsr_id: str) -> list[str]:
    """The contacts erased for the request, one entry per ``contact.erased`` event."""
    events = crm.call(
        "GET", f"/v1/audit/events?dsr_id={dsr_id}&action=contact.erased&limit=100", crm.root
    ).get_json()["events"]
    assert {e["actor_id"] for e in events} <= {"cora"}  # a resumed run acts as the executor
    return sorted(e["target_id"] for e in events)


def lease(crm: Crm, dsr_id: str) -> tuple[Any, Any]:
    with crm.service.state.engine.connect() as connection:
        owner, until = connection.execute(
            text("SELECT lease_owner, lease_until FROM dsr_requests WHERE id = :id"), {"id": dsr_id}
        ).one()
    return owner, until


def assert_completed_once(crm: Crm, dsr_id: str) -> None:
    everyone = ["c-0", "c-1", "c-2", "c-3", "c-4", "g-1"]
    assert erased(crm, dsr_id) == everyone  # each contact erased exactly once
    found = crm.call("GET", f"/v1/dsr/{dsr_id}", crm.officer).get_json()
    assert found["status"] == "completed"
    steps = [t["step"] for t in found["transitions"]]
    assert steps == ["create", "verify-identity", "approve", "execute", "complete"]
    completions = crm.call(
        "GET", f"/v1/audit/events?dsr_id={dsr_id}&action=dsr.complete", crm.root
    ).get_json()["events"]
    assert len(completions) == 1  # one certificate
    certificate = crm.call("GET", f"/v1/dsr/{dsr_id}/certificate", crm.officer).get_json()
    accounts = certificate["certificate"]["accounts"]
    assert accounts["acme"]["erased_contacts"] == everyone[:5]
    assert accounts["globex"]["erased_contacts"] == ["g-1"]
    assert lease(crm, dsr_id) == (None, None)


def test_a_killed_execution_is_resumed_by_the_job_recovery_once_its_lease_runs_out(
    crm: Crm, monkeypatch: pytest.MonkeyPatch
) -> None:
    dsr_id = approved_erasure(crm)
    real_chunk = execution.erase_chunk
    calls = {"n": 0}

    def killed_after_the_first_chunk(*args: Any) -> bool:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("killed")
        return bool(real_chunk(*args))

    monkeypatch.setattr(execution, "erase_chunk", killed_after_the_first_chunk)
    monkeypatch.setattr(execution, "_release", lambda *args: None)  # a killed worker cleans nothing
    with pytest.raises(RuntimeError, match="killed"):
        execution.execute(crm.service.state, CORA, dsr_id)
    monkeypatch.undo()
    assert erased(crm, dsr_id) == ["c-0", "c-1"]
    assert lease(crm, dsr_id)[0] is not None  # the dead runner's lease

    # While that lease lasts, neither a call nor the job recovery works the request.
    busy = step(crm, dsr_id, "execute")
    assert (busy.status_code, busy.get_json()["status"]) == (200, "in_progress")
    assert recover_jobs(crm.service.state) == {"orphaned": 0, "resumed": 0}
    assert erased(crm, dsr_id) == ["c-0", "c-1"]

    with crm.service.state.engine.begin() as connection:
        connection.execute(
            text("UPDATE dsr_requests SET lease_until = '2000-01-01 00:00:00+00' WHERE id = :id"),
            {"id": dsr_id},
        )
    recovery = Scheduler(crm.service.state, [Task(JOB_RECOVERY, timedelta(hours=1), recover_jobs)])
    assert recovery.tick() == {JOB_RECOVERY: "ran"}

    assert_completed_once(crm, dsr_id)
    with crm.service.state.engine.connect() as connection:
        runs = read_status(connection, [JOB_RECOVERY])
    assert runs[JOB_RECOVERY].last_result == {"orphaned": 1, "resumed": 1}


def test_an_execute_call_hands_what_its_time_budget_leaves_to_the_job_recovery(
    crm: Crm, monkeypatch: pytest.MonkeyPatch
) -> None:
    dsr_id = approved_erasure(crm)
    monkeypatch.setattr(execution, "REQUEST_BUDGET", timedelta(0))  # one chunk, then answer
    first = step(crm, dsr_id, "execute")
    assert (first.status_code, first.get_json()["status"]) == (200, "in_progress")
    assert erased(crm, dsr_id) == ["c-0", "c-1"]
    assert lease(crm, dsr_id) == (None, None)  # handed over, not held

    assert recover_jobs(crm.service.state) == {"orphaned": 1, "resumed": 1}
    assert_completed_once(crm, dsr_id)
    again = step(crm, dsr_id, "execute")
    assert again.status_code == 409  # completed: nothing more to execute
