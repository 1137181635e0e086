"""``policy-service contacts``: bulk import."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click
from rich.console import Console

from policy_service.cli.common import load_settings, load_state


@click.group()
def contacts() -> None:
    """Contacts."""


@contacts.command("import")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--account", "account_id", required=True)
@click.option(
    "--as",
    "principal",
    default=None,
    help="A service principal holding the service role in the account, recorded as the "
    "importer. Default: the account's first admin (by id), who is then recorded.",
)
@click.option(
    "--format",
    "input_format",
    type=click.Choice(["auto", "csv", "ndjson"]),
    default="auto",
    show_default=True,
)
def contacts_import(
    source: Path, account_id: str, principal: str | None, input_format: str
) -> None:
    """Import contacts from CSV (id,name,email,phone,tags with tags separated by ';') or
    NDJSON (one object a line). Bad rows are reported and skipped."""
    from rich.progress import (
        BarColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    from policy_service.decisions.authorization import Caller
    from policy_service.lifecycle.contact_import import default_importer, import_contacts

    state = load_state(load_settings())
    caller: Caller | None
    if principal is None:
        caller = default_importer(state, account_id)
        if caller is None:
            raise click.ClickException(
                f"account {account_id} has no admin to import as; name a service with --as"
            )
        click.echo(f"importing into {account_id} as {caller.principal_id} (its admin)", err=True)
    else:
        caller = Caller(principal, "service")
    fmt = (
        input_format
        if input_format != "auto"
        else ("ndjson" if source.suffix in {".ndjson", ".jsonl"} else "csv")
    )
    columns = (
        TextColumn("importing"),
        BarColumn(),
        TaskProgressColumn(),  # of the file's bytes: the row count is not known in advance
        TextColumn("rows {task.fields[rows]}"),
        TransferSpeedColumn(),
        TextColumn("{task.fields[rate]:.0f} rows/s"),
        TimeRemainingColumn(),
    )
    console = Console(file=sys.stderr)
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("import", total=source.stat().st_size, rows=0, rate=0.0)
        started = time.monotonic()
        rows = 0

        def advance(size: int) -> None:
            nonlocal rows
            rows += 1
            elapsed = max(time.monotonic() - started, 1e-6)
            bar.update(task, advance=size, rows=rows, rate=rows / elapsed)

        report = import_contacts(state, caller, account_id, source, fmt, progress=advance)
        bar.update(task, completed=source.stat().st_size)  # the header line is read too
    click.echo(f"imported {report.imported}, skipped {len(report.errors)}")
    for line, message in report.errors[:50]:
        click.echo(f"  line {line}: {message}")
    if report.errors:
        sys.exit(1)
