"""Issue 15, the first hour: an unknown value's 400 suggests the closest valid one."""

from datetime import UTC, datetime

from tests.conftest import Service
from tests.integration.lifecycle_fixtures import Crm, make_crm


def test_an_unknown_record_kind_suggests_the_closest(service: Service) -> None:
    crm = make_crm(service, "trash-retains-all")
    crm.contact("c-1", with_records=False)
    response = crm.call("POST", f"{crm.path('c-1')}/records", crm.user, {"kind": "note"})
    assert response.status_code == 400
    assert "did you mean 'notes'?" in response.get_json()["errors"]["kind"]


def test_an_unknown_reason_code_and_query_value_suggest_the_closest(service: Service) -> None:
    crm = make_crm(service, "trash-retains-all")
    crm.contact("c-1", with_records=False)
    response = crm.call("POST", f"{crm.path('c-1')}/delete", body={"reason_code": "duplicat"})
    assert response.status_code == 400
    assert "did you mean 'duplicate'?" in response.get_json()["errors"]["reason_code"]
    response = crm.call("GET", "/v1/accounts/acme/jobs?status=succeded")
    assert response.status_code == 400
    assert "did you mean 'succeeded'?" in response.get_json()["errors"]["status"]


def test_a_value_nothing_resembles_gets_no_suggestion(service: Service) -> None:
    crm = make_crm(service, "trash-retains-all")
    crm.contact("c-1", with_records=False)
    response = crm.call("POST", f"{crm.path('c-1')}/records", crm.user, {"kind": "zzzzqqq"})
    assert response.status_code == 400
    assert not any("did you mean" in m for m in response.get_json()["errors"]["kind"])


def test_docs_is_a_public_page_of_the_openapi_document_served_locally(service: Service) -> None:
    page = service.client.get("/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'spec-url="/openapi.json"' in html
    assert '<script src="/docs/redoc.standalone.js">' in html
    assert "http" not in html.replace("http-equiv", "")  # nothing from a CDN
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    script = service.client.get("/docs/redoc.standalone.js")
    assert script.status_code == 200
    assert script.mimetype == "text/javascript"
    assert service.client.get("/docs/LICENSE").status_code == 200
    assert service.client.get("/docs/..%2Fpyproject.toml").status_code == 404
    assert service.client.get("/docs/nope.js").status_code == 404


# -- data-subject requests: what execute did; cursor pages ------------------------------------


def _dsr(crm: Crm, email: str) -> str:
    created = crm.call(
        "POST",
        "/v1/dsr",
        crm.officer,
        {
            "type": "erasure",
            "identity": {"email": email},
            "jurisdiction": "gdpr",
            "accounts": ["acme"],
            "received_at": datetime.now(UTC).isoformat(),
            "channel": "email",
        },
    )
    assert created.status_code == 201, created.get_json()
    return str(created.get_json()["id"])


def test_dsr_execute_says_what_was_erased_restricted_or_kept(service: Service) -> None:
    crm = make_crm(service, "trash-retains-all")
    cora = crm.officer
    crm.contact("c-1")
    crm.contact("c-2", with_records=False)
    held = crm.call("POST", f"{crm.path('c-2')}/legal-holds", cora, {"reason": "litigation"})
    assert held.status_code in (200, 201), held.get_json()
    dsr_id = _dsr(crm, "ada@example.com")
    for name, body in (("verify-identity", {"method": "email_link"}), ("approve", None)):
        assert crm.call("POST", f"/v1/dsr/{dsr_id}/{name}", cora, body).status_code == 200
    executed = crm.call("POST", f"/v1/dsr/{dsr_id}/execute", cora)
    assert executed.status_code == 200, executed.get_json()
    answer = executed.get_json()
    assert answer["status"] == "completed"  # the existing fields stay
    outcome = answer["outcome"]["accounts"]["acme"]
    assert outcome["erased"] == ["c-1"]
    assert [r["contact_id"] for r in outcome["restricted"]] == ["c-2"]
    assert outcome["kept"] == []
    assert outcome["pending"] == []
    assert outcome["erased_records"]["notes"]


def test_dsr_list_pages_with_a_cursor(service: Service) -> None:
    crm = make_crm(service, "trash-retains-all")
    cora = crm.officer
    made = {_dsr(crm, f"p{n}@example.com") for n in range(3)}
    everything = crm.call("GET", "/v1/dsr", cora).get_json()
    assert {r["id"] for r in everything["requests"]} == made
    assert everything["next_cursor"] is None
    seen: list[str] = []
    cursor = None
    while True:
        query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = crm.call("GET", f"/v1/dsr{query}", cora).get_json()
        seen += [r["id"] for r in page["requests"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [r["id"] for r in everything["requests"]]
    bad = crm.call("GET", "/v1/dsr?cursor=nonsense", cora)
    assert bad.status_code == 400


def test_a_mistyped_exemption_code_suggests_the_closest(service: Service) -> None:
    crm = make_crm(service, "trash-retains-all")
    dsr_id = _dsr(crm, "ada@example.com")
    denied = crm.call(
        "POST",
        f"/v1/dsr/{dsr_id}/deny",
        crm.officer,
        {"exemption_code": "legal_claim", "text": "x"},
    )
    assert denied.status_code == 422
    assert "did you mean 'legal_claims'?" in denied.get_json()["errors"]["exemption_code"]
