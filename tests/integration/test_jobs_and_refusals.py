"""Bulk restore, finding jobs and their contacts' outcomes, and a complete record of refusals."""

from __future__ import annotations

from typing import Any

from tests.conftest import Service
from tests.integration.lifecycle_fixtures import Crm, make_crm, refusal


def events(crm: Crm, **filters: str) -> list[dict[str, Any]]:
    query = "&".join(f"{key}={value}" for key, value in filters.items())
    response = crm.call("GET", f"/v1/audit/events?account_id=acme&limit=500&{query}", crm.root)
    assert response.status_code == 200, response.get_json()
    found: list[dict[str, Any]] = response.get_json()["events"]
    return found


def bulk_delete(crm: Crm, **body: Any) -> Any:
    payload = {"confirm": "DELETE", "reason_code": "data_cleanup", **body}
    return crm.call("POST", "/v1/accounts/acme/contacts/bulk-delete", crm.admin, payload)


def bulk_restore(crm: Crm, **body: Any) -> Any:
    return crm.call("POST", "/v1/accounts/acme/contacts/bulk-restore", crm.admin, body)


def test_a_bulk_restore_brings_back_the_reviewed_selection_from_the_trash(
    service: Service,
) -> None:
    crm = make_crm(service, "trash-retains-all")
    for contact_id in ("c-1", "c-2", "c-3"):
        crm.contact(contact_id)
    assert bulk_delete(crm, ids=["c-1", "c-2", "c-3"], expected_count=3).status_code == 202
    job = bulk_restore(crm, filter={"all": True}, expected_count=3)
    assert job.status_code == 202, job.get_json()
    assert job.get_json()["kind"] == "bulk_restore"
    assert job.get_json()["status"] == "succeeded"
    for contact_id in ("c-1", "c-2", "c-3"):
        assert crm.call("GET", crm.path(contact_id)).get_json()["state"] == "active"
        # Exactly what the delete hid comes back: the notes were kept in the trash.
        assert set(crm.states(contact_id).values()) == {"active"}
    assert len([e for e in events(crm, action="contact.restore") if e["job_id"]]) == 3


def test_a_bulk_restore_skips_what_a_single_restore_would_refuse_with_the_same_code(
    service: Service,
) -> None:
    crm = make_crm(service, "trash-retains-all", retention_days=30)
    crm.contact("c-1", with_records=False)
    crm.contact("c-2", with_records=False)
    bulk_delete(crm, ids=["c-1", "c-2"], expected_count=2)
    with service.state.engine.begin() as connection:
        from sqlalchemy import text

        connection.execute(
            text("UPDATE contacts SET deleted_at = :at WHERE id = 'c-2'"),
            {"at": "2020-01-01 00:00:00"},
        )
    service.state.runtime.forget_contacts("acme")
    single = crm.restore("c-2")
    assert single.status_code == 409
    job = bulk_restore(crm, ids=["c-1", "c-2"], expected_count=2).get_json()
    assert job["status"] == "completed_with_skips"
    items = crm.call("GET", f"/v1/jobs/{job['id']}/items").get_json()
    outcomes = {
        item["contact_id"]: (item["status"], item["reason_code"]) for item in items["items"]
    }
    assert outcomes == {
        "c-1": ("done", None),
        "c-2": ("skipped", single.get_json()["reason"]["code"]),
    }
    skipped = crm.call("GET", f"/v1/jobs/{job['id']}/items?status=skipped").get_json()["items"]
    assert [item["contact_id"] for item in skipped] == ["c-2"]
    # The skipped contact is on record like any refused restore.
    refused = [e for e in events(crm, action="contact.restore") if e["outcome"] != "succeeded"]
    assert {(e["target_id"], e["job_id"] is not None) for e in refused} >= {("c-2", True)}


def test_a_bulk_delete_skip_is_recorded_and_named_as_the_single_delete_names_it(
    service: Service,
) -> None:
    crm = make_crm(service, "cascade-on-delete-guarded")
    crm.contact("c-1", with_records=False)
    crm.contact("c-2", with_records=False)
    crm.call("POST", f"{crm.path('c-2')}/records", crm.user,
             {"kind": "workflow_enrollments", "data": {"name": "nurture"}})  # fmt: skip
    job = bulk_delete(crm, ids=["c-1", "c-2"], expected_count=2).get_json()
    items = crm.call("GET", f"/v1/jobs/{job['id']}/items?status=skipped").get_json()["items"]
    assert [(i["contact_id"], i["reason_code"]) for i in items] == [
        ("c-2", "active_workflow_enrollment")
    ]
    single = crm.delete("c-2")
    assert single.get_json()["reason"]["code"] == "active_workflow_enrollment"
    skip_events = [e for e in events(crm, action="contact.delete") if e["job_id"] == job["id"]]
    skipped = [
        (e["target_id"], e["outcome"], e["reason_code"])
        for e in skip_events
        if e["outcome"] != "succeeded"
    ]
    assert skipped == [("c-2", "failed", "active_workflow_enrollment")]


def test_a_stale_selection_is_refused_naming_the_missing_ids_and_the_refusal_recorded(
    service: Service,
) -> None:
    crm = make_crm(service, "trash-retains-all")
    crm.contact("c-1", with_records=False)
    crm.contact("c-2", with_records=False)
    crm.delete("c-2")
    refused = bulk_delete(crm, ids=["c-1", "c-2", "c-9"], expected_count=3)
    assert refused.status_code == 409
    problem = refused.get_json()
    assert problem["missing_ids"] == ["c-2", "c-9"]
    assert (problem["selected_count"], problem["expected_count"]) == (1, 3)
    recorded = events(crm, action="contact.bulk_delete", outcome="failed")
    assert [e["reason_code"] for e in recorded] == ["selection_changed"]


def test_refusals_that_used_to_leave_no_trace_are_recorded(service: Service) -> None:
    crm = make_crm(service, "trash-retains-all", purge_enabled=True)
    crm.contact("c-1", with_records=False)
    assert crm.delete("c-1", reason="unsubscribe").status_code == 422
    crm.delete("c-1")
    assert crm.purge("c-1", confirm="yes").status_code == 422
    missing_confirm = bulk_delete(crm, ids=["c-1"], expected_count=1, confirm="nope")
    assert missing_confirm.status_code == 422
    codes = {(e["action"], e["reason_code"]) for e in events(crm) if e["outcome"] != "succeeded"}
    assert {
        ("contact.delete", "not_a_delete"),
        ("contact.purge", "confirmation_required"),
        ("contact.bulk_delete", "confirmation_required"),
    } <= codes


def test_a_delete_that_cannot_be_undone_asks_for_delete_to_be_typed(service: Service) -> None:
    crm = make_crm(service, "immediate-purge")
    crm.contact("c-1", with_records=False)
    body = {"reason_code": "duplicate"}
    refused = crm.call("POST", f"{crm.path('c-1')}/delete", crm.admin, body)
    assert refusal(refused) == (422, "confirmation_required")
    assert crm.call("GET", crm.path("c-1")).get_json()["state"] == "active"
    confirmed = crm.call(
        "POST", f"{crm.path('c-1')}/delete", crm.admin, {**body, "confirm": "DELETE"}
    )
    assert confirmed.status_code == 200
    assert confirmed.get_json()["contact"]["state"] == "purged"


def test_a_profile_with_a_trash_needs_no_typed_confirmation(service: Service) -> None:
    crm = make_crm(service, "trash-retains-all")
    crm.contact("c-1", with_records=False)
    deleted = crm.call("POST", f"{crm.path('c-1')}/delete", crm.admin, {"reason_code": "duplicate"})
    assert deleted.status_code == 200


def test_jobs_of_an_account_are_listed_newest_first_a_page_at_a_time(service: Service) -> None:
    crm = make_crm(service, "trash-retains-all")
    made = []
    for index in range(5):
        crm.contact(f"c-{index}", with_records=False)
        made.append(bulk_delete(crm, ids=[f"c-{index}"], expected_count=1).get_json()["id"])
    seen: list[str] = []
    cursor = None
    while True:
        query = "limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = crm.call("GET", f"/v1/accounts/acme/jobs?{query}").get_json()
        seen += [job["id"] for job in page["jobs"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(made))
    assert crm.call("GET", "/v1/accounts/acme/jobs?cursor=garbage").status_code == 400
    succeeded = crm.call("GET", "/v1/accounts/acme/jobs?status=succeeded&kind=bulk_delete")
    assert len(succeeded.get_json()["jobs"]) == 5


def test_impact_of_a_restore_on_an_active_contact_says_it_is_not_in_the_trash(
    service: Service,
) -> None:
    crm = make_crm(service, "trash-retains-all")
    crm.contact("c-1")
    impact = crm.call("GET", f"{crm.path('c-1')}/impact?action=restore").get_json()
    assert (impact["allowed"], impact["status"]) == (False, 409)
    assert impact["reason"]["code"] == "not_in_trash"
    assert impact["cascade"] == {}


def test_only_enrollments_are_ended_and_only_once(service: Service) -> None:
    crm = make_crm(service, "cascade-on-delete-guarded")
    crm.contact("c-1")
    records = crm.records("c-1")
    note, enrollment = records["notes"][0], records["workflow_enrollments"][0]
    path = f"{crm.path('c-1')}/records"
    not_one = crm.call("PATCH", f"{path}/{note['id']}", crm.user, {"status": "ended"})
    assert not_one.status_code == 422
    ended = crm.call("PATCH", f"{path}/{enrollment['id']}", crm.user, {"status": "ended"})
    assert ended.status_code == 200
    again = crm.call("PATCH", f"{path}/{enrollment['id']}", crm.user, {"status": "ended"})
    assert again.status_code == 409
    assert crm.call("PATCH", f"{path}/rec_nope", crm.user, {"status": "ended"}).status_code == 404
    recorded = events(crm, action="enrollment.end")
    assert [(e["outcome"], e["target_id"]) for e in recorded].count(
        ("succeeded", enrollment["id"])
    ) == 1
