"""Audit log benchmark: append and verification throughput. A script, not a test.

    .venv/bin/python bench/bench_audit.py [--events 1000000] [--appends 2000] ...

Creates throw-away databases (a PostgreSQL database through --pg-url, a SQLite file in a
temporary directory), applies the service's migrations, and measures:

* single appends: one event per unit of work (transaction), one writer;
* 8 writer processes doing single appends concurrently on one chain (PostgreSQL);
* batched appends: 1,000 events per transaction with ``append_many`` (PostgreSQL);
* verification of --events events from the database and offline from an NDJSON export
  (and the export itself).

Prints a table and then one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from audit import (
    AuditEvent,
    AuditWriter,
    EventFilter,
    export_events,
    prove_event,
    verify_database,
    verify_export,
)
from policy_service.storage.database import (
    create_database_engine,
    make_session_factory,
)
from policy_service.storage.migrate import upgrade
from policy_service.storage.unit_of_work import UnitOfWork

DEFAULT_PG = os.environ.get(
    "POLICY_SERVICE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
CHECKPOINT_EVERY = 1000


def make_event(i: int, account: str = "acct-bench") -> AuditEvent:
    return AuditEvent(
        action="contact.delete",
        outcome="succeeded",
        actor_type="user",
        actor_id=f"user-{i % 50}",
        actor_roles=("admin",),
        account_id=account,
        client_id="crm-web",
        target_type="contact",
        target_id=f"contact-{i}",
        reason_code="duplicate",
        request_id=f"req-{i}",
        policy_version="7",
        cascade_profile="trash",
        cascade_profile_version="2",
        details={"notes": i % 7, "tasks": i % 3, "appointments": 0},
    )


@contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"bench_audit_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        engine = create_database_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def sqlite_database() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite:///{directory}/bench.sqlite3"
        engine = create_database_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url


def writer_for(pem: bytes, kek: bytes) -> AuditWriter:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise TypeError("expected an Ed25519 key")
    return AuditWriter(kek, key, checkpoint_every=CHECKPOINT_EVERY)


def single_appends(engine: Engine, writer: AuditWriter, count: int, account: str) -> float:
    factory = make_session_factory(engine)
    started = time.perf_counter()
    for i in range(count):
        with UnitOfWork(factory) as work:
            writer.append(work.session, make_event(i, account))
            work.commit()
    return count / (time.perf_counter() - started)


def batched_appends(
    engine: Engine, writer: AuditWriter, total: int, batch: int, account: str
) -> float:
    factory = make_session_factory(engine)
    started = time.perf_counter()
    done = 0
    while done < total:
        size = min(batch, total - done)
        events = [make_event(done + i, account) for i in range(size)]
        with UnitOfWork(factory) as work:
            writer.append_many(work.session, events)
            work.commit()
        done += size
    return total / (time.perf_counter() - started)


def commit_floor(url: str, count: int) -> float:
    """One-row INSERT + COMMIT with raw psycopg: what this machine's commit latency allows
    any design that commits per event, for comparison with single appends."""
    import psycopg

    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn) as connection:
        connection.execute("CREATE TABLE bench_floor (id bigint PRIMARY KEY, body text)")
        connection.commit()
        started = time.perf_counter()
        for i in range(count):
            connection.execute("INSERT INTO bench_floor VALUES (%s, %s)", (i, "x" * 200))
            connection.commit()
        rate = count / (time.perf_counter() - started)
        connection.execute("DROP TABLE bench_floor")
        connection.commit()
    return rate


def _concurrent_worker(
    url: str, pem: bytes, kek: bytes, count: int, barrier: Any, account: str
) -> None:
    engine = create_database_engine(url)
    writer = writer_for(pem, kek)
    # Warm the pool and the imports before the clock starts.
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    barrier.wait(timeout=120)
    single_appends(engine, writer, count, account)
    barrier.wait(timeout=600)
    engine.dispose()


def concurrent_appends(
    url: str, pem: bytes, kek: bytes, processes: int, count: int, *, one_chain: bool
) -> float:
    """``one_chain``: every process appends to the same chain (the worst case: appends
    serialize on its head row through commit); otherwise each to its own account's chain."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes + 1)
    workers = [
        context.Process(
            target=_concurrent_worker,
            args=(url, pem, kek, count, barrier, "acct-shared" if one_chain else f"acct-{n}"),
        )
        for n in range(processes)
    ]
    for worker in workers:
        worker.start()
    barrier.wait(timeout=120)
    started = time.perf_counter()
    barrier.wait(timeout=600)
    elapsed = time.perf_counter() - started
    for worker in workers:
        worker.join()
        if worker.exitcode != 0:
            raise RuntimeError("a writer process failed")
    return processes * count / elapsed


def timed(action: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = action()
    return result, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events to verify")
    parser.add_argument("--appends", type=int, default=3_000, help="single appends per DB")
    parser.add_argument("--batched", type=int, default=100_000, help="events appended in batches")
    parser.add_argument("--batch-size", type=int, default=1_000)
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--per-process", type=int, default=500)
    parser.add_argument("--pg-url", default=DEFAULT_PG, help="admin URL; a database is created")
    parser.add_argument("--json-only", action="store_true")
    args = parser.parse_args()

    kek = os.urandom(32)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    writer = writer_for(pem, kek)
    results: dict[str, Any] = {"cpus": os.cpu_count(), "checkpoint_every": CHECKPOINT_EVERY}

    with sqlite_database() as url:
        engine = create_database_engine(url)
        results["sqlite_single_appends_per_s"] = single_appends(
            engine, writer, args.appends, "acct-single"
        )
        results["sqlite_batched_appends_per_s"] = batched_appends(
            engine, writer, min(args.batched, 50_000), args.batch_size, "acct-batched"
        )
        engine.dispose()

    with postgres_database(args.pg_url) as url:
        engine = create_database_engine(url)
        results["pg_single_appends_per_s"] = single_appends(
            engine, writer, args.appends, "acct-single"
        )
        results["pg_commit_floor_per_s"] = commit_floor(url, args.appends)
        results["pg_concurrent_appends_per_s"] = concurrent_appends(
            url, pem, kek, args.processes, args.per_process, one_chain=True
        )
        results["pg_concurrent_own_chains_appends_per_s"] = concurrent_appends(
            url, pem, kek, args.processes, args.per_process, one_chain=False
        )
        results["pg_concurrent_processes"] = args.processes
        results["pg_batched_appends_per_s"] = batched_appends(
            engine, writer, args.batched, args.batch_size, "acct-batched"
        )
        engine.dispose()

    # Verification: one chain of --events events, filled with batched appends.
    with postgres_database(args.pg_url) as url, tempfile.TemporaryDirectory() as directory:
        engine = create_database_engine(url)
        fill_rate = batched_appends(engine, writer, args.events, 1_000, "acct-verify")
        results["verify_events"] = args.events
        results["pg_fill_batched_appends_per_s"] = fill_rate
        with engine.begin() as connection:  # sign the tail, as the periodic checkpoint would
            writer.checkpoint(connection, "acct-verify")
        with engine.connect() as connection:
            report, seconds = timed(lambda: verify_database(connection, key.public_key()))
        if not report.ok or report.events_checked != args.events:
            raise RuntimeError(f"database verification failed: {report}")
        results["verify_database_events_per_s"] = args.events / seconds
        path = Path(directory) / "audit.ndjson"

        def export() -> None:
            with engine.connect() as connection, path.open("w", encoding="utf-8") as handle:
                for chunk in export_events(connection, EventFilter(), signing_key=key):
                    handle.write(chunk)

        _, seconds = timed(export)
        results["export_events_per_s"] = args.events / seconds
        results["export_bytes"] = path.stat().st_size
        report, seconds = timed(lambda: verify_export(path, key.public_key()))
        if not report.ok or report.events_checked != args.events:
            raise RuntimeError(f"export verification failed: {report}")
        results["verify_export_events_per_s"] = args.events / seconds
        results["checkpoints_verified"] = report.checkpoints_valid
        # Inclusion proofs against the newest checkpoint (issue 10: under 50 ms each).
        with engine.connect() as connection:
            ids = list(
                connection.execute(
                    text("SELECT event_id FROM audit_events ORDER BY random() LIMIT 200")
                ).scalars()
            )
            _, seconds = timed(lambda: [prove_event(connection, i) for i in ids])
        results["proof_ms"] = seconds / max(1, len(ids)) * 1000
        engine.dispose()

    if not args.json_only:
        rows = [
            ("SQLite, single appends (1 per transaction)", "sqlite_single_appends_per_s", None),
            ("SQLite, batched appends", "sqlite_batched_appends_per_s", None),
            ("PostgreSQL, single appends (1 per transaction)", "pg_single_appends_per_s", 2000),
            ("  floor: raw psycopg 1-row INSERT + COMMIT", "pg_commit_floor_per_s", None),
            (
                f"PostgreSQL, {args.processes} processes, one chain",
                "pg_concurrent_appends_per_s",
                None,
            ),
            (
                f"PostgreSQL, {args.processes} processes, a chain each",
                "pg_concurrent_own_chains_appends_per_s",
                None,
            ),
            (
                f"PostgreSQL, batched ({args.batch_size}/transaction)",
                "pg_batched_appends_per_s",
                20000,
            ),
            ("Verify from PostgreSQL", "verify_database_events_per_s", None),
            ("Export NDJSON from PostgreSQL", "export_events_per_s", None),
            ("Verify export offline", "verify_export_events_per_s", 200000),
        ]
        print(f"{'measure':<48} {'per second':>12} {'target':>10}")
        for label, name, target in rows:
            mark = "" if target is None else f">= {target}"
            print(f"{label:<48} {results[name]:>12,.0f} {mark:>10}")
        print(f"{'Inclusion proof, ms each':<48} {results['proof_ms']:>12,.1f} {'< 50':>10}")
        print(f"(verification over {args.events:,} events; {os.cpu_count()} CPUs)")
    print(json.dumps({k: round(v) if isinstance(v, float) else v for k, v in results.items()}))


if __name__ == "__main__":
    main()
