"""Decision benchmark (issue 2): 10,000 accounts x 10 users = 100,000 role assignments.

Measures, on the same model and rules:
  (a) plain pycasbin ``enforce`` (default domain role manager, the same 100,000 g rows);
  (b) the service's in-process decision function ``evaluate`` - with the decision cache
      switched off (every call goes through Casbin) and with it on;
  (c) HTTP single evaluations against the real server under gunicorn, 2 workers;
  (d) HTTP batch evaluations, 100 items a request;
plus the server's start-up time and resident memory per worker.

The workload is what a policy enforcement point sends: a hot set of users (1,000 by default)
asking about 6 actions on contacts in 3 states, drawn at random. The cache hit ratio is
reported with the figures. Prints a table and one JSON document (last line of stdout).

    .venv/bin/python bench/bench_decisions.py                  # PostgreSQL on 127.0.0.1
    .venv/bin/python bench/bench_decisions.py --database sqlite
HTTP load comes from wrk (apt-get install wrk) when present, otherwise from Python processes.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import casbin  # noqa: E402
from sqlalchemy import text  # noqa: E402

from bench.scratch_database import create_scratch_database  # noqa: E402
from policy_service.accounts.tokens import issue_token  # noqa: E402
from policy_service.config import Settings  # noqa: E402
from policy_service.decisions.authorization import Caller, evaluate, gather_facts  # noqa: E402
from policy_service.domain.decisions import (  # noqa: E402
    Action,
    DecisionRequest,
    Resource,
    Subject,
    qualified_action,
)
from policy_service.policy.conditions import all_hold  # noqa: E402
from policy_service.policy.pack import load_pack  # noqa: E402
from policy_service.state import ServiceState  # noqa: E402
from policy_service.storage.database import create_database_engine  # noqa: E402
from policy_service.storage.migrate import upgrade  # noqa: E402

ROLES_BY_SLOT = ["admin", "compliance_officer", "service"] + ["user"] * 7
ACTIONS = ["read", "delete", "restore", "purge", "export", "bulk_delete"]
NOW = datetime.now(UTC)
STATES = [
    {},
    {"state": "trashed", "deleted_at": (NOW - timedelta(days=5)).isoformat()},
    {"state": "trashed", "deleted_at": (NOW - timedelta(days=70)).isoformat(), "legal_hold": True},
]


# -- set-up --------------------------------------------------------------------------------


def make_database(kind: str, workdir: Path) -> tuple[str, Any]:
    if kind == "sqlite":
        return f"sqlite:///{workdir / 'bench.sqlite3'}", None
    return create_scratch_database("ps_bench")


def load_data(url: str, accounts: int, users: int) -> list[tuple[str, str, str]]:
    engine = create_database_engine(url)
    upgrade(engine)
    now = datetime.now(UTC)
    account_rows = [
        {
            "id": f"acct-{a:05d}",
            "name": f"Account {a}",
            "cascade_profile": "cascade-on-delete",
            "retention_days": 60,
            "purge_enabled": a % 2 == 0,
            "created_at": now,
            "updated_at": now,
        }
        for a in range(accounts)
    ]
    memberships = [
        (f"u-{a:05d}-{u}", ROLES_BY_SLOT[u % len(ROLES_BY_SLOT)], f"acct-{a:05d}")
        for a in range(accounts)
        for u in range(users)
    ]
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO accounts (id, name, cascade_profile, retention_days, purge_enabled,"
                " created_at, updated_at) VALUES (:id, :name, :cascade_profile, :retention_days,"
                " :purge_enabled, :created_at, :updated_at)"
            ),
            account_rows,
        )
        connection.execute(
            text(
                "INSERT INTO memberships (account_id, user_id, role, created_at)"
                " VALUES (:a, :u, :r, :t)"
            ),
            [{"a": acc, "u": user, "r": role, "t": now} for user, role, acc in memberships],
        )
    engine.dispose()
    return memberships


def workload(
    memberships: list[tuple[str, str, str]],
    hot_users: int,
    size: int,
    seed: int = 7,
    contacts_per_user: int | None = 5,
) -> list[dict[str, Any]]:
    """Requests from a hot set of users, each about a few contacts of theirs (the contacts a
    person works with repeat), or, with ``contacts_per_user=None``, each about a contact
    never seen before (so every decision reads the contact store)."""
    rng = random.Random(seed)
    hot = rng.sample(memberships, hot_users)
    requests = []
    for _ in range(size):
        user, _, account = rng.choice(hot)
        requests.append(
            {
                "subject": {"type": "user", "id": user},
                "action": {"name": rng.choice(ACTIONS)},
                "resource": {
                    "type": "contact",
                    "id": (
                        f"c-{user}-{rng.randrange(contacts_per_user)}"
                        if contacts_per_user
                        else f"c-{rng.randrange(10**9)}"
                    ),
                    "properties": {"account_id": account, **rng.choice(STATES)},
                },
            }
        )
    return requests


def percentiles(samples_ns: list[int]) -> dict[str, float]:
    ordered = sorted(samples_ns)
    return {
        "p50_ms": ordered[len(ordered) // 2] / 1e6,
        "p99_ms": ordered[int(len(ordered) * 0.99)] / 1e6,
    }


# -- (a) plain pycasbin ---------------------------------------------------------------------


def bench_plain_casbin(
    memberships: list[tuple[str, str, str]],
    requests: list[dict[str, Any]],
    settings: Settings,
    repeat: int,
) -> dict[str, Any]:
    pack = load_pack(settings.policy_pack)
    started = time.perf_counter()
    enforcer = casbin.Enforcer(casbin.Enforcer.new_model(text=pack.model_text))
    enforcer.get_model()["p"]["p"].policy = [rule.as_casbin() for rule in pack.rules]
    enforcer.get_model()["g"]["g"].policy = [list(row) for row in memberships]
    enforcer.build_role_links()
    enforcer.add_function("conditions", all_hold)
    load_seconds = time.perf_counter() - started
    # The same facts the service would build, made up front: (a) measures enforce alone.
    from policy_service.domain.accounts import Account

    accounts: dict[str, Account] = {}
    calls = []
    for body in requests:
        account_id = body["resource"]["properties"]["account_id"]
        account = accounts.setdefault(
            account_id,
            Account(account_id, account_id, "p", 60, int(account_id[-1]) % 2 == 0, NOW, NOW),
        )
        request = to_request(body)
        facts = gather_facts(request, account, pack, NOW).facts
        action = qualified_action(request.action.name, request.resource.type)
        calls.append((request.subject.id, account_id, "contact", action, facts))
    runs = [timed(lambda c: enforcer.enforce(*c), calls) for _ in range(repeat)]
    result = median_run(runs, "decisions_per_s")
    result["runs_decisions_per_s"] = [r["decisions_per_s"] for r in runs]
    return result | {"load_s": round(load_seconds, 2)}


def to_request(body: dict[str, Any]) -> DecisionRequest:
    return DecisionRequest(
        Subject(**body["subject"]), Action(**body["action"]), Resource(**body["resource"])
    )


def timed(function: Any, items: list[Any]) -> dict[str, Any]:
    samples = []
    started = time.perf_counter()
    for item in items:
        t0 = time.perf_counter_ns()
        function(item)
        samples.append(time.perf_counter_ns() - t0)
    elapsed = time.perf_counter() - started
    return {"decisions_per_s": round(len(items) / elapsed), **percentiles(samples)}


# -- (b) the service's decision function -----------------------------------------------------


def bench_in_process(
    settings: Settings, requests: list[dict[str, Any]], cache_size: int, repeat: int
) -> dict[str, Any]:
    state = ServiceState.build(settings.with_overrides(decision_cache_size=cache_size))
    state.load()
    caller = Caller("bench-root", "user", platform_admin=True)
    state.runtime.roles.set_roles("platform", "bench-root", ["platform_admin"])
    decision_requests = [to_request(body) for body in requests]

    def decide(request: DecisionRequest) -> None:
        evaluate(state.runtime, state.source, caller, request)

    for request in decision_requests:  # warm account settings (and the cache, when on)
        decide(request)
    runs = [timed(decide, decision_requests) for _ in range(repeat)]
    result = median_run(runs, "decisions_per_s")
    result["runs_decisions_per_s"] = [r["decisions_per_s"] for r in runs]
    result["cache_hit_ratio"] = round(
        state.runtime.cache.hits / max(1, state.runtime.cache.hits + state.runtime.cache.misses), 3
    )
    state.engine.dispose()
    return result


# -- (c), (d) HTTP ---------------------------------------------------------------------------

WRK_SCRIPT = """
local bodies = {}
local index = 0
init = function(args)
  for line in io.lines(args[1]) do bodies[#bodies + 1] = line end
  index = math.random(#bodies)
end
request = function()
  index = index % #bodies + 1
  return wrk.format("POST", wrk.path, wrk.headers, bodies[index])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"errors":%d,"non2xx":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
"""


def worker_rss_mb(master_pid: int) -> list[float]:
    sizes = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if fields.get("PPid", "").strip() == str(master_pid):
            sizes.append(round(int(fields["VmRSS"].split()[0]) / 1024, 1))
    return sorted(sizes)


def start_server(env: dict[str, str], port: int, workers: int, threads: int) -> tuple[Any, float]:
    started = time.perf_counter()
    process = subprocess.Popen(
        [
            str(ROOT / ".venv" / "bin" / "policy-service"),
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--threads",
            str(threads),
        ],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if process.poll() is not None:
            raise RuntimeError("the server exited during start-up")
        time.sleep(0.05)
    # Every worker loads its own runtime; wait until all have answered once.
    return process, time.perf_counter() - started


def run_wrk(url: str, token: str, bodies: Path, seconds: int, connections: int) -> dict[str, Any]:
    script = bodies.with_suffix(".lua")
    script.write_text(WRK_SCRIPT)
    output = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(script),
            "-H",
            f"Authorization: Bearer {token}",
            "-H",
            "Content-Type: application/json",
            url,
            "--",
            str(bodies),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(line for line in output.splitlines() if line.startswith("WRK "))
    data = json.loads(line[4:])
    return {
        "requests_per_s": round(data["requests"] / (data["duration_us"] / 1e6)),
        "p50_ms": data["p50_us"] / 1000,
        "p99_ms": data["p99_us"] / 1000,
        "errors": data["errors"] + data["non2xx"],
    }


def run_python_load(
    url: str, token: str, bodies: Path, seconds: int, connections: int
) -> dict[str, Any]:
    code = """
import http.client, json, sys, time, urllib.parse
url, token, path, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
bodies = open(path).read().splitlines()
parts = urllib.parse.urlsplit(url)
conn = http.client.HTTPConnection(parts.hostname, parts.port)
headers = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
samples, errors, i, end = [], 0, 0, time.perf_counter() + seconds
while time.perf_counter() < end:
    t0 = time.perf_counter_ns()
    try:
        conn.request("POST", parts.path, bodies[i % len(bodies)], headers)
        response = conn.getresponse(); response.read()
        errors += response.status != 200
    except Exception:
        errors += 1; conn = http.client.HTTPConnection(parts.hostname, parts.port)
    samples.append(time.perf_counter_ns() - t0); i += 1
print(json.dumps({"samples": samples, "errors": errors, "seconds": seconds}))
"""
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", code, url, token, str(bodies), str(seconds)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(connections)
    ]
    results = [json.loads(p.communicate()[0]) for p in processes]
    samples = [s for r in results for s in r["samples"]]
    return {
        "requests_per_s": round(len(samples) / seconds),
        **percentiles(samples),
        "errors": sum(r["errors"] for r in results),
    }


def bench_http(
    url_base: str,
    token: str,
    requests: list[dict[str, Any]],
    workdir: Path,
    seconds: int,
    batch: int | None,
    repeat: int,
) -> dict[str, Any]:
    bodies = workdir / ("batch.ndjson" if batch else "single.ndjson")
    with bodies.open("w") as out:
        if batch:
            for start in range(0, len(requests) - batch + 1, batch):
                out.write(json.dumps({"evaluations": requests[start : start + batch]}) + "\n")
        else:
            for body in requests:
                out.write(json.dumps(body) + "\n")
    path = "/access/v1/evaluations" if batch else "/access/v1/evaluation"
    load = run_wrk if shutil.which("wrk") else run_python_load
    warm = load(url_base + path, token, bodies, 3, 4)  # fills each worker's caches
    runs = [load(url_base + path, token, bodies, seconds, 4) for _ in range(repeat)]
    result = median_run(runs, "requests_per_s")
    result["client"] = "wrk" if shutil.which("wrk") else "python"
    result["decisions_per_s"] = result["requests_per_s"] * (batch or 1)
    result["runs_decisions_per_s"] = [r["requests_per_s"] * (batch or 1) for r in runs]
    result["warm_up_requests_per_s"] = warm["requests_per_s"]
    return result


def median_run(runs: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """The run with the median ``key``: its figures belong together."""
    return dict(sorted(runs, key=lambda run: run[key])[len(runs) // 2])


# -- main ------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--users-per-account", type=int, default=10)
    parser.add_argument("--hot-users", type=int, default=1_000)
    parser.add_argument("--decisions", type=int, default=20_000, help="in-process calls per run")
    parser.add_argument("--seconds", type=int, default=10, help="HTTP load per run")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (median)")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-decisions-"))
    url, drop = make_database(args.database, workdir)
    try:
        t0 = time.perf_counter()
        memberships = load_data(url, args.accounts, args.users_per_account)
        load_seconds = time.perf_counter() - t0
        settings = Settings.from_env(
            {},
            database_url=url,
            environment="test",
            log_level="WARNING",
            audit_signing_key=workdir / "key.pem",
        )
        requests = workload(memberships, args.hot_users, args.decisions)
        results: dict[str, Any] = {
            "setup": {
                "database": args.database,
                "accounts": args.accounts,
                "role_assignments": len(memberships),
                "rules": len(load_pack(settings.policy_pack).rules),
                "hot_users": args.hot_users,
                "bulk_load_s": round(load_seconds, 1),
            }
        }
        results["a_plain_casbin_enforce"] = bench_plain_casbin(
            memberships, requests, settings, args.repeat
        )
        results["b_service_function_uncached"] = bench_in_process(
            settings, requests, 0, args.repeat
        )
        results["b_service_function_cached"] = bench_in_process(
            settings, requests, 200_000, args.repeat
        )

        state = ServiceState.build(settings)
        _, token = issue_token(state, "bench-root", platform_admin=True)
        state.engine.dispose()
        port = 18_000 + random.randrange(1000)
        env = {
            "POLICY_SERVICE_DATABASE_URL": url,
            "POLICY_SERVICE_LOG_LEVEL": "WARNING",
            "POLICY_SERVICE_LOG_FORMAT": "json",
            "POLICY_SERVICE_AUDIT_SIGNING_KEY": str(workdir / "key.pem"),
        }
        server, startup = start_server(env, port, args.workers, args.threads)
        try:
            base = f"http://127.0.0.1:{port}"
            results["c_http_single"] = bench_http(
                base, token, requests, workdir, args.seconds, None, args.repeat
            )
            results["d_http_batch_100"] = bench_http(
                base, token, requests, workdir, args.seconds, 100, args.repeat
            )
            fresh = workload(memberships, args.hot_users, args.decisions, 11, None)
            (workdir / "fresh").mkdir()
            results["c_http_single_new_contacts"] = bench_http(
                base, token, fresh, workdir / "fresh", args.seconds, None, args.repeat
            )
            results["server"] = {
                "workers": args.workers,
                "threads": args.threads,
                "startup_s": round(startup, 2),
                "worker_rss_mb": worker_rss_mb(server.pid),
            }
        finally:
            server.terminate()
            server.wait(timeout=30)
    finally:
        if drop:
            drop()
        shutil.rmtree(workdir, ignore_errors=True)

    plain = results["a_plain_casbin_enforce"]
    cold = results["b_service_function_uncached"]
    results["ratios"] = {
        "b_uncached_p50_over_a_p50": round(cold["p50_ms"] / plain["p50_ms"], 2),
        "b_cached_p50_over_a_p50": round(
            results["b_service_function_cached"]["p50_ms"] / plain["p50_ms"], 3
        ),
    }
    print_table(results)
    print(json.dumps(results))


def print_table(results: dict[str, Any]) -> None:
    rows = [
        ("(a) pycasbin enforce", results["a_plain_casbin_enforce"]),
        ("(b) service, cache off", results["b_service_function_uncached"]),
        ("(b) service, cache on", results["b_service_function_cached"]),
        ("(c) HTTP single", results["c_http_single"]),
        ("(d) HTTP batch x100", results["d_http_batch_100"]),
        ("(c) single, new contact each", results["c_http_single_new_contacts"]),
    ]
    print(f"{'measure':<26}{'decisions/s':>14}{'p50 ms':>10}{'p99 ms':>10}")
    for name, row in rows:
        print(
            f"{name:<26}{row['decisions_per_s']:>14,}{row['p50_ms']:>10.3f}{row['p99_ms']:>10.3f}"
        )
    server = results["server"]
    print(
        f"start-up {server['startup_s']} s; worker RSS {server['worker_rss_mb']} MB; "
        f"ratios {results['ratios']}"
    )


if __name__ == "__main__":
    main()
