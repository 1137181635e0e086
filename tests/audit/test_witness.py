"""Issue 10, part 3: a witness directory outside the database catches what a database
superuser can hide from the database's own checks (triggers disabled, checkpoints and Merkle
nodes rewritten along with the events)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit import AuditWriter, list_checkpoints, verify_database
from audit.witness import verify_witness, witness_path, write_witness
from policy_service.storage.unit_of_work import UnitOfWork

A1 = "acct-1"


@pytest.fixture
def witnessed(
    append: Callable[..., list[Any]],
    writer: AuditWriter,
    uow: Callable[..., UnitOfWork],
    tmp_path: Path,
) -> Path:
    append(13, account_id=A1)  # checkpoints at 5 and 10
    append(2, account_id="acct-2")
    with uow() as work:
        writer.checkpoint(work.session, A1)
        writer.checkpoint(work.session, "acct-2")
        work.commit()
    with uow(write=False) as work:
        for chain in (A1, "acct-2"):
            for checkpoint in list_checkpoints(work.session, chain):
                assert write_witness(tmp_path, checkpoint) is not None
    return tmp_path


def _rewrite_history(tamper: Callable[[str], None], keep: int) -> None:
    """As a superuser: drop the chain's events after ``keep`` and everything that would
    betray it (head, checkpoints, Merkle nodes)."""
    tamper(f"DELETE FROM audit_events WHERE chain = '{A1}' AND seq > {keep}")
    tamper(f"DELETE FROM audit_checkpoints WHERE chain = '{A1}' AND seq > {keep}")
    tamper(f"DELETE FROM audit_merkle_nodes WHERE chain = '{A1}'")
    tamper(
        f"UPDATE audit_chain_heads SET seq = {keep}, hash = (SELECT hash FROM audit_events "
        f"WHERE chain = '{A1}' AND seq = {keep}) WHERE chain = '{A1}'"
    )


def test_an_intact_log_matches_its_witness(
    witnessed: Path, uow: Callable[..., UnitOfWork], signing_key: Ed25519PrivateKey
) -> None:
    with uow(write=False) as work:
        report = verify_witness(work.session, witnessed, signing_key)
    assert report.ok, report
    assert (report.checkpoints_valid, report.chains_checked) == (4, 2)
    path = witness_path(witnessed, A1, 10)
    assert path.read_text().startswith(f"policy-service/audit/{A1}\n10\n")
    assert not os.access(path, os.W_OK) or os.geteuid() == 0  # written read-only


def test_writing_a_witnessed_checkpoint_again_leaves_the_file_alone(
    witnessed: Path, uow: Callable[..., UnitOfWork]
) -> None:
    path = witness_path(witnessed, A1, 5)
    before = path.read_text()
    with uow(write=False) as work:
        checkpoint = list_checkpoints(work.session, A1)[0]
    assert write_witness(witnessed, checkpoint) == path
    assert path.read_text() == before


def test_a_superuser_truncation_the_database_cannot_see_is_truncated_for_the_witness(
    witnessed: Path,
    uow: Callable[..., UnitOfWork],
    signing_key: Ed25519PrivateKey,
    tamper: Callable[[str], None],
) -> None:
    _rewrite_history(tamper, keep=5)
    with uow(write=False) as work:
        assert verify_database(work.session, signing_key).ok  # nothing left to betray it
        report = verify_witness(work.session, witnessed, signing_key)
    assert not report.ok
    assert (report.first_bad_chain, report.first_bad_seq) == (A1, 6)
    assert report.reason is not None
    assert report.reason.startswith("truncated")


def test_a_rewritten_tail_is_a_fork_for_the_witness(
    witnessed: Path,
    append: Callable[..., list[Any]],
    writer: AuditWriter,
    uow: Callable[..., UnitOfWork],
    signing_key: Ed25519PrivateKey,
    tamper: Callable[[str], None],
) -> None:
    _rewrite_history(tamper, keep=7)
    fresh = AuditWriter(writer.key_encryption_key, signing_key, checkpoint_every=1000)
    with uow() as work:  # new history from seq 8 on, re-signed with the stolen key even
        fresh.append_many(work.session, [*[_event()] * 6])
        fresh.checkpoint(work.session, A1)
        work.commit()
    with uow(write=False) as work:
        assert verify_database(work.session, signing_key).ok
        report = verify_witness(work.session, witnessed, signing_key)
    assert not report.ok
    assert report.reason is not None
    assert report.reason.startswith("fork"), report.reason
    assert report.first_bad_seq == 10


def test_a_forged_note_in_the_witness_directory_is_reported(
    witnessed: Path, uow: Callable[..., UnitOfWork], signing_key: Ed25519PrivateKey
) -> None:
    path = witness_path(witnessed, A1, 99)
    path.write_text(witness_path(witnessed, A1, 10).read_text().replace("\n10\n", "\n99\n"))
    with uow(write=False) as work:
        report = verify_witness(work.session, witnessed, signing_key)
    assert not report.ok
    assert report.reason is not None
    assert report.reason.startswith("checkpoint_signature_invalid")


def _event() -> Any:
    from tests.audit.conftest import make_event

    return make_event(account_id=A1, action="contact.restore")
