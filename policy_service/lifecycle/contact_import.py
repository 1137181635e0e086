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
from policy_service.state import ServiceState

FIELDS = ("id", "name", "email", "phone", "tags")


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
                    yield number, len(line.encode()), f"not JSON: {exc.msg}"
                    continue
                yield number, len(line.encode()), row if isinstance(row, dict) else "not an object"
            return
        reader = csv.DictReader(handle)
        for row in reader:
            tags = [t for t in (row.get("tags") or "").split(";") if t]
            size = sum(len((v or "").encode()) + 1 for v in row.values())
            yield reader.line_num, size, {**row, "tags": tags}


def import_contacts(
    state: ServiceState,
    principal: str,
    account_id: str,
    path: Path,
    fmt: str,
    *,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    caller = Caller(principal, "service")
    report = ImportReport()
    for line, size, row in _rows(path, fmt):
        if progress is not None:
            progress(size)
        if isinstance(row, str):
            report.errors.append((line, row))
            continue
        unknown = set(row) - set(FIELDS)
        if unknown:
            report.errors.append((line, f"unknown fields: {', '.join(sorted(unknown))}"))
            continue
        tags = row.get("tags") or []
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            report.errors.append((line, "tags must be a list of strings"))
            continue
        values = {k: (row.get(k) or None) for k in ("id", "name", "email", "phone")}
        if not all(v is None or isinstance(v, str) for v in values.values()):
            report.errors.append((line, "id, name, email and phone are strings"))
            continue
        try:
            create_contact(state, caller, account_id, tags=tags, **values)
        except ServiceError as error:
            report.errors.append((line, error.detail))
            continue
        report.imported += 1
    return report
