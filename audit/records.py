"""What callers hand to the writer and what readers get back.

``AuditEvent`` is the input: everything the caller knows about one action. ``StoredEvent``
is an event as recorded, with the fields the writer added (id, chain, sequence number,
recorded time, hashes). Neither holds plaintext personal data except ``protected``, which
the writer encrypts before it touches the database.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal

Outcome = Literal["succeeded", "denied", "failed"]
OUTCOMES: Final = frozenset({"succeeded", "denied", "failed"})

#: Events with no account go to this chain; every account has a chain named by its id.
PLATFORM_CHAIN: Final = "platform"

#: ``prev_hash`` of the first event of every chain.
GENESIS_HASH: Final = "0" * 64

#: What a protected field reads back as once its subject's key has been destroyed.
ERASED: Final[Mapping[str, Any]] = {"erased": True}


def chain_for(account_id: str | None) -> str:
    """One chain per account, so an account's export verifies on its own."""
    if account_id is None:
        return PLATFORM_CHAIN
    if account_id == PLATFORM_CHAIN:
        # An account called "platform" would silently share the platform chain.
        raise ValueError(f"account id {PLATFORM_CHAIN!r} is reserved for the platform chain")
    return account_id


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEvent:
    """One action to record. Targets and actors are ids; personal data goes in ``protected``.

    ``protected`` (for example a contact's name and email, which a compliance officer must
    be able to read) is encrypted with the data key of ``subject_id``, so it needs one.
    ``details`` is JSON without floats (see README: canonical encoding).
    """

    action: str
    outcome: Outcome
    actor_type: str
    actor_id: str | None = None
    actor_roles: tuple[str, ...] = ()
    account_id: str | None = None
    client_id: str | None = None
    on_behalf_of: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    reason_code: str | None = None
    request_id: str | None = None
    job_id: str | None = None
    dsr_id: str | None = None
    policy_version: str | None = None
    cascade_profile: str | None = None
    cascade_profile_version: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    subject_id: str | None = None
    protected: Mapping[str, str] | None = None
    occurred_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredEvent:
    """An event as recorded.

    ``protected`` is ``None`` when the event had no protected fields, the decrypted fields
    when the reader holds the key-encryption key and the subject's key still exists,
    :data:`ERASED` once the subject's key was destroyed, and ``{"sealed": True}`` when the
    reader did not pass a key-encryption key. ``protected_ciphertext`` is what the hash
    covers.
    """

    event_id: str
    chain: str
    seq: int
    occurred_at: datetime
    recorded_at: datetime
    account_id: str | None
    actor_type: str
    actor_id: str | None
    actor_roles: tuple[str, ...]
    client_id: str | None
    on_behalf_of: str | None
    action: str
    target_type: str | None
    target_id: str | None
    outcome: str
    reason_code: str | None
    request_id: str | None
    job_id: str | None
    dsr_id: str | None
    policy_version: str | None
    cascade_profile: str | None
    cascade_profile_version: str | None
    details: Mapping[str, Any]
    subject_id: str | None
    protected_ciphertext: str | None
    protected: Mapping[str, Any] | None
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Checkpoint:
    """A signed statement "chain ``chain`` had head ``hash`` at ``seq``", and (since
    migration 0007) a C2SP ``tlog-checkpoint`` signed note over the RFC 9162 Merkle tree of
    events ``1..seq``: ``tree_size == seq``, ``root_hash`` (hex) and the full ``note``."""

    chain: str
    seq: int
    hash: str
    created_at: datetime
    key_id: str
    signature: str
    root_hash: str | None = None
    note: str | None = None

    @property
    def tree_size(self) -> int:
        return self.seq

    @property
    def signed_at(self) -> datetime:
        return self.created_at
