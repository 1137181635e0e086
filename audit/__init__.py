"""Append-only, tamper-evident audit log. See README.md for the contract.

No Flask and no ``policy_service`` in here: the service passes in a SQLAlchemy session
that is inside its own transaction, and the log rides on it.
"""

from audit.checkpoints import list_checkpoints
from audit.crypto import SubjectErasedError, destroy_subject_key
from audit.export import export_events
from audit.keys import load_or_create_signing_key, load_public_key, public_key_pem
from audit.query import EventFilter, EventPage, InvalidCursorError, get_event, query_events
from audit.records import (
    ERASED,
    GENESIS_HASH,
    PLATFORM_CHAIN,
    AuditEvent,
    Checkpoint,
    Outcome,
    StoredEvent,
    chain_for,
)
from audit.verify import Problem, VerificationReport, verify_database, verify_export
from audit.writer import AuditWriter

__all__ = [
    "ERASED",
    "GENESIS_HASH",
    "PLATFORM_CHAIN",
    "AuditEvent",
    "AuditWriter",
    "Checkpoint",
    "EventFilter",
    "EventPage",
    "InvalidCursorError",
    "Outcome",
    "Problem",
    "StoredEvent",
    "SubjectErasedError",
    "VerificationReport",
    "chain_for",
    "destroy_subject_key",
    "export_events",
    "get_event",
    "list_checkpoints",
    "load_or_create_signing_key",
    "load_public_key",
    "public_key_pem",
    "query_events",
    "verify_database",
    "verify_export",
]
