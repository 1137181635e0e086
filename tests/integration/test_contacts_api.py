"""Contacts and related records over HTTP: validation, search, and who may do what."""

from tests.conftest import Service
from tests.integration.lifecycle_fixtures import make_crm


def test_contacts_are_created_searched_and_read(service: Service) -> None:
    crm = make_crm(service, "trash-retains-all")
    crm.contact("c-1", with_records=False, tags=["vip", "lead"])
    crm.contact("c-2", with_records=False, name="Grace Hopper", email="Grace@Example.com")
    found = crm.call("GET", "/v1/accounts/acme/contacts?q=grace", crm.user).get_json()["contacts"]
    assert [c["id"] for c in found] == ["c-2"]
    assert found[0]["email"] == "grace@example.com"
    by_tag = crm.call("GET", "/v1/accounts/acme/contacts?tag=vip", crm.user).get_json()
    assert [c["id"] for c in by_tag["contacts"]] == ["c-1"]
    assert by_tag["contacts"][0]["tags"] == ["lead", "vip"]


def test_bad_contact_input_is_a_400_and_creates_nothing(service: Service) -> None:
    crm = make_crm(service, "trash-retains-all")
    for body in (
        {"id": "has space"},
        {"id": "c", "email": "not-an-email"},
        {"id": "c", "phone": "call me"},
        {"id": "c", "tags": "vip"},
        {"id": "c", "unexpected": True},
        {"id": "export"},
    ):
        response = crm.call("POST", "/v1/accounts/acme/contacts", crm.user, body)
        assert response.status_code == 400, body
        assert response.mimetype == "application/problem+json"
    assert crm.call("GET", "/v1/accounts/acme/contacts").get_json()["contacts"] == []


def test_a_duplicate_contact_id_is_a_409(service: Service) -> None:
    crm = make_crm(service, "trash-retains-all")
    crm.contact("c-1", with_records=False)
    again = crm.call("POST", "/v1/accounts/acme/contacts", crm.user, {"id": "c-1"})
    assert again.status_code == 409


def test_unknown_contacts_and_accounts_are_404s(service: Service) -> None:
    crm = make_crm(service, "trash-retains-all")
    assert crm.call("GET", crm.path("nobody")).status_code == 404
    assert crm.delete("nobody").status_code == 404
    assert (
        crm.call("GET", "/v1/accounts/acme/contacts/nobody/impact?action=delete").status_code == 404
    )
    service.account("globex")
    assert crm.call("GET", "/v1/accounts/globex/contacts", crm.root).status_code == 403


def test_records_need_a_known_kind_and_an_active_contact(service: Service) -> None:
    crm = make_crm(service, "trash-retains-all")
    crm.contact("c-1", with_records=False)
    bad_kind = crm.call("POST", f"{crm.path('c-1')}/records", crm.user,
                        {"kind": "tattoos", "data": {}})  # fmt: skip
    assert bad_kind.status_code == 400
    bad_data = crm.call("POST", f"{crm.path('c-1')}/records", crm.user,
                        {"kind": "notes", "data": "text"})  # fmt: skip
    assert bad_data.status_code == 400
    crm.delete("c-1")
    late = crm.call("POST", f"{crm.path('c-1')}/records", crm.user,
                    {"kind": "notes", "data": {"text": "x"}})  # fmt: skip
    assert late.status_code == 409


def test_an_admin_of_another_account_cannot_touch_these_contacts(service: Service) -> None:
    crm = make_crm(service, "trash-retains-all")
    crm.contact("c-1", with_records=False)
    service.account("globex")
    outsider = service.caller("gus", roles={"globex": ["admin"]})
    assert crm.delete("c-1", token=outsider).status_code == 403
    assert crm.call("GET", crm.path("c-1"), outsider).status_code == 403
    assert crm.call("GET", crm.path("c-1")).get_json()["state"] == "active"


def test_cascade_profiles_are_listed_with_versions(service: Service) -> None:
    crm = make_crm(service, "trash-retains-all")
    profiles = crm.call("GET", "/v1/cascade-profiles", crm.user).get_json()["profiles"]
    names = {p["name"] for p in profiles}
    assert {"trash-retains-all", "cascade-on-delete", "immediate-purge", "erasure"} <= names
    one = crm.call("GET", "/v1/cascade-profiles/erasure", crm.user).get_json()
    assert one["on_purge"]["commission_records"] == "anonymize"
    assert one["version"].startswith("sha256:")
    assert crm.call("GET", "/v1/cascade-profiles/nope", crm.user).status_code == 404


def test_an_account_cannot_use_an_unknown_profile(service: Service) -> None:
    crm = make_crm(service, "trash-retains-all")
    response = crm.call("PATCH", "/v1/accounts/acme", crm.root, {"cascade_profile": "nope"})
    assert response.status_code == 400


def test_a_contact_exports_with_every_record_and_the_export_is_audited(service: Service) -> None:
    crm = make_crm(service, "cascade-on-delete")
    crm.contact("c-1")
    exported = crm.call("GET", f"{crm.path('c-1')}/export")
    assert exported.status_code == 200
    body = exported.get_json()
    assert body["contact"]["email"] == "ada@example.com"
    assert len(body["records"]) == 13
    events = crm.call(
        "GET", "/v1/audit/events?account_id=acme&action=contact.export", crm.officer
    ).get_json()["events"]
    assert len(events) == 1
    assert crm.call("GET", f"{crm.path('c-1')}/export", crm.user).status_code == 403


def test_contacts_export_as_csv_with_filters(service: Service) -> None:
    crm = make_crm(service, "cascade-on-delete")
    crm.contact("c-1", with_records=False, tags=["vip"])
    crm.contact("c-2", with_records=False)
    response = crm.call("GET", "/v1/accounts/acme/contacts/export?format=csv&tag=vip")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    lines = response.get_data(as_text=True).strip().splitlines()
    assert lines[0] == "id,name,email,phone,tags,state,created_at"
    assert [line.split(",")[0] for line in lines[1:]] == ["c-1"]
    assert crm.call("GET", "/v1/accounts/acme/contacts/export?format=xml").status_code == 400
