"""Issue 10, part 1: no unsigned tail.

The two outside findings, reproduced: an export with its newest events dropped and its
counts fixed, and a database superuser who deletes the newest events and moves the chain's
head back. Both must now fail verification.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine
from sqlalchemy.exc import DatabaseError

from audit import (
    AuditWriter,
    EventFilter,
    VerificationReport,
    export_events,
    verify_database,
    verify_export,
)
from policy_service.storage.unit_of_work import UnitOfWork
from tests.audit.conftest import make_event

A1 = "acct-1"


def _export(uow: Callable[..., UnitOfWork], key: Ed25519PrivateKey | None) -> list[str]:
    with uow(write=False) as work:
        text = "".join(export_events(work.session, EventFilter(account_id=A1), signing_key=key))
    return text.splitlines(keepends=True)


def _verify(lines: list[str], key: Ed25519PrivateKey) -> VerificationReport:
    return verify_export(io.BytesIO("".join(lines).encode()), key.public_key())


def _fails(report: VerificationReport, *reasons: str) -> None:
    assert not report.ok, report
    assert report.reason is not None
    assert report.reason.split(":")[0] in reasons, report.reason


@pytest.fixture
def production_writer(kek: bytes, signing_key: Ed25519PrivateKey) -> AuditWriter:
    return AuditWriter(kek, signing_key, checkpoint_every=1000)


def _append(writer: AuditWriter, uow: Callable[..., UnitOfWork], count: int) -> None:
    with uow() as work:
        writer.append_many(work.session, [make_event(account_id=A1)] * count)
        work.commit()


def test_an_export_ends_with_a_checkpoint_signed_at_export_time(
    production_writer: AuditWriter,
    uow: Callable[..., UnitOfWork],
    signing_key: Ed25519PrivateKey,
) -> None:
    _append(production_writer, uow, 3)  # a quiet chain: no checkpoint in the database
    lines = _export(uow, signing_key)
    end = json.loads(lines[-1])
    assert end["heads"][0]["chain"] == A1
    assert (end["heads"][0]["seq"], end["heads"][0]["events"]) == (3, 3)
    assert end["signature"]
    assert end["key_id"]
    report = _verify(lines, signing_key)
    assert report.ok, report
    assert report.unanchored_events == 0
    assert (report.checkpoints_valid, report.checkpoints_total) == (1, 1)


def test_an_export_nobody_signed_fails_as_an_unsigned_tail(
    production_writer: AuditWriter,
    uow: Callable[..., UnitOfWork],
    signing_key: Ed25519PrivateKey,
) -> None:
    _append(production_writer, uow, 3)
    report = _verify(_export(uow, None), signing_key)
    _fails(report, "unsigned_tail")
    assert "unsigned tail" in (report.reason or "")


@pytest.mark.parametrize("how", ["keep_signature", "strip_signature", "fix_heads_too"])
def test_dropping_the_newest_76_of_176_events_and_fixing_the_counts_fails(
    production_writer: AuditWriter,
    uow: Callable[..., UnitOfWork],
    signing_key: Ed25519PrivateKey,
    how: str,
) -> None:
    """The first outside finding: this export used to verify OK."""
    _append(production_writer, uow, 176)
    lines = _export(uow, signing_key)
    assert _verify(lines, signing_key).ok
    kept = [
        line
        for line in lines
        if not (line.startswith('{"type":"event"') and json.loads(line)["record"]["seq"] > 100)
    ]
    kept[1] = kept[1].replace('"last_seq":176', '"last_seq":100')
    end = json.loads(kept[-1])
    end["events"] = 100
    if how == "strip_signature":
        del end["signature"], end["key_id"]
    if how == "fix_heads_too":
        event = json.loads(kept[-2])
        end["heads"][0].update(seq=100, events=100, hash=event["hash"])
    kept[-1] = json.dumps(end) + "\n"
    _fails(_verify(kept, signing_key), "unsigned_tail", "truncated")


def test_dropping_the_tail_and_the_end_line_fails_as_truncated(
    production_writer: AuditWriter,
    uow: Callable[..., UnitOfWork],
    signing_key: Ed25519PrivateKey,
) -> None:
    _append(production_writer, uow, 20)
    lines = _export(uow, signing_key)
    report = _verify(lines[:-6], signing_key)
    _fails(report, "truncated", "unsigned_tail")


# -- in the database ---------------------------------------------------------------------


def test_database_verification_reports_the_unsigned_tail_and_fails_when_it_is_too_old(
    production_writer: AuditWriter,
    uow: Callable[..., UnitOfWork],
    signing_key: Ed25519PrivateKey,
) -> None:
    _append(production_writer, uow, 4)
    with uow(write=False) as work:
        fresh = verify_database(work.session, signing_key, max_unanchored_seconds=120)
        assert fresh.ok, fresh
        assert fresh.unanchored_events == 4
        assert fresh.oldest_unanchored_seconds is not None
        assert fresh.oldest_unanchored_seconds < 60
        assert fresh.oldest_unanchored_at is not None
        later = fresh.oldest_unanchored_at + timedelta(seconds=121)
        stale = verify_database(work.session, signing_key, max_unanchored_seconds=120, now=later)
    _fails(stale, "unsigned_tail")
    assert stale.first_bad_seq == 1
    with uow() as work:
        production_writer.checkpoint(work.session, A1)
        work.commit()
    with uow(write=False) as work:
        signed = verify_database(work.session, signing_key, max_unanchored_seconds=120, now=later)
    assert signed.ok, signed
    assert (signed.unanchored_events, signed.oldest_unanchored_seconds) == (0, None)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_chain_heads SET seq = seq - 1",
        "UPDATE audit_chain_heads SET hash = 'x'",
        "UPDATE audit_chain_heads SET chain = 'acct-2'",
        "DELETE FROM audit_chain_heads",
        "TRUNCATE audit_chain_heads",
    ],
)
def test_chain_heads_only_move_forward(
    production_writer: AuditWriter,
    uow: Callable[..., UnitOfWork],
    engine: Engine,
    statement: str,
) -> None:
    if statement.startswith("TRUNCATE") and engine.dialect.name == "sqlite":
        pytest.skip("SQLite has no TRUNCATE")
    _append(production_writer, uow, 3)
    with (
        pytest.raises(DatabaseError, match=r"only move forward|append-only"),
        engine.begin() as connection,
    ):
        connection.exec_driver_sql(statement)
    _append(production_writer, uow, 2)  # appending still moves the head forward
    with uow(write=False) as work:
        assert verify_database(work.session, production_writer.signing_key or "").ok


@pytest.mark.parametrize("also_delete_checkpoints", [False, True])
def test_a_superuser_who_deletes_the_newest_events_and_moves_the_head_back_is_caught(
    production_writer: AuditWriter,
    uow: Callable[..., UnitOfWork],
    signing_key: Ed25519PrivateKey,
    tamper: Callable[[str], None],
    also_delete_checkpoints: bool,
) -> None:
    """The second outside finding (triggers disabled, as a superuser can): this used to
    verify OK and new events chained on seamlessly."""
    _append(production_writer, uow, 10)
    with uow() as work:
        production_writer.checkpoint(work.session, A1)  # the periodic checkpoint, seq 10
        work.commit()
    _append(production_writer, uow, 2)
    with uow(write=False) as work:
        assert verify_database(work.session, signing_key).ok
    tamper(f"DELETE FROM audit_events WHERE chain = '{A1}' AND seq > 7")
    with uow(write=False) as work:
        prev = (
            work.session.connection()
            .exec_driver_sql(f"SELECT hash FROM audit_events WHERE chain = '{A1}' AND seq = 7")
            .scalar_one()
        )
    tamper(f"UPDATE audit_chain_heads SET seq = 7, hash = '{prev}' WHERE chain = '{A1}'")
    if also_delete_checkpoints:
        tamper(f"DELETE FROM audit_checkpoints WHERE chain = '{A1}'")
    _append(production_writer, uow, 1)  # chains on from the forged head
    with uow(write=False) as work:
        now = None
        if also_delete_checkpoints:
            # Nothing in the database says more was there; but the checkpoint schedule
            # would have signed those events long ago, so an old unsigned tail is flagged.
            now = verify_database(work.session, signing_key).oldest_unanchored_at
            assert now is not None
            now += timedelta(minutes=3)
        report = verify_database(work.session, signing_key, max_unanchored_seconds=120, now=now)
    if also_delete_checkpoints:
        _fails(report, "unsigned_tail")
    else:
        _fails(report, "truncated", "checkpoint_mismatch")
