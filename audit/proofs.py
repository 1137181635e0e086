"""RFC 9162 inclusion and consistency proofs against signed checkpoints, and their offline
verification (all an outside party needs is the public key)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from audit import merkle, tree
from audit.checkpoints import checkpoint_from_row, note_is_valid
from audit.keys import PublicKeyLike, load_public_key
from audit.records import Checkpoint
from audit.tables import audit_checkpoints, audit_events

Executor = Session | Connection


class ProofUnavailableError(LookupError):
    """No Merkle checkpoint at that tree size, or none that covers the event yet."""


@dataclass(frozen=True, slots=True)
class InclusionProof:
    event_id: str
    chain: str
    leaf_index: int  # seq - 1
    tree_size: int
    event_hash: str
    leaf_hash: str
    audit_path: list[str]
    checkpoint: Checkpoint


@dataclass(frozen=True, slots=True)
class ConsistencyProof:
    chain: str
    first: int
    second: int
    first_checkpoint: Checkpoint
    second_checkpoint: Checkpoint
    proof: list[str]


def _checkpoint(session: Executor, chain: str, size: int | None, covers: int = 1) -> Checkpoint:
    cps = audit_checkpoints
    statement = select(cps).where(
        cps.c.chain == chain, cps.c.root_hash.is_not(None), cps.c.seq >= covers
    )
    if size is not None:
        statement = statement.where(cps.c.seq == size)
    row = session.execute(statement.order_by(cps.c.seq.desc()).limit(1)).mappings().first()
    if row is None:
        raise ProofUnavailableError(_why_unavailable(session, chain, size, covers))
    return checkpoint_from_row(row)


def _why_unavailable(session: Executor, chain: str, size: int | None, covers: int) -> str:
    if size is not None and size < covers:
        return f"event seq {covers} of chain {chain!r} is not in the tree of size {size}"
    cps = audit_checkpoints
    rootless = select(cps.c.seq).where(cps.c.chain == chain, cps.c.seq >= covers)
    if size is not None:
        rootless = rootless.where(cps.c.seq == size)
    if session.execute(rootless.limit(1)).first() is None:
        if size is None:
            return f"no Merkle checkpoint of chain {chain!r} covers seq {covers} yet"
        return f"chain {chain!r} has no checkpoint at tree size {size}"
    # Signed while the tree could not be built: it was far behind (a chain from before
    # Merkle checkpoints, caught up by the periodic checkpoint), or events are missing.
    where = f"at tree size {size}" if size is not None else f"covering seq {covers}"
    return (
        f"the checkpoints of chain {chain!r} {where} have no Merkle root yet: the tree is "
        "behind, or events it needs are missing (audit verification tells which)"
    )


def newest_merkle_checkpoint(session: Executor, chain: str, covers: int = 1) -> Checkpoint:
    """The chain's newest checkpoint with a Merkle root that covers seq ``covers``."""
    return _checkpoint(session, chain, None, covers)


def prove_event(
    session: Executor, event_id: str, tree_size: int | None = None
) -> InclusionProof | None:
    """The event's inclusion proof against the checkpoint at ``tree_size`` (default: the
    newest one); ``None`` for an unknown event."""
    row = session.execute(
        select(audit_events.c.chain, audit_events.c.seq, audit_events.c.hash).where(
            audit_events.c.event_id == event_id
        )
    ).first()
    if row is None:
        return None
    chain, seq, event_hash = str(row[0]), int(row[1]), str(row[2])
    checkpoint = _checkpoint(session, chain, tree_size, covers=seq)
    path = tree.inclusion_proof(session, chain, seq - 1, checkpoint.seq)
    return InclusionProof(
        event_id=event_id,
        chain=chain,
        leaf_index=seq - 1,
        tree_size=checkpoint.seq,
        event_hash=event_hash,
        leaf_hash=merkle.leaf_hash(bytes.fromhex(event_hash)).hex(),
        audit_path=[node.hex() for node in path],
        checkpoint=checkpoint,
    )


def prove_consistency(session: Executor, chain: str, first: int, second: int) -> ConsistencyProof:
    """RFC 9162 consistency proof between two tree sizes that both have checkpoints."""
    if not 0 < first <= second:
        raise ValueError("need 0 < first <= second")
    older = _checkpoint(session, chain, first)
    newer = _checkpoint(session, chain, second)
    proof = tree.consistency_proof(session, chain, first, second)
    return ConsistencyProof(chain, first, second, older, newer, [node.hex() for node in proof])


def verify_inclusion_proof(proof: dict[str, Any], public_key: PublicKeyLike) -> str | None:
    """Check a proof as served (``GET /v1/audit/events/{id}/proof``) offline: the
    checkpoint's signed note, and the audit path from the leaf to its root. ``None`` when it
    holds, else what is wrong."""
    key = load_public_key(public_key)
    try:
        checkpoint = proof["checkpoint"]
        chain, size = str(proof["chain"]), int(proof["tree_size"])
        root = str(checkpoint["root_hash"])
        if int(checkpoint["tree_size"]) != size or checkpoint["chain"] != chain:
            return "the checkpoint is for another tree"
        if not note_is_valid(key, chain, size, root, str(checkpoint["note"])):
            return "the checkpoint's signed note is not valid for this key, chain, size and root"
        leaf = bytes.fromhex(str(proof["leaf_hash"]))
        if "event_hash" in proof and merkle.leaf_hash(bytes.fromhex(proof["event_hash"])) != leaf:
            return "the leaf hash is not the event's"
        path = [bytes.fromhex(node) for node in proof["audit_path"]]
        index = int(proof["leaf_index"])
    except (KeyError, TypeError, ValueError):
        return "malformed proof"
    if not merkle.verify_inclusion(leaf, index, size, path, bytes.fromhex(root)):
        return "the audit path does not lead to the checkpoint's root"
    return None


def verify_consistency_proof(proof: dict[str, Any], public_key: PublicKeyLike) -> str | None:
    """Check a served consistency proof offline, both checkpoints' notes included."""
    key = load_public_key(public_key)
    try:
        chain, first, second = str(proof["chain"]), int(proof["first"]), int(proof["second"])
        roots = []
        for name, size in (("first_checkpoint", first), ("second_checkpoint", second)):
            checkpoint = proof[name]
            root = str(checkpoint["root_hash"])
            if not note_is_valid(key, chain, size, root, str(checkpoint["note"])):
                return f"the {name.replace('_', ' ')}'s signed note is not valid"
            roots.append(bytes.fromhex(root))
        path = [bytes.fromhex(node) for node in proof["proof"]]
    except (KeyError, TypeError, ValueError):
        return "malformed proof"
    if not merkle.verify_consistency(first, second, roots[0], roots[1], path):
        return "the second tree does not extend the first"
    return None
