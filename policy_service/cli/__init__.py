"""``policy-service``: the operator's commands. They call the same services as the HTTP API.

One module per command group; this one only assembles them under ``main`` (the console
script's entry point, ``policy_service.cli:main``). The names ``policy_service.cli.<group>``
are those modules, not their click commands.
"""

from __future__ import annotations

import click

from policy_service.cli import (
    audit,
    contacts,
    db,
    dsr,
    jobs,
    policy,
    retention,
    rules,
    serve,
    tokens,
    webhooks,
)

__all__ = ["main"]


@click.group()
@click.version_option(package_name="policy-service")
def main() -> None:
    """Contact lifecycle policy service."""


for _command in (
    db.db,
    serve.serve,
    tokens.tokens,
    policy.policy,
    audit.audit,
    jobs.jobs,
    retention.retention,
    rules.rules,
    contacts.contacts,
    dsr.dsr,
    webhooks.webhooks,
):
    main.add_command(_command)
