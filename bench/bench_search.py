"""AuthZEN resource search benchmark (issue 11): one account of 100,000 contacts.

"Which contacts in account X may ada <action> now?" through POST /access/v1/search/resource
(in process, Flask test client: the route, its SQL and the confirming decisions, without
HTTP). For each action: the first page (limit 100) p50/p99, and a walk through every page
(limit 1000) with the number of results. For comparison, the naive way: read the facts of
every contact and decide each one in Python.

The account: 60% active, 35% in the trash (deleted 0-120 days ago, retention 60 days), 5%
purged; 1% on legal hold; 5% in an active workflow. Prints a table and one JSON document
(last line of stdout).

    .venv/bin/python bench/bench_search.py                  # PostgreSQL on 127.0.0.1
    .venv/bin/python bench/bench_search.py --database sqlite --contacts 20000
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from bench.bench_decisions import make_database, percentiles  # noqa: E402
from policy_service import create_app  # noqa: E402
from policy_service.accounts.tokens import issue_token  # noqa: E402
from policy_service.api.app_state import get_state  # noqa: E402
from policy_service.config import Settings  # noqa: E402
from policy_service.decisions.authorization import decide  # noqa: E402
from policy_service.domain.decisions import Action, DecisionRequest, Resource, Subject  # noqa: E402
from policy_service.storage.contacts import facts_of  # noqa: E402
from policy_service.storage.database import create_database_engine  # noqa: E402
from policy_service.storage.migrate import upgrade  # noqa: E402

ACCOUNT = "big"
ACTIONS = ["purge", "restore", "delete", "read"]


def load(url: str, contacts: int, seed: int = 11) -> None:
    rng = random.Random(seed)
    engine = create_database_engine(url)
    upgrade(engine)
    now = datetime.now(UTC)
    rows, holds, records = [], [], []
    for i in range(contacts):
        roll = rng.random()
        state = "active" if roll < 0.60 else "trashed" if roll < 0.95 else "purged"
        deleted_at = None if state == "active" else now - timedelta(days=rng.uniform(0, 120))
        contact_id = f"c-{i:06d}"
        rows.append({"a": ACCOUNT, "id": contact_id, "s": state, "d": deleted_at, "t": now})
        if rng.random() < 0.01:
            holds.append({"id": f"h-{i}", "a": ACCOUNT, "c": contact_id, "t": now})
        if rng.random() < 0.05:
            records.append({"id": f"r-{i}", "a": ACCOUNT, "c": contact_id, "t": now})
    with engine.begin() as db:
        db.execute(
            text(
                "INSERT INTO accounts (id, name, cascade_profile, retention_days, purge_enabled,"
                " created_at, updated_at) VALUES (:a, 'Big', 'cascade-on-delete-guarded', 60,"
                " true, :t, :t)"
            ),
            {"a": ACCOUNT, "t": now},
        )
        db.execute(
            text(
                "INSERT INTO memberships (account_id, user_id, role, created_at) VALUES"
                " (:a, 'ada', 'admin', :t), (:a, 'pep', 'service', :t)"
            ),
            {"a": ACCOUNT, "t": now},
        )
        db.execute(
            text(
                "INSERT INTO contacts (account_id, id, state, deleted_at, version, created_at,"
                " updated_at) VALUES (:a, :id, :s, :d, 1, :t, :t)"
            ),
            rows,
        )
        if holds:
            db.execute(
                text(
                    "INSERT INTO legal_holds (id, account_id, contact_id, reason, placed_by,"
                    " placed_at) VALUES (:id, :a, :c, 'matter', 'cora', :t)"
                ),
                holds,
            )
        db.execute(
            text(
                "INSERT INTO related_records (id, account_id, contact_id, origin_contact_id,"
                " kind, data, state, created_at, updated_at) VALUES (:id, :a, :c, :c,"
                " 'workflow_enrollments', '{}', 'active', :t, :t)"
            ),
            records,
        )
    if url.startswith("postgresql"):
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as db:
            db.execute(text("ANALYZE"))
    engine.dispose()


def search_body(action: str, limit: int, token: str = "") -> dict[str, Any]:
    return {
        "subject": {"type": "user", "id": "ada"},
        "action": {"name": action},
        "resource": {"type": "contact", "properties": {"account_id": ACCOUNT}},
        "page": {"limit": limit, **({"token": token} if token else {})},
    }


def bench(url: str, workdir: Path, repeat: int) -> dict[str, Any]:
    settings = Settings.from_env(
        {},
        database_url=url,
        environment="test",
        log_level="WARNING",
        job_runner="inline",
        audit_signing_key=workdir / "key.pem",
        audit_encryption_key=workdir / "key.bin",
        max_batch_items=1000,
    )
    app = create_app(settings)
    state = get_state(app)
    _, token = issue_token(state, "pep", kind="service")
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    out: dict[str, Any] = {}
    for action in ACTIONS:
        samples = []
        for _ in range(repeat):
            state.runtime.cache.clear()
            started = time.perf_counter_ns()
            response = client.post(
                "/access/v1/search/resource", json=search_body(action, 100), headers=headers
            )
            samples.append(time.perf_counter_ns() - started)
            assert response.status_code == 200, response.get_data(as_text=True)
        state.runtime.cache.clear()
        started = time.perf_counter()
        found, pages, page_token = 0, 0, ""
        while True:
            response = client.post(
                "/access/v1/search/resource",
                json=search_body(action, 1000, page_token),
                headers=headers,
            )
            body = response.get_json()
            found += len(body["results"])
            pages += 1
            page_token = body["page"]["next_token"]
            if not page_token:
                break
        walk = time.perf_counter() - started
        out[action] = {
            "first_page_100": percentiles(samples),
            "all_pages_1000": {
                "results": found,
                "pages": pages,
                "seconds": round(walk, 3),
                "results_per_s": round(found / walk) if walk else None,
            },
        }
    # The naive way, for comparison: every contact's facts, then decide each in Python.
    account = state.runtime.account(state.source, ACCOUNT)
    assert account is not None
    state.runtime.cache.clear()
    started = time.perf_counter()
    with state.session_factory() as db:
        ids = list(
            db.execute(text("SELECT id FROM contacts WHERE account_id = :a"), {"a": ACCOUNT})
            .scalars()
            .all()
        )
        facts: dict[str, Any] = {}
        for i in range(0, len(ids), 5000):
            facts.update(facts_of(db, ACCOUNT, ids[i : i + 5000]))
    now = datetime.now(UTC)
    allowed = 0
    for contact_id in ids:
        request = DecisionRequest(
            Subject("user", "ada"), Action("purge"), Resource("contact", contact_id)
        )
        allowed += decide(state.runtime, account, request, facts[contact_id], now).allowed
    out["naive_purge_every_contact_in_python"] = {
        "results": allowed,
        "seconds": round(time.perf_counter() - started, 3),
    }
    state.engine.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-search-"))
    url, drop = make_database(args.database, workdir)
    try:
        started = time.perf_counter()
        load(url, args.contacts)
        loaded = time.perf_counter() - started
        results = bench(url, workdir, args.repeat)
    finally:
        if drop is not None:
            drop()
    results["setup"] = {
        "database": args.database,
        "contacts": args.contacts,
        "load_s": round(loaded, 1),
    }
    print(f"{'action':<10} {'page 100 p50':>13} {'p99':>9} {'results':>8} {'walk s':>8} {'/s':>9}")
    for action in ACTIONS:
        row = results[action]
        walk = row["all_pages_1000"]
        print(
            f"{action:<10} {row['first_page_100']['p50_ms']:>10.1f} ms"
            f" {row['first_page_100']['p99_ms']:>6.1f} ms {walk['results']:>8}"
            f" {walk['seconds']:>8.2f} {walk['results_per_s']:>9}"
        )
    naive = results["naive_purge_every_contact_in_python"]
    print(f"naive purge, every contact decided in Python: {naive['seconds']:.2f} s")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
