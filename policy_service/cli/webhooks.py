"""``policy-service webhooks``: send the webhook deliveries that are due, now."""

from __future__ import annotations

import click

from policy_service.cli.common import load_settings, load_state


@click.group()
def webhooks() -> None:
    """Webhook deliveries."""


@webhooks.command("deliver")
def webhooks_deliver() -> None:
    """Send every due delivery once (as the scheduled task does) and report what became of
    them; each is leased, so running this beside the service sends nothing twice."""
    from policy_service.integration.webhooks import deliver_due

    report = deliver_due(load_state(load_settings()))
    click.echo(
        f"sent {report.sent}: {report.succeeded} delivered, {report.retrying} to retry, "
        f"{report.failed} failed"
    )
