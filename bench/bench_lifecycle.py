"""Lifecycle benchmark (issue 4), on PostgreSQL.

1. Bulk delete of N contacts (default 100,000) with 10 related records each, under the
   cascade-on-delete profile, through the service's job runner: every contact decided on by
   the enforcer, cascaded, audited (hash-chained, personal fields encrypted), its job item
   marked - chunk by chunk, each chunk one transaction.
2. The same row changes made by a plain SQL script, chunked the same way: the contacts'
   UPDATE, the related records' UPDATEs, the job items' UPDATE and one audit row INSERT per
   contact (with dummy hashes: no decisions, no hashing, no encryption).
3. The retention sweep over the N trashed contacts once their window has passed.

    .venv/bin/python bench/bench_lifecycle.py [--contacts 100000]

Prints a table and one JSON document (last line).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from policy_service.config import Settings  # noqa: E402
from policy_service.decisions.authorization import Caller  # noqa: E402
from policy_service.lifecycle import jobs  # noqa: E402
from policy_service.lifecycle.retention import sweep  # noqa: E402
from policy_service.state import ServiceState  # noqa: E402
from policy_service.storage.database import create_database_engine  # noqa: E402
from policy_service.storage.migrate import upgrade  # noqa: E402

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
KINDS = [
    "conversations", "notes", "tasks", "appointments", "opportunities", "activity_history",
    "tags", "workflow_enrollments", "commission_records", "files",
]  # fmt: skip
ACCOUNT = "bench"


def fresh_database() -> tuple[str, Any]:
    name = f"ps_bench_life_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    engine = create_database_engine(url)
    upgrade(engine)
    engine.dispose()
    return url, drop


def load(url: str, contacts: int) -> float:
    """Accounts, members, contacts and their records, by COPY."""
    started = time.perf_counter()
    now = datetime.now(UTC)
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as connection, connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO accounts VALUES (%s, 'Bench', 'cascade-on-delete', 60, true, %s, %s)",
            (ACCOUNT, now, now),
        )
        cursor.execute(
            "INSERT INTO memberships VALUES (%s, 'bench-admin', 'admin', %s)", (ACCOUNT, now)
        )
        with cursor.copy(
            "COPY contacts (account_id, id, name, email, phone, state, version, created_at,"
            " updated_at) FROM STDIN"
        ) as copy:
            for n in range(contacts):
                copy.write_row(
                    (ACCOUNT, f"c{n:07d}", f"Person {n}", f"p{n}@example.com", "+1 555 0100",
                     "active", 1, now, now)
                )  # fmt: skip
        with cursor.copy(
            "COPY related_records (id, account_id, contact_id, origin_contact_id, kind, label,"
            " data, state, created_at, updated_at) FROM STDIN"
        ) as copy:
            for n in range(contacts):
                contact = f"c{n:07d}"
                for k, kind in enumerate(KINDS):
                    label = "vip" if kind == "tags" else None
                    copy.write_row(
                        (f"r{n:07d}{k:02d}", ACCOUNT, contact, contact, kind, label,
                         '{"text":"about this person"}', "active", now, now)
                    )  # fmt: skip
        connection.commit()
        cursor.execute("ANALYZE")
    return time.perf_counter() - started


def service_bulk_delete(url: str, contacts: int, workdir: Path, chunk: int) -> dict[str, Any]:
    settings = Settings.from_env(
        {},
        database_url=url,
        environment="test",
        log_level="WARNING",
        job_runner="off",
        job_chunk_size=chunk,
        audit_signing_key=workdir / "key.pem",
        audit_encryption_key=workdir / "kek.bin",
    )
    state = ServiceState.build(settings)
    state.load()
    admin = Caller("bench-admin", "user")
    started = time.perf_counter()
    job = jobs.create_bulk_delete(
        state, admin, ACCOUNT, ids=None, filter={"all": True}, confirm="DELETE",
        expected_count=contacts, reason_code="data_cleanup", reason_text=None,
    )  # fmt: skip
    created = time.perf_counter() - started
    jobs.run_job(state, job.id)
    elapsed = time.perf_counter() - started
    done = jobs.get_job_unchecked(state, job.id)
    assert (done.status, done.processed, done.failed) == ("succeeded", contacts, 0), done

    # Then the retention sweep, once the window has passed.
    with state.engine.begin() as connection:
        connection.execute(
            text("UPDATE contacts SET deleted_at = :at"),
            {"at": datetime.now(UTC) - timedelta(days=61)},
        )
    swept_at = time.perf_counter()
    report = sweep(state, None)
    sweep_elapsed = time.perf_counter() - swept_at
    assert report.purged == contacts, report
    state.engine.dispose()
    return {
        "seconds": round(elapsed, 2),
        "contacts_per_s": round(contacts / elapsed),
        "job_creation_s": round(created, 2),
        "sweep_seconds": round(sweep_elapsed, 2),
        "sweep_contacts_per_s": round(contacts / sweep_elapsed),
    }


def plain_sql_bulk_delete(url: str, contacts: int, chunk: int) -> dict[str, Any]:
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    now = datetime.now(UTC)
    with psycopg.connect(dsn) as connection, connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO jobs VALUES ('job-plain', %s, 'bulk_delete', 'running', %s, 0, 0, '{}',"
            " 'bench-admin', NULL, NULL, NULL, NULL, %s, %s, NULL)",
            (ACCOUNT, contacts, now, now),
        )
        cursor.execute(
            "INSERT INTO job_items (job_id, position, contact_id, status) SELECT 'job-plain',"
            " row_number() OVER (ORDER BY id) - 1, id, 'pending' FROM contacts"
        )
        connection.commit()
        started = time.perf_counter()
        seq = 0
        for first in range(0, contacts, chunk):
            ids = [f"c{n:07d}" for n in range(first, min(first + chunk, contacts))]
            cursor.execute(
                "UPDATE contacts SET state='trashed', deleted_at=%s, deleted_by='bench-admin',"
                " delete_operation_id='op-plain', delete_reason='data_cleanup',"
                " version=version+1, updated_at=%s"
                " WHERE account_id=%s AND id = ANY(%s) AND state='active'",
                (now, now, ACCOUNT, ids),
            )
            for state, kinds in (
                ("destroyed", ["conversations", "notes", "tasks", "appointments",
                               "opportunities", "activity_history"]),
                ("stopped", ["workflow_enrollments"]),
                ("trashed", ["tags", "commission_records", "files"]),
            ):  # fmt: skip
                data = ", data='{}', label=NULL" if state == "destroyed" else ""
                cursor.execute(
                    f"UPDATE related_records SET state=%s, operation_id='op-plain',"
                    f" updated_at=%s{data} WHERE account_id=%s AND contact_id = ANY(%s)"
                    " AND kind = ANY(%s) AND state='active'",
                    (state, now, ACCOUNT, ids, kinds),
                )
            rows = io.StringIO()
            for contact in ids:
                seq += 1
                rows.write(
                    f"{uuid.uuid4()}\tplain\t{seq}\t{now.isoformat()}\t{now.isoformat()}\t"
                    f'{ACCOUNT}\tuser\tbench-admin\t["admin"]\tcontact.delete\tcontact\t'
                    f"{contact}\tsucceeded\t{{}}\t{'0' * 64}\t{'0' * 64}\n"
                )
            rows.seek(0)
            with cursor.copy(
                "COPY audit_events (event_id, chain, seq, occurred_at, recorded_at, account_id,"
                " actor_type, actor_id, actor_roles, action, target_type, target_id, outcome,"
                " details, prev_hash, hash) FROM STDIN"
            ) as copy:
                copy.write(rows.read())
            cursor.execute(
                "UPDATE job_items SET status='done' WHERE job_id='job-plain'"
                " AND position BETWEEN %s AND %s AND status='pending'",
                (first, first + len(ids) - 1),
            )
            cursor.execute(
                "UPDATE jobs SET processed = processed + %s WHERE id='job-plain'", (len(ids),)
            )
            connection.commit()
        elapsed = time.perf_counter() - started
    return {"seconds": round(elapsed, 2), "contacts_per_s": round(contacts / elapsed)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--chunk", type=int, default=500)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-lifecycle-"))
    results: dict[str, Any] = {
        "contacts": args.contacts,
        "related_records": args.contacts * len(KINDS),
        "chunk": args.chunk,
        "profile": "cascade-on-delete",
    }
    url, drop = fresh_database()
    try:
        results["load_s"] = round(load(url, args.contacts), 1)
        results["service"] = service_bulk_delete(url, args.contacts, workdir, args.chunk)
    finally:
        drop()
    url, drop = fresh_database()
    try:
        load(url, args.contacts)
        results["plain_sql"] = plain_sql_bulk_delete(url, args.contacts, args.chunk)
    finally:
        drop()
    results["ratio_service_over_plain_sql"] = round(
        results["service"]["seconds"] / results["plain_sql"]["seconds"], 2
    )
    service, plain = results["service"], results["plain_sql"]
    print(f"{'measure':<44}{'contacts/s':>12}{'seconds':>10}")
    print(
        f"{'bulk delete through the service (job)':<44}{service['contacts_per_s']:>12,}"
        f"{service['seconds']:>10}"
    )
    print(
        f"{'same row changes, plain SQL':<44}{plain['contacts_per_s']:>12,}{plain['seconds']:>10}"
    )
    print(
        f"{'retention sweep (purge) through the service':<44}"
        f"{service['sweep_contacts_per_s']:>12,}{service['sweep_seconds']:>10}"
    )
    print(f"ratio service / plain SQL: {results['ratio_service_over_plain_sql']}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
