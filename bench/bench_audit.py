"""Audit log benchmark: append and verification throughput. A script, not a test.

    .venv/bin/python bench/bench_audit.py [--rounds 3] [--appends 2000] [--skip-verify] ...

Creates throw-away databases (a PostgreSQL database through --pg-url, a SQLite file in a
temporary directory), applies the service's migrations, and measures, in each of --rounds
rounds and side by side (issue 10, section 4):

* audited single appends (one event per transaction, each committing: in a unit of work as
  the service appends, and on one held connection) against a bare INSERT + COMMIT of a row
  of the same size (raw psycopg, a table with only a primary key), with 1 writer and with
  --processes writer processes (each its own account's chain), interleaved in blocks of 50
  so that all three see the same machine;
* batched appends: --batch-size events per transaction with ``append_many``.

Checkpoints are signed every 1,000 events inside the appends, Merkle tree extension
included. The medians of the rounds and each round's audited/bare ratio are reported.
Then (unless --skip-verify): 8 processes on one chain, SQLite, and verification of --events
events from the database and offline from an NDJSON export (and the export itself).

Prints a table and then one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
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


def held_appends(engine: Engine, writer: AuditWriter, count: int, account: str) -> float:
    """Single appends on one held connection, each its own transaction: the audit writer's
    cost alone, handled as the bare insert is (no session, no pool checkout per event)."""
    with engine.connect() as connection:
        started = time.perf_counter()
        for i in range(count):
            with connection.begin():
                writer.append(connection, make_event(i, account))
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


def _psycopg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def event_row_bytes(url: str) -> int:
    """The average stored size of an event row (what a bare row is made as large as)."""
    engine = create_database_engine(url)
    with engine.connect() as connection:
        size = connection.execute(
            text("SELECT avg(pg_column_size(e.*))::int FROM audit_events e")
        ).scalar()
    engine.dispose()
    return int(size or 600)


def create_bare_table(url: str) -> None:
    import psycopg

    with psycopg.connect(_psycopg_dsn(url)) as connection:
        connection.execute(
            "CREATE TABLE IF NOT EXISTS bench_bare (id bigserial PRIMARY KEY, body text)"
        )
        connection.commit()


def _concurrent_worker(
    url: str, pem: bytes, kek: bytes, count: int, barrier: Any, account: str
) -> None:
    engine = create_database_engine(url)
    writer = writer_for(pem, kek)
    # Warm the pool, the imports and the chain's head before the clock starts.
    single_appends(engine, writer, 10, account)
    barrier.wait(timeout=120)
    single_appends(engine, writer, count, account)
    barrier.wait(timeout=600)
    engine.dispose()


def concurrent_appends(url: str, pem: bytes, kek: bytes, processes: int, count: int) -> float:
    """``processes`` writers appending to one chain at once, each event committing: the
    worst case, appends serialize on the chain's head row through commit."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes + 1)
    workers = [
        context.Process(
            target=_concurrent_worker, args=(url, pem, kek, count, barrier, "acct-shared")
        )
        for _ in range(processes)
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


KINDS = ("bare", "audited", "held")


class _Writers:
    """One writer's three ways to commit an event: a bare INSERT of a same-size row (raw
    psycopg), an audited append in a unit of work (as the service appends), and an audited
    append on one held connection (the writer's own cost, connection handled as bare's)."""

    def __init__(self, url: str, pem: bytes, kek: bytes, account: str, row_bytes: int) -> None:
        import psycopg

        self.bare = psycopg.connect(_psycopg_dsn(url))
        # Random text, so TOAST compression does not make the bare row smaller than an event.
        self.body = os.urandom(row_bytes).hex()[:row_bytes]
        self.engine = create_database_engine(url)
        self.factory = make_session_factory(self.engine)
        self.writer = writer_for(pem, kek)
        self.held = self.engine.connect()
        self.account = account
        self.done = 0
        self.run("audited", 5)  # warm: imports, the chain's head, prepared statements
        self.run("held", 5)
        self.run("bare", 5)

    def run(self, kind: str, count: int) -> None:
        start, self.done = self.done, self.done + count
        if kind == "bare":
            for _ in range(count):
                self.bare.execute("INSERT INTO bench_bare (body) VALUES (%s)", (self.body,))
                self.bare.commit()
        elif kind == "audited":
            for i in range(start, start + count):
                with UnitOfWork(self.factory) as work:
                    self.writer.append(work.session, make_event(i, self.account))
                    work.commit()
        else:
            for i in range(start, start + count):
                with self.held.begin():
                    self.writer.append(self.held, make_event(i, self.account + "-held"))

    def close(self) -> None:
        self.held.close()
        self.engine.dispose()
        self.bare.close()


def _interleaved_worker(
    url: str,
    pem: bytes,
    kek: bytes,
    account: str,
    row_bytes: int,
    blocks: int,
    block: int,
    barrier: Any,
) -> None:
    writers = _Writers(url, pem, kek, account, row_bytes)
    barrier.wait(timeout=120)
    for _ in range(blocks):
        for kind in KINDS:
            barrier.wait(timeout=600)
            writers.run(kind, block)
            barrier.wait(timeout=600)
    writers.close()


def interleaved(
    url: str, pem: bytes, kek: bytes, processes: int, count: int, row_bytes: int, tag: str
) -> dict[str, float]:
    """Events per second of each kind, ``processes`` writers at once (each its own account's
    chain), measured side by side: every writer does a block of bare inserts, then of
    audited appends, then of held-connection appends, all writers in step, and so on until
    each has done ``count`` of each. Interleaving in blocks of 50 puts the three under the
    same load from the rest of the machine, which on a shared machine moves by the second."""
    block = 50
    blocks = max(1, count // block)
    elapsed = dict.fromkeys(KINDS, 0.0)
    if processes == 1:
        writers = _Writers(url, pem, kek, f"acct-{tag}", row_bytes)
        for _ in range(blocks):
            for kind in KINDS:
                started = time.perf_counter()
                writers.run(kind, block)
                elapsed[kind] += time.perf_counter() - started
        writers.close()
    else:
        context = multiprocessing.get_context("spawn")
        barrier = context.Barrier(processes + 1)
        workers = [
            context.Process(
                target=_interleaved_worker,
                args=(url, pem, kek, f"acct-{tag}{n}", row_bytes, blocks, block, barrier),
            )
            for n in range(processes)
        ]
        for worker in workers:
            worker.start()
        barrier.wait(timeout=120)
        for _ in range(blocks):
            for kind in KINDS:
                barrier.wait(timeout=600)
                started = time.perf_counter()
                barrier.wait(timeout=600)
                elapsed[kind] += time.perf_counter() - started
        for worker in workers:
            worker.join()
            if worker.exitcode != 0:
                raise RuntimeError("a writer process failed")
    return {kind: processes * blocks * block / elapsed[kind] for kind in KINDS}


def side_by_side(url: str, pem: bytes, kek: bytes, args: argparse.Namespace) -> dict[str, Any]:
    """Issue 10, section 4: audited against bare, 1 and N writers, and batched, per round;
    medians and per-round ratios."""
    engine = create_database_engine(url)
    writer = writer_for(pem, kek)
    single_appends(engine, writer, 200, "acct-warm")  # a typical row, for the bare row's size
    row_bytes = event_row_bytes(url)
    create_bare_table(url)
    rounds: list[dict[str, float]] = []
    for number in range(args.rounds):
        one = interleaved(url, pem, kek, 1, args.appends, row_bytes, f"r{number}-single")
        many = interleaved(
            url, pem, kek, args.processes, args.per_process, row_bytes, f"r{number}-"
        )
        figures = {f"{kind}_1": rate for kind, rate in one.items()}
        figures.update({f"{kind}_n": rate for kind, rate in many.items()})
        figures["batched"] = batched_appends(
            engine, writer, args.batched, args.batch_size, f"acct-batched-{number}"
        )
        for name in ("audited", "held"):
            figures[f"{name}_ratio_1"] = figures[f"{name}_1"] / figures["bare_1"]
            figures[f"{name}_ratio_n"] = figures[f"{name}_n"] / figures["bare_n"]
        rounds.append(figures)
        if not args.json_only:
            print(f"round {number + 1}: " + ", ".join(f"{k} {v:,.2f}" for k, v in figures.items()))
    engine.dispose()
    medians = {name: statistics.median(r[name] for r in rounds) for name in rounds[0]}
    return {"row_bytes": row_bytes, "rounds": rounds, "medians": medians}


def timed(action: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = action()
    return result, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events to verify")
    parser.add_argument("--appends", type=int, default=2_000, help="single appends per round")
    parser.add_argument("--batched", type=int, default=100_000, help="events appended in batches")
    parser.add_argument("--batch-size", type=int, default=1_000)
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--per-process", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-verify", action="store_true", help="appends only")
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

    with postgres_database(args.pg_url) as url:
        compared = side_by_side(url, pem, kek, args)
        results["pg_event_row_bytes"] = compared["row_bytes"]
        results["pg_rounds"] = compared["rounds"]
        medians = compared["medians"]
        results["pg_bare_1_per_s"] = medians["bare_1"]
        results["pg_single_appends_per_s"] = medians["audited_1"]
        results["pg_held_appends_per_s"] = medians["held_1"]
        results["pg_ratio_1"] = medians["audited_ratio_1"]
        results["pg_held_ratio_1"] = medians["held_ratio_1"]
        results["pg_bare_n_per_s"] = medians["bare_n"]
        results["pg_concurrent_own_chains_appends_per_s"] = medians["audited_n"]
        results["pg_held_n_per_s"] = medians["held_n"]
        results["pg_ratio_n"] = medians["audited_ratio_n"]
        results["pg_held_ratio_n"] = medians["held_ratio_n"]
        results["pg_batched_appends_per_s"] = medians["batched"]
        results["pg_concurrent_processes"] = args.processes
        if not args.skip_verify:
            results["pg_concurrent_appends_per_s"] = concurrent_appends(
                url, pem, kek, args.processes, args.per_process
            )

    if not args.skip_verify:
        with sqlite_database() as url:
            engine = create_database_engine(url)
            results["sqlite_single_appends_per_s"] = single_appends(
                engine, writer, args.appends, "acct-single"
            )
            results["sqlite_batched_appends_per_s"] = batched_appends(
                engine, writer, min(args.batched, 50_000), args.batch_size, "acct-batched"
            )
            engine.dispose()
        verification(args, writer, key, results)

    if not args.json_only:
        n = args.processes
        rows = [
            ("PostgreSQL, 1 writer: bare INSERT + COMMIT", "pg_bare_1_per_s", None),
            ("PostgreSQL, 1 writer: audited, unit of work", "pg_single_appends_per_s", None),
            ("  audited / bare", "pg_ratio_1", ">= 0.6"),
            ("PostgreSQL, 1 writer: audited, held connection", "pg_held_appends_per_s", None),
            ("  audited / bare", "pg_held_ratio_1", ">= 0.6"),
            (f"PostgreSQL, {n} writers: bare INSERT + COMMIT", "pg_bare_n_per_s", None),
            (
                f"PostgreSQL, {n} writers: audited, unit of work",
                "pg_concurrent_own_chains_appends_per_s",
                None,
            ),
            ("  audited / bare", "pg_ratio_n", ">= 0.8"),
            (f"PostgreSQL, {n} writers: audited, held connection", "pg_held_n_per_s", None),
            ("  audited / bare", "pg_held_ratio_n", ">= 0.8"),
            (
                f"PostgreSQL, batched ({args.batch_size}/transaction)",
                "pg_batched_appends_per_s",
                ">= 20000",
            ),
            (f"PostgreSQL, {n} writers on one chain", "pg_concurrent_appends_per_s", None),
            ("SQLite, single appends (1 per transaction)", "sqlite_single_appends_per_s", None),
            ("SQLite, batched appends", "sqlite_batched_appends_per_s", None),
            ("Verify from PostgreSQL", "verify_database_events_per_s", None),
            ("Export NDJSON from PostgreSQL", "export_events_per_s", None),
            ("Verify export offline", "verify_export_events_per_s", ">= 200000"),
            ("Inclusion proof, ms each", "proof_ms", "< 50"),
        ]
        print(f"{'measure':<52} {'figure':>12} {'target':>10}")
        for label, name, target in rows:
            if name in results:
                value = results[name]
                shown = f"{value:>12.2f}" if value < 10 else f"{value:>12,.0f}"
                print(f"{label:<52} {shown} {target or '':>10}")
        print(f"(event rows {results['pg_event_row_bytes']} bytes; {os.cpu_count()} CPUs)")
    print(json.dumps(_rounded(results)))


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 3) if value < 10 else round(value)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def verification(
    args: argparse.Namespace, writer: AuditWriter, key: Ed25519PrivateKey, results: dict[str, Any]
) -> None:
    """One chain of --events events, filled with batched appends: verify, export, prove."""
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


if __name__ == "__main__":
    main()
