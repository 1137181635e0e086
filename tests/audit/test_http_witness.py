"""Issue 10, part 3: an HTTP witness in the C2SP tlog-witness style, against a real local
witness (tests/audit/witness_receiver.py) that verifies the note and the consistency
proof."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit import AuditWriter, Checkpoint, list_checkpoints, tree
from audit.checkpoints import NOTE_KEY_NAME, sign_checkpoint
from audit.http_witness import HttpWitness
from policy_service.storage.unit_of_work import UnitOfWork
from tests.audit.witness_receiver import WITNESS_NAME, Receiver, serving

A1 = "acct-1"


@pytest.fixture
def receiver(signing_key: Ed25519PrivateKey) -> Iterator[tuple[Receiver, str]]:
    state = Receiver(signing_key.public_key())
    with serving(state) as url:
        yield state, url


@pytest.fixture
def prove(uow: Callable[..., UnitOfWork]) -> Callable[[str, int, int], list[bytes]]:
    def consistency(chain: str, first: int, second: int) -> list[bytes]:
        with uow(write=False) as work:
            return tree.consistency_proof(work.session, chain, first, second)

    return consistency


def _checkpoint(writer: AuditWriter, uow: Callable[..., UnitOfWork], chain: str) -> Checkpoint:
    with uow() as work:
        checkpoint = writer.checkpoint(work.session, chain)
        work.commit()
    return checkpoint


def _no_sleep(seconds: float) -> None:
    pass


@pytest.fixture
def first_checkpoint(
    append: Callable[..., list[Any]], uow: Callable[..., UnitOfWork]
) -> Checkpoint:
    """Five events of A1: the writer signs the chain's first checkpoint at the fifth."""
    append(5, account_id=A1)
    with uow(write=False) as work:
        (checkpoint,) = list_checkpoints(work.session, A1)
    return checkpoint


def test_each_checkpoint_is_cosigned_with_a_consistency_proof_from_the_last(
    receiver: tuple[Receiver, str],
    append: Callable[..., list[Any]],
    writer: AuditWriter,
    uow: Callable[..., UnitOfWork],
    prove: Callable[[str, int, int], list[bytes]],
    first_checkpoint: Checkpoint,
) -> None:
    state, url = receiver
    witness = HttpWitness(url)
    cosignature = witness.submit(first_checkpoint, prove)
    assert cosignature is not None
    assert cosignature.startswith(f"\u2014 {WITNESS_NAME} ")
    append(7, account_id=A1)  # and at 10
    newest = _checkpoint(writer, uow, A1)  # 12
    assert witness.submit(newest, prove) is not None
    assert state.requests == [(0, 5), (5, 12)]
    assert state.trees[f"{NOTE_KEY_NAME}/{A1}"][0] == 12
    assert witness.submit(newest, prove) is not None  # the same tree again: old == size
    assert (witness.stats.accepted, witness.stats.failures) == (3, 0)

    # Another process (or this one restarted) does not know what the witness holds: the
    # witness's 409 says, and the client proves consistency from there.
    append(3, account_id=A1)
    later = _checkpoint(writer, uow, A1)  # 15
    fresh = HttpWitness(url)
    assert fresh.submit(later, prove) is not None
    assert state.requests[-2:] == [(0, 15), (12, 15)]
    assert fresh.known_size(A1) == 15
    assert not fresh.pending()


def test_a_failing_witness_is_retried_then_counted_and_never_raises(
    receiver: tuple[Receiver, str],
    append: Callable[..., list[Any]],
    prove: Callable[[str, int, int], list[bytes]],
    first_checkpoint: Checkpoint,
) -> None:
    state, url = receiver
    checkpoint = first_checkpoint
    state.fail_next = 2
    witness = HttpWitness(url, sleep=_no_sleep)
    assert witness.submit(checkpoint, prove) is not None
    assert (witness.stats.retries, witness.stats.accepted) == (2, 1)

    down = HttpWitness("http://127.0.0.1:9/witness", attempts=3, sleep=_no_sleep, timeout=1)
    assert down.submit(checkpoint, prove) is None
    assert (down.stats.retries, down.stats.failures) == (2, 1)
    assert down.pending() == {A1}
    append(1, account_id=A1)  # appends go on regardless


def test_the_background_sender_delivers_in_order(
    receiver: tuple[Receiver, str],
    append: Callable[..., list[Any]],
    writer: AuditWriter,
    uow: Callable[..., UnitOfWork],
    prove: Callable[[str, int, int], list[bytes]],
) -> None:
    state, url = receiver
    witness = HttpWitness(url)
    for _ in range(3):
        append(2, account_id=A1)
        witness.submit_soon(_checkpoint(writer, uow, A1), prove)
    assert witness.drain(timeout=10)
    assert state.requests == [(0, 2), (2, 4), (4, 6)]
    assert witness.stats.accepted == 3


def test_the_witness_refuses_a_note_signed_by_another_key_and_a_fork(
    receiver: tuple[Receiver, str],
    prove: Callable[[str, int, int], list[bytes]],
    first_checkpoint: Checkpoint,
) -> None:
    state, url = receiver
    checkpoint = first_checkpoint
    witness = HttpWitness(url, sleep=_no_sleep)
    assert witness.submit(checkpoint, prove) is not None
    assert checkpoint.root_hash is not None
    forged = sign_checkpoint(
        Ed25519PrivateKey.generate(),
        A1,
        checkpoint.seq,
        checkpoint.hash,
        root_hash=bytes.fromhex(checkpoint.root_hash),
    )
    assert witness.submit(forged, prove) is None
    assert state.answers[-1] == 403
    # The witness holds size 5 with another root: the same size now is a fork.
    origin = f"{NOTE_KEY_NAME}/{A1}"
    state.trees[origin] = (5, bytes(32))
    assert witness.submit(checkpoint, prove) is None
    assert state.answers[-1] == 422
    assert witness.stats.failures == 2
    assert witness.stats.retries == 0
