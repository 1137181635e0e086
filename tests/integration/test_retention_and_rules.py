"""The retention sweep and tag-triggered deletion rules."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from tests.conftest import Service
from tests.integration.lifecycle_fixtures import Crm, make_crm


def age(service: Service, contact_id: str, days: int) -> None:
    with service.state.engine.begin() as connection:
        connection.execute(
            text("UPDATE contacts SET deleted_at = :at WHERE id = :id"),
            {"at": datetime.now(UTC) - timedelta(days=days), "id": contact_id},
        )


def test_the_sweep_purges_expired_contacts_and_skips_held_ones(service: Service) -> None:
    crm = make_crm(service, "cascade-on-delete")
    for contact_id, days in (("old", 61), ("held", 90), ("young", 10)):
        crm.contact(contact_id, with_records=False)
        crm.delete(contact_id)
        age(service, contact_id, days)
    crm.call("POST", f"{crm.path('held')}/legal-holds", crm.officer, {"reason": "litigation"})
    report = crm.call("POST", "/v1/retention/sweep", crm.root)
    assert report.status_code == 200
    assert report.get_json()["purged"] == 1
    assert report.get_json()["held"] == [{"account_id": "acme", "contact_id": "held"}]
    states = {c: crm.call("GET", crm.path(c)).get_json()["state"] for c in ("old", "held", "young")}
    assert states == {"old": "purged", "held": "trashed", "young": "trashed"}
    event = crm.call(
        "GET", "/v1/audit/events?account_id=acme&action=contact.purge", crm.officer
    ).get_json()["events"][0]
    assert (event["actor_type"], event["actor_id"], event["reason_code"]) == (
        "system", "retention-sweeper", "retention_expired",
    )  # fmt: skip


def test_the_sweep_ignores_purge_enabled_which_is_about_purging_by_hand(service: Service) -> None:
    crm = make_crm(service, "trash-retains-all", purge_enabled=False)
    crm.contact("old", with_records=False)
    crm.delete("old")
    age(service, "old", 70)
    assert crm.call("POST", "/v1/retention/sweep", crm.root).get_json()["purged"] == 1


def test_only_platform_admins_start_a_sweep(service: Service) -> None:
    crm = make_crm(service, "trash-retains-all")
    assert crm.call("POST", "/v1/retention/sweep", crm.admin).status_code == 403


def rule(crm: Crm, tag: str, reason: str = "data_cleanup", token: str | None = None) -> object:
    return crm.call(
        "POST", "/v1/accounts/acme/deletion-rules", token, {"tag": tag, "reason_code": reason}
    )


def test_a_contact_tagged_for_deletion_is_deleted(service: Service) -> None:
    crm = make_crm(service, "cascade-on-delete")
    assert rule(crm, "delete-me").status_code == 201  # type: ignore[attr-defined]
    crm.contact("c-1", with_records=False, tags=["delete-me"])
    assert crm.call("GET", crm.path("c-1")).get_json()["state"] == "trashed"
    crm.contact("c-2", with_records=False)
    crm.call("POST", f"{crm.path('c-2')}/records", crm.user,
             {"kind": "tags", "data": {"name": "delete-me"}})  # fmt: skip
    contact = crm.call("GET", crm.path("c-2")).get_json()
    assert (contact["state"], contact["delete_reason"], contact["deleted_by"]) == (
        "trashed", "data_cleanup", "ada",
    )  # fmt: skip


def test_a_dry_run_lists_what_the_rules_would_delete(service: Service) -> None:
    crm = make_crm(service, "cascade-on-delete")
    crm.contact("c-1", with_records=False, tags=["stale"])
    crm.contact("c-2", with_records=False)
    rule(crm, "stale")
    preview = crm.call("POST", "/v1/accounts/acme/deletion-rules/run?dry_run=true").get_json()
    assert preview["rules"][0]["matched"] == ["c-1"]
    assert crm.call("GET", crm.path("c-1")).get_json()["state"] == "active"
    applied = crm.call("POST", "/v1/accounts/acme/deletion-rules/run?dry_run=false").get_json()
    assert applied["rules"][0]["deleted"] == ["c-1"]


def test_a_rule_cannot_turn_an_unsubscribe_into_a_delete(service: Service) -> None:
    crm = make_crm(service, "cascade-on-delete")
    assert rule(crm, "unsubscribed", "unsubscribe").status_code == 422  # type: ignore[attr-defined]


def test_only_admins_manage_deletion_rules(service: Service) -> None:
    crm = make_crm(service, "cascade-on-delete")
    assert rule(crm, "x", token=crm.user).status_code == 403  # type: ignore[attr-defined]


def test_a_rule_whose_author_lost_admin_does_not_fire(service: Service) -> None:
    crm = make_crm(service, "cascade-on-delete")
    rule(crm, "delete-me")
    crm.call("PUT", "/v1/accounts/acme/members/ada", crm.root, {"roles": ["user"]})
    crm.contact("c-1", with_records=False, tags=["delete-me"])
    assert crm.call("GET", crm.path("c-1")).get_json()["state"] == "active"
