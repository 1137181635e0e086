"""Each seed article's behaviour under its cascade profile, on SQLite and PostgreSQL."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from policy_service.domain.cascade import RELATED_KINDS
from tests.conftest import Service
from tests.integration.lifecycle_fixtures import Crm, make_crm, refusal


def test_seed_000_trash_keeps_everything_and_restore_brings_it_back(service: Service) -> None:
    crm = make_crm(service, "trash-retains-all")
    crm.contact("c-1")
    deleted = crm.delete("c-1")
    assert deleted.status_code == 200, deleted.get_json()
    assert deleted.get_json()["contact"]["state"] == "trashed"
    assert set(crm.states("c-1").values()) == {"trashed"}
    listed = crm.call("GET", "/v1/accounts/acme/contacts").get_json()["contacts"]
    assert listed == []  # gone from active views

    restored = crm.restore("c-1")
    assert restored.status_code == 200, restored.get_json()
    assert restored.get_json()["contact"]["state"] == "active"
    assert crm.states("c-1") == dict.fromkeys(RELATED_KINDS, "active")
    assert restored.get_json()["contact"]["tags"] == ["vip"]


def test_seed_002_cascade_on_delete_restores_the_record_only(service: Service) -> None:
    crm = make_crm(service, "cascade-on-delete")
    crm.contact("c-1")
    result = crm.delete("c-1").get_json()
    assert result["cascade"]["notes"] == {"destroy": 1}
    assert result["cascade"]["workflow_enrollments"] == {"stop": 1}
    crm.restore("c-1")
    states = crm.states("c-1")
    for kind in ("conversations", "notes", "tasks", "appointments", "opportunities",
                 "manual_actions", "activity_history", "community_group_ownership"):  # fmt: skip
        assert states[kind] == "destroyed", kind
    assert states["workflow_enrollments"] == "stopped"  # a restore does not restart it
    assert states["campaign_enrollments"] == "stopped"
    assert states["commission_records"] == "active"
    notes = crm.records("c-1")["notes"][0]
    assert notes["data"] == {}  # the content is gone, not hidden


def test_seed_003_immediate_purge_leaves_nothing_to_restore(service: Service) -> None:
    crm = make_crm(service, "immediate-purge")
    crm.contact("c-1")
    deleted = crm.delete("c-1")
    assert deleted.status_code == 200
    contact = deleted.get_json()["contact"]
    assert contact["state"] == "purged"
    assert (contact["name"], contact["email"], contact["phone"]) == (None, None, None)
    restored = crm.restore("c-1")
    assert refusal(restored) == (409, "not_in_trash")


def test_commission_records_survive_every_shipped_profile_without_personal_data(
    service: Service,
) -> None:
    crm = make_crm(service, "trash-retains-all", purge_enabled=True)
    for index, profile in enumerate(
        [
            "trash-retains-all",
            "cascade-on-delete",
            "cascade-on-delete-guarded",
            "immediate-purge",
            "erasure",
        ]
    ):
        crm.call("PATCH", "/v1/accounts/acme", crm.root, {"cascade_profile": profile})
        contact_id = f"c-{index}"
        crm.contact(contact_id, with_records=False)
        commission = {"amount": "10", "date": "2026-01-01", "agent_note": "Ada's cousin"}
        crm.call(
            "POST",
            f"{crm.path(contact_id)}/records",
            crm.user,
            {"kind": "commission_records", "data": commission},
        )
        assert crm.delete(contact_id).status_code == 200
        if profile not in ("immediate-purge", "erasure"):
            assert crm.purge(contact_id).status_code == 200
        record = crm.records(contact_id)["commission_records"][0]
        # Reporting keeps the business fields; the note naming the customer is gone.
        assert record["state"] == "anonymized", profile
        assert record["data"] == {"amount": "10", "date": "2026-01-01"}
        assert record["contact_id"] is None


def deleted_ago(service: Service, age: timedelta) -> Crm:
    """Contact c-1 under cascade-on-delete, deleted ``age`` ago."""
    crm = make_crm(service, "cascade-on-delete")
    crm.contact("c-1", with_records=False)
    crm.delete("c-1")
    with service.state.engine.begin() as connection:
        connection.execute(
            text("UPDATE contacts SET deleted_at = :at WHERE id = 'c-1'"),
            {"at": datetime.now(UTC) - age},
        )
    return crm


def test_a_restore_on_day_61_is_refused(service: Service) -> None:
    crm = deleted_ago(service, timedelta(days=61))
    refused = crm.restore("c-1")
    assert refusal(refused) == (409, "retention_expired")
    assert "60-day" in refused.get_json()["detail"]


def test_a_restore_on_day_59_is_allowed(service: Service) -> None:
    crm = deleted_ago(service, timedelta(days=59, hours=23))
    assert crm.restore("c-1").status_code == 200


def test_only_admins_delete_and_a_refusal_is_audited(service: Service) -> None:
    crm = make_crm(service, "trash-retains-all")
    crm.contact("c-1", with_records=False)
    refused = crm.delete("c-1", token=crm.user)
    assert refused.status_code == 403
    assert refused.mimetype == "application/problem+json"
    assert refused.get_json()["reason"]["code"] == "not_permitted"
    events = crm.call(
        "GET", "/v1/audit/events?account_id=acme&action=contact.delete", crm.officer
    ).get_json()["events"]
    assert [(e["actor_id"], e["outcome"]) for e in events] == [("uma", "denied")]
    assert crm.call("GET", crm.path("c-1")).get_json()["state"] == "active"


def test_delete_is_not_unsubscribe(service: Service) -> None:
    crm = make_crm(service, "trash-retains-all")
    crm.contact("c-1", with_records=False)
    for reason in ("unsubscribe", "dnd", "stop_follow_up"):
        refused = crm.delete("c-1", reason=reason)
        assert refused.status_code == 422
        problem = refused.get_json()
        assert problem["reason"]["code"] == "not_a_delete"
        assert problem["see"].endswith("opt-out-is-not-delete")
    assert crm.call("GET", crm.path("c-1")).get_json()["state"] == "active"


def test_other_needs_a_reason_text_and_unknown_reasons_are_400(service: Service) -> None:
    crm = make_crm(service, "trash-retains-all")
    crm.contact("c-1", with_records=False)
    assert crm.delete("c-1", reason="other").status_code == 400
    assert crm.delete("c-1", reason="because").status_code == 400
    body = {"reason_code": "other", "reason_text": "merged"}
    response = crm.call("POST", f"{crm.path('c-1')}/delete", body=body)
    assert response.status_code == 200


def test_purge_needs_the_account_to_allow_it_and_the_confirmation(service: Service) -> None:
    crm = make_crm(service, "trash-retains-all", purge_enabled=False)
    crm.contact("c-1", with_records=False)
    crm.delete("c-1")
    refused = crm.purge("c-1", confirm="yes")
    assert refused.status_code == 403  # the policy answers first: no confirmation would help
    assert refused.get_json()["reason"]["code"] == "purge_disabled"
    assert "purge_enabled" in refused.get_json()["detail"]
    crm.call("PATCH", "/v1/accounts/acme", crm.root, {"purge_enabled": True})
    unconfirmed = crm.purge("c-1", confirm="yes")
    assert refusal(unconfirmed) == (422, "confirmation_required")
    purged = crm.purge("c-1")
    assert purged.status_code == 200
    assert purged.get_json()["contact"]["state"] == "purged"


def test_a_legal_hold_blocks_purge_but_not_delete_or_restore(service: Service) -> None:
    crm = make_crm(service, "trash-retains-all", purge_enabled=True)
    crm.contact("c-1", with_records=False)
    hold = crm.call("POST", f"{crm.path('c-1')}/legal-holds", crm.officer, {"reason": "litigation"})
    assert hold.status_code == 201
    assert crm.delete("c-1").status_code == 200
    refused = crm.purge("c-1")
    assert refusal(refused) == (409, "legal_hold")
    assert crm.restore("c-1").status_code == 200
    crm.delete("c-1")
    released = crm.call("DELETE", f"{crm.path('c-1')}/legal-holds", crm.officer)
    assert released.status_code == 200
    assert crm.purge("c-1").status_code == 200


def test_admins_cannot_place_legal_holds(service: Service) -> None:
    crm = make_crm(service, "trash-retains-all")
    crm.contact("c-1", with_records=False)
    refused = crm.call("POST", f"{crm.path('c-1')}/legal-holds", crm.admin, {"reason": "x"})
    assert refused.status_code == 403


def test_an_active_workflow_blocks_delete_under_the_guarded_profile(service: Service) -> None:
    crm = make_crm(service, "cascade-on-delete-guarded")
    crm.contact("c-1")
    refused = crm.delete("c-1")
    assert refusal(refused) == (409, "active_workflow_enrollment")


def test_the_impact_preview_counts_per_kind_and_says_whether_it_is_allowed(
    service: Service,
) -> None:
    crm = make_crm(service, "cascade-on-delete")
    crm.contact("c-1")
    preview = crm.call("GET", f"{crm.path('c-1')}/impact?action=delete").get_json()
    assert preview["allowed"] is True
    assert preview["totals"] == {"destroy": 8, "stop": 2, "keep": 3}
    as_user = crm.call("GET", f"{crm.path('c-1')}/impact?action=delete", crm.user).get_json()
    assert as_user["allowed"] is False
    assert as_user["status"] == 403
    assert crm.states("c-1") == dict.fromkeys(RELATED_KINDS, "active")  # nothing changed


def test_the_trash_is_searchable_and_shows_days_left(service: Service) -> None:
    crm = make_crm(service, "trash-retains-all")
    crm.contact("c-1", with_records=False)
    crm.contact("c-2", with_records=False, name="Grace Hopper", email="grace@example.com")
    crm.delete("c-1")
    crm.delete("c-2")
    found = crm.call("GET", "/v1/accounts/acme/trash?q=grace").get_json()["contacts"]
    assert [c["id"] for c in found] == ["c-2"]
    assert found[0]["deleted_by"] == "ada"
    assert found[0]["days_left"] == 60  # rounded up: a fresh delete shows the full window
    by_phone = crm.call("GET", "/v1/accounts/acme/trash?q=7946").get_json()["contacts"]
    assert {c["id"] for c in by_phone} == {"c-1", "c-2"}


def test_lifecycle_events_carry_profile_counts_and_no_plaintext(service: Service) -> None:
    crm = make_crm(service, "cascade-on-delete")
    crm.contact("c-1")
    crm.delete("c-1")
    event = crm.call(
        "GET", "/v1/audit/events?account_id=acme&action=contact.delete", crm.officer
    ).get_json()["events"][0]
    assert event["cascade_profile"] == "cascade-on-delete"
    assert event["details"]["cascade"]["notes"] == {"destroy": 1}
    assert event["protected"]["email"] == "ada@example.com"  # decrypted for the officer
    with service.state.engine.connect() as connection:
        stored = connection.execute(text("SELECT * FROM audit_events")).all()
    assert "ada@example.com" not in repr(stored)
    assert "Lovelace" not in repr(stored)


def test_after_purge_the_chain_verifies_and_personal_fields_read_as_erased(
    service: Service,
) -> None:
    crm = make_crm(service, "trash-retains-all", purge_enabled=True)
    crm.contact("c-1", with_records=False)
    crm.delete("c-1")
    crm.purge("c-1")
    events = crm.call(
        "GET", "/v1/audit/events?account_id=acme&target_id=c-1", crm.officer
    ).get_json()["events"]
    created = next(e for e in events if e["action"] == "contact.created")
    assert created["protected"] == {"erased": True}
    report = crm.call("POST", "/v1/audit/verify", crm.officer, {"account_id": "acme"}).get_json()
    assert report["ok"] is True


def test_the_decision_endpoint_uses_the_stores_facts(service: Service) -> None:
    crm = make_crm(service, "trash-retains-all", purge_enabled=True)
    pep = service.caller("pep", roles={"acme": ["service"]}, kind="service")
    crm.contact("c-1", with_records=False)
    body = {
        "subject": {"type": "user", "id": "ada"},
        "action": {"name": "purge"},
        # The caller claims the contact is in the trash: the store says it is active.
        "resource": {"type": "contact", "id": "c-1",
                     "properties": {"account_id": "acme", "state": "trashed"}},
    }  # fmt: skip
    answer = service.request("POST", "/access/v1/evaluation", pep, json=body).get_json()
    assert answer["decision"] is False
    crm.delete("c-1")
    answer = service.request("POST", "/access/v1/evaluation", pep, json=body).get_json()
    assert answer["decision"] is True
    crm.call("POST", f"{crm.path('c-1')}/legal-holds", crm.officer, {"reason": "audit"})
    answer = service.request("POST", "/access/v1/evaluation", pep, json=body).get_json()
    assert answer["decision"] is False
    explained = service.request("POST", "/v1/decisions/explain", pep, json=body).get_json()
    facts = {f["name"]: f for f in explained["facts"]}
    assert facts["legal_hold"] == {"name": "legal_hold", "value": True, "source": "store"}
    assert facts["contact_state"]["source"] == "store"
