"""Hostile input is refused at the edge with a 4xx problem, and changes nothing."""

from __future__ import annotations

import http.client
import json
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import Service
from tests.integration.lifecycle_fixtures import Crm, make_crm
from tests.server_process import cli, running_server

PROBLEM = "application/problem+json"


@pytest.fixture
def crm(service: Service) -> Crm:
    crm = make_crm(service, "trash-retains-all", purge_enabled=True)
    crm.contact("c-1", with_records=False)
    return crm


def nested(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth - 1):
        value = {"n": value}
    return value


def assert_problem(response: Any, status: int = 400) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    assert response.mimetype == PROBLEM
    body: dict[str, Any] = response.get_json()
    return body


def audit_count(crm: Crm) -> int:
    events = crm.call("GET", "/v1/audit/events?account_id=acme&limit=500", crm.root)
    return len(events.get_json()["events"])


def test_a_nul_in_a_json_string_is_refused_and_names_the_field(crm: Crm) -> None:
    body = {"kind": "notes", "data": {"text": "before\u0000after"}}
    problem = assert_problem(crm.call("POST", f"{crm.path('c-1')}/records", crm.user, body))
    assert problem["errors"] == {"data.text": ["must not contain a NUL character"]}
    assert crm.records("c-1") == {}


def test_a_nul_in_a_path_segment_or_query_parameter_is_refused(crm: Crm) -> None:
    assert_problem(crm.call("GET", "/v1/accounts/acme/contacts/c%001"))
    assert_problem(crm.call("GET", "/v1/accounts/acme/contacts?q=a%00b"))
    assert_problem(crm.call("GET", "/v1/audit/events?account_id=acme&action=x%00", crm.root))


def test_a_nul_in_an_audit_export_filter_is_a_400_before_the_stream_starts(crm: Crm) -> None:
    before = audit_count(crm)
    response = crm.call("GET", "/v1/audit/export?account_id=acme&actor_id=a%00", crm.root)
    assert_problem(response)
    # The export was not recorded as a success, or at all.
    assert audit_count(crm) == before


def nested_raw(depth: int) -> str:
    """A JSON text nested ``depth`` deep (the client's encoder would give up on the deepest)."""
    return '{"n": ' * (depth - 1) + '"bottom"' + "}" * (depth - 1)


@pytest.mark.parametrize(
    ("path", "template"),
    [
        ("/access/v1/evaluation", '{"subject": %s}'),
        ("/access/v1/evaluations", '{"evaluations": [%s]}'),
        ("/v1/accounts/acme/contacts", '{"id": "c-9", "name": %s}'),
        ("/v1/accounts/acme/contacts/c-1/records", '{"kind": "notes", "data": %s}'),
    ],
)
def test_json_nested_deeper_than_the_limit_is_refused(crm: Crm, path: str, template: str) -> None:
    for depth in (65, 600, 10_000):
        raw = template.replace("%s", nested_raw(depth))
        response = crm.call("POST", path, crm.user, data=raw, content_type="application/json")
        assert "deeper than 64" in assert_problem(response)["detail"]


def test_a_deeply_nested_record_is_never_committed_so_reads_keep_working(crm: Crm) -> None:
    deep = {"kind": "notes", "data": nested(600)}
    assert_problem(crm.call("POST", f"{crm.path('c-1')}/records", crm.user, deep))
    assert crm.call("GET", f"{crm.path('c-1')}/export").status_code == 200
    # Within the limit is fine.
    shallow = {"kind": "notes", "data": nested(40)}
    assert crm.call("POST", f"{crm.path('c-1')}/records", crm.user, shallow).status_code == 201
    assert crm.call("GET", f"{crm.path('c-1')}/export").status_code == 200


@pytest.mark.parametrize("number", [2**53 + 1, -(2**53) - 1, 10**400])
def test_an_integer_outside_the_safe_range_is_refused_with_its_field(crm: Crm, number: int) -> None:
    raw = '{"kind": "notes", "data": {"amount": NUMBER}}'.replace("NUMBER", str(number))
    response = crm.call(
        "POST",
        f"{crm.path('c-1')}/records",
        crm.user,
        data=raw,
        content_type="application/json",
    )
    problem = assert_problem(response)
    assert "data.amount" in problem["errors"]


@pytest.mark.parametrize("items", [1, 100], ids=["small body", "batch-sized body"])
@pytest.mark.parametrize(
    ("codec", "data"),
    [
        ("utf-8", {"note": "half a pair: \ud800"}),  # sent as raw bytes, not escaped
        ("utf-16", {"amount": 2**60}),  # its digits are not adjacent bytes
    ],
    ids=["encoded lone surrogate", "big integer in utf-16"],
)
def test_bytes_json_reads_are_held_to_the_same_limits(
    crm: Crm, items: int, codec: str, data: dict[str, Any]
) -> None:
    """Found from outside: json reads bytes with "surrogatepass", and reads UTF-16 too, so a
    lone surrogate sent as raw bytes, or a big integer in UTF-16, got past the scan that
    decides whether the body is walked, and reached the store."""
    before = audit_count(crm)
    body = {"kind": "notes", "data": {**data, "filler": ["x" * 20] * items}}
    raw = json.dumps(body, ensure_ascii=False).encode(codec, "surrogatepass")
    response = crm.call(
        "POST", f"{crm.path('c-1')}/records", crm.user, data=raw, content_type="application/json"
    )
    assert_problem(response)
    assert crm.records("c-1") == {}
    assert audit_count(crm) == before


def test_nan_and_infinity_are_not_json(crm: Crm) -> None:
    raw = '{"kind": "notes", "data": {"x": NaN}}'
    response = crm.call(
        "POST", f"{crm.path('c-1')}/records", crm.user, data=raw, content_type="application/json"
    )
    assert_problem(response)


def test_an_over_long_string_is_refused_with_its_field(crm: Crm) -> None:
    body = {"kind": "notes", "data": {"text": "x" * 10_001}}
    problem = assert_problem(crm.call("POST", f"{crm.path('c-1')}/records", crm.user, body))
    assert problem["errors"] == {"data.text": ["longer than 10000 characters"]}
    named = assert_problem(
        crm.call("POST", "/v1/accounts/acme/contacts", crm.user, {"id": "c-2", "name": "y" * 201})
    )
    assert "name" in named["errors"]


def test_percent_and_underscore_in_a_search_are_literal(crm: Crm) -> None:
    crm.contact("c-2", with_records=False, name="50% off_deal", email="deal@example.com")
    found = crm.call("GET", "/v1/accounts/acme/contacts?q=%25").get_json()["contacts"]
    assert [c["id"] for c in found] == ["c-2"]
    found = crm.call("GET", "/v1/accounts/acme/contacts?q=_").get_json()["contacts"]
    assert [c["id"] for c in found] == ["c-2"]
    assert crm.call("GET", "/v1/accounts/acme/contacts?q=5_%25").get_json()["contacts"] == []


def test_a_bulk_filter_query_treats_wildcards_literally(crm: Crm) -> None:
    crm.contact("c-2", with_records=False, name="100% sure", email="sure@example.com")
    body = {
        "filter": {"query": "%"},
        "reason_code": "duplicate",
        "confirm": "DELETE",
        "expected_count": 1,
    }
    response = crm.call("POST", "/v1/accounts/acme/contacts/bulk-delete", crm.admin, body)
    assert response.status_code == 202, response.get_json()
    assert crm.call("GET", crm.path("c-1")).get_json()["state"] == "active"
    assert crm.call("GET", crm.path("c-2")).get_json()["state"] == "trashed"


def test_a_batch_with_non_object_items_answers_each_of_them(crm: Crm) -> None:
    body = {
        "subject": {"type": "user", "id": "ada"},
        "action": {"name": "read"},
        "resource": {"type": "contact", "id": "c-1", "properties": {"account_id": "acme"}},
        "evaluations": [{}, 1, "x", None, [], {"action": {"name": "delete"}}],
    }
    response = crm.call("POST", "/access/v1/evaluations", crm.root, body)
    assert response.status_code == 200, response.get_json()
    results = response.get_json()["evaluations"]
    assert [r["decision"] for r in results] == [True, False, False, False, False, True]
    for result in results[1:5]:
        assert result["context"]["error"]["status"] == 400


@pytest.mark.e2e
@pytest.mark.parametrize("tail", [b" ", b"x"])
def test_the_body_limit_holds_for_chunked_uploads_on_a_real_server(
    sqlite_url: str, tmp_path: Path, tail: bytes
) -> None:
    """Valid JSON with 2 MiB of trailing spaces, or junk: 413 either way, nothing created."""
    env = {
        "POLICY_SERVICE_DATABASE_URL": sqlite_url,
        "POLICY_SERVICE_AUDIT_SIGNING_KEY": str(tmp_path / "key.pem"),
    }
    created = cli("tokens", "create", "--principal", "ops", "--platform-admin", env=env)
    token = created.stdout.splitlines()[-1]
    with running_server(env) as (base, _):
        before = _accounts(base, token)
        body = json.dumps({"id": "chunky", "name": "chunky"}).encode() + tail * (2 * 1024 * 1024)
        status = _post_chunked(base, "/v1/accounts", token, body)
        assert status == 413
        assert _accounts(base, token) == before


def _accounts(base: str, token: str) -> list[str]:
    parts = urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    connection.request("GET", "/v1/accounts", headers={"Authorization": f"Bearer {token}"})
    answer = json.loads(connection.getresponse().read())
    return sorted(a["id"] for a in answer["accounts"])


def _post_chunked(base: str, path: str, token: str, body: bytes) -> int:
    """Send ``body`` with chunked transfer encoding and return the status the server sent.

    The server may answer and close before the client has sent everything; what it answered
    is still read from the socket, never assumed."""
    parts = urlsplit(base)
    assert parts.hostname is not None
    assert parts.port is not None
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {parts.hostname}\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        )
        try:
            sock.sendall(head.encode())
            for i in range(0, len(body), 65536):
                chunk = body[i : i + 65536]
                sock.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
            sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = b""
        try:
            while b"\r\n" not in answer:
                received = sock.recv(4096)
                if not received:
                    break
                answer += received
        except ConnectionResetError:
            pass
    assert answer.startswith(b"HTTP/1.1 "), answer[:100]
    return int(answer.split(b" ", 2)[1])


@pytest.mark.parametrize(
    "path",
    [
        "/v1/audit/events//proof",
        "/v1/accounts//contacts",
        "//v1/accounts/acme/contacts",
        "/v1/accounts/acme//contacts/c-1",
        "/v1/audit//consistency?account_id=acme&first=1&second=1",
    ],
)
def test_a_doubled_slash_is_not_redirected_but_answered_as_a_problem(crm: Crm, path: str) -> None:
    """Werkzeug merges slashes with an HTML 308 that no error handler sees; the service's
    map does not, so every such path is an ordinary problem+json answer."""
    for method in ("GET", "POST"):
        response = crm.call(method, path, crm.root)
        assert 400 <= response.status_code < 500, (method, response.status_code)
        assert response.mimetype == PROBLEM


def test_a_trailing_slash_matches_the_route_without_a_redirect(crm: Crm) -> None:
    response = crm.call("GET", crm.path("c-1") + "/", crm.user)
    assert response.status_code == 200
    assert response.get_json()["id"] == "c-1"
