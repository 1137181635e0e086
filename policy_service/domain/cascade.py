"""Cascade profiles: what happens to each kind of related data on delete, purge and restore.

Actions, and what each does to a related record:

* ``keep``       the record stays with the contact. On delete it goes to the trash with the
                 contact (hidden, state ``trashed``) and a restore brings it back. On purge it
                 survives, linked only to the purged contact's id (which holds no personal data).
* ``destroy``    the record's content is wiped (state ``destroyed``); no restore brings it back.
* ``stop``       enrollments only (workflows, campaigns): the enrollment ends (state
                 ``stopped``) and a restore does not restart it.
* ``detach``     the record lives on without the contact (its link is cleared, where it came
                 from is kept); a restore of the same delete re-attaches it.
* ``anonymize``  the record survives with its business fields only (for commission records:
                 amount, currency, date, product) and no link to the contact; not restorable.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

RELATED_KINDS = (
    "conversations",
    "notes",
    "tasks",
    "appointments",
    "opportunities",
    "manual_actions",
    "activity_history",
    "tags",
    "workflow_enrollments",
    "campaign_enrollments",
    "commission_records",
    "community_group_ownership",
    "files",
)
ACTIONS = ("keep", "destroy", "stop", "detach", "anonymize")
ENROLLMENTS = frozenset({"workflow_enrollments", "campaign_enrollments"})
# The fields each anonymizable kind keeps; everything else (and the contact link) goes.
ANONYMIZED_FIELDS = MappingProxyType(
    {
        "commission_records": ("amount", "currency", "date", "product"),
        "opportunities": ("value", "currency", "stage", "closed_at"),
        "activity_history": ("type", "at"),
    }
)
GUARDS = MappingProxyType(
    {
        "active_workflow_enrollment": "workflow_enrollments",
        "active_campaign_enrollment": "campaign_enrollments",
    }
)

# Record states.
ACTIVE, TRASHED, DESTROYED, STOPPED, ANONYMIZED, RETAINED = (
    "active",
    "trashed",
    "destroyed",
    "stopped",
    "anonymized",
    "retained",
)
# What each action leaves behind, by phase.
STATE_AFTER = MappingProxyType(
    {
        ("delete", "keep"): TRASHED,
        ("purge", "keep"): RETAINED,
        ("delete", "destroy"): DESTROYED,
        ("purge", "destroy"): DESTROYED,
        ("delete", "stop"): STOPPED,
        ("purge", "stop"): STOPPED,
        ("delete", "detach"): ACTIVE,
        ("purge", "detach"): ACTIVE,
        ("delete", "anonymize"): ANONYMIZED,
        ("purge", "anonymize"): ANONYMIZED,
    }
)
# Records a cascade still acts on: those that have not already reached a final state.
OPEN_STATES = frozenset({ACTIVE, TRASHED, STOPPED, RETAINED})


def allowed_actions(kind: str) -> tuple[str, ...]:
    actions = ["keep", "destroy"]
    if kind in ENROLLMENTS:
        actions.append("stop")
    if kind not in ENROLLMENTS and kind != "tags":
        actions.append("detach")
    if kind in ANONYMIZED_FIELDS:
        actions.append("anonymize")
    return tuple(actions)


@dataclass(frozen=True)
class CascadeProfile:
    name: str
    description: str
    trash: bool
    retention_days: int | None
    block_delete_when: tuple[str, ...]
    on_delete: MappingProxyType[str, str]
    on_purge: MappingProxyType[str, str]
    version: str

    def effective_retention(self, account_retention_days: int) -> int:
        """A profile's ``retention_days`` caps the account's window; it never extends it."""
        if self.retention_days is None:
            return account_retention_days
        return min(self.retention_days, account_retention_days)

    def actions_for(self, phase: str) -> MappingProxyType[str, str]:
        return self.on_delete if phase == "delete" else self.on_purge
