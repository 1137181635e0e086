"""``policy-service retention``: purge what has outlived its retention window."""

from __future__ import annotations

import click

from policy_service.cli.common import load_settings, load_state


@click.group()
def retention() -> None:
    """Retention windows."""


@retention.command("sweep")
def retention_sweep() -> None:
    """Purge trashed contacts past their retention window; report held ones."""
    from policy_service.lifecycle.retention import sweep

    report = sweep(load_state(load_settings()), None)
    click.echo(f"purged {report.purged} contact(s) in {len(report.accounts)} account(s)")
    for held in report.held:
        click.echo(f"held (not purged): {held['account_id']}/{held['contact_id']}")
    for refused in report.refused:
        click.echo(f"refused: {refused['account_id']}/{refused['contact_id']}: {refused['reason']}")
