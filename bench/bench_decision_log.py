"""What decision logging costs the decision endpoints (issue 11: at most 10% throughput).

Two apps on one database, one with ``decision_log`` on (entries queued, written in batches
by its background thread) and one with it off, called in process (Flask test client, the
whole request path but the socket) in alternating rounds, so that noise from a shared
machine falls on both alike. Single evaluations and batches of 100. Prints a table and one
JSON document (last line of stdout).

    .venv/bin/python bench/bench_decision_log.py                  # PostgreSQL on 127.0.0.1
    .venv/bin/python bench/bench_decision_log.py --database sqlite
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


from bench.bench_decisions import load_data, make_database, workload  # noqa: E402
from policy_service import create_app  # noqa: E402
from policy_service.accounts.tokens import issue_token  # noqa: E402
from policy_service.api.app_state import get_state  # noqa: E402
from policy_service.api.decision_logs import get_decision_log  # noqa: E402
from policy_service.config import Settings  # noqa: E402
from policy_service.storage import decision_logs  # noqa: E402


def make(url: str, workdir: Path, logging: bool) -> tuple[Any, str]:
    settings = Settings.from_env(
        {},
        database_url=url,
        environment="test",
        log_level="WARNING",
        audit_signing_key=workdir / "key.pem",
        audit_encryption_key=workdir / "key.bin",
        decision_log=logging,
        retention_sweep_seconds=0,
        job_recovery_seconds=0,
        job_runner=os.environ.get("BENCH_JOB_RUNNER", "thread"),
    )
    app = create_app(settings)
    _, token = issue_token(get_state(app), f"bench-root-{logging}", platform_admin=True)
    get_state(app).sync_now()
    return app, token


def run(app: Any, token: str, bodies: list[Any], path: str) -> float:
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    started = time.perf_counter()
    for body in bodies:
        response = client.post(path, json=body, headers=headers)
        assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--singles", type=int, default=3000, help="single requests per round")
    parser.add_argument("--batches", type=int, default=60, help="batches of 100 per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--no-write",
        action="store_true",
        help="build the rows but skip the COPY (psycopg formats them in C as it writes)",
    )
    args = parser.parse_args()
    if args.no_write:
        from policy_service.storage import decision_logs as storage

        def build_only(engine: Any, rows: Any) -> None:
            del engine, rows  # the rows were built by the time they reach the writer

        storage.write_batch = build_only
    workdir = Path(tempfile.mkdtemp(prefix="bench-decision-log-"))
    url, drop = make_database(args.database, workdir)
    try:
        memberships = load_data(url, args.accounts, 10)
        requests = workload(memberships, 500, max(args.singles, args.batches * 100))
        singles = requests[: args.singles]
        batches = [{"evaluations": requests[i * 100 : (i + 1) * 100]} for i in range(args.batches)]
        apps = {flag: make(url, workdir, flag) for flag in (False, True)}
        for app, token in apps.values():  # warm: caches filled, code paths taken
            run(app, token, singles, "/access/v1/evaluation")
            run(app, token, batches, "/access/v1/evaluations")
        rates: dict[str, dict[bool, list[float]]] = {"single": {}, "batch": {}}
        for _ in range(args.rounds):
            for flag in (False, True):
                app, token = apps[flag]
                seconds = run(app, token, singles, "/access/v1/evaluation")
                rates["single"].setdefault(flag, []).append(len(singles) / seconds)
                seconds = run(app, token, batches, "/access/v1/evaluations")
                rates["batch"].setdefault(flag, []).append(len(batches) * 100 / seconds)
        on_app = apps[True][0]
        log = get_decision_log(on_app)
        log.flush()
        with get_state(on_app).session_factory() as session:
            stored = decision_logs.count(session)
        for app, _ in apps.values():
            get_state(app).engine.dispose()
    finally:
        if drop is not None:
            drop()
    results: dict[str, Any] = {"database": args.database, "rounds": args.rounds}
    for kind, by_flag in rates.items():
        off, on = statistics.median(by_flag[False]), statistics.median(by_flag[True])
        results[kind] = {
            "decisions_per_s_off": round(off),
            "decisions_per_s_on": round(on),
            "change_pct": round((on - off) / off * 100, 1),
            "runs_off": [round(r) for r in by_flag[False]],
            "runs_on": [round(r) for r in by_flag[True]],
        }
    results["log"] = {"stored": stored, "dropped": log.dropped, "failed": log.failed}
    print(f"{'endpoint':<22}{'log off /s':>12}{'log on /s':>12}{'change':>9}")
    for kind, label in (("single", "evaluation"), ("batch", "evaluations x100")):
        row = results[kind]
        print(
            f"{label:<22}{row['decisions_per_s_off']:>12,}{row['decisions_per_s_on']:>12,}"
            f"{row['change_pct']:>8}%"
        )
    print(f"entries stored {stored}, dropped {log.dropped}, failed {log.failed}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
