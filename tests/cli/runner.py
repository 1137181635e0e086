"""Run ``policy-service`` in this process with click's CliRunner."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from click.testing import CliRunner, Result

from policy_service.cli import main
from policy_service.config import PREFIX
from tests.conftest import DEFAULT_PACK


def cli(*args: str, env: Mapping[str, str]) -> Result:
    """``policy-service ARGS`` with exactly ``env`` for its settings.

    Any ``POLICY_SERVICE_*`` variable of the test process is hidden, so a command sees only
    what the test gives it (as the subprocess tests did with their own environment).
    Unexpected exceptions propagate, with their traceback, instead of becoming exit code 1.
    """
    hidden: dict[str, str | None] = {name: None for name in os.environ if name.startswith(PREFIX)}
    return CliRunner().invoke(
        main, list(args), env={**hidden, **env}, prog_name="policy-service", catch_exceptions=False
    )


def copy_pack(directory: Path) -> Path:
    """A copy of the shipped pack at ``directory``, its model path made absolute."""
    shutil.copytree(DEFAULT_PACK, directory)
    manifest = directory / "pack.toml"
    model = (DEFAULT_PACK.parent / "casbin_model.conf").resolve()
    manifest.write_text(manifest.read_text().replace('"../casbin_model.conf"', f'"{model}"'))
    return directory


def add_rule(pack: Path, rule: str) -> int:
    """Append a rule to rules.csv and return its line number."""
    with (pack / "rules.csv").open("a") as rules:
        rules.write(rule + "\n")
    return (pack / "rules.csv").read_text().count("\n")
