"""Signed checkpoints: Ed25519 signatures over (chain, seq, head hash, time, key id).

A checkpoint anchors every event up to ``seq``: changing, removing or reordering any of them
changes the head hash the signature covers. Events after a chain's last checkpoint are only
protected by the hash chain, which someone with write access could recompute, so the
writer signs every N events and verification reports how many events are not yet anchored.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import Connection, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.orm import Session

from audit.canonical import checkpoint_message, format_timestamp
from audit.keys import key_id
from audit.records import Checkpoint
from audit.tables import audit_checkpoints


def sign_checkpoint(
    private_key: Ed25519PrivateKey,
    chain: str,
    seq: int,
    head_hash: str,
    now: datetime | None = None,
) -> Checkpoint:
    created_at = now or datetime.now(UTC)
    kid = key_id(private_key.public_key())
    message = checkpoint_message(chain, seq, head_hash, format_timestamp(created_at), kid)
    return Checkpoint(
        chain=chain,
        seq=seq,
        hash=head_hash,
        created_at=created_at,
        key_id=kid,
        signature=base64.b64encode(private_key.sign(message)).decode("ascii"),
    )


def signature_is_valid(
    public_key: Ed25519PublicKey,
    chain: str,
    seq: int,
    head_hash: str,
    created_at: str,
    kid: str,
    signature: str,
) -> bool:
    message = checkpoint_message(chain, seq, head_hash, created_at, kid)
    try:
        public_key.verify(base64.b64decode(signature, validate=True), message)
    except (InvalidSignature, ValueError):
        return False
    return True


def checkpoint_row(checkpoint: Checkpoint) -> dict[str, object]:
    return {
        "chain": checkpoint.chain,
        "seq": checkpoint.seq,
        "hash": checkpoint.hash,
        "created_at": checkpoint.created_at,
        "key_id": checkpoint.key_id,
        "signature": checkpoint.signature,
    }


def checkpoint_from_row(row: RowMapping) -> Checkpoint:
    created_at: datetime = row["created_at"]
    if created_at.tzinfo is None:  # SQLite hands back naive UTC
        created_at = created_at.replace(tzinfo=UTC)
    return Checkpoint(
        chain=row["chain"],
        seq=row["seq"],
        hash=row["hash"],
        created_at=created_at,
        key_id=row["key_id"],
        signature=row["signature"],
    )


def list_checkpoints(session: Session | Connection, chain: str) -> list[Checkpoint]:
    """A chain's checkpoints, oldest first. (There is one per N events: small.)"""
    rows = session.execute(
        select(audit_checkpoints)
        .where(audit_checkpoints.c.chain == chain)
        .order_by(audit_checkpoints.c.seq)
    ).mappings()
    return [checkpoint_from_row(row) for row in rows]
