"""Bulk import of contacts from CSV or NDJSON (``policy-service contacts import``).

Rows go through the same ``create_contact`` as the API (so validation, deletion rules and
audit apply); a bad row is reported with its line number and the import goes on.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from policy_service.decisions.authorization import Caller
from policy_service.domain.errors import ServiceError
from policy_service.lifecycle.contacts import create_contact
from policy_service.ports import SealedActs, Stores
from policy_service.storage import memberships as membership_store

FIELDS = ("id", "name", "email", "phone", "tags")


def default_importer(state: Stores, account_id: str) -> Caller | None:
    """The caller an import acts as when none is named: the account's first admin (by id),
    so the import is decided and audited as that admin's; None when the account has none."""
    with state.unit_of_work(write=False) as uow:
        members = membership_store.members_of(uow.session, account_id)
    admins = sorted(user for user, roles in members.items() if "admin" in roles)
    return Caller(admins[0], "user") if admins else None


def _describe(error: ServiceError) -> str:
    """The error's text, naming each field it is about (``email: not an email address``)."""
    errors = error.extensions.get("errors")
    if isinstance(errors, dict) and errors:
        parts = []
        for name, messages in errors.items():
            text = "; ".join(str(m) for m in messages) if isinstance(messages, list) else messages
            parts.append(f"{name}: {text}")
        return "; ".join(parts)
    return str(error.detail)


@dataclass
class ImportReport:
    imported: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)


def _rows(path: Path, fmt: str) -> Iterator[tuple[int, int, dict[str, Any] | str]]:
    """(line number, bytes read, row or an error message)."""
    with path.open("r", encoding="utf-8", newline="") as handle:
        if fmt == "ndjson":
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    yield number, len(line.encode()), f"line: not JSON ({exc.msg})"
                    continue
                wanted = row if isinstance(row, dict) else "line: not a JSON object"
                yield number, len(line.encode()), wanted
            return
        reader = csv.DictReader(handle)
        for row in reader:
            tags = [t for t in (row.get("tags") or "").split(";") if t]
            size = sum(len((v or "").encode()) + 1 for v in row.values())
            yield reader.line_num, size, {**row, "tags": tags}


def import_contacts(
    state: SealedActs,
    principal: str | Caller,
    account_id: str,
    path: Path,
    fmt: str,
    *,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    caller = principal if isinstance(principal, Caller) else Caller(principal, "service")
    report = ImportReport()
    for line, size, row in _rows(path, fmt):
        if progress is not None:
            progress(size)
        if isinstance(row, str):
            report.errors.append((line, row))
            continue
        unknown = set(row) - set(FIELDS)
        if unknown:
            names = ", ".join(sorted(unknown))
            report.errors.append((line, f"{names}: unknown field (expected {', '.join(FIELDS)})"))
            continue
        tags = row.get("tags") or []
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            report.errors.append((line, "tags: must be a list of strings"))
            continue
        values = {k: (row.get(k) or None) for k in ("id", "name", "email", "phone")}
        wrong = [k for k, v in values.items() if not (v is None or isinstance(v, str))]
        if wrong:
            report.errors.append((line, f"{', '.join(wrong)}: must be a string"))
            continue
        try:
            create_contact(state, caller, account_id, tags=tags, **values)
        except ServiceError as error:
            report.errors.append((line, _describe(error)))
            continue
        report.imported += 1
    return report
