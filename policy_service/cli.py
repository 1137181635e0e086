"""``policy-service``: the operator's commands. They call the same services as the HTTP API."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click

from policy_service.config import ConfigError, Settings
from policy_service.domain.errors import PolicyPackError, ServiceError

T = TypeVar("T")


def _settings(**overrides: object) -> Settings:
    try:
        return Settings.from_env(None, **{k: v for k, v in overrides.items() if v is not None})
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _state(settings: Settings):  # type: ignore[no-untyped-def]
    from policy_service.state import ServiceState

    try:
        state = ServiceState.build(settings)
        state.load()
    except PolicyPackError as exc:
        raise click.ClickException(f"invalid policy pack: {exc}") from None
    return state


@click.group()
@click.version_option(package_name="policy-service")
def main() -> None:
    """Contact lifecycle policy service."""


# -- database ----------------------------------------------------------------------------


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply the migrations to POLICY_SERVICE_DATABASE_URL."""
    from policy_service.storage.database import create_database_engine
    from policy_service.storage.migrate import upgrade

    settings = _settings()
    engine = create_database_engine(settings.database_url)
    upgrade(engine)
    engine.dispose()
    click.echo(f"database is at the latest schema ({engine.url.render_as_string()})")


# -- serving -----------------------------------------------------------------------------


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option("--threads", default=1, show_default=True, type=click.IntRange(1, 64))
@click.option("--demo/--no-demo", default=False, help="Seed a demo account and print tokens.")
def serve(host: str, port: int, workers: int, threads: int, demo: bool) -> None:
    """Migrate the database (waiting for it if it is away) and serve the API with gunicorn."""
    from policy_service.demo import seed_demo
    from policy_service.serving import serve as run_server
    from policy_service.storage.migrate import upgrade

    started = time.perf_counter()
    settings = _settings()
    state = _when_database_answers(lambda: _state_after_upgrade(settings, upgrade))
    if demo:
        credentials = seed_demo(state)
        click.echo("Demo account 'demo' with one user per role. Tokens (shown once):")
        for credential in credentials:
            click.echo(
                f"  {credential.principal:<14} {credential.kind:<8} "
                f"{credential.roles:<20} {credential.token}"
            )
        base = f"http://{host}:{port}"
        sample = credentials[3].token
        click.echo(
            f"\nTry: curl -s {base}/access/v1/evaluation -H 'Authorization: Bearer {sample}' "
            '-H \'Content-Type: application/json\' -d \'{"subject":{"type":"user",'
            '"id":"demo-user"},"action":{"name":"delete"},"resource":'
            '{"type":"contact","id":"c-1","properties":{"account_id":"demo"}}}\''
        )
        click.echo(f"API description: {base}/openapi.json")
    state.engine.dispose()
    click.echo(f"ready to serve after {time.perf_counter() - started:.2f}s; starting gunicorn")
    sys.stdout.flush()
    run_server(host, port, workers, threads)


def _when_database_answers(step: Callable[[], T]) -> T:
    """Run ``step`` once the database can be reached, trying again while it cannot.

    Started while the database is away (the host rebooting with it, say), the service waits
    for it instead of exiting: it must migrate before it serves, and once it serves it rides
    out outages by itself.
    """
    from policy_service.storage.database import is_unavailable

    delay = 0.5
    while True:
        try:
            return step()
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            click.echo(f"waiting for the database ({reason}); next try in {delay:g}s", err=True)
            time.sleep(delay)
            delay = min(delay * 2, 10.0)


def _state_after_upgrade(settings: Settings, upgrade):  # type: ignore[no-untyped-def]
    from policy_service.storage.database import create_database_engine

    engine = create_database_engine(settings.database_url)
    upgrade(engine)
    engine.dispose()
    return _state(settings)


# -- tokens --------------------------------------------------------------------------------


@main.group()
def tokens() -> None:
    """API tokens for users and calling services."""


@tokens.command("create")
@click.option("--principal", required=True, help="The user or service id the token belongs to.")
@click.option("--service", "kind", flag_value="service", help="The principal is a service.")
@click.option("--user", "kind", flag_value="user", default=True, help="The principal is a user.")
@click.option(
    "--platform-admin/--no-platform-admin",
    default=None,
    help="Grant (or withdraw) the platform-wide admin role.",
)
@click.option("--label", default="", help="A note to recognise the token by.")
def tokens_create(principal: str, kind: str, platform_admin: bool | None, label: str) -> None:
    """Create a token. The token is printed alone on the last line."""
    from policy_service.accounts.tokens import issue_token

    state = _state(_settings())
    try:
        info, token = issue_token(
            state, principal, kind=kind, platform_admin=platform_admin, label=label
        )
    except ServiceError as exc:
        raise click.ClickException(exc.detail) from None
    click.echo(f"token {info.id} for {kind} {principal}")
    click.echo(token)


@tokens.command("revoke")
@click.option("--id", "token_id", help="The token id (tok_...).")
@click.option("--principal", help="Revoke every token of this principal.")
def tokens_revoke(token_id: str | None, principal: str | None) -> None:
    """Revoke tokens: one by id, or all of a principal's."""
    from policy_service.accounts.tokens import revoke_tokens

    state = _state(_settings())
    try:
        count = revoke_tokens(state, token_id=token_id, principal_id=principal)
    except ServiceError as exc:
        raise click.ClickException(exc.detail) from None
    click.echo(f"revoked {count} token(s)")
    if count == 0:
        sys.exit(1)


@tokens.command("list")
@click.option("--principal", help="Only this principal's tokens.")
def tokens_list(principal: str | None) -> None:
    """List tokens (ids and owners; the tokens themselves are not stored)."""
    from policy_service.accounts.tokens import list_tokens

    for info in list_tokens(_state(_settings()), principal):
        status = f"revoked {info.revoked_at:%Y-%m-%d}" if info.revoked_at else "active"
        click.echo(f"{info.id}  {info.principal_id:<24} {status:<18} {info.label}")


# -- policy ---------------------------------------------------------------------------------


@main.group()
def policy() -> None:
    """The policy pack."""


@policy.command("test")
@click.option(
    "--pack",
    type=click.Path(path_type=Path, file_okay=False),
    help="Policy pack directory (default: POLICY_SERVICE_POLICY_PACK).",
)
@click.option("--verbose", "-v", is_flag=True, help="Print passing cases too.")
@click.option(
    "--fail-under",
    type=click.FloatRange(0, 100),
    default=None,
    metavar="PERCENT",
    help="Also exit 1 when fewer than PERCENT of the rules are exercised by some case.",
)
def policy_test(pack: Path | None, verbose: bool, fail_under: float | None) -> None:
    """Run the pack's policy test cases; exit 1 on any failure.

    Then report rule coverage: each rule no case exercised (file:line and its text), and how
    many of the rules the cases exercise.
    """
    from policy_service.decisions.policy_tests import rule_coverage, run_pack_tests
    from policy_service.policy.pack import load_pack

    directory = pack or _settings().policy_pack
    try:
        loaded = load_pack(directory)
        results = run_pack_tests(loaded)
    except PolicyPackError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    failed = [r for r in results if not r.passed]
    for result in results:
        if verbose or not result.passed:
            click.echo(result.describe())
    coverage = rule_coverage(loaded, results)
    for rule in coverage.uncovered:
        click.echo(f"not exercised: {rule.ref.file}:{rule.ref.line} {rule.ref.text}")
    click.echo(
        f"policy {loaded.name} {loaded.version}: {len(results) - len(failed)} passed, "
        f"{len(failed)} failed"
    )
    click.echo(coverage.summary())
    if failed or not results:
        sys.exit(1)
    if fail_under is not None and coverage.percent < fail_under:
        click.echo(f"coverage {coverage.percent:.1f}% is under {fail_under:g}%", err=True)
        sys.exit(1)


@policy.command("check")
@click.option("--pack", type=click.Path(path_type=Path, file_okay=False))
def policy_check(pack: Path | None) -> None:
    """Validate the pack (model, rules, assignments, test files) without running tests."""
    from policy_service.decisions.policy_tests import load_test_files
    from policy_service.policy.pack import load_pack

    try:
        loaded = load_pack(pack or _settings().policy_pack)
        files = load_test_files(loaded)
    except PolicyPackError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo(
        f"policy {loaded.name} {loaded.version}: {len(loaded.rules)} rules, "
        f"{sum(len(f.cases) for f in files)} test cases: valid"
    )


# -- audit ---------------------------------------------------------------------------------


@main.group()
def audit() -> None:
    """The append-only audit log."""


def _print_report(report: object, as_json: bool) -> None:
    import dataclasses
    import json

    data = dataclasses.asdict(report)  # type: ignore[call-overload]
    if as_json:
        click.echo(json.dumps(data, default=str, indent=2))
        return
    status = "OK" if data["ok"] else "FAILED"
    click.echo(
        f"{status}: {data['events_checked']} events in {data['chains_checked']} chain(s); "
        f"checkpoints valid {data['checkpoints_valid']}/{data['checkpoints_total']}; "
        f"gaps {len(data['gaps'])}; events after the last checkpoint "
        f"{data['unanchored_events']}"
    )
    if not data["ok"]:
        click.echo(
            f"first bad: chain {data['first_bad_chain']} seq {data['first_bad_seq']}: "
            f"{data['reason']}"
        )
        for gap in data["gaps"]:
            click.echo(f"gap: chain {gap[0]} seq {gap[1]}..{gap[2]}")


@audit.command("verify")
@click.option("--account", help="Verify this account's chain only (default: every chain).")
@click.option(
    "--export",
    "export_file",
    type=click.Path(exists=True, dir_okay=False),
    help="Verify an NDJSON export offline instead of the database.",
)
@click.option(
    "--public-key",
    "public_key_file",
    type=click.Path(exists=True, dir_okay=False),
    help="The PEM public key to check signatures with (required with --export).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the whole report as JSON.")
def audit_verify(
    account: str | None, export_file: str | None, public_key_file: str | None, as_json: bool
) -> None:
    """Verify the audit log; exit 1 on any failure. With --export, no database is used."""
    if export_file is not None:
        from audit import verify_export

        if public_key_file is None:
            raise click.UsageError("--export needs --public-key")
        report = verify_export(export_file, Path(public_key_file).read_text())
    else:
        from policy_service.audit_trail.access import verify

        report = verify(_state(_settings()), None, account)
    _print_report(report, as_json)
    if not report.ok:
        sys.exit(1)


@audit.command("export")
@click.option("--account", help="One account's chain (default: every chain).")
@click.option("--output", "-o", type=click.Path(dir_okay=False), required=True)
@click.option(
    "--format",
    "export_format",
    type=click.Choice(["ndjson", "csv"]),
    default="ndjson",
    show_default=True,
)
def audit_export(account: str | None, output: str, export_format: str) -> None:
    """Write an export to a file (NDJSON verifies offline)."""
    from audit import EventFilter, export_events
    from policy_service.audit_trail.recording import operator_event

    state = _state(_settings())
    with state.unit_of_work() as uow:  # an export is itself an audit event
        uow.record(
            operator_event(
                state.runtime,
                "audit.export",
                target_type="audit_log",
                target_id=account or "all",
                account_id=account,
                details={"format": export_format, "destination": "file"},
            )
        )
        uow.commit()
    count = 0
    with state.engine.connect() as connection, open(output, "w", encoding="utf-8") as handle:
        for chunk in export_events(
            connection,
            EventFilter(account_id=account),
            export_format,  # type: ignore[arg-type]
            key_encryption_key=state.audit.key_encryption_key,
        ):
            handle.write(chunk)
            count += chunk.count("\n")
    click.echo(f"wrote {count} lines to {output}")


@audit.command("public-key")
def audit_public_key() -> None:
    """Print the PEM public key that verifies checkpoints."""
    from audit import public_key_pem

    click.echo(public_key_pem(_state(_settings()).signing_key), nl=False)


@audit.command("checkpoint")
@click.option("--account", help="The account's chain (default: the platform chain).")
def audit_checkpoint(account: str | None) -> None:
    """Sign a checkpoint of a chain's current head now."""
    from audit import chain_for

    state = _state(_settings())
    with state.unit_of_work() as uow:
        checkpoint = state.audit.checkpoint(uow.session, chain_for(account))
        uow.commit()
    click.echo(f"checkpoint {checkpoint.chain} seq {checkpoint.seq} {checkpoint.hash}")


# -- contacts, jobs, retention, deletion rules ----------------------------------------------------


@main.group()
def jobs() -> None:
    """Bulk jobs."""


@jobs.command("run")
@click.option("--job", "job_id", help="Run this job only (default: every queued or orphaned job).")
def jobs_run(job_id: str | None) -> None:
    """Run queued jobs, and resume jobs whose runner died, to their end."""
    from policy_service.lifecycle import jobs as job_service

    state = _state(_settings())
    if job_id is not None:
        ran = job_service.run_job(state, job_id)
        job = job_service.get_job_unchecked(state, job_id)
        click.echo(
            f"job {job.id}: {job.status}, {job.processed}/{job.total} processed, "
            f"{job.failed} skipped" + ("" if ran else " (held by another runner)")
        )
        return
    count = job_service.run_pending(state)
    click.echo(f"ran {count} job(s)")


@main.group()
def retention() -> None:
    """Retention windows."""


@retention.command("sweep")
def retention_sweep() -> None:
    """Purge trashed contacts past their retention window; report held ones."""
    from policy_service.lifecycle.retention import sweep

    report = sweep(_state(_settings()), None)
    click.echo(f"purged {report.purged} contact(s) in {len(report.accounts)} account(s)")
    for held in report.held:
        click.echo(f"held (not purged): {held['account_id']}/{held['contact_id']}")
    for refused in report.refused:
        click.echo(f"refused: {refused['account_id']}/{refused['contact_id']}: {refused['reason']}")


@main.group()
def rules() -> None:
    """Tag-triggered deletion rules."""


@rules.command("run")
@click.option("--account", "account_id", required=True)
@click.option(
    "--dry-run/--apply",
    default=True,
    show_default=True,
    help="Only list what the rules would delete (default), or delete it.",
)
def rules_run(account_id: str, dry_run: bool) -> None:
    """Apply the account's deletion rules to contacts that carry their tags now."""
    from policy_service.lifecycle.deletion_rules import run_rules

    state = _state(_settings())
    for run in run_rules(state, None, account_id, dry_run=dry_run):
        verb = "would delete" if dry_run else "deleted"
        done = run.matched if dry_run else run.deleted
        click.echo(
            f"rule {run.rule.id} (tag {run.rule.tag!r} -> {run.rule.reason_code}): "
            f"{verb} {len(done)}"
        )
        for contact_id in done:
            click.echo(f"  {contact_id}")
        for contact_id, reason in run.refused.items():
            click.echo(f"  not deleted {contact_id}: {reason}")


@main.group()
def contacts() -> None:
    """Contacts."""


@contacts.command("import")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--account", "account_id", required=True)
@click.option(
    "--as",
    "principal",
    default="import",
    show_default=True,
    help="The principal recorded as the importer (a service holding the service role).",
)
@click.option(
    "--format",
    "input_format",
    type=click.Choice(["auto", "csv", "ndjson"]),
    default="auto",
    show_default=True,
)
def contacts_import(source: Path, account_id: str, principal: str, input_format: str) -> None:
    """Import contacts from CSV (id,name,email,phone,tags with tags separated by ';') or
    NDJSON (one object a line). Bad rows are reported and skipped."""
    from policy_service.lifecycle.contact_import import import_contacts

    state = _state(_settings())
    fmt = (
        input_format
        if input_format != "auto"
        else ("ndjson" if source.suffix in {".ndjson", ".jsonl"} else "csv")
    )
    with click.progressbar(length=source.stat().st_size, label="importing", file=sys.stderr) as bar:
        report = import_contacts(state, principal, account_id, source, fmt, progress=bar.update)
    click.echo(f"imported {report.imported}, skipped {len(report.errors)}")
    for line, message in report.errors[:50]:
        click.echo(f"  line {line}: {message}")
    if report.errors:
        sys.exit(1)


@main.group()
def dsr() -> None:
    """Data-subject requests."""


@dsr.command("overdue")
def dsr_overdue() -> None:
    """List open requests past their deadline; exit 1 when there are any."""
    from datetime import UTC, datetime

    from policy_service.privacy.dsr import overdue_requests

    late = overdue_requests(_state(_settings()))
    now = datetime.now(UTC)
    for request in late:
        click.echo(
            f"{request.id}  {request.type:<8} {request.jurisdiction:<5} {request.status:<18} "
            f"due {request.due_at:%Y-%m-%d} ({-request.days_left(now)} days late)"
        )
    click.echo(f"{len(late)} overdue request(s)")
    if late:
        sys.exit(1)
