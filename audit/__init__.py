"""Append-only, tamper-evident audit log. See README.md for the contract.

No Flask and no ``policy_service`` in here: the service passes in a SQLAlchemy session
that is inside its own transaction, and the log rides on it.
"""

from audit.checkpoints import NOTE_KEY_NAME, chains_due, list_checkpoints, origin_for
from audit.crypto import SubjectErasedError, destroy_subject_key, destroy_subject_keys
from audit.database_check import verify_database
from audit.export import export_events
from audit.export_check import verify_export
from audit.keys import load_or_create_signing_key, load_public_key, public_key_pem
from audit.note import verifier_key
from audit.proofs import (
    ConsistencyProof,
    InclusionProof,
    ProofUnavailableError,
    prove_consistency,
    prove_event,
    verify_consistency_proof,
    verify_inclusion_proof,
)
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
from audit.report import Problem, VerificationReport
from audit.tree import MissingNodesError
from audit.writer import AuditWriter

__all__ = [
    "ERASED",
    "GENESIS_HASH",
    "NOTE_KEY_NAME",
    "PLATFORM_CHAIN",
    "AuditEvent",
    "AuditWriter",
    "Checkpoint",
    "ConsistencyProof",
    "EventFilter",
    "EventPage",
    "InclusionProof",
    "InvalidCursorError",
    "MissingNodesError",
    "Outcome",
    "Problem",
    "ProofUnavailableError",
    "StoredEvent",
    "SubjectErasedError",
    "VerificationReport",
    "chain_for",
    "chains_due",
    "destroy_subject_key",
    "destroy_subject_keys",
    "export_events",
    "get_event",
    "list_checkpoints",
    "load_or_create_signing_key",
    "load_public_key",
    "origin_for",
    "prove_consistency",
    "prove_event",
    "public_key_pem",
    "query_events",
    "verifier_key",
    "verify_consistency_proof",
    "verify_database",
    "verify_export",
    "verify_inclusion_proof",
]
