"""``policy-service dsr``: data-subject requests that need an operator's attention."""

from __future__ import annotations

import sys

import click

from policy_service.cli.common import load_settings, load_state
from policy_service.domain.clock import utcnow


@click.group()
def dsr() -> None:
    """Data-subject requests."""


@dsr.command("overdue")
def dsr_overdue() -> None:
    """List open requests past their deadline; exit 1 when there are any."""

    from policy_service.privacy.requests import overdue_requests

    late = overdue_requests(load_state(load_settings()))
    now = utcnow()
    for request in late:
        click.echo(
            f"{request.id}  {request.type:<8} {request.jurisdiction:<5} {request.status:<18} "
            f"due {request.due_at:%Y-%m-%d} ({-request.days_left(now)} days late)"
        )
    click.echo(f"{len(late)} overdue request(s)")
    if late:
        sys.exit(1)
