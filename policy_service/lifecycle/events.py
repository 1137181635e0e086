"""The audit events of the contact lifecycle, one named builder each.

Every builder returns an ``AuditEvent`` for the caller to append in the unit of work of the
change it records (``uow.record``), so the change and its evidence commit together. What an
event says about a contact's personal data goes in ``protected`` (encrypted under the
contact's audit key, destroyed on purge); ``details`` holds what may be read in the clear.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from audit import AuditEvent
from policy_service.audit_trail.recording import caller_event
from policy_service.decisions.authorization import Caller
from policy_service.domain.cascade import CascadeProfile
from policy_service.domain.contacts import CascadeCounts, Contact, RelatedRecord, audit_subject
from policy_service.ports import Decides
from policy_service.storage.jobs import Job
from policy_service.storage.legal_holds import LegalHold

SUCCEEDED = "succeeded"

# -- contacts ----------------------------------------------------------------------------------


def contact_action_event(
    state: Decides,
    caller: Caller,
    action: str,
    contact: Contact,
    profile: CascadeProfile,
    operation_id: str,
    counts: CascadeCounts,
    *,
    reason_code: str | None = None,
    protected: dict[str, str] | None = None,
    extra_details: dict[str, Any] | None = None,
    job_id: str | None = None,
    dsr_id: str | None = None,
) -> AuditEvent:
    """One contact's delete, restore, purge or erasure, with what its cascade did."""
    return caller_event(
        state.runtime,
        caller,
        action,
        SUCCEEDED,
        account_id=contact.account_id,
        target_type="contact",
        target_id=contact.id,
        reason_code=reason_code,
        details={
            "operation_id": operation_id,
            "cascade": counts.as_dict(),
            "totals": counts.totals(),
            **(extra_details or {}),
        },
        cascade_profile=profile.name,
        cascade_profile_version=profile.version,
        subject_id=audit_subject(contact.account_id, contact.id),
        protected=protected or None,
        job_id=job_id,
        dsr_id=dsr_id,
    )


def contact_created_event(
    state: Decides, caller: Caller, contact: Contact, tags: Sequence[str]
) -> AuditEvent:
    return caller_event(
        state.runtime,
        caller,
        "contact.created",
        SUCCEEDED,
        account_id=contact.account_id,
        target_type="contact",
        target_id=contact.id,
        details={"tags": list(tags)},
        subject_id=audit_subject(contact.account_id, contact.id),
        protected=contact.personal_fields() or None,
    )


def suppression_overridden_event(
    state: Decides, caller: Caller, account_id: str, contact_id: str, override_reason: str
) -> AuditEvent:
    """A contact created although it matches an erasure's suppression entry, and why."""
    return caller_event(
        state.runtime,
        caller,
        "contact.suppression_overridden",
        SUCCEEDED,
        account_id=account_id,
        target_type="contact",
        target_id=contact_id,
        subject_id=audit_subject(account_id, contact_id),
        protected={"override_reason": override_reason},
    )


def enrollment_ended_event(
    state: Decides, caller: Caller, contact_id: str, record: RelatedRecord
) -> AuditEvent:
    return caller_event(
        state.runtime,
        caller,
        "enrollment.end",
        SUCCEEDED,
        account_id=record.account_id,
        target_type="record",
        target_id=record.id,
        details={"kind": record.kind, "contact_id": contact_id, "to": "ended"},
    )


def export_event(
    state: Decides,
    caller: Caller,
    account_id: str,
    contact_id: str | None,
    details: dict[str, Any],
) -> AuditEvent:
    """An export: of one contact (``contact_id``), or of many as CSV (None)."""
    return caller_event(
        state.runtime,
        caller,
        "contact.export",
        SUCCEEDED,
        account_id=account_id,
        target_type="contact" if contact_id is not None else "contacts",
        target_id=contact_id,
        details=details,
    )


# -- bulk jobs ---------------------------------------------------------------------------------


def job_started_event(
    state: Decides, caller: Caller, job: Job, profile: CascadeProfile, reason_text: str | None
) -> AuditEvent:
    """A job created with its confirmed selection; a free-text reason is kept protected."""
    protected = {"reason_text": reason_text} if reason_text else None
    return caller_event(
        state.runtime,
        caller,
        "job.started",
        SUCCEEDED,
        account_id=job.account_id,
        target_type="job",
        target_id=job.id,
        job_id=job.id,
        reason_code=job.params.get("reason_code"),
        details={"kind": job.kind, "total": job.total, **job.params},
        cascade_profile=profile.name,
        cascade_profile_version=profile.version,
        subject_id=f"job/{job.id}" if protected else None,
        protected=protected,
    )


def job_cancel_requested_event(state: Decides, caller: Caller, job: Job) -> AuditEvent:
    return caller_event(
        state.runtime,
        caller,
        "job.cancel_requested",
        SUCCEEDED,
        account_id=job.account_id,
        target_type="job",
        target_id=job.id,
        job_id=job.id,
        details={"processed": job.processed, "total": job.total},
    )


def job_finished_event(state: Decides, job: Job, status: str, items: dict[str, int]) -> AuditEvent:
    """A job's end (``status``), with its counts; its actor is the user who started it."""
    return caller_event(
        state.runtime,
        Caller(job.created_by, "user", request_id=job.request_id),
        "job.finished",
        SUCCEEDED if status != "failed" else "failed",
        account_id=job.account_id,
        target_type="job",
        target_id=job.id,
        job_id=job.id,
        details={
            "status": status,
            "total": job.total,
            "processed": job.processed,
            "skipped": job.failed,
            "items": items,
        },
    )


def skipped_contact_event(
    state: Decides,
    caller: Caller,
    action: str,
    job: Job,
    contact_id: str,
    skipped: tuple[str, str, int],
) -> AuditEvent:
    """A contact a job left alone: a refused attempt like any other, on record with its
    reason code, text and the status a single action would have answered."""
    code, text, status = skipped
    return caller_event(
        state.runtime,
        caller,
        action,
        "denied" if status == 403 else "failed",
        account_id=job.account_id,
        target_type="contact",
        target_id=contact_id,
        reason_code=code,
        job_id=job.id,
        details={"reason": text, "status": status},
    )


# -- retention, legal holds, deletion rules ----------------------------------------------------


def sweep_event(
    state: Decides,
    actor: Caller,
    *,
    purged: int,
    accounts: dict[str, int],
    held: int,
    refused: int,
) -> AuditEvent:
    """A retention sweep over every account: how many it purged (per account), held back
    (legal hold) and was refused."""
    return caller_event(
        state.runtime,
        actor,
        "retention.sweep",
        SUCCEEDED,
        account_id=None,
        target_type="retention",
        target_id="all",
        details={"purged": purged, "accounts": accounts, "held": held, "refused": refused},
    )


def hold_placed_event(state: Decides, caller: Caller, hold: LegalHold) -> AuditEvent:
    """A hold placed; its reason is kept protected (under the contact's audit key)."""
    return caller_event(
        state.runtime,
        caller,
        "legal_hold.placed",
        SUCCEEDED,
        account_id=hold.account_id,
        target_type="contact",
        target_id=hold.contact_id,
        details={"hold_id": hold.id, "matter": hold.matter},
        subject_id=audit_subject(hold.account_id, hold.contact_id),
        protected={"hold_reason": hold.reason},
    )


def holds_released_event(
    state: Decides, caller: Caller, account_id: str, contact_id: str, hold_ids: list[str]
) -> AuditEvent:
    return caller_event(
        state.runtime,
        caller,
        "legal_hold.released",
        SUCCEEDED,
        account_id=account_id,
        target_type="contact",
        target_id=contact_id,
        details={"hold_ids": hold_ids},
    )


def rule_event(
    state: Decides,
    caller: Caller,
    action: str,
    account_id: str,
    rule_id: str,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """A deletion rule created (``deletion_rule.created``) or removed."""
    return caller_event(
        state.runtime,
        caller,
        action,
        SUCCEEDED,
        account_id=account_id,
        target_type="deletion_rule",
        target_id=rule_id,
        details=details,
    )
