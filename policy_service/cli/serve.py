"""``policy-service serve``: migrate, then serve the API (granian, or gunicorn)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click

from policy_service.cli.common import load_settings, load_state
from policy_service.config import Settings

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from policy_service.serving import ServerName
    from policy_service.state import ServiceState

T = TypeVar("T")


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option(
    "--threads",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="threads running requests in each worker",
)
@click.option(
    "--server",
    type=click.Choice(["granian", "gunicorn"]),
    default="granian",
    show_default=True,
    help="granian keeps connections alive; gunicorn's sync workers close each one",
)
@click.option(
    "--demo/--no-demo",
    default=False,
    help="Seed the demo accounts (one per seed article), print tokens and write them to "
    "--demo-tokens.",
)
@click.option(
    "--demo-tokens",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where --demo writes the tokens as `export` lines to `source`  "
    "[default: demo-tokens.env beside the audit signing key, i.e. instance/demo-tokens.env]",
)
def serve(
    host: str,
    port: int,
    workers: int,
    threads: int,
    server: ServerName,
    demo: bool,
    demo_tokens: Path | None,
) -> None:
    """Migrate the database (waiting for it if it is away) and serve the API."""
    from policy_service.demo import (
        DEMO_ACCOUNTS,
        DEMO_TOKENS_FILE,
        seed_demo,
        write_tokens_file,
    )
    from policy_service.serving import serve as run_server
    from policy_service.storage.migrate import upgrade

    started = time.perf_counter()
    settings = load_settings()
    state = when_database_answers(lambda: state_after_upgrade(settings, upgrade))
    if demo:
        credentials, enrollments = seed_demo(state)
        click.echo(
            "Demo accounts, one per seed article (README, Tour): "
            + ", ".join(f"{a.id} ({a.cascade_profile})" for a in DEMO_ACCOUNTS)
        )
        click.echo("Their users, one per role, and tokens (shown once):")
        for credential in credentials:
            click.echo(
                f"  {credential.principal:<14} {credential.kind:<8} "
                f"{credential.roles:<20} {credential.token}"
            )
        shown_host = "127.0.0.1" if host in {"0.0.0.0", "::", ""} else host  # noqa: S104
        if ":" in shown_host:
            shown_host = f"[{shown_host}]"
        base = f"http://{shown_host}:{port}"
        # Beside the instance's keys (instance/ in development) unless named.
        tokens_path = demo_tokens or settings.audit_signing_key.parent / DEMO_TOKENS_FILE.name
        write_tokens_file(tokens_path, credentials, enrollments, base)
        click.echo(f"\nFor the README's Tour, in your shell:  source {tokens_path}")
        click.echo(
            'Try: curl -s $API/access/v1/evaluation -H "Authorization: Bearer $CRM_TOKEN" '
            '-H \'Content-Type: application/json\' -d \'{"subject":{"type":"user",'
            '"id":"demo-user"},"action":{"name":"delete"},"resource":'
            '{"type":"contact","id":"ada","properties":{"account_id":"demo"}}}\''
        )
        click.echo(f"API description: {base}/openapi.json")
        click.echo(f"API documentation to read: {base}/docs")
    state.engine.dispose()
    click.echo(f"ready to serve after {time.perf_counter() - started:.2f}s; starting {server}")
    sys.stdout.flush()
    run_server(host, port, workers, threads, server=server)


def when_database_answers(step: Callable[[], T]) -> T:
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


def state_after_upgrade(settings: Settings, upgrade: Callable[[Engine], None]) -> ServiceState:
    from policy_service.storage.database import create_database_engine

    engine = create_database_engine(settings.database_url)
    upgrade(engine)
    engine.dispose()
    return load_state(settings)
