"""This service against Cerbos on the same machine (issue 11, section 5).

The same AuthZEN decisions - 1,000 contacts on PostgreSQL, a hot set of users, the actions
read, export, delete, restore and purge - asked of:
  * this service: ``policy-service serve`` (granian, 2 workers, decision logging on, the
    default), ``POST /access/v1/evaluation`` and ``POST /access/v1/evaluations`` (100 items);
    roles, account settings and contact facts come from its store;
  * Cerbos (npm package ``@cerbos/cerbos-linux-x64``, telemetry off, disk storage, no audit),
    ``POST /api/check/resources`` with one resource or 100; Cerbos has no store, so the
    principal's role and every attribute the rules read (the contact's state, deletion time,
    legal hold and enrollments; the account's retention window, purge setting, trash and
    delete guards) travel in the request, checked by an equivalent resource policy in CEL.

First both servers answer a sample of requests one by one and in batches, and every answer
must agree. Then wrk (16 connections, the Lua script of ``bench_decisions``) drives each:
single requests (req/s, p50, p99) and batches of 100 (decisions/s), median of ``--repeat``
runs of ``--seconds``, alternating the two servers. Prints a table, the ratios against the
targets (single >= 1.5x Cerbos, p99 no worse, batch >= 2.5x) and one JSON document (last
line of stdout).

    .venv/bin/python bench/bench_vs_cerbos.py                 # make bench-vs-cerbos
    .venv/bin/python bench/bench_vs_cerbos.py --repeat 1 --seconds 5
    .venv/bin/python bench/bench_vs_cerbos.py --log-off   # and a row with logging off
With ``--log-off`` a second service, decision logging off, runs beside the first (the same
database), alternating with it, and the table adds what logging costs, served (issue 11:
at most 10%).
Needs npm (to fetch Cerbos once into --cache-dir), wrk (apt-get install wrk; done for you
when run as root) and a local PostgreSQL.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from bench.bench_decisions import (  # noqa: E402
    load_data,
    make_database,
    median_run,
    run_wrk,
    start_server,
)
from policy_service.accounts.tokens import issue_token  # noqa: E402
from policy_service.config import Settings  # noqa: E402
from policy_service.state import ServiceState  # noqa: E402
from policy_service.storage.database import create_database_engine  # noqa: E402

CERBOS_PACKAGE = "@cerbos/cerbos-linux-x64"
ACTIONS = ["read", "export", "delete", "restore", "purge"]
# Account settings the hot accounts cycle through: cascade profile (its trash and its
# delete guards), retention window, purge allowed.
PROFILES = {
    "cascade-on-delete": (True, []),
    "cascade-on-delete-guarded": (
        True,
        ["active_workflow_enrollment", "active_campaign_enrollment"],
    ),
    "immediate-purge": (False, []),
}
PROFILE_CYCLE = [
    "cascade-on-delete",
    "cascade-on-delete-guarded",
    "cascade-on-delete",
    "cascade-on-delete-guarded",
    "immediate-purge",
]
RETENTION_CYCLE = [60, 30, 90]
TARGETS = {"single_throughput": 1.5, "p99": 1.0, "batch_throughput": 2.5}

# The rules of policies/rules.csv for these five contact actions, as a Cerbos resource policy.
# A deny wins over any allow in both. Conditions read only what the request carries.
CERBOS_POLICY = """\
apiVersion: api.cerbos.dev/v1
resourcePolicy:
  version: "default"
  resource: "contact"
  rules:
    # p, admin|user|compliance_officer|service, *, contact, contact.read, , allow
    - actions: ["read"]
      effect: EFFECT_ALLOW
      roles: ["admin", "user", "compliance_officer", "service"]
    # p, admin, *, contact, contact.export, , allow
    - actions: ["export"]
      effect: EFFECT_ALLOW
      roles: ["admin"]
    # p, admin, *, contact, contact.delete, active, allow
    - actions: ["delete"]
      effect: EFFECT_ALLOW
      roles: ["admin"]
      condition:
        match:
          expr: '!has(R.attr.state) || R.attr.state == "active"'
    # p, admin, *, contact, contact.restore, in_trash within_retention, allow
    - actions: ["restore"]
      effect: EFFECT_ALLOW
      roles: ["admin"]
      condition:
        match:
          all:
            of:
              - expr: 'has(R.attr.state) && R.attr.state == "trashed"'
              - expr: >-
                  has(R.attr.deleted_at) && has(R.attr.retention_days) &&
                  timestamp(R.attr.deleted_at).timeSince() <
                  duration(string(int(R.attr.retention_days) * 24) + "h")
    # p, admin, *, contact, contact.purge, in_trash purge_enabled, allow
    - actions: ["purge"]
      effect: EFFECT_ALLOW
      roles: ["admin"]
      condition:
        match:
          all:
            of:
              - expr: 'has(R.attr.state) && R.attr.state == "trashed"'
              - expr: R.attr.purge_enabled == true
    # p, *, *, contact, contact.purge, on_legal_hold, deny
    - actions: ["purge"]
      effect: EFFECT_DENY
      roles: ["*"]
      condition:
        match:
          expr: R.attr.legal_hold == true
    # p, *, *, contact, contact.delete, on_legal_hold no_trash, deny
    - actions: ["delete"]
      effect: EFFECT_DENY
      roles: ["*"]
      condition:
        match:
          all:
            of:
              - expr: R.attr.legal_hold == true
              - expr: R.attr.trash == false
    # p, *, *, contact, contact.delete, delete_guarded, deny
    - actions: ["delete"]
      effect: EFFECT_DENY
      roles: ["*"]
      condition:
        match:
          expr: >-
            R.attr.block_delete_when.exists(g,
              (g == "active_workflow_enrollment" && R.attr.active_workflow == true) ||
              (g == "active_campaign_enrollment" && R.attr.active_campaign == true))
"""

CERBOS_CONFIG = """\
server:
  httpListenAddr: "127.0.0.1:{http_port}"
  grpcListenAddr: "127.0.0.1:{grpc_port}"
  requestLimits:  # the default, 50 resources a request, is below a batch of 100
    maxActionsPerResource: 50
    maxResourcesPerRequest: {max_resources}
storage:
  driver: "disk"
  disk:
    directory: "{policy_dir}"
    watchForChanges: false
audit:
  enabled: false
telemetry:
  disabled: true
"""


# -- the data ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Contact:
    account_id: str
    id: str
    state: str
    deleted_at: datetime | None
    legal_hold: bool
    active_workflow: bool
    active_campaign: bool


@dataclass(frozen=True)
class AccountSettings:
    id: str
    profile: str
    retention_days: int
    purge_enabled: bool


def load_contacts(
    url: str, memberships: list[tuple[str, str, str]], hot_accounts: int, contacts: int, seed: int
) -> tuple[dict[str, AccountSettings], list[Contact], list[tuple[str, str, str]]]:
    """Varies the settings of ``hot_accounts`` accounts and gives them ``contacts`` contacts
    (45% active, 45% in the trash, 10% purged; 15% on legal hold, 15% in an active workflow,
    10% in a campaign). Returns the accounts, the contacts and the hot users (every member of a
    hot account).

    The service's retention sweep runs in its workers and purges what has outlived its window,
    so the store holds what it would leave: a contact in the trash is inside its account's
    window, unless a legal hold keeps it there longer (deleted up to 120 days ago)."""
    rng = random.Random(seed)
    account_ids = sorted({account for _, _, account in memberships})
    chosen = sorted(rng.sample(account_ids, hot_accounts))
    now = datetime.now(UTC)
    settings = {
        account: AccountSettings(
            account,
            PROFILE_CYCLE[i % len(PROFILE_CYCLE)],
            RETENTION_CYCLE[i % len(RETENTION_CYCLE)],
            i % 2 == 0,
        )
        for i, account in enumerate(chosen)
    }
    made: list[Contact] = []
    for i in range(contacts):
        account = settings[chosen[i % hot_accounts]]
        roll = rng.random()
        state = "active" if roll < 0.45 else "trashed" if roll < 0.90 else "purged"
        held = rng.random() < 0.15
        days = 120 if held or state == "purged" else account.retention_days
        # Whole days and a half: never on a window's edge while the run lasts.
        deleted_at = None if state == "active" else now - timedelta(days=rng.randrange(days) + 0.5)
        made.append(
            Contact(
                account.id,
                f"c-{i:05d}",
                state,
                deleted_at,
                held,
                rng.random() < 0.15,
                rng.random() < 0.10,
            )
        )
    engine = create_database_engine(url)
    with engine.begin() as db:
        db.execute(
            text(
                "UPDATE accounts SET cascade_profile = :p, retention_days = :r,"
                " purge_enabled = :e WHERE id = :a"
            ),
            [
                {"a": s.id, "p": s.profile, "r": s.retention_days, "e": s.purge_enabled}
                for s in settings.values()
            ],
        )
        db.execute(
            text(
                "INSERT INTO contacts (account_id, id, state, deleted_at, version, created_at,"
                " updated_at) VALUES (:a, :id, :s, :d, 1, :t, :t)"
            ),
            [
                {"a": c.account_id, "id": c.id, "s": c.state, "d": c.deleted_at, "t": now}
                for c in made
            ],
        )
        holds = [
            {"id": f"h-{c.id}", "a": c.account_id, "c": c.id, "t": now}
            for c in made
            if c.legal_hold
        ]
        db.execute(
            text(
                "INSERT INTO legal_holds (id, account_id, contact_id, reason, placed_by,"
                " placed_at) VALUES (:id, :a, :c, 'matter', 'bench', :t)"
            ),
            holds,
        )
        records = [
            {"id": f"r-{kind[:2]}-{c.id}", "a": c.account_id, "c": c.id, "k": kind, "t": now}
            for c in made
            for kind, on in (
                ("workflow_enrollments", c.active_workflow),
                ("campaign_enrollments", c.active_campaign),
            )
            if on
        ]
        db.execute(
            text(
                "INSERT INTO related_records (id, account_id, contact_id, origin_contact_id,"
                " kind, data, state, created_at, updated_at) VALUES (:id, :a, :c, :c, :k,"
                " '{}', 'active', :t, :t)"
            ),
            records,
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as db:
        db.execute(text("ANALYZE"))
    engine.dispose()
    hot_users = [m for m in memberships if m[2] in settings]
    return settings, made, hot_users


# -- the requests: one decision, two wire formats ------------------------------------------------


@dataclass(frozen=True)
class Ask:
    user: str
    role: str
    contact: Contact
    action: str


def contact_properties(contact: Contact) -> dict[str, Any]:
    """What a PEP knows about the contact and sends to both servers."""
    properties: dict[str, Any] = {
        "account_id": contact.account_id,
        "state": contact.state,
        "legal_hold": contact.legal_hold,
        "active_workflow": contact.active_workflow,
        "active_campaign": contact.active_campaign,
    }
    if contact.deleted_at is not None:
        properties["deleted_at"] = contact.deleted_at.isoformat()
    return properties


def cerbos_attributes(contact: Contact, account: AccountSettings) -> dict[str, Any]:
    """The contact's properties plus the account settings this service keeps in its store."""
    trash, guards = PROFILES[account.profile]
    return contact_properties(contact) | {
        "retention_days": account.retention_days,
        "purge_enabled": account.purge_enabled,
        "trash": trash,
        "block_delete_when": guards,
    }


def service_item(ask: Ask) -> dict[str, Any]:
    return {
        "action": {"name": ask.action},
        "resource": {
            "type": "contact",
            "id": ask.contact.id,
            "properties": contact_properties(ask.contact),
        },
    }


def service_single(ask: Ask) -> dict[str, Any]:
    return {"subject": {"type": "user", "id": ask.user}, **service_item(ask)}


def service_batch(asks: list[Ask]) -> dict[str, Any]:
    """AuthZEN: the top-level subject is every item's default, as Cerbos's one principal."""
    return {
        "subject": {"type": "user", "id": asks[0].user},
        "evaluations": [service_item(ask) for ask in asks],
    }


def cerbos_check(asks: list[Ask], accounts: dict[str, AccountSettings]) -> dict[str, Any]:
    return {
        "principal": {"id": asks[0].user, "roles": [asks[0].role]},
        "resources": [
            {
                "actions": [ask.action],
                "resource": {
                    "kind": "contact",
                    "id": ask.contact.id,
                    "attr": cerbos_attributes(ask.contact, accounts[ask.contact.account_id]),
                },
            }
            for ask in asks
        ],
    }


def make_asks(
    hot_users: list[tuple[str, str, str]],
    contacts: list[Contact],
    singles: int,
    batches: int,
    batch_size: int,
    seed: int,
) -> tuple[list[Ask], list[list[Ask]]]:
    """Single asks: a hot user, a contact of her account, an action. Batches: one hot user,
    ``batch_size`` asks about contacts of her account."""
    rng = random.Random(seed)
    by_account: dict[str, list[Contact]] = {}
    for contact in contacts:
        by_account.setdefault(contact.account_id, []).append(contact)
    users = [u for u in hot_users if u[2] in by_account]
    single = []
    for _ in range(singles):
        user, role, account = rng.choice(users)
        single.append(Ask(user, role, rng.choice(by_account[account]), rng.choice(ACTIONS)))
    batch = []
    for _ in range(batches):
        user, role, account = rng.choice(users)
        batch.append(
            [
                Ask(user, role, rng.choice(by_account[account]), rng.choice(ACTIONS))
                for _ in range(batch_size)
            ]
        )
    return single, batch


# -- Cerbos -------------------------------------------------------------------------------------


def fetch_cerbos(version: str, cache_dir: Path) -> Path:
    """The Cerbos binary from the npm registry (``npm pack``), kept in ``cache_dir``."""
    binary = cache_dir / f"cerbos-{version}" / "package" / "cerbos-linux-x64"
    if binary.exists():
        return binary
    if shutil.which("npm") is None:
        raise SystemExit("npm is needed to fetch Cerbos (apt-get install npm)")
    target = binary.parent.parent
    target.mkdir(parents=True, exist_ok=True)
    packed = subprocess.run(
        ["npm", "pack", f"{CERBOS_PACKAGE}@{version}", "--pack-destination", str(target)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[-1]
    with tarfile.open(target / packed) as archive:
        archive.extractall(target, filter="data")
    (target / packed).unlink()
    binary.chmod(0o755)
    return binary


def ensure_wrk() -> None:
    """wrk from the system packages: installed with apt-get when missing and allowed to."""
    if shutil.which("wrk") is not None:
        return
    if shutil.which("apt-get") is not None and os.geteuid() == 0:
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=False)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_cerbos(
    binary: Path, workdir: Path, max_resources: int
) -> tuple[subprocess.Popen[bytes], int, str]:
    policy_dir = workdir / "cerbos-policies"
    policy_dir.mkdir()
    (policy_dir / "contact.yaml").write_text(CERBOS_POLICY)
    http_port, grpc_port = free_port(), free_port()
    config = workdir / "cerbos.yaml"
    config.write_text(
        CERBOS_CONFIG.format(
            http_port=http_port,
            grpc_port=grpc_port,
            policy_dir=policy_dir,
            max_resources=max_resources,
        )
    )
    log = (workdir / "cerbos.log").open("wb")
    process = subprocess.Popen(
        [str(binary), "server", f"--config={config}", "--log-level=warn"],
        env={**os.environ, "CERBOS_NO_TELEMETRY": "1"},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{http_port}/_cerbos/health", timeout=1
            ) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(
                "Cerbos did not start: " + (workdir / "cerbos.log").read_text()[-2000:]
            )
        time.sleep(0.05)
    version = subprocess.run(
        [str(binary), "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return process, http_port, (version.splitlines() or ["?"])[0]


# -- agreement ----------------------------------------------------------------------------------


def post(url: str, body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    assert url.startswith("http://127.0.0.1:"), url
    request = urllib.request.Request(url, json.dumps(body).encode(), headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            answer: dict[str, Any] = json.loads(response.read())
            return answer
    except urllib.error.HTTPError as error:
        raise RuntimeError(f"{url}: {error.code} {error.read()[:500]!r}") from None


def cerbos_allowed(answer: dict[str, Any], asks: list[Ask]) -> list[bool]:
    results = answer["results"]
    assert len(results) == len(asks), answer
    return [
        result["actions"][ask.action] == "EFFECT_ALLOW"
        for result, ask in zip(results, asks, strict=True)
    ]


def check_agreement(
    service: str,
    token: str,
    cerbos: str,
    accounts: dict[str, AccountSettings],
    singles: list[Ask],
    batches: list[list[Ask]],
) -> dict[str, Any]:
    """Both servers' answers to the same asks, one by one and in batches: they must agree."""
    compared, allowed, disagreements = 0, 0, []
    for ask in singles:
        ours = post(service + "/access/v1/evaluation", service_single(ask), token)["decision"]
        theirs = cerbos_allowed(post(cerbos, cerbos_check([ask], accounts)), [ask])[0]
        compared += 1
        allowed += ours
        if ours != theirs:
            disagreements.append({"ask": repr(ask), "service": ours, "cerbos": theirs})
    for asks in batches:
        answer = post(service + "/access/v1/evaluations", service_batch(asks), token)
        ours_list = [item["decision"] for item in answer["evaluations"]]
        theirs_list = cerbos_allowed(post(cerbos, cerbos_check(asks, accounts)), asks)
        for ask, ours, theirs in zip(asks, ours_list, theirs_list, strict=True):
            compared += 1
            allowed += ours
            if ours != theirs:
                disagreements.append({"ask": repr(ask), "service": ours, "cerbos": theirs})
    return {
        "compared": compared,
        "agreed": compared - len(disagreements),
        "allowed": allowed,
        "denied": compared - allowed,
        "disagreements": disagreements[:10],
    }


# -- load -----------------------------------------------------------------------------------------


def write_bodies(path: Path, bodies: list[dict[str, Any]]) -> Path:
    with path.open("w") as out:
        for body in bodies:
            out.write(json.dumps(body, separators=(",", ":")) + "\n")
    return path


def measure(
    targets: dict[str, tuple[str, str, Path, int]],
    seconds: int,
    connections: int,
    repeat: int,
) -> dict[str, dict[str, Any]]:
    """Each target (url, token, bodies, decisions a request) warmed, then run ``repeat``
    times, the targets alternating so both see the same machine; the median run of each."""
    for url, token, bodies, _ in targets.values():
        run_wrk(url, token, bodies, 2, connections)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in targets}
    for _ in range(repeat):
        for name, (url, token, bodies, per_request) in targets.items():
            run = run_wrk(url, token, bodies, seconds, connections)
            run["decisions_per_s"] = run["requests_per_s"] * per_request
            runs[name].append(run)
            time.sleep(1)  # the service's decision-log writer drains before the next run
    results = {}
    for name, done in runs.items():
        result = median_run(done, "requests_per_s")
        result["runs_decisions_per_s"] = [r["decisions_per_s"] for r in done]
        results[name] = result
    return results


# -- main -----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--users-per-account", type=int, default=10)
    parser.add_argument("--hot-accounts", type=int, default=100, help="their users are the hot set")
    parser.add_argument("--contacts", type=int, default=1_000)
    parser.add_argument("--requests", type=int, default=20_000, help="distinct single bodies")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--sample", type=int, default=300, help="single asks compared first")
    parser.add_argument("--seconds", type=int, default=10, help="wrk run length")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cerbos-version", default="0.55.0")
    parser.add_argument(
        "--log-off",
        action="store_true",
        help="also run the service with decision logging off: what logging costs, served",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "policy-service-bench",
        help="where the Cerbos package is kept between runs",
    )
    args = parser.parse_args()
    ensure_wrk()

    binary = fetch_cerbos(args.cerbos_version, args.cache_dir)
    workdir = Path(tempfile.mkdtemp(prefix="bench-vs-cerbos-"))
    url, drop = make_database("postgresql", workdir)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        memberships = load_data(url, args.accounts, args.users_per_account)
        accounts, contacts, hot_users = load_contacts(
            url, memberships, args.hot_accounts, args.contacts, seed=7
        )
        singles, batches = make_asks(
            hot_users,
            contacts,
            args.requests,
            max(1, args.requests // args.batch_size),
            args.batch_size,
            seed=11,
        )
        settings = Settings.from_env(
            {},
            database_url=url,
            environment="test",
            log_level="WARNING",
            audit_signing_key=workdir / "key.pem",
        )
        state = ServiceState.build(settings)
        _, token = issue_token(state, "bench-root", platform_admin=True)
        state.engine.dispose()
        port = free_port()
        service_env = {
            "POLICY_SERVICE_DATABASE_URL": url,
            "POLICY_SERVICE_LOG_LEVEL": "WARNING",
            "POLICY_SERVICE_LOG_FORMAT": "json",
            "POLICY_SERVICE_AUDIT_SIGNING_KEY": str(workdir / "key.pem"),
            "POLICY_SERVICE_DECISION_LOG": "true",
        }
        server, startup = start_server(
            service_env,
            port,
            args.workers,
            1,
        )
        processes.append(server)
        quiet_base = None
        if args.log_off:
            quiet_port = free_port()
            quiet, _ = start_server(
                {**service_env, "POLICY_SERVICE_DECISION_LOG": "false"},
                quiet_port,
                args.workers,
                1,
            )
            processes.append(quiet)
            quiet_base = f"http://127.0.0.1:{quiet_port}"
        cerbos, cerbos_port, cerbos_version = start_cerbos(
            binary, workdir, max(100, args.batch_size)
        )
        processes.append(cerbos)
        service_base = f"http://127.0.0.1:{port}"
        cerbos_url = f"http://127.0.0.1:{cerbos_port}/api/check/resources"

        agreement = check_agreement(
            service_base, token, cerbos_url, accounts, singles[: args.sample], batches[:3]
        )
        print(
            f"agreement: {agreement['agreed']} of {agreement['compared']} decisions the same "
            f"({agreement['allowed']} allowed, {agreement['denied']} denied)",
            flush=True,
        )
        if agreement["agreed"] != agreement["compared"]:
            print(json.dumps(agreement["disagreements"], indent=1), file=sys.stderr)
            raise SystemExit("the two servers disagree: the policies are not equivalent")

        files = {
            "service_single": write_bodies(
                workdir / "service-single.ndjson", [service_single(a) for a in singles]
            ),
            "cerbos_single": write_bodies(
                workdir / "cerbos-single.ndjson", [cerbos_check([a], accounts) for a in singles]
            ),
            "service_batch": write_bodies(
                workdir / "service-batch.ndjson", [service_batch(b) for b in batches]
            ),
            "cerbos_batch": write_bodies(
                workdir / "cerbos-batch.ndjson", [cerbos_check(b, accounts) for b in batches]
            ),
        }
        evaluation = service_base + "/access/v1/evaluation"
        evaluations = service_base + "/access/v1/evaluations"
        size = args.batch_size
        singles_at = {
            "service": (evaluation, token, files["service_single"], 1),
            "cerbos": (cerbos_url, "none", files["cerbos_single"], 1),
        }
        batches_at = {
            "service": (evaluations, token, files["service_batch"], size),
            "cerbos": (cerbos_url, "none", files["cerbos_batch"], size),
        }
        if quiet_base is not None:
            singles_at["service_log_off"] = (
                quiet_base + "/access/v1/evaluation",
                token,
                files["service_single"],
                1,
            )
            batches_at["service_log_off"] = (
                quiet_base + "/access/v1/evaluations",
                token,
                files["service_batch"],
                size,
            )
        single = measure(singles_at, args.seconds, args.connections, args.repeat)
        batch = measure(batches_at, args.seconds, args.connections, args.repeat)
    finally:
        for process in reversed(processes):
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        drop()
        shutil.rmtree(workdir, ignore_errors=True)

    results: dict[str, Any] = {
        "setup": {
            "database": "postgresql",
            "accounts": args.accounts,
            "role_assignments": len(memberships),
            "hot_accounts": args.hot_accounts,
            "hot_users": len(hot_users),
            "contacts": len(contacts),
            "actions": ACTIONS,
            "client": "wrk",
            "connections": args.connections,
            "seconds": args.seconds,
            "repeat": args.repeat,
            "batch_size": size,
            "service": {
                "server": "granian",
                "workers": args.workers,
                "decision_log": True,
                "startup_s": round(startup, 2),
            },
            "cerbos": {
                "version": cerbos_version,
                "package": f"{CERBOS_PACKAGE}@{args.cerbos_version}",
            },
        },
        "agreement": agreement,
        "service": {"single": single["service"], "batch": batch["service"]},
        "cerbos": {"single": single["cerbos"], "batch": batch["cerbos"]},
    }
    if "service_log_off" in single:
        results["service_log_off"] = {
            "single": single["service_log_off"],
            "batch": batch["service_log_off"],
        }
        results["decision_log_cost"] = {
            kind: round(
                1
                - results["service"][kind]["decisions_per_s"]
                / max(1, results["service_log_off"][kind]["decisions_per_s"]),
                3,
            )
            for kind in ("single", "batch")
        }
    results["ratios"] = ratios(results)
    print_table(results)
    print(json.dumps(results))


def ratios(results: dict[str, Any]) -> dict[str, Any]:
    """Service over Cerbos: throughput (higher is better) and p99 (lower is better)."""
    ours, theirs = results["service"], results["cerbos"]
    single = ours["single"]["requests_per_s"] / max(1, theirs["single"]["requests_per_s"])
    p99 = ours["single"]["p99_ms"] / max(1e-9, theirs["single"]["p99_ms"])
    batch = ours["batch"]["decisions_per_s"] / max(1, theirs["batch"]["decisions_per_s"])
    return {
        "single_throughput": round(single, 2),
        "single_throughput_target": TARGETS["single_throughput"],
        "single_throughput_met": single >= TARGETS["single_throughput"],
        "p99": round(p99, 2),
        "p99_target": TARGETS["p99"],
        "p99_met": p99 <= TARGETS["p99"],
        "batch_throughput": round(batch, 2),
        "batch_throughput_target": TARGETS["batch_throughput"],
        "batch_throughput_met": batch >= TARGETS["batch_throughput"],
    }


def print_table(results: dict[str, Any]) -> None:
    setup = results["setup"]
    head = f"{'server':<34}{'single req/s':>14}{'p50 ms':>9}{'p99 ms':>9}{'batch decisions/s':>19}"
    print(head)
    workers = setup["service"]["workers"]
    rows = [(f"policy-service, granian x{workers}, log on", results["service"])]
    if "service_log_off" in results:
        rows.append((f"policy-service, granian x{workers}, log off", results["service_log_off"]))
    rows.append((f"Cerbos {setup['cerbos']['version']}", results["cerbos"]))
    for name, row in rows:
        single, batch = row["single"], row["batch"]
        print(
            f"{name:<34}{single['requests_per_s']:>14,}{single['p50_ms']:>9.2f}"
            f"{single['p99_ms']:>9.2f}{batch['decisions_per_s']:>19,}"
        )
    r = results["ratios"]

    def verdict(met: bool) -> str:
        return "met" if met else "MISSED"

    print(
        f"service/Cerbos: single {r['single_throughput']}x (target >= "
        f"{r['single_throughput_target']}x, {verdict(r['single_throughput_met'])}); "
        f"p99 {r['p99']}x (target <= {r['p99_target']}x, {verdict(r['p99_met'])}); "
        f"batch {r['batch_throughput']}x (target >= {r['batch_throughput_target']}x, "
        f"{verdict(r['batch_throughput_met'])})"
    )
    cost = results.get("decision_log_cost")
    if cost:
        print(
            f"decision logging costs: single {cost['single']:.1%}, batch {cost['batch']:.1%} "
            "of the log-off throughput (target: at most 10%)"
        )
    errors = sum(
        results[server][kind]["errors"]
        for server in ("service", "cerbos", "service_log_off")
        if server in results
        for kind in ("single", "batch")
    )
    if errors:
        print(f"warning: {errors} failed requests during the runs (see the JSON)")


if __name__ == "__main__":
    main()
