"""The service's own tables (the audit log's live in the ``audit`` package).

Its size is earned: the whole schema is kept in this one module on purpose, so a migration
is written against one file and ``tests/integration/test_migrations.py`` compares one
metadata with the database. Queries live in the storage module named for each concern.

Role assignments are a table of ours rather than pycasbin's ``casbin_rule``: that gives them
a primary key, an index, and writes inside the caller's transaction (see CASBIN-NOTES.md).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Sequence,
    String,
    Text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from audit.tables import UtcDateTime
from policy_service.domain.clock import utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ID_LENGTH = 128


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UtcDateTime()}


class AccountRow(Base):
    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    cascade_profile: Mapped[str] = mapped_column(String(64))
    retention_days: Mapped[int] = mapped_column(Integer, default=60)
    purge_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class PrincipalRow(Base):
    """Who holds API tokens: a person (``user``) or a calling system (``service``)."""

    __tablename__ = "principals"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    platform_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiTokenRow(Base):
    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    principal_id: Mapped[str] = mapped_column(
        ForeignKey("principals.id", ondelete="CASCADE"), index=True
    )
    # SHA-256 of the token: tokens are 256-bit random strings, so a fast hash is enough and
    # keeps the per-request lookup cheap (a slow password hash buys nothing here).
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class MembershipRow(Base):
    """One role held by one user in one account: the ``g`` rows of the Casbin model."""

    __tablename__ = "memberships"

    account_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    role: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_memberships_user_id", "user_id"),)


# Change-log versions on PostgreSQL: handed out without a lock (storage/changes.py).
CHANGE_VERSIONS = Sequence("change_versions", metadata=Base.metadata)


class SyncStateRow(Base):
    """The change-log version counter on SQLite, bumped at commit by the one writer there is.

    (PostgreSQL takes versions from ``change_versions`` instead: a row every writer bumps
    held its lock until commit, and so queued writers in different accounts behind each
    other.)
    """

    __tablename__ = "sync_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)


class ChangeRow(Base):
    """What changed at one sync version: a membership, an account, a principal or the policy."""

    __tablename__ = "change_log"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(32))
    account_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), default=None)
    subject_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), default=None)
    detail: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# -- contacts and their lifecycle (issue 4) -------------------------------------------------


class ContactRow(Base):
    """A contact. Name, email and phone are the personal data a purge wipes."""

    __tablename__ = "contacts"

    account_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200), default=None)
    email: Mapped[str | None] = mapped_column(String(320), default=None)
    phone: Mapped[str | None] = mapped_column(String(40), default=None)
    # Digits only (and a leading +), so a data-subject request finds "+44 20 7946 0000" by
    # "+442079460000"; wiped with the rest at purge.
    phone_normalized: Mapped[str | None] = mapped_column(String(40), default=None)
    state: Mapped[str] = mapped_column(String(16), default="active")
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)
    deleted_by: Mapped[str | None] = mapped_column(String(ID_LENGTH), default=None)
    delete_operation_id: Mapped[str | None] = mapped_column(String(40), default=None)
    delete_reason: Mapped[str | None] = mapped_column(String(40), default=None)
    purged_at: Mapped[datetime | None] = mapped_column(default=None)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    # ``version`` is compared and bumped by hand in the lifecycle's UPDATE ... WHERE
    # version = :seen, so that of two concurrent actions on one contact the loser gets a 409.
    __table_args__ = (
        Index("ix_contacts_account_state_deleted_at", "account_id", "state", "deleted_at"),
        Index("ix_contacts_account_email", "account_id", "email"),
        Index("ix_contacts_account_phone", "account_id", "phone_normalized"),
    )


class RelatedRecordRow(Base):
    """A record of one related kind (a note, a task, a workflow enrollment, ...)."""

    __tablename__ = "related_records"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    # Set to None when a cascade detaches or anonymizes the record; ``origin_contact_id``
    # keeps which contact it came from, so a restore can re-attach what its delete detached.
    contact_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    origin_contact_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    kind: Mapped[str] = mapped_column(String(40))
    label: Mapped[str | None] = mapped_column(String(200), default=None)  # a tag's name
    data: Mapped[str] = mapped_column(Text, default="{}")
    state: Mapped[str] = mapped_column(String(16), default="active")
    operation_id: Mapped[str | None] = mapped_column(String(40), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        # Cascades find a contact's linked records by contact_id; restores and listings find
        # every record that came from it, linked or not, by origin_contact_id.
        Index("ix_related_records_contact", "account_id", "contact_id", "kind"),
        Index("ix_related_records_origin", "account_id", "origin_contact_id"),
        Index("ix_related_records_tag", "account_id", "kind", "label"),
    )


class LegalHoldRow(Base):
    __tablename__ = "legal_holds"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    contact_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    reason: Mapped[str] = mapped_column(String(500))
    matter: Mapped[str | None] = mapped_column(String(200), default=None)
    placed_by: Mapped[str] = mapped_column(String(ID_LENGTH))
    placed_at: Mapped[datetime] = mapped_column(default=utcnow)
    released_by: Mapped[str | None] = mapped_column(String(ID_LENGTH), default=None)
    released_at: Mapped[datetime | None] = mapped_column(default=None)

    __table_args__ = (Index("ix_legal_holds_contact", "account_id", "contact_id"),)


class JobRow(Base):
    """A bulk job. Its contacts are listed in ``job_items`` when it is created, so a job
    resumed after a crash works through exactly the selection that was confirmed."""

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32), default="queued")
    total: Mapped[int] = mapped_column(Integer, default=0)
    processed: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    params: Mapped[str] = mapped_column(Text, default="{}")
    created_by: Mapped[str] = mapped_column(String(ID_LENGTH))
    client_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), default=None)
    request_id: Mapped[str | None] = mapped_column(String(128), default=None)
    lease_owner: Mapped[str | None] = mapped_column(String(64), default=None)
    lease_until: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)

    __table_args__ = (Index("ix_jobs_status", "status"),)


class JobItemRow(Base):
    __tablename__ = "job_items"

    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    error: Mapped[str | None] = mapped_column(String(200), default=None)

    # The runner asks for the next pending items in order; without this it would scan past
    # every finished item first, and a 100,000-contact job would slow down as it went.
    __table_args__ = (Index("ix_job_items_pending", "job_id", "status", "position"),)


class DeletionRuleRow(Base):
    """ "When tag X is added, delete with reason Y" (seeds 002 and 004)."""

    __tablename__ = "deletion_rules"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    tag: Mapped[str] = mapped_column(String(200))
    reason_code: Mapped[str] = mapped_column(String(40))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(ID_LENGTH))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# -- data-subject requests (issue 5) ---------------------------------------------------------------


class DsrRow(Base):
    """A data-subject request. The identity is kept encrypted while the request is open and
    wiped when it completes or is denied; the record itself is kept (CCPA: 24 months)."""

    __tablename__ = "dsr_requests"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    type: Mapped[str] = mapped_column(String(16))
    jurisdiction: Mapped[str] = mapped_column(String(8))
    accounts: Mapped[str] = mapped_column(Text)  # JSON: a list of ids, or "all"
    channel: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(24), index=True)
    received_at: Mapped[datetime] = mapped_column()
    due_at: Mapped[datetime] = mapped_column()
    extended: Mapped[bool] = mapped_column(Boolean, default=False)
    identity_ciphertext: Mapped[str | None] = mapped_column(Text, default=None)
    exemption_code: Mapped[str | None] = mapped_column(String(40), default=None)
    result: Mapped[str | None] = mapped_column(Text, default=None)  # the certificate (JSON)
    signature: Mapped[str | None] = mapped_column(String(200), default=None)
    package_ciphertext: Mapped[str | None] = mapped_column(Text, default=None)
    created_by: Mapped[str] = mapped_column(String(ID_LENGTH))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(default=None)
    # Execution runs as a leased job: the runner working it now and until when (renewed with
    # each chunk), and who executed it (JSON), so a resumed run acts as they did.
    lease_owner: Mapped[str | None] = mapped_column(String(200), default=None)
    lease_until: Mapped[datetime | None] = mapped_column(default=None)
    executor: Mapped[str | None] = mapped_column(Text, default=None)


class DsrTransitionRow(Base):
    __tablename__ = "dsr_transitions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dsr_id: Mapped[str] = mapped_column(ForeignKey("dsr_requests.id"), index=True)
    from_status: Mapped[str] = mapped_column(String(24))
    to_status: Mapped[str] = mapped_column(String(24))
    step: Mapped[str] = mapped_column(String(24))
    by: Mapped[str] = mapped_column(String(ID_LENGTH))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    note: Mapped[str | None] = mapped_column(Text, default=None)


class DsrItemRow(Base):
    """One contact an erasure found: worked through so an interrupted erasure resumes."""

    __tablename__ = "dsr_items"

    dsr_id: Mapped[str] = mapped_column(ForeignKey("dsr_requests.id"), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    contact_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    detail: Mapped[str | None] = mapped_column(Text, default=None)


class SuppressionRow(Base):
    """A keyed HMAC of an erased person's normalised email or phone: never the value."""

    __tablename__ = "suppression_entries"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    kind: Mapped[str] = mapped_column(String(8))
    digest: Mapped[str] = mapped_column(String(64))
    dsr_id: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_suppression_lookup", "account_id", "kind", "digest", unique=True),)


# -- scheduled maintenance -------------------------------------------------------------------


class ScheduledTaskRow(Base):
    """One scheduled task (the retention sweep, job recovery): when it is next due, who runs
    it now, and how its last run went. Shared by every worker, so the schedule survives
    restarts and ``/health`` answers the same from any worker.

    ``lease_owner``/``lease_until`` are the lock on SQLite; PostgreSQL uses an advisory lock
    instead and leaves them empty (``storage/scheduled_tasks.py``)."""

    __tablename__ = "scheduled_tasks"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    next_run_at: Mapped[datetime | None] = mapped_column(default=None)
    lease_owner: Mapped[str | None] = mapped_column(String(200), default=None)
    lease_until: Mapped[datetime | None] = mapped_column(default=None)
    last_runner: Mapped[str | None] = mapped_column(String(200), default=None)
    last_started_at: Mapped[datetime | None] = mapped_column(default=None)
    last_finished_at: Mapped[datetime | None] = mapped_column(default=None)
    last_duration_ms: Mapped[int | None] = mapped_column(Integer, default=None)
    last_outcome: Mapped[str | None] = mapped_column(String(16), default=None)
    last_result: Mapped[str | None] = mapped_column(Text, default=None)  # JSON


# -- decision logs ---------------------------------------------------------------------------


class DecisionLogRow(Base):
    """One decision the service answered (evaluation, evaluations, search, explain), as OPA
    and Cerbos keep them. Not the tamper-evident audit trail: written in batches off the
    request path, masked by configuration, deleted after ``decision_log_retention_days``."""

    __tablename__ = "decision_logs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # the decision_id
    decided_at: Mapped[datetime] = mapped_column()
    endpoint: Mapped[str] = mapped_column(String(32))
    account_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), default=None)
    caller_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    on_behalf_of: Mapped[str | None] = mapped_column(String(ID_LENGTH), default=None)
    subject_type: Mapped[str | None] = mapped_column(String(64), default=None)
    subject_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), default=None)
    action: Mapped[str | None] = mapped_column(String(128), default=None)
    resource_type: Mapped[str | None] = mapped_column(String(64), default=None)
    resource_id: Mapped[str | None] = mapped_column(String(256), default=None)
    decision: Mapped[bool] = mapped_column(Boolean)
    reason_code: Mapped[str | None] = mapped_column(String(64), default=None)
    policy_version: Mapped[str | None] = mapped_column(String(100), default=None)
    request_id: Mapped[str | None] = mapped_column(String(200), default=None)
    details: Mapped[str | None] = mapped_column(Text, default=None)  # JSON, masked

    __table_args__ = (
        Index("ix_decision_logs_account_time", "account_id", "decided_at", "id"),
        Index("ix_decision_logs_subject", "account_id", "subject_id", "decided_at"),
        Index("ix_decision_logs_resource", "account_id", "resource_id", "decided_at"),
        Index("ix_decision_logs_time", "decided_at"),
    )


# A list of ids: a text array on PostgreSQL (a GIN index finds the rows holding one), JSON on
# SQLite (searched with json_each).
IdList = JSON().with_variant(ARRAY(Text()), "postgresql")


class DecisionLogBatchRow(Base):
    """Decisions written together in one row: a batch request's in one account, or up to a
    hundred answered alone that one writer flush holds for one account, endpoint and caller.
    A compliance officer reads them as entries like any other (``storage.decision_logs``),
    but a hundred decisions cost the database one row and its index entries instead of a
    hundred rows and five hundred entries, which had cost the batch endpoint a third of its
    throughput."""

    __tablename__ = "decision_log_batches"

    # The decision id of its first item (for a batch: the batch's id prefix, then the index).
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    decided_at: Mapped[datetime] = mapped_column()  # its newest decision's time
    first_at: Mapped[datetime] = mapped_column()  # its oldest decision's time
    endpoint: Mapped[str] = mapped_column(String(32))
    account_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), default=None)
    caller_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    on_behalf_of: Mapped[str | None] = mapped_column(String(ID_LENGTH), default=None)
    request_id: Mapped[str | None] = mapped_column(String(200), default=None)
    decisions: Mapped[int] = mapped_column(Integer)
    allowed: Mapped[int] = mapped_column(Integer)
    subject_ids: Mapped[list[str]] = mapped_column(IdList)  # distinct, for the subject filter
    resource_ids: Mapped[list[str]] = mapped_column(IdList)  # distinct, for the resource filter
    # JSON: one array per decision - its index in the batch (or, answered alone, its id),
    # subject type and id, action, resource type and id, decision, reason code, policy
    # version, masked properties or null; answered alone, then its time and request id.
    items: Mapped[str] = mapped_column(Text)

    __table_args__ = (
        Index("ix_decision_log_batches_account_time", "account_id", "decided_at", "id"),
        Index("ix_decision_log_batches_time", "decided_at"),
        Index("ix_decision_log_batches_subjects", "subject_ids", postgresql_using="gin"),
        Index("ix_decision_log_batches_resources", "resource_ids", postgresql_using="gin"),
    )


# -- console sessions (issue 12) -------------------------------------------------------------


class ConsoleSessionRow(Base):
    """A signed-in /console session. The cookie holds a random session id; only its SHA-256
    is kept, with the API token the session was opened with (by its id, never the token), so
    revoking that token ends the session, and sign-out deletes the row."""

    __tablename__ = "console_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    principal_id: Mapped[str] = mapped_column(
        ForeignKey("principals.id", ondelete="CASCADE"), index=True
    )
    token_id: Mapped[str] = mapped_column(
        ForeignKey("api_tokens.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Absolute end (created_at + CONSOLE_SESSION_MINUTES); the idle end is last_seen_at +
    # the idle limit, checked on every request.
    expires_at: Mapped[datetime] = mapped_column()

    __table_args__ = (Index("ix_console_sessions_expires_at", "expires_at"),)


# -- webhooks and downstream DSR systems (issue 11) ------------------------------------------


class WebhookEndpointRow(Base):
    """An account's webhook endpoint: where to send which events. The signing secret is kept
    sealed (AES-GCM under a key derived from the service secret): it signs every delivery,
    so it must be readable, and it is shown to the account once, when the endpoint is made."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[str] = mapped_column(Text)  # JSON: the event types wanted
    description: Mapped[str] = mapped_column(String(200), default="")
    secret_ciphertext: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(ID_LENGTH))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_webhook_endpoints_account", "account_id"),)


class WebhookOutboxRow(Base):
    """The transactional outbox: one delivery of one event to one endpoint, written in the
    transaction of the change it announces, then sent (leased, retried with backoff) by the
    scheduled delivery task. ``message_id`` is the ``webhook-id`` header, the same on every
    attempt so the receiver can drop duplicates."""

    __tablename__ = "webhook_outbox"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(40))
    endpoint_id: Mapped[str] = mapped_column(String(40))
    account_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    event_type: Mapped[str] = mapped_column(String(40))
    # JSON, never personal data: a DSR system's task gets the identity added as it is sent,
    # from the request (so it is gone once the request completes and wipes it).
    payload: Mapped[str] = mapped_column(Text)
    dsr_id: Mapped[str | None] = mapped_column(String(40), default=None)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(200), default=None)
    lease_until: Mapped[datetime | None] = mapped_column(default=None)
    last_status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    last_error: Mapped[str | None] = mapped_column(String(500), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)

    __table_args__ = (
        # The delivery task asks for pending rows that are due; the log lists an endpoint's.
        Index("ix_webhook_outbox_due", "status", "next_attempt_at"),
        Index("ix_webhook_outbox_endpoint", "endpoint_id", "created_at", "id"),
    )


class WebhookAttemptRow(Base):
    """One attempt at a delivery: when, what the receiver answered (or what went wrong)."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(String(40))
    attempted_at: Mapped[datetime] = mapped_column(default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    error: Mapped[str | None] = mapped_column(String(500), default=None)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (Index("ix_webhook_attempts_delivery", "delivery_id", "id"),)


class DsrSystemRow(Base):
    """A system downstream of the CRM that an erasure must also reach (seed 004: deletion
    "based on system settings"): told by webhook when it has an endpoint, else a manual task."""

    __tablename__ = "dsr_systems"

    account_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    endpoint_id: Mapped[str | None] = mapped_column(String(40), default=None)
    created_by: Mapped[str] = mapped_column(String(ID_LENGTH))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DsrSystemTaskRow(Base):
    """One system's part of one erasure, and its confirmation (counts, or an officer's note)."""

    __tablename__ = "dsr_system_tasks"

    dsr_id: Mapped[str] = mapped_column(ForeignKey("dsr_requests.id"), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    system: Mapped[str] = mapped_column(String(64), primary_key=True)
    mode: Mapped[str] = mapped_column(String(16))  # webhook or manual
    status: Mapped[str] = mapped_column(String(16), default="pending")
    delivery_id: Mapped[str | None] = mapped_column(String(40), default=None)
    counts: Mapped[str | None] = mapped_column(Text, default=None)  # JSON
    note: Mapped[str | None] = mapped_column(Text, default=None)
    confirmed_by: Mapped[str | None] = mapped_column(String(ID_LENGTH), default=None)
    confirmed_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
