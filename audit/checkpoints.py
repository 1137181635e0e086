"""Signed checkpoints: Ed25519 signatures over (chain, seq, head hash, time, key id).

A checkpoint anchors every event up to ``seq``: changing, removing or reordering any of them
changes the head hash the signature covers. Events after a chain's last checkpoint are only
protected by the hash chain, which someone with write access could recompute, so the
writer signs every N events and verification reports how many events are not yet anchored.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import Connection, func, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.orm import Session

from audit.canonical import FORMAT_VERSION, checkpoint_message, encode, format_timestamp
from audit.keys import key_id
from audit.note import NoteError, checkpoint_text, open_note, parse_checkpoint, sign_note
from audit.records import Checkpoint
from audit.tables import audit_chain_heads, audit_checkpoints

#: The signed-note key name, and the prefix of every chain's checkpoint origin line.
NOTE_KEY_NAME: Final = "policy-service/audit"


def origin_for(chain: str) -> str:
    """A chain's tlog-checkpoint origin: unique per log (chain names hold no newline)."""
    return f"{NOTE_KEY_NAME}/{chain}"


def sign_checkpoint(
    private_key: Ed25519PrivateKey,
    chain: str,
    seq: int,
    head_hash: str,
    now: datetime | None = None,
    root_hash: bytes | None = None,
) -> Checkpoint:
    created_at = now or datetime.now(UTC)
    kid = key_id(private_key.public_key())
    message = checkpoint_message(chain, seq, head_hash, format_timestamp(created_at), kid)
    note = None
    if root_hash is not None:
        note = sign_note(
            checkpoint_text(origin_for(chain), seq, root_hash), NOTE_KEY_NAME, private_key
        )
    return Checkpoint(
        chain=chain,
        seq=seq,
        hash=head_hash,
        created_at=created_at,
        key_id=kid,
        signature=base64.b64encode(private_key.sign(message)).decode("ascii"),
        root_hash=None if root_hash is None else root_hash.hex(),
        note=note,
    )


def note_is_valid(
    public_key: Ed25519PublicKey, chain: str, seq: int, root_hash: str, note: str
) -> bool:
    """The note is signed by the audit key and states exactly (origin, seq, root)."""
    try:
        body = parse_checkpoint(open_note(note, NOTE_KEY_NAME, public_key))
    except NoteError:
        return False
    return (body.origin, body.tree_size, body.root_hash.hex()) == (
        origin_for(chain),
        seq,
        root_hash,
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


# The export's closing checkpoint: the fields of its end line that the signature covers.
SEAL_FIELDS = ("chains", "complete", "events", "exported_at", "heads", "key_id")


def seal_message(fields: dict[str, Any]) -> bytes:
    """The bytes an export's end-line signature covers: the end line's SEAL_FIELDS plus
    ``"type": "audit.export-end"`` and ``"v": 1``, canonical JSON."""
    body = {name: fields.get(name) for name in SEAL_FIELDS}
    return encode({**body, "type": "audit.export-end", "v": FORMAT_VERSION})


def sign_seal(private_key: Ed25519PrivateKey, fields: dict[str, Any]) -> dict[str, Any]:
    """``fields`` (an export's end line) with ``key_id`` and ``signature`` added."""
    sealed = {**fields, "key_id": key_id(private_key.public_key())}
    signature = private_key.sign(seal_message(sealed))
    return {**sealed, "signature": base64.b64encode(signature).decode("ascii")}


def seal_is_valid(public_key: Ed25519PublicKey, fields: dict[str, Any]) -> bool:
    signature = fields.get("signature")
    if not isinstance(signature, str):
        return False
    try:
        public_key.verify(base64.b64decode(signature, validate=True), seal_message(fields))
    except (InvalidSignature, ValueError, TypeError):
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
        "root_hash": checkpoint.root_hash,
        "note": checkpoint.note,
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
        root_hash=row["root_hash"],
        note=row["note"],
    )


def list_checkpoints(session: Session | Connection, chain: str) -> list[Checkpoint]:
    """A chain's checkpoints, oldest first. (There is one per N events: small.)"""
    rows = session.execute(
        select(audit_checkpoints)
        .where(audit_checkpoints.c.chain == chain)
        .order_by(audit_checkpoints.c.seq)
    ).mappings()
    return [checkpoint_from_row(row) for row in rows]


def newest_signed_checkpoints(session: Session | Connection) -> list[Checkpoint]:
    """Each chain's newest checkpoint that carries a signed note: what a witness is handed."""
    cps = audit_checkpoints
    newest = (
        select(cps.c.chain, func.max(cps.c.seq).label("seq"))
        .where(cps.c.note.is_not(None))
        .group_by(cps.c.chain)
        .subquery()
    )
    rows = session.execute(
        select(cps).join(newest, (cps.c.chain == newest.c.chain) & (cps.c.seq == newest.c.seq))
    ).mappings()
    return [checkpoint_from_row(row) for row in rows]


def chains_due(session: Session | Connection, older_than: datetime | None = None) -> list[str]:
    """Chains whose head is not covered by a checkpoint (what the periodic checkpoint signs,
    one chain per transaction, with ``AuditWriter.checkpoint``); with ``older_than``, only
    those whose newest checkpoint was signed before then, or that have none."""
    cps, heads = audit_checkpoints, audit_chain_heads
    latest = (
        select(
            cps.c.chain,
            func.max(cps.c.seq).label("seq"),
            func.max(cps.c.created_at).label("at"),
        )
        .group_by(cps.c.chain)
        .subquery()
    )
    statement = (
        select(heads.c.chain)
        .select_from(heads.outerjoin(latest, latest.c.chain == heads.c.chain))
        .where(heads.c.seq > 0, latest.c.seq.is_(None) | (latest.c.seq < heads.c.seq))
        .order_by(heads.c.chain)
    )
    if older_than is not None:
        statement = statement.where(latest.c.at.is_(None) | (latest.c.at < older_than))
    return list(session.execute(statement).scalars())
