"""Contacts and the vocabulary of their lifecycle."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

# Short enough that "account/contact" fits the audit log's 128-character subject ids.
CONTACT_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,59}$")

ACTIVE, TRASHED, PURGED = "active", "trashed", "purged"

DELETE_REASONS = MappingProxyType(
    {
        "duplicate": "a duplicate created by mistake",
        "test_record": "a test contact",
        "data_cleanup": "database maintenance",
        "inactive": "an inactive or outdated contact",
        "erasure_request": "a data-subject erasure request",
        "other": "another reason, given in reason_text",
    }
)
# Seed 001: "Deleting a contact is not the same as stopping follow-up. Do not use Delete to
# process an unsubscribe, STOP, DND or normal follow-up stop."
NOT_A_DELETE = MappingProxyType(
    {
        "unsubscribe": "Record the opt-out on the contact (unsubscribe) instead of deleting it.",
        "dnd": "Set Do Not Disturb on the contact's channels instead of deleting it.",
        "stop_follow_up": "Use Remove Follow Up to stop follow-up; the contact stays.",
    }
)
OPT_OUT_GUIDANCE = "urn:policy-service:guide:opt-out-is-not-delete"


def is_valid_contact_id(value: object) -> bool:
    return isinstance(value, str) and CONTACT_ID_PATTERN.fullmatch(value) is not None


def audit_subject(account_id: str, contact_id: str) -> str:
    """The audit log's subject id for a contact: its data key is per contact."""
    return f"{account_id}/{contact_id}"


@dataclass(frozen=True)
class Contact:
    account_id: str
    id: str
    name: str | None
    email: str | None
    phone: str | None
    state: str
    deleted_at: datetime | None
    deleted_by: str | None
    delete_operation_id: str | None
    delete_reason: str | None
    purged_at: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime
    tags: tuple[str, ...] = ()

    def personal_fields(self) -> dict[str, str]:
        return {
            key: value
            for key, value in (("name", self.name), ("email", self.email), ("phone", self.phone))
            if value
        }


@dataclass(frozen=True)
class RelatedRecord:
    id: str
    account_id: str
    contact_id: str | None
    origin_contact_id: str
    kind: str
    label: str | None
    data: dict[str, Any]
    state: str
    operation_id: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ContactFacts:
    """What the store knows that a decision about a contact depends on."""

    state: str
    deleted_at: datetime | None
    legal_hold: bool
    active_workflow: bool
    active_campaign: bool = False

    def blocking_guards(self, guards: tuple[str, ...]) -> tuple[str, ...]:
        """Which of a profile's ``block_delete_when`` guards hold for this contact."""
        active = {
            "active_workflow_enrollment": self.active_workflow,
            "active_campaign_enrollment": self.active_campaign,
        }
        return tuple(guard for guard in guards if active.get(guard, False))


@dataclass
class CascadeCounts:
    """Per related kind, how many records each action touched (or would touch)."""

    by_kind: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, kind: str, action: str, count: int) -> None:
        if count:
            per_kind = self.by_kind.setdefault(kind, {})
            per_kind[action] = per_kind.get(action, 0) + count

    def totals(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for actions in self.by_kind.values():
            for action, count in actions.items():
                totals[action] = totals.get(action, 0) + count
        return totals

    def as_dict(self) -> dict[str, dict[str, int]]:
        return {kind: dict(actions) for kind, actions in sorted(self.by_kind.items())}
