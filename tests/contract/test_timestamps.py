"""Every timestamp the API sends is RFC 3339 with an explicit offset, on SQLite too (which
hands back naive datetimes: they are UTC, and must say so)."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from typing import Any

from tests.contract.conftest import ACCOUNT, World

LOOKS_LIKE_A_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
RFC3339_WITH_OFFSET = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$"
)
A = f"/v1/accounts/{ACCOUNT}"


def strings(value: Any, where: str = "$") -> Iterator[tuple[str, str]]:
    """Every string in a JSON value, with where it is."""
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from strings(item, f"{where}[{index}]")


def timestamps(response: Any) -> Iterator[tuple[str, str]]:
    """The timestamp-looking strings of a JSON, NDJSON or CSV body."""
    mimetype = response.mimetype
    if mimetype == "text/csv":
        rows = csv.reader(io.StringIO(response.get_data(as_text=True)))
        found = ((f"row {n}", cell) for n, row in enumerate(rows) for cell in row)
    elif mimetype == "application/x-ndjson":
        lines = response.get_data(as_text=True).splitlines()
        found = (pair for n, line in enumerate(lines) for pair in strings(json.loads(line), f"{n}"))
    else:
        found = strings(response.get_json())
    return ((where, text) for where, text in found if LOOKS_LIKE_A_TIMESTAMP.match(text))


def naive(world: World, requests: list[tuple[str, str, str, Any]]) -> tuple[list[str], int]:
    """Timestamps without an offset in the answers to ``requests`` (role, method, path, body),
    and how many timestamps were seen."""
    tokens = {
        "root": world.crm.root,
        "admin": world.crm.admin,
        "user": world.crm.user,
        "officer": world.crm.officer,
    }
    bad: list[str] = []
    seen = 0
    for role, method, path, body in requests:
        response = world.crm.call(method, path, tokens[role], body)
        assert response.status_code < 300, (method, path, response.get_data(as_text=True))
        for where, text in timestamps(response):
            seen += 1
            if not RFC3339_WITH_OFFSET.match(text):
                bad.append(f"{method} {path} {where}: {text!r}")
    return bad, seen


def test_every_timestamp_in_json_responses_has_an_offset(world: World) -> None:
    dsr_ids = world.existing["dsr_id"]
    job_id = world.existing["job_id"][0]
    event_id = world.existing["event_id"][0]
    requests: list[tuple[str, str, str, Any]] = [
        ("root", "GET", "/v1/accounts", None),
        ("root", "GET", A, None),
        ("root", "PATCH", A, {"name": "Acme Inc."}),
        ("user", "GET", f"{A}/contacts", None),
        ("user", "POST", f"{A}/contacts", {"id": "c-9", "name": "New"}),
        ("user", "GET", f"{A}/contacts/c-1", None),
        ("user", "GET", f"{A}/contacts/c-2", None),  # trashed: deleted_at
        ("user", "GET", f"{A}/contacts/c-5", None),  # erased: purged_at
        ("user", "GET", f"{A}/contacts/c-1/records", None),
        ("user", "POST", f"{A}/contacts/c-1/records", {"kind": "notes", "data": {"t": "x"}}),
        ("admin", "GET", f"{A}/contacts/c-1/export", None),
        ("admin", "GET", f"{A}/contacts/c-1/impact?action=delete", None),
        ("admin", "GET", f"{A}/trash", None),
        ("officer", "GET", f"{A}/contacts/c-3/legal-holds", None),
        ("officer", "POST", f"{A}/contacts/c-1/legal-holds", {"reason": "audit"}),
        ("officer", "DELETE", f"{A}/contacts/c-1/legal-holds", None),
        ("admin", "GET", f"{A}/deletion-rules", None),
        ("admin", "POST", f"{A}/deletion-rules/run?dry_run=true", None),
        ("admin", "GET", f"/v1/jobs/{job_id}", None),
        (
            "admin",
            "POST",
            f"{A}/contacts/bulk-delete",
            {"ids": ["c-9"], "confirm": "DELETE", "expected_count": 1, "reason_code": "inactive"},
        ),
        ("admin", "POST", f"{A}/contacts/c-2/restore", None),  # contact back from the trash
        ("admin", "POST", f"{A}/contacts/c-2/delete", {"reason_code": "duplicate"}),
        ("officer", "GET", "/v1/dsr", None),
        *[("officer", "GET", f"/v1/dsr/{dsr_id}", None) for dsr_id in dsr_ids],
        ("officer", "GET", f"/v1/dsr/{dsr_ids[0]}/certificate", None),
        ("root", "GET", f"/v1/audit/events?account_id={ACCOUNT}&limit=500", None),
        ("root", "GET", f"/v1/audit/events/{event_id}", None),
        ("root", "GET", f"/v1/audit/checkpoints?account_id={ACCOUNT}", None),
        ("root", "POST", "/v1/audit/checkpoints", {"account_id": ACCOUNT}),
        ("root", "GET", f"/v1/audit/export?account_id={ACCOUNT}", None),
        ("root", "GET", f"/v1/audit/export?account_id={ACCOUNT}&format=csv", None),
    ]
    bad, seen = naive(world, requests)
    assert seen > 100, "the walk reached the timestamps"
    assert not bad, "\n".join(bad)


# The DSR access package and the contacts CSV export format timestamps in services/
# (dsr._access, contact_export._rows) with datetime.isoformat(), naive on SQLite.
def test_the_access_package_timestamps_have_an_offset(world: World) -> None:
    access = world.existing["dsr_id"][1]
    bad, seen = naive(world, [("officer", "GET", f"/v1/dsr/{access}/package", None)])
    assert seen > 0
    assert not bad, "\n".join(bad)


def test_the_contacts_csv_export_timestamps_have_an_offset(world: World) -> None:
    bad, seen = naive(world, [("admin", "GET", f"{A}/contacts/export", None)])
    assert seen > 0
    assert not bad, "\n".join(bad)
