"""Policy test files: the TOML cases beside the rules, read and checked.

A file::

    [[accounts]]
    id = "acme"
    purge_enabled = true          # retention_days defaults to 60

    [[members]]
    account = "acme"
    user = "ada"
    roles = ["admin"]

    [[cases]]
    name = "an admin may purge a trashed contact where purge is enabled"
    subject = "ada"
    account = "acme"
    action = "contact.purge"      # or "purge": the resource type namespaces it
    resource = "contact"
    properties = { state = "trashed", deleted_days_ago = 3 }
    expect = "allow"              # or "deny"
    reason = "allowed"            # optional: the expected reason code

A malformed file is a ``PolicyPackError`` naming the file and, where known, the line.
Running the cases is ``decisions/policy_tests.py``.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from policy_service.domain.accounts import DEFAULT_RETENTION_DAYS, Account
from policy_service.domain.decisions import Action, DecisionRequest, Resource, Subject
from policy_service.domain.errors import PolicyPackError
from policy_service.domain.identifiers import PLATFORM_DOMAIN, is_valid_account_id, is_valid_id
from policy_service.policy.toml_errors import toml_error_line

CASE_KEYS = {
    "name",
    "subject",
    "subject_properties",
    "account",
    "action",
    "resource",
    "resource_id",
    "properties",
    "expect",
    "reason",
    "through_service",
}
FILE_KEYS = {"accounts", "members", "cases"}


@dataclass(frozen=True)
class PolicyCase:
    name: str
    file: Path
    line: int
    request: DecisionRequest
    deleted_days_ago: int | None
    expect: bool
    reason: str | None
    # The subject acts through this service (``X-On-Behalf-Of``), as a PEP acting for a user.
    through_service: str | None = None


@dataclass
class PolicyTestFile:
    path: Path
    accounts: dict[str, Account] = field(default_factory=dict)
    members: list[tuple[str, str, str]] = field(default_factory=list)
    cases: list[PolicyCase] = field(default_factory=list)


def _header_lines(text: str, header: str) -> list[int]:
    return [n for n, line in enumerate(text.splitlines(), 1) if line.strip() == header]


def _fail(path: Path, line: int | None, message: str) -> PolicyPackError:
    return PolicyPackError(str(path), line, message)


def _parse_accounts(path: Path, text: str, raw: Any) -> dict[str, Account]:
    accounts = {}
    lines = _header_lines(text, "[[accounts]]")
    epoch = datetime(2000, 1, 1, tzinfo=UTC)
    for index, entry in enumerate(raw or []):
        line = lines[index] if index < len(lines) else None
        if not isinstance(entry, dict) or not is_valid_account_id(entry.get("id")):
            raise _fail(path, line, "each [[accounts]] needs a valid 'id'")
        unknown = set(entry) - {"id", "retention_days", "purge_enabled", "cascade_profile"}
        if unknown:
            raise _fail(path, line, f"unknown account keys: {', '.join(sorted(unknown))}")
        retention = entry.get("retention_days", DEFAULT_RETENTION_DAYS)
        purge = entry.get("purge_enabled", False)
        if not isinstance(retention, int) or not isinstance(purge, bool):
            raise _fail(path, line, "retention_days is a number, purge_enabled true or false")
        accounts[entry["id"]] = Account(
            entry["id"],
            entry["id"],
            entry.get("cascade_profile", "trash-retains-all"),
            retention,
            purge,
            epoch,
            epoch,
        )
    return accounts


def _parse_members(path: Path, text: str, raw: Any) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    lines = _header_lines(text, "[[members]]")
    for index, entry in enumerate(raw or []):
        line = lines[index] if index < len(lines) else None
        ok = (
            isinstance(entry, dict)
            and set(entry) == {"account", "user", "roles"}
            and (entry["account"] == PLATFORM_DOMAIN or is_valid_account_id(entry["account"]))
            and is_valid_id(entry["user"])
            and isinstance(entry["roles"], list)
            and all(isinstance(role, str) for role in entry["roles"])
        )
        if not ok:
            raise _fail(path, line, "[[members]] takes account, user and a list of roles")
        rows.extend((entry["user"], role, entry["account"]) for role in entry["roles"])
    return rows


def _parse_case(path: Path, line: int | None, entry: Any) -> PolicyCase:
    if not isinstance(entry, dict):
        raise _fail(path, line, "each [[cases]] must be a table")
    unknown = set(entry) - CASE_KEYS
    if unknown:
        raise _fail(path, line, f"unknown case keys: {', '.join(sorted(unknown))}")
    for key in ("name", "subject", "action", "resource", "expect"):
        if not isinstance(entry.get(key), str):
            raise _fail(path, line, f"'{key}' is required and must be a string")
    if entry["expect"] not in ("allow", "deny"):
        raise _fail(path, line, "expect must be 'allow' or 'deny'")
    if "through_service" in entry and not is_valid_id(entry["through_service"]):
        raise _fail(path, line, "through_service must be a service's id")
    properties = dict(entry.get("properties", {}))
    if "account" in entry:
        properties["account_id"] = entry["account"]
    days = properties.pop("deleted_days_ago", None)
    if days is not None and not isinstance(days, int):
        raise _fail(path, line, "deleted_days_ago must be a whole number")
    request = DecisionRequest(
        subject=Subject("user", entry["subject"], dict(entry.get("subject_properties", {}))),
        action=Action(entry["action"]),
        resource=Resource(entry["resource"], entry.get("resource_id", "test"), properties),
    )
    return PolicyCase(
        name=entry["name"],
        file=path,
        line=line or 0,
        request=request,
        deleted_days_ago=days,
        expect=entry["expect"] == "allow",
        reason=entry.get("reason"),
        through_service=entry.get("through_service"),
    )


def load_test_file(path: Path) -> PolicyTestFile:
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _fail(path, toml_error_line(exc), f"invalid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(path, None, f"cannot read: {exc}") from None
    unknown = set(data) - FILE_KEYS
    if unknown:
        raise _fail(path, None, f"unknown top-level keys: {', '.join(sorted(unknown))}")
    if not data.get("cases"):
        raise _fail(path, None, "the file holds no [[cases]]")
    case_lines = _header_lines(text, "[[cases]]")
    cases = [
        _parse_case(path, case_lines[i] if i < len(case_lines) else None, entry)
        for i, entry in enumerate(data["cases"])
    ]
    return PolicyTestFile(
        path=path,
        accounts=_parse_accounts(path, text, data.get("accounts")),
        members=_parse_members(path, text, data.get("members")),
        cases=cases,
    )
