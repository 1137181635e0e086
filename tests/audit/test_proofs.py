"""Issue 10, part 2: checkpoints are C2SP signed notes over the RFC 9162 Merkle tree of the
chain's events, with inclusion and consistency proofs that verify offline."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine
from sqlalchemy.exc import DatabaseError

from audit import (
    NOTE_KEY_NAME,
    AuditWriter,
    ProofUnavailableError,
    chains_due,
    list_checkpoints,
    origin_for,
    prove_consistency,
    prove_event,
    verifier_key,
    verify_consistency_proof,
    verify_inclusion_proof,
)
from audit.merkle import leaf_hash, memory_nodes, root_hash
from audit.note import open_note, parse_checkpoint
from policy_service.storage.unit_of_work import UnitOfWork

A1 = "acct-1"


def _as_json(value: Any) -> Any:
    """What the API sends: dataclasses as objects (the checkpoint's properties included)."""
    data = dataclasses.asdict(value)
    for name in ("checkpoint", "first_checkpoint", "second_checkpoint"):
        if name in data:
            checkpoint = getattr(value, name)
            data[name]["tree_size"] = checkpoint.tree_size
    return data


SIZE = 38


@pytest.fixture
def chain(
    append: Callable[..., list[Any]], writer: AuditWriter, uow: Callable[..., UnitOfWork]
) -> list[Any]:
    # Checkpoints every 5 (at 5, 10, ... 35) and at 38 on demand. 38 leaves: two whole
    # blocks of stored nodes and a partial one derived from its events.
    events = append(SIZE, account_id=A1)
    with uow() as work:
        writer.checkpoint(work.session, A1)
        work.commit()
    return events


def test_checkpoints_are_signed_notes_over_the_merkle_root_of_the_events(
    chain: list[Any], uow: Callable[..., UnitOfWork], signing_key: Ed25519PrivateKey
) -> None:
    leaves = [leaf_hash(bytes.fromhex(event.hash)) for event in chain]
    with uow(write=False) as work:
        checkpoints = list_checkpoints(work.session, A1)
    assert [c.tree_size for c in checkpoints] == [*range(5, 36, 5), SIZE]
    for checkpoint in checkpoints:
        expected = root_hash(memory_nodes(leaves[: checkpoint.tree_size]), checkpoint.tree_size)
        assert checkpoint.root_hash == expected.hex()
        assert checkpoint.note is not None
        text = open_note(checkpoint.note, NOTE_KEY_NAME, signing_key.public_key())
        body = parse_checkpoint(text)
        assert (body.origin, body.tree_size, body.root_hash) == (
            origin_for(A1),
            checkpoint.tree_size,
            expected,
        )
        # The note's last line is the C2SP signature line a Go note verifier reads with:
        assert checkpoint.note.splitlines()[-1].startswith(f"\u2014 {NOTE_KEY_NAME} ")
    assert verifier_key(NOTE_KEY_NAME, signing_key.public_key()).startswith(NOTE_KEY_NAME + "+")


def test_every_event_has_an_inclusion_proof_that_verifies_offline(
    chain: list[Any], uow: Callable[..., UnitOfWork], signing_key: Ed25519PrivateKey
) -> None:
    with uow(write=False) as work:
        for event in chain:
            proof = prove_event(work.session, event.event_id)
            assert proof is not None
            assert (proof.leaf_index, proof.tree_size) == (event.seq - 1, SIZE)
            assert verify_inclusion_proof(_as_json(proof), signing_key.public_key()) is None
        older = prove_event(work.session, chain[2].event_id, tree_size=5)
        assert older is not None
        assert older.tree_size == 5
        assert verify_inclusion_proof(_as_json(older), signing_key.public_key()) is None
        with pytest.raises(ProofUnavailableError):
            prove_event(work.session, chain[7].event_id, tree_size=5)  # seq 8 is not in it
        with pytest.raises(ProofUnavailableError):
            prove_event(work.session, chain[0].event_id, tree_size=7)  # no checkpoint at 7
        assert prove_event(work.session, "no-such-event") is None


def test_a_forged_or_mismatched_inclusion_proof_is_refused(
    chain: list[Any], uow: Callable[..., UnitOfWork], signing_key: Ed25519PrivateKey
) -> None:
    with uow(write=False) as work:
        proof = _as_json(prove_event(work.session, chain[3].event_id))
    other = dict(proof, leaf_index=4)
    assert verify_inclusion_proof(other, signing_key.public_key()) is not None
    forged = dict(proof, event_hash=chain[4].hash)
    assert verify_inclusion_proof(forged, signing_key.public_key()) is not None
    bad_note = dict(proof, checkpoint=dict(proof["checkpoint"], root_hash="00" * 32))
    assert verify_inclusion_proof(bad_note, signing_key.public_key()) is not None
    stranger = Ed25519PrivateKey.generate().public_key()
    assert verify_inclusion_proof(proof, stranger) is not None


def test_consistency_proofs_between_checkpoints_verify_offline(
    chain: list[Any], uow: Callable[..., UnitOfWork], signing_key: Ed25519PrivateKey
) -> None:
    with uow(write=False) as work:
        for first, second in ((5, 10), (10, SIZE), (5, SIZE), (SIZE, SIZE), (15, 35), (35, SIZE)):
            proof = prove_consistency(work.session, A1, first, second)
            assert verify_consistency_proof(_as_json(proof), signing_key.public_key()) is None
        with pytest.raises(ProofUnavailableError):
            prove_consistency(work.session, A1, 4, 10)
        proof = _as_json(prove_consistency(work.session, A1, 5, SIZE))
    proof["proof"] = proof["proof"][1:]
    assert verify_consistency_proof(proof, signing_key.public_key()) is not None


def test_chains_with_unsigned_heads_are_due_for_a_checkpoint(
    append: Callable[..., list[Any]], writer: AuditWriter, uow: Callable[..., UnitOfWork]
) -> None:
    append(3, account_id=A1)
    append(5, account_id="acct-2")  # signed at 5 by the writer
    append(1, account_id=None)
    with uow(write=False) as work:
        assert chains_due(work.session) == [A1, "platform"]
    with uow() as work:
        for name in chains_due(work.session):
            writer.checkpoint(work.session, name)
        work.commit()
    with uow(write=False) as work:
        assert chains_due(work.session) == []


def test_merkle_nodes_are_append_only(chain: list[Any], engine: Engine) -> None:
    with pytest.raises(DatabaseError, match="append-only"), engine.begin() as connection:
        connection.exec_driver_sql("UPDATE audit_merkle_nodes SET hash = 'x'")
    with pytest.raises(DatabaseError, match="append-only"), engine.begin() as connection:
        connection.exec_driver_sql("DELETE FROM audit_merkle_nodes")


def test_verification_recomputes_the_merkle_roots_of_the_checkpoints(
    chain: list[Any], uow: Callable[..., UnitOfWork], signing_key: Ed25519PrivateKey
) -> None:
    import io
    import json

    from audit import EventFilter, export_events, verify_database, verify_export

    with uow(write=False) as work:
        assert verify_database(work.session, signing_key).ok
        lines = "".join(export_events(work.session, EventFilter(), signing_key=signing_key))
    assert verify_export(io.StringIO(lines), signing_key).ok
    # A checkpoint line whose root (and so note) an attacker changed no longer verifies.
    out = []
    for line in lines.splitlines(keepends=True):
        item = json.loads(line)
        if item["type"] == "checkpoint" and item["seq"] == 10:
            item["root_hash"] = "11" * 32
            line = json.dumps(item) + "\n"
        out.append(line)
    report = verify_export(io.StringIO("".join(out)), signing_key)
    assert not report.ok
    assert report.reason is not None
    assert report.reason.startswith("checkpoint_signature_invalid")


def test_a_chain_far_behind_is_caught_up_in_bounded_steps_not_in_an_append(
    append: Callable[..., list[Any]],
    writer: AuditWriter,
    uow: Callable[..., UnitOfWork],
    signing_key: Ed25519PrivateKey,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from audit import tree, verify_database

    monkeypatch.setattr(tree, "INLINE_LIMIT", 3)
    events = append(42, account_id=A1)  # the writer's checkpoints at 5, 10, ...: too far behind
    with uow(write=False) as work:
        assert [c.root_hash for c in list_checkpoints(work.session, A1)] == [None] * 8
        assert tree.stored_size(work.session, A1) == 0
    steps = 0
    done = False
    while not done:
        with uow() as work:
            done = tree.catch_up(work.session, A1, max_leaves=tree.BLOCK)
            work.commit()
        steps += 1
    assert steps == 3  # 0 -> 16 -> 32 -> 42: whole blocks, then the partial one
    with uow() as work:
        checkpoint = writer.checkpoint(work.session, A1)
        work.commit()
    assert checkpoint.root_hash is not None
    with uow(write=False) as work:
        assert verify_database(work.session, signing_key).ok
        proof = prove_event(work.session, events[0].event_id)
    assert verify_inclusion_proof(_as_json(proof), signing_key.public_key()) is None


def test_only_subtrees_of_a_whole_block_are_stored_the_smaller_ones_come_from_the_events(
    chain: list[Any], engine: Engine
) -> None:
    from audit import tree

    with engine.connect() as connection:
        stored = connection.exec_driver_sql(
            f"SELECT level, idx FROM audit_merkle_nodes WHERE chain = '{A1}' ORDER BY level, idx"
        ).all()
    # 38 leaves: blocks 0 and 1 (16 leaves each) and the node over both; leaves 32..37 are
    # derived whenever a proof needs them.
    assert [tuple(row) for row in stored] == [(4, 0), (4, 1), (5, 0)]
    assert tree.BLOCK == 16


def test_a_tree_stored_by_an_earlier_version_with_every_level_still_extends_and_proves(
    append: Callable[..., list[Any]],
    writer: AuditWriter,
    uow: Callable[..., UnitOfWork],
    engine: Engine,
    signing_key: Ed25519PrivateKey,
) -> None:
    from audit import tree, verify_database

    first = append(21, account_id=A1)  # checkpoints at 5 ... 20: level-4 node 0 stored
    leaves = [leaf_hash(bytes.fromhex(event.hash)) for event in first]
    nodes = memory_nodes(leaves)
    # What the earlier version also stored: every level below 4, up to tree size 20.
    old = [
        (level, index, nodes(level, index).hex())
        for level in range(tree.STORED_FROM)
        for index in range(20 >> level)
    ]
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO audit_merkle_nodes (chain, level, idx, hash) VALUES "
            + ",".join(f"('{A1}', {level}, {index}, '{digest}')" for level, index, digest in old)
        )
    events = first + append(30, account_id=A1)  # checkpoints on to 50, extending the tree
    with uow() as work:
        writer.checkpoint(work.session, A1)
        work.commit()
    with uow(write=False) as work:
        assert verify_database(work.session, signing_key).ok
        for event in events:
            proof = prove_event(work.session, event.event_id)
            assert verify_inclusion_proof(_as_json(proof), signing_key.public_key()) is None
        consistency = prove_consistency(work.session, A1, 20, 51)
    assert verify_consistency_proof(_as_json(consistency), signing_key.public_key()) is None


def test_a_missing_event_under_a_derived_subtree_makes_its_proof_unavailable(
    chain: list[Any], engine: Engine, uow: Callable[..., UnitOfWork]
) -> None:
    from audit import tree
    from tests.audit.conftest import disable_append_only

    disable_append_only(engine)
    with engine.begin() as connection:
        connection.exec_driver_sql(f"DELETE FROM audit_events WHERE chain = '{A1}' AND seq = 36")
    with uow(write=False) as work, pytest.raises(tree.MissingNodesError):
        prove_event(work.session, chain[0].event_id)


def test_appends_go_on_after_events_were_deleted_their_checkpoints_without_a_root(
    chain: list[Any],
    append: Callable[..., list[Any]],
    engine: Engine,
    uow: Callable[..., UnitOfWork],
    signing_key: Ed25519PrivateKey,
) -> None:
    """Tampering must not take the service down: every audited action would fail."""
    from audit import verify_database
    from tests.audit.conftest import disable_append_only

    disable_append_only(engine)
    with engine.begin() as connection:
        connection.exec_driver_sql(f"DELETE FROM audit_events WHERE chain = '{A1}' AND seq = 36")
    added = append(10, account_id=A1)  # checkpoints at 40 and 45 fall due
    assert [event.seq for event in added] == list(range(39, 49))
    with uow(write=False) as work:
        signed = {c.seq: c.root_hash for c in list_checkpoints(work.session, A1)}
        report = verify_database(work.session, signing_key)
    assert (signed[40], signed[45]) == (None, None)
    assert not report.ok
    assert (A1, 36, 36) in report.gaps
    with uow(write=False) as work:
        with pytest.raises(ProofUnavailableError, match="no Merkle root yet"):
            prove_event(work.session, added[2].event_id)  # seq 41: the root-less 45 covers it
        with pytest.raises(ProofUnavailableError, match="no Merkle root yet"):
            prove_event(work.session, added[2].event_id, tree_size=45)
        with pytest.raises(ProofUnavailableError, match="is not in the tree of size 35"):
            prove_event(work.session, added[2].event_id, tree_size=35)
