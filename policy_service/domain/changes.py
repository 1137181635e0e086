"""One entry of the change log: what every worker applies to stay current."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Change:
    version: int
    kind: str
    account_id: str | None
    subject_id: str | None
    detail: str
