"""``policy-service tokens``: API tokens for users and calling services."""

from __future__ import annotations

import sys

import click

from policy_service.cli.common import load_settings, load_state
from policy_service.domain.errors import ServiceError


@click.group()
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

    state = load_state(load_settings())
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

    state = load_state(load_settings())
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

    for info in list_tokens(load_state(load_settings()), principal):
        status = f"revoked {info.revoked_at:%Y-%m-%d}" if info.revoked_at else "active"
        click.echo(f"{info.id}  {info.principal_id:<24} {status:<18} {info.label}")
