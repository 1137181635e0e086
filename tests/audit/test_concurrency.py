"""Concurrent writers in separate processes never fork a chain and never leave a gap."""

from __future__ import annotations

import multiprocessing
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, select

from audit import AuditWriter, list_checkpoints, verify_database
from audit.tables import audit_events
from policy_service.storage.database import create_database_engine, make_session_factory
from policy_service.storage.unit_of_work import UnitOfWork
from tests.audit.conftest import make_event

CHECKPOINT_EVERY = 100


def _writer_process(url: str, pem: bytes, kek: bytes, count: int, start: Any) -> None:
    # Runs in a spawned process: its own engine, its own connection pool.
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, Ed25519PrivateKey)
    writer = AuditWriter(kek, key, checkpoint_every=CHECKPOINT_EVERY)
    engine = create_database_engine(url)
    factory = make_session_factory(engine)
    start.wait(timeout=60)
    # Everyone's first event creates the same brand-new chain at once.
    with UnitOfWork(factory) as work:
        writer.append(work.session, make_event(account_id="acct-race"))
        work.commit()
    for _ in range(count):
        with UnitOfWork(factory) as work:
            writer.append(work.session, make_event(account_id="acct-1"))
            work.commit()
    engine.dispose()


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_concurrent_writer_processes_leave_one_gapless_verifiable_chain(
    database_url: str, engine: Engine, signing_key: Ed25519PrivateKey, kek: bytes
) -> None:
    # 8 x 500 on PostgreSQL as the requirement asks; SQLite serialises writers on its
    # database lock, so a smaller run shows the same property there.
    processes, count = (8, 500) if engine.dialect.name == "postgresql" else (4, 100)
    pem = signing_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(processes)
    workers = [
        context.Process(target=_writer_process, args=(database_url, pem, kek, count, start))
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=540)
    assert [worker.exitcode for worker in workers] == [0] * processes

    total = processes * count
    with engine.connect() as connection:
        seqs = connection.execute(
            select(audit_events.c.seq).where(audit_events.c.chain == "acct-1")
        ).scalars()
        assert sorted(seqs) == list(range(1, total + 1))
        race = connection.execute(
            select(audit_events.c.seq).where(audit_events.c.chain == "acct-race")
        ).scalars()
        assert sorted(race) == list(range(1, processes + 1))
        checkpoints = list_checkpoints(connection, "acct-1")
        assert [c.seq for c in checkpoints] == list(
            range(CHECKPOINT_EVERY, total + 1, CHECKPOINT_EVERY)
        )
        report = verify_database(connection, signing_key.public_key())
    assert report.ok, report
    assert report.events_checked == total + processes
