"""Bulk delete: confirmation, selection, chunks that commit whole, resumption after a crash."""

from collections import Counter
from typing import Any

import pytest
from sqlalchemy import text

from policy_service.lifecycle import job_runner, jobs
from tests.conftest import Service
from tests.integration.lifecycle_fixtures import Crm, make_crm


def bulk(crm: Crm, token: str | None = None, **body: Any) -> Any:
    payload = {"confirm": "DELETE", "reason_code": "data_cleanup", **body}
    return crm.call("POST", "/v1/accounts/acme/contacts/bulk-delete", token, payload)


def delete_events(crm: Crm) -> Counter[str]:
    events = crm.call(
        "GET", "/v1/audit/events?account_id=acme&action=contact.delete&limit=500", crm.officer
    ).get_json()["events"]
    return Counter(e["target_id"] for e in events if e["outcome"] == "succeeded")


def test_a_bulk_delete_trashes_the_confirmed_selection_one_event_each(service: Service) -> None:
    crm = make_crm(service, "cascade-on-delete")
    for n in range(5):
        crm.contact(f"c-{n}", with_records=n == 0)
    response = bulk(crm, ids=["c-0", "c-1", "c-2"], expected_count=3)
    assert response.status_code == 202
    assert response.headers["Location"].startswith("/v1/jobs/job_")
    job = crm.call("GET", response.headers["Location"]).get_json()
    assert (job["status"], job["total"], job["processed"], job["failed"]) == ("succeeded", 3, 3, 0)
    assert delete_events(crm) == {"c-0": 1, "c-1": 1, "c-2": 1}
    assert crm.call("GET", crm.path("c-3")).get_json()["state"] == "active"
    assert crm.states("c-0")["notes"] == "destroyed"
    events = crm.call(
        "GET", f"/v1/audit/events?account_id=acme&job_id={job['id']}&limit=50", crm.officer
    ).get_json()["events"]
    assert {e["action"] for e in events} == {"job.started", "contact.delete", "job.finished"}


def test_a_changed_selection_is_a_409_and_nothing_happens(service: Service) -> None:
    crm = make_crm(service, "trash-retains-all")
    for n in range(3):
        crm.contact(f"c-{n}", with_records=False, tags=["old"])
    refused = bulk(crm, filter={"tag": "old"}, expected_count=2)
    assert refused.status_code == 409
    assert refused.get_json()["selected_count"] == 3
    assert delete_events(crm) == {}


def test_the_confirmation_phrase_is_required(service: Service) -> None:
    crm = make_crm(service, "trash-retains-all")
    crm.contact("c-1", with_records=False)
    refused = bulk(crm, ids=["c-1"], expected_count=1, confirm="delete")
    assert refused.status_code == 422


def test_only_admins_bulk_delete(service: Service) -> None:
    crm = make_crm(service, "trash-retains-all")
    crm.contact("c-1", with_records=False)
    assert bulk(crm, crm.user, ids=["c-1"], expected_count=1).status_code == 403


def test_a_selection_needs_ids_or_a_filter_and_an_empty_filter_is_refused(
    service: Service,
) -> None:
    crm = make_crm(service, "trash-retains-all")
    assert bulk(crm, expected_count=0).status_code == 400
    assert bulk(crm, filter={}, expected_count=0).status_code == 400
    assert bulk(crm, ids=["a"], filter={"all": True}, expected_count=1).status_code == 400


def test_seed_003_bulk_delete_under_immediate_purge_is_permanent(service: Service) -> None:
    crm = make_crm(service, "immediate-purge")
    for n in range(3):
        crm.contact(f"c-{n}", with_records=False)
    bulk(crm, filter={"all": True}, expected_count=3)
    for n in range(3):
        contact = crm.call("GET", crm.path(f"c-{n}")).get_json()
        assert (contact["state"], contact["email"]) == ("purged", None)
        assert crm.restore(f"c-{n}").status_code == 409


def test_contacts_that_changed_since_confirmation_are_skipped_and_counted(
    make_service: Any, database_url: str
) -> None:
    service = make_service(database_url, job_runner="off")
    crm = make_crm(service, "trash-retains-all")
    for n in range(3):
        crm.contact(f"c-{n}", with_records=False)
    job = bulk(crm, ids=["c-0", "c-1", "c-2"], expected_count=3).get_json()
    crm.delete("c-1")  # deleted by hand before the job got to it
    jobs.run_job(service.state, job["id"])
    done = crm.call("GET", f"/v1/jobs/{job['id']}").get_json()
    assert (done["status"], done["processed"], done["failed"]) == ("completed_with_skips", 3, 1)
    assert done["items"] == {"done": 2, "skipped": 1}
    assert delete_events(crm) == {"c-0": 1, "c-1": 1, "c-2": 1}


def test_a_job_that_dies_mid_chunk_resumes_without_repeating_or_skipping(
    make_service: Any, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = make_service(database_url, job_runner="off", job_chunk_size=2)
    crm = make_crm(service, "cascade-on-delete")
    for n in range(7):
        crm.contact(f"c-{n}", with_records=n < 2)
    job = bulk(crm, filter={"all": True}, expected_count=7).get_json()

    real_work = job_runner._work_chunk
    calls = {"n": 0}

    def dies_in_the_third_chunk(*args: Any) -> None:
        calls["n"] += 1
        real_work(*args)
        if calls["n"] == 3:
            raise RuntimeError("killed")  # after the chunk's writes, before its commit

    monkeypatch.setattr(job_runner, "_work_chunk", dies_in_the_third_chunk)
    with pytest.raises(RuntimeError, match="killed"):
        jobs.run_job(service.state, job["id"], owner="runner-1")
    monkeypatch.setattr(job_runner, "_work_chunk", real_work)

    half = crm.call("GET", f"/v1/jobs/{job['id']}").get_json()
    assert (half["status"], half["processed"]) == ("running", 4)
    # The dead runner's lease blocks a second runner until it expires.
    assert jobs.run_job(service.state, job["id"], owner="runner-2") is False
    with service.state.engine.begin() as connection:
        connection.execute(text("UPDATE jobs SET lease_until = '2000-01-01 00:00:00+00'"))
    assert jobs.run_job(service.state, job["id"], owner="runner-2") is True

    done = crm.call("GET", f"/v1/jobs/{job['id']}").get_json()
    assert (done["status"], done["processed"], done["failed"]) == ("succeeded", 7, 0)
    assert delete_events(crm) == {f"c-{n}": 1 for n in range(7)}
    assert crm.states("c-0")["notes"] == "destroyed"
    assert crm.call("POST", "/v1/audit/verify", crm.officer, {"account_id": "acme"}).get_json()[
        "ok"
    ]


def test_a_cancelled_job_stops_and_keeps_what_it_did(make_service: Any, database_url: str) -> None:
    service = make_service(database_url, job_runner="off")
    crm = make_crm(service, "trash-retains-all")
    crm.contact("c-1", with_records=False)
    job = bulk(crm, ids=["c-1"], expected_count=1).get_json()
    cancelled = crm.call("POST", f"/v1/jobs/{job['id']}/cancel")
    assert cancelled.status_code == 200
    assert cancelled.get_json()["status"] == "cancelled"
    jobs.run_job(service.state, job["id"])
    assert crm.call("GET", crm.path("c-1")).get_json()["state"] == "active"
    assert crm.call("POST", f"/v1/jobs/{job['id']}/cancel").status_code == 409


def test_a_job_of_another_account_is_not_visible(service: Service) -> None:
    crm = make_crm(service, "trash-retains-all")
    crm.contact("c-1", with_records=False)
    job = bulk(crm, ids=["c-1"], expected_count=1).get_json()
    service.account("globex")
    outsider = service.caller("gus", roles={"globex": ["admin"]})
    # Answered exactly as for a job that does not exist: job ids cannot be probed.
    foreign = crm.call("GET", f"/v1/jobs/{job['id']}", outsider)
    unknown = crm.call("GET", "/v1/jobs/job_nope", outsider)
    assert foreign.status_code == unknown.status_code == 404
    assert foreign.get_json()["type"] == unknown.get_json()["type"]
    assert crm.call("GET", "/v1/jobs/job_nope").status_code == 404


def test_a_chunk_that_loses_a_race_rolls_back_whole_and_is_read_again(
    make_service: Any, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The chunk's contacts UPDATE goes ahead of its events and is checked after them: a
    contact another transaction trashed between the chunk's read and its write leaves none
    of the chunk's writes or events behind, and the chunk is read and decided again."""
    from policy_service.storage import cascade, changes

    service = make_service(database_url, job_runner="off")
    if service.state.engine.dialect.name != "postgresql":
        pytest.skip("SQLite holds the write lock from the chunk's read: no other writer races it")
    crm = make_crm(service, "cascade-on-delete")
    for n in range(3):
        crm.contact(f"c-{n}")
    job = bulk(crm, ids=["c-0", "c-1", "c-2"], expected_count=3).get_json()
    original = cascade.open_counts_per_contact
    raced = []

    def racing(session: Any, account_id: str, ids: Any) -> Any:
        if not raced:  # once: between the chunk's read and its write, someone trashes c-1
            raced.append(True)
            with service.state.engine.begin() as other:
                other.execute(text("UPDATE contacts SET state = 'trashed' WHERE id = 'c-1'"))
        return original(session, account_id, ids)

    monkeypatch.setattr(cascade, "open_counts_per_contact", racing)
    jobs.run_job(service.state, job["id"])
    done = crm.call("GET", f"/v1/jobs/{job['id']}").get_json()
    assert raced == [True]
    assert (done["processed"], done["failed"]) == (3, 1)  # c-1, read again, is in the trash
    assert delete_events(crm) == {"c-0": 1, "c-2": 1}  # no event of the rolled-back try
    notes = crm.records("c-1")["notes"]
    assert notes
    assert all(r["state"] == "active" for r in notes)  # its cascade rolled back too
    # Nor a change-log version: a gap would hold every worker's watermark back.
    with service.state.session_factory() as session:
        versions = [change.version for change in changes.changes_since(session, 0)]
    assert versions == list(range(versions[0], versions[0] + len(versions)))
