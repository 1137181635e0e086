"""Lifecycle benchmark (issues 4 and 14), on PostgreSQL.

Single actions (issue 14), in accounts under the cascade-on-delete profile whose contacts have
3 related records each (notes: destroyed; tags: kept; commission records: anonymized on purge):

S1. Statements per single delete, restore and purge through the service (every psycopg
    execute, the audit writer's own on the driver connection included; BEGIN and COMMIT are
    not statements here; the worker's change-log poll is counted apart).
S2. Server time of each, p50 and p99: the request through the Flask app in process (routing,
    authentication, the decision, the SQL, the audit append, the JSON answer), next to a
    plain-SQL script making the same row changes in one transaction per contact.
S3. Throughput of deletes from 1 client, and from 8 clients in 8 accounts at once: each
    client a process with its own app (as a gunicorn worker would be), with the CPU time it
    spent per action. On 2 cores shared by the clients and PostgreSQL these figures are
    noisy: each is the median of ``--rounds`` runs.

Bulk (issue 4):

1. Bulk delete of N contacts (default 100,000) with 10 related records each, under the
   cascade-on-delete profile, through the service's job runner: every contact decided on by
   the enforcer, cascaded, audited (hash-chained, personal fields encrypted), its job item
   marked - chunk by chunk, each chunk one transaction. The contacts have the audit data
   keys contacts created through the API have, and the process has frozen its start-up heap
   as a server worker does (``serving.freeze_heap``).
2. The same row changes made by a plain SQL script, chunked the same way: the contacts'
   UPDATE, the related records' UPDATEs, the job items' UPDATE and one audit row INSERT per
   contact (with dummy hashes: no decisions, no hashing, no encryption).
3. The retention sweep over the N trashed contacts once their window has passed.

    .venv/bin/python bench/bench_lifecycle.py [--contacts 100000] [--singles 300]

Prints a table and one JSON document (last line).
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from sqlalchemy import text  # noqa: E402

from bench.scratch_database import (  # noqa: E402
    CONTACT_COPY,
    RECORD_COPY,
    copy_rows,
    create_scratch_database,
)
from policy_service.config import Settings  # noqa: E402
from policy_service.decisions.authorization import Caller  # noqa: E402
from policy_service.lifecycle import jobs  # noqa: E402
from policy_service.lifecycle.retention import sweep  # noqa: E402
from policy_service.serving import freeze_heap  # noqa: E402
from policy_service.state import ServiceState  # noqa: E402
from policy_service.storage.database import create_database_engine  # noqa: E402
from policy_service.storage.migrate import upgrade  # noqa: E402

KINDS = [
    "conversations",
    "notes",
    "tasks",
    "appointments",
    "opportunities",
    "activity_history",
    "tags",
    "workflow_enrollments",
    "commission_records",
    "files",
]
ACCOUNT = "bench"


def fresh_database() -> tuple[str, Any]:
    url, drop = create_scratch_database("ps_bench_life")
    engine = create_database_engine(url)
    upgrade(engine)
    engine.dispose()
    return url, drop


def contact_rows(account: str, ids: list[str], now: datetime) -> Iterator[tuple[Any, ...]]:
    """Active contacts, as ``CONTACT_COPY`` takes them."""
    for contact in ids:
        n = int(contact[1:])
        yield (
            account,
            contact,
            f"Person {n}",
            f"p{n}@example.com",
            "+1 555 0100",
            "active",
            1,
            now,
            now,
        )


def record_rows(
    records: Iterable[tuple[str, str, str, str, str]], now: datetime
) -> Iterator[tuple[Any, ...]]:
    """Active records linked to their contact, as ``RECORD_COPY`` takes them, from (id,
    account, contact, kind, data): a tags record is labelled "vip"."""
    for record_id, account, contact, kind, data in records:
        label = "vip" if kind == "tags" else None
        yield record_id, account, contact, contact, kind, label, data, "active", now, now


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
        ids = [f"c{n:07d}" for n in range(contacts)]
        copy_rows(cursor, CONTACT_COPY, contact_rows(ACCOUNT, ids, now))
        records = (
            (f"r{contact[1:]}{k:02d}", ACCOUNT, contact, kind, '{"text":"about this person"}')
            for contact in ids
            for k, kind in enumerate(KINDS)
        )
        copy_rows(cursor, RECORD_COPY, record_rows(records, now))
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
    give_audit_keys(state, ACCOUNT, [f"c{n:07d}" for n in range(contacts)])
    freeze_heap()  # as a server worker, whose thread runs the job, does after start-up
    admin = Caller("bench-admin", "user")
    started = time.perf_counter()
    job = jobs.create_bulk_delete(
        state,
        admin,
        ACCOUNT,
        ids=None,
        filter={"all": True},
        confirm="DELETE",
        expected_count=contacts,
        reason_code="data_cleanup",
        reason_text=None,
    )
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
                ("destroyed", KINDS[:6]),  # conversations ... activity_history
                ("stopped", ["workflow_enrollments"]),
                ("trashed", ["tags", "commission_records", "files"]),
            ):
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


# -- single actions (issue 14) ------------------------------------------------------------------

SINGLE_KINDS = ("notes", "tags", "commission_records")
SINGLE_ACCOUNTS = [f"acct{n}" for n in range(8)]
RECORD_JSON = {
    "notes": '{"text":"about this person"}',
    "tags": '{"name":"vip"}',
    "commission_records": '{"amount":"120.00","currency":"EUR","date":"2026-10-01",'
    '"product":"plan-a","agent_note":"met them at the fair"}',
}


def _service(url: str, workdir: Path) -> Any:
    from policy_service import create_app
    from tests.conftest import Service, settings_for_tests

    settings = settings_for_tests(
        # inline: no background job runner and no scheduler thread competing for the CPU
        url,
        workdir,
        job_runner="inline",
        audit_encryption_key=workdir / "kek.bin",
    )
    app = create_app(settings)
    return Service(app, app.test_client())


def load_singles(url: str, workdir: Path, per_account: int) -> dict[str, str]:
    """Eight accounts, an admin each (their tokens returned), and their contacts with 3
    related records each and an audit data key each, as contacts created through the API
    have."""
    service = _service(url, workdir)
    tokens = {}
    for account in SINGLE_ACCOUNTS:
        service.account(account, cascade_profile="cascade-on-delete", purge_enabled=True)
        tokens[account] = service.caller(f"admin-{account}", roles={account: ["admin"]})
    now = datetime.now(UTC)
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as connection, connection.cursor() as cursor:
        ids = [f"s{n:06d}" for n in range(per_account)]
        contacts = (row for account in SINGLE_ACCOUNTS for row in contact_rows(account, ids, now))
        copy_rows(cursor, CONTACT_COPY, contacts)
        records = (
            (f"{account}-r{contact[1:]}{k}", account, contact, kind, RECORD_JSON[kind])
            for account in SINGLE_ACCOUNTS
            for contact in ids
            for k, kind in enumerate(SINGLE_KINDS)
        )
        copy_rows(cursor, RECORD_COPY, record_rows(records, now))
        connection.commit()
        cursor.execute("ANALYZE")
    state = service.state
    ids = [f"s{n:06d}" for n in range(per_account)]
    for account in SINGLE_ACCOUNTS:
        give_audit_keys(state, account, ids)
    state.engine.dispose()
    return tokens


def give_audit_keys(state: Any, account: str, contacts: list[str]) -> None:
    """The audit data key each contact created through the API has (its creation event's
    protected fields are encrypted with it); contacts loaded by COPY have none."""
    from audit.crypto import data_keys_for_writing
    from policy_service.domain.contacts import audit_subject

    for at in range(0, len(contacts), 5_000):
        with state.unit_of_work() as uow:
            subjects = [audit_subject(account, contact) for contact in contacts[at : at + 5_000]]
            data_keys_for_writing(uow.session, state.audit.key_encryption_key, subjects)
            uow.commit()


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _timing(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(values) * 1000, 2),
        "p99_ms": round(_percentile(values, 0.99) * 1000, 2),
    }


def service_singles(
    url: str, workdir: Path, tokens: dict[str, str], account: str, contacts: list[str]
) -> dict[str, Any]:
    """Delete, restore, delete again (not timed) and purge each contact, one request each."""
    service = _service(url, workdir)
    engine = service.state.engine
    counter = {"n": 0}
    # Every statement the server receives, SQLAlchemy's and the audit writer's own on the
    # driver connection alike (SQLAlchemy's events would miss the latter).
    execute = psycopg.Cursor.execute

    def counted(cursor: Any, *args: Any, **kwargs: Any) -> Any:
        counter["n"] += 1
        return execute(cursor, *args, **kwargs)

    psycopg.Cursor.execute = counted  # type: ignore[method-assign,assignment]
    headers = {"Authorization": f"Bearer {tokens[account]}"}
    base = f"/v1/accounts/{account}/contacts"
    bodies = {
        "delete": {"reason_code": "duplicate"},
        "restore": None,
        "purge": {"confirm": "PURGE"},
    }
    times: dict[str, list[float]] = {"delete": [], "restore": [], "purge": []}
    statements: dict[str, list[int]] = {"delete": [], "restore": [], "purge": []}
    polls = service.state.runtime
    for contact in contacts:
        for action in ("delete", "restore", "delete", "purge"):
            synced = polls._last_sync_check
            before = counter["n"]
            started = time.perf_counter()
            response = service.client.post(
                f"{base}/{contact}/{action}", json=bodies[action], headers=headers
            )
            elapsed = time.perf_counter() - started
            assert response.status_code == 200, response.get_json()
            if polls._last_sync_check == synced:  # no change-log poll in this request
                statements[action].append(counter["n"] - before)
            times[action].append(elapsed)
    times["delete"] = times["delete"][::2]  # the first delete of each contact
    statements["delete"] = statements["delete"][::2] or statements["delete"]
    psycopg.Cursor.execute = execute  # type: ignore[method-assign]
    engine.dispose()
    return {
        action: {
            **_timing(times[action]),
            "statements": int(statistics.median(statements[action])),
        }
        for action in ("delete", "restore", "purge")
    }


_PLAIN_DELETE = [
    "UPDATE contacts SET state='trashed', deleted_at=%(now)s, deleted_by='plain',"
    " delete_operation_id=%(op)s, delete_reason='duplicate', version=version+1,"
    " updated_at=%(now)s WHERE account_id=%(a)s AND id=%(c)s RETURNING *",
    "UPDATE related_records SET state='destroyed', data='{}', label=NULL, operation_id=%(op)s,"
    " updated_at=%(now)s WHERE account_id=%(a)s AND contact_id=%(c)s AND kind='notes'"
    " AND state IN ('active','trashed','stopped','retained')",
    "UPDATE related_records SET state='trashed', operation_id=%(op)s, updated_at=%(now)s"
    " WHERE account_id=%(a)s AND contact_id=%(c)s AND kind IN ('tags','commission_records')"
    " AND state='active'",
]
_PLAIN_RESTORE = [
    "UPDATE contacts SET state='active', deleted_at=NULL, deleted_by=NULL,"
    " delete_operation_id=NULL, delete_reason=NULL, version=version+1, updated_at=%(now)s"
    " WHERE account_id=%(a)s AND id=%(c)s RETURNING *",
    "UPDATE related_records SET state='active', contact_id=%(c)s, operation_id=NULL,"
    " updated_at=%(now)s WHERE account_id=%(a)s AND origin_contact_id=%(c)s"
    " AND operation_id=%(op)s AND state='trashed'",
]
_PLAIN_PURGE = [
    "UPDATE contacts SET state='purged', name=NULL, email=NULL, phone=NULL,"
    " phone_normalized=NULL, purged_at=%(now)s, version=version+1, updated_at=%(now)s"
    " WHERE account_id=%(a)s AND id=%(c)s RETURNING *",
    "UPDATE related_records SET state='destroyed', data='{}', label=NULL, operation_id=%(op)s,"
    " updated_at=%(now)s WHERE account_id=%(a)s AND contact_id=%(c)s"
    " AND kind IN ('notes','tags') AND state IN ('active','trashed','stopped','retained')",
    "UPDATE related_records SET state='anonymized', contact_id=NULL, label=NULL,"
    ' data=\'{"amount":"120.00"}\', operation_id=%(op)s, updated_at=%(now)s'
    " WHERE account_id=%(a)s AND contact_id=%(c)s AND kind='commission_records'"
    " AND state IN ('active','trashed','stopped','retained')",
    "UPDATE audit_subject_keys SET wrapped_key=NULL, destroyed_at=%(now)s"
    " WHERE subject_id=%(subject)s",
]
# Each action also appends its audit row (the chain head moved) and its change record.
_PLAIN_COMMON = [
    "UPDATE audit_chain_heads SET seq=seq+1 WHERE chain='plain'",
    "INSERT INTO audit_events (event_id, chain, seq, occurred_at, recorded_at, account_id,"
    " actor_type, actor_id, actor_roles, action, target_type, target_id, outcome, details,"
    " prev_hash, hash) SELECT %(event)s, 'plain', seq, %(now)s, %(now)s, %(a)s, 'user',"
    " 'plain', '[\"admin\"]', 'contact.delete', 'contact', %(c)s, 'succeeded', '{}',"
    " repeat('0', 64), repeat('0', 64) FROM audit_chain_heads WHERE chain='plain'",
    "INSERT INTO change_log (version, kind, account_id, subject_id, detail, created_at)"
    " VALUES (nextval('change_versions'), 'contacts', %(a)s, NULL, '', %(now)s)",
]


def plain_sql_singles(url: str, account: str, contacts: list[str]) -> dict[str, Any]:
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    times: dict[str, list[float]] = {"delete": [], "restore": [], "purge": []}
    with psycopg.connect(dsn) as connection, connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO audit_chain_heads (chain, seq, hash) VALUES ('plain', 0, '')"
            " ON CONFLICT DO NOTHING"
        )
        connection.commit()
        for contact in contacts:
            op = f"op-{uuid.uuid4().hex[:12]}"
            for action, statements in (
                ("delete", _PLAIN_DELETE),
                ("restore", _PLAIN_RESTORE),
                ("delete again", _PLAIN_DELETE),
                ("purge", _PLAIN_PURGE),
            ):
                params = {
                    "now": datetime.now(UTC),
                    "op": op,
                    "a": account,
                    "c": contact,
                    "event": str(uuid.uuid4()),
                    "subject": f"contact/{account}/{contact}",
                }
                started = time.perf_counter()
                for statement in statements + _PLAIN_COMMON:
                    cursor.execute(statement, params)
                connection.commit()
                elapsed = time.perf_counter() - started
                if action in times:
                    times[action].append(elapsed)
    return {action: _timing(values) for action, values in times.items()}


def _client(
    url: str,
    workdir: Path,
    token: str,
    account: str,
    contacts: list[str],
    ready: Any,
    go: Any,
    results: Any,
) -> None:
    service = _service(url, workdir)
    headers = {"Authorization": f"Bearer {token}"}
    # One request first: connections, caches and compiled statements are warm, as in a
    # worker that has been serving for a while.
    warm = service.client.get(f"/v1/accounts/{account}/contacts?limit=1", headers=headers)
    assert warm.status_code == 200, warm.get_json()
    ready.put(account)
    go.wait()
    cpu = time.process_time()
    started = time.perf_counter()
    for contact in contacts:
        response = service.client.post(
            f"/v1/accounts/{account}/contacts/{contact}/delete",
            json={"reason_code": "duplicate"},
            headers=headers,
        )
        assert response.status_code == 200, response.get_json()
    results.put((account, time.perf_counter() - started, time.process_time() - cpu))
    service.state.engine.dispose()


def concurrent_deletes(
    url: str, workdir: Path, tokens: dict[str, str], accounts: list[str], contacts: list[str]
) -> dict[str, Any]:
    """``len(accounts)`` clients, one process each, each deleting ``contacts`` in its own
    account at the same time."""
    context = multiprocessing.get_context("fork")
    ready, results, go = context.Queue(), context.Queue(), context.Event()
    processes = [
        context.Process(
            target=_client,
            args=(url, workdir, tokens[account], account, contacts, ready, go, results),
        )
        for account in accounts
    ]
    for process in processes:
        process.start()
    for _ in processes:
        ready.get(timeout=120)
    started = time.perf_counter()
    go.set()
    done = [results.get(timeout=600) for _ in processes]
    wall = time.perf_counter() - started
    for process in processes:
        process.join()
    actions = len(accounts) * len(contacts)
    return {
        "clients": len(accounts),
        "actions": actions,
        "actions_per_s": round(actions / wall, 1),
        "cpu_ms_per_action": round(sum(cpu for _, _, cpu in done) / actions * 1000, 2),
    }


def singles(workdir: Path, per_account: int, rounds: int) -> dict[str, Any]:
    url, drop = fresh_database()
    try:
        tokens = load_singles(url, workdir, per_account)
        ids = [f"s{n:06d}" for n in range(per_account)]
        timed_n = per_account // 4
        # Accounts 0 and 1 serve the timed single actions (service, plain SQL) with the first
        # quarter of their contacts; the concurrency runs take slices of the rest of every
        # account's, one slice per run.
        timed = ids[:timed_n]
        service = service_singles(url, workdir, tokens, SINGLE_ACCOUNTS[0], timed)
        plain = plain_sql_singles(url, SINGLE_ACCOUNTS[1], timed)
        per_round = max(1, (per_account - timed_n) // (2 * rounds))
        one, eight = [], []
        for r in range(rounds):
            first = timed_n + r * 2 * per_round
            one.append(
                concurrent_deletes(
                    url, workdir, tokens, [SINGLE_ACCOUNTS[2]], ids[first : first + per_round]
                )
            )
            eight.append(
                concurrent_deletes(
                    url,
                    workdir,
                    tokens,
                    SINGLE_ACCOUNTS,
                    ids[first + per_round : first + 2 * per_round],
                )
            )
    finally:
        drop()

    def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            **runs[0],
            "actions_per_s": statistics.median(r["actions_per_s"] for r in runs),
            "cpu_ms_per_action": statistics.median(r["cpu_ms_per_action"] for r in runs),
            "rounds": len(runs),
        }

    one_client, eight_clients = median_of(one), median_of(eight)
    return {
        "per_account_contacts": per_account,
        "related_records_per_contact": len(SINGLE_KINDS),
        "service": service,
        "plain_sql": plain,
        "ratio_service_over_plain_sql_p50": {
            action: round(service[action]["p50_ms"] / plain[action]["p50_ms"], 2)
            for action in ("delete", "restore", "purge")
        },
        "one_client": one_client,
        "eight_clients_eight_accounts": eight_clients,
        "scaling_8_over_1": round(eight_clients["actions_per_s"] / one_client["actions_per_s"], 2),
    }


def print_singles(result: dict[str, Any]) -> None:
    service, plain = result["service"], result["plain_sql"]
    print(
        f"{'single action':<10}{'statements':>11}{'service p50':>13}{'p99':>9}"
        f"{'plain SQL p50':>15}{'p99':>9}{'ratio p50':>11}"
    )
    for action in ("delete", "restore", "purge"):
        s, p = service[action], plain[action]
        print(
            f"{action:<10}{s['statements']:>11}{s['p50_ms']:>11}ms{s['p99_ms']:>7}ms"
            f"{p['p50_ms']:>13}ms{p['p99_ms']:>7}ms"
            f"{result['ratio_service_over_plain_sql_p50'][action]:>11}"
        )
    print(f"{'deletes, concurrent':<34}{'actions/s':>11}{'CPU ms/action':>15}")
    for label, key in (
        ("1 client", "one_client"),
        ("8 clients in 8 accounts", "eight_clients_eight_accounts"),
    ):
        row = result[key]
        print(f"{label:<34}{row['actions_per_s']:>11}{row['cpu_ms_per_action']:>15}")
    print(f"scaling 8 / 1 clients: {result['scaling_8_over_1']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--chunk", type=int, default=500)
    parser.add_argument(
        "--singles", type=int, default=800, help="contacts per account for single actions"
    )
    parser.add_argument("--rounds", type=int, default=3, help="runs of each concurrency test")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-lifecycle-"))
    results: dict[str, Any] = {}
    if args.singles > 0:  # --singles 0: the bulk figures only
        results["singles"] = singles(workdir, args.singles, args.rounds)
        print_singles(results["singles"])
    results |= {
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
