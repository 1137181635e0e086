"""``policy-service rules``: tag-triggered deletion rules, previewed or applied."""

from __future__ import annotations

import click

from policy_service.cli.common import load_settings, load_state


@click.group()
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

    state = load_state(load_settings())
    runs = run_rules(state, None, account_id, dry_run=dry_run)
    if not runs:
        click.echo(
            f"account {account_id} has no enabled deletion rules; nothing to do "
            f"(create one with POST /v1/accounts/{account_id}/deletion-rules)"
        )
    for run in runs:
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
