"""Self-contained evidence that some events are in the log: for each event its canonical
record (the exact bytes its hash covers), an RFC 9162 inclusion proof and the signed
checkpoint (C2SP signed note) the proof leads to.

Whoever holds the evidence and the public key can check it with no access to the log
(:func:`verify_evidence`): the record hashes to the proven event hash, the audit path leads
from that leaf to the checkpoint's root, and the note over that root is signed by the audit
key. A DSR completion certificate carries the evidence of every event of its request.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session

from audit import canonical, merkle, tree
from audit.keys import PublicKeyLike, load_public_key
from audit.proofs import InclusionProof, newest_merkle_checkpoint, verify_inclusion_proof
from audit.rows import RECORD_COLUMNS, record_bytes
from audit.tables import audit_checkpoints, audit_events

Executor = Session | Connection

#: A JSON document as handed out: string keys, JSON values.
JsonObject = dict[str, object]


@dataclass(frozen=True, slots=True)
class EventEvidence:
    record: str  # the canonical record, UTF-8 text of the bytes the event's hash covers
    proof: InclusionProof


def unproven_chains(session: Executor, dsr_id: str) -> list[str]:
    """Chains holding events of ``dsr_id`` that no Merkle checkpoint covers yet: sign a
    checkpoint of each (``AuditWriter.checkpoint``) before asking for the evidence."""
    c, cps = audit_events.c, audit_checkpoints.c
    newest = (
        select(func.max(cps.seq))
        .where(cps.chain == c.chain, cps.root_hash.is_not(None))
        .scalar_subquery()
    )
    statement = (
        select(c.chain)
        .where(c.dsr_id == dsr_id)
        .group_by(c.chain)
        .having(func.coalesce(func.max(newest), 0) < func.max(c.seq))
        .order_by(c.chain)
    )
    return list(session.execute(statement).scalars())


def evidence_for(session: Executor, dsr_id: str) -> list[EventEvidence]:
    """Every event of ``dsr_id``, by chain and sequence, each proven against its chain's
    newest Merkle checkpoint: per chain one checkpoint read and one read of every stored
    node the proofs need, however many events. Raises ``ProofUnavailableError`` for a chain
    with events no checkpoint covers (see :func:`unproven_chains`)."""
    c = audit_events.c
    rows = session.execute(
        select(*(c[name] for name in RECORD_COLUMNS), c.event_id.label("_id"))
        .where(c.dsr_id == dsr_id)
        .order_by(c.chain, c.seq)
    ).all()
    chain_at, seq_at = RECORD_COLUMNS.index("chain"), RECORD_COLUMNS.index("seq")
    by_chain: dict[str, list[tuple[Any, ...]]] = {}
    for selected in rows:
        by_chain.setdefault(str(selected[chain_at]), []).append(tuple(selected))
    found: list[EventEvidence] = []
    for chain, events in by_chain.items():
        checkpoint = newest_merkle_checkpoint(session, chain, covers=int(events[-1][seq_at]))
        indexes = [int(event[seq_at]) - 1 for event in events]
        paths = _paths(session, chain, indexes, checkpoint.seq)
        for row, index, path in zip(events, indexes, paths, strict=True):
            event_hash = str(row[-2])
            proof = InclusionProof(
                event_id=str(row[-1]),
                chain=chain,
                leaf_index=index,
                tree_size=checkpoint.seq,
                event_hash=event_hash,
                leaf_hash=merkle.leaf_hash(bytes.fromhex(event_hash)).hex(),
                audit_path=[node.hex() for node in path],
                checkpoint=checkpoint,
            )
            found.append(EventEvidence(record_bytes(row[:-1]).decode("utf-8"), proof))
    return found


def _paths(session: Executor, chain: str, indexes: list[int], size: int) -> list[list[bytes]]:
    """Inclusion proofs of several leaves, from one read of the stored nodes they need."""

    def build(nodes: merkle.NodeSource) -> list[list[bytes]]:
        return [merkle.inclusion_proof(nodes, index, size) for index in indexes]

    stored = tree.fetch(session, chain, merkle.needed_nodes(build))
    return build(lambda level, index: stored[(level, index)])


def proof_json(proof: InclusionProof) -> JsonObject:
    """An inclusion proof as ``GET /v1/audit/events/{id}/proof`` serves it."""
    checkpoint = proof.checkpoint
    return {
        "event_id": proof.event_id,
        "chain": proof.chain,
        "leaf_index": proof.leaf_index,
        "tree_size": proof.tree_size,
        "event_hash": proof.event_hash,
        "leaf_hash": proof.leaf_hash,
        "audit_path": list(proof.audit_path),
        "checkpoint": {
            "chain": checkpoint.chain,
            "seq": checkpoint.seq,
            "hash": checkpoint.hash,
            "created_at": canonical.format_timestamp(checkpoint.created_at),
            "key_id": checkpoint.key_id,
            "signature": checkpoint.signature,
            "tree_size": checkpoint.tree_size,
            "root_hash": checkpoint.root_hash,
            "signed_at": canonical.format_timestamp(checkpoint.signed_at),
            "note": checkpoint.note,
        },
    }


def evidence_json(evidence: Sequence[EventEvidence]) -> list[JsonObject]:
    return [{"record": item.record, "proof": proof_json(item.proof)} for item in evidence]


def verify_evidence(
    evidence: object, public_key: PublicKeyLike, expected: Mapping[str, object] | None = None
) -> list[str]:
    """Check served evidence offline; returns what is wrong (empty: it all holds).

    ``expected`` names record fields every event must carry (e.g. ``{"dsr_id": ...}``),
    so evidence of other events cannot stand in."""
    key = load_public_key(public_key)
    if not isinstance(evidence, list) or not evidence:
        return ["no evidence: a list of events with their proofs is expected"]
    problems: list[str] = []
    for number, item in enumerate(evidence, start=1):
        where = f"event {number}"
        if not isinstance(item, dict) or not isinstance(item.get("record"), str):
            problems.append(f"{where}: malformed (needs record and proof)")
            continue
        proof, text = item.get("proof"), item["record"]
        if not isinstance(proof, dict):
            problems.append(f"{where}: malformed (needs record and proof)")
            continue
        where = f"event {proof.get('event_id', number)}"
        try:
            record = canonical.decode_object(text)
        except ValueError:
            problems.append(f"{where}: the record is not a JSON object")
            continue
        if canonical.sha256_hex(text.encode("utf-8")) != proof.get("event_hash"):
            problems.append(f"{where}: the record does not hash to the proven event hash")
            continue
        if canonical.encode(record) != text.encode("utf-8"):
            problems.append(f"{where}: the record is not in canonical form")
            continue
        position = (record.get("event_id"), record.get("chain"), record.get("seq"))
        if position != (proof.get("event_id"), proof.get("chain"), _leaf_seq(proof)):
            problems.append(f"{where}: the record is not the proven event")
            continue
        for name, value in (expected or {}).items():
            if record.get(name) != value:
                problems.append(f"{where}: {name} is {json.dumps(record.get(name))}")
        problem = verify_inclusion_proof(proof, key)
        if problem is not None:
            problems.append(f"{where}: {problem}")
    return problems


def _leaf_seq(proof: Mapping[str, object]) -> int | None:
    index = proof.get("leaf_index")
    return index + 1 if isinstance(index, int) else None
