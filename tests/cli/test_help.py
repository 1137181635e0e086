"""Every command answers ``--help``, and the command tree is the one operators know."""

from __future__ import annotations

import click
import pytest

from policy_service.cli import main
from tests.cli.runner import cli


def command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = []
    for name, command in sorted(group.commands.items()):
        paths.append((*prefix, name))
        if isinstance(command, click.Group):
            paths.extend(command_paths(command, (*prefix, name)))
    return paths


COMMANDS = command_paths(main)


def test_the_command_tree_is_unchanged() -> None:
    assert {" ".join(path) for path in COMMANDS} == {
        "audit", "audit checkpoint", "audit create-keys", "audit export", "audit prove",
        "audit public-key",
        "audit verify", "audit verify-certificate",
        "contacts", "contacts import",
        "db", "db upgrade",
        "dsr", "dsr overdue",
        "jobs", "jobs run",
        "policy", "policy check", "policy test",
        "retention", "retention sweep",
        "rules", "rules run",
        "serve",
        "tokens", "tokens create", "tokens list", "tokens revoke",
        "webhooks", "webhooks deliver",
    }  # fmt: skip


def test_the_top_level_help_lists_every_group() -> None:
    result = cli("--help", env={})
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Usage: policy-service [OPTIONS] COMMAND [ARGS]...")
    assert "Contact lifecycle policy service." in result.stdout
    listed = {line.split()[0] for line in result.stdout.split("Commands:")[1].splitlines() if line}
    assert listed == {path[0] for path in COMMANDS if len(path) == 1}


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    result = cli(*path, "--help", env={})
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"Usage: policy-service {' '.join(path)} ")
    assert result.stderr == ""


def test_version() -> None:
    result = cli("--version", env={})
    assert result.exit_code == 0
    assert result.stdout.startswith("policy-service, version ")
