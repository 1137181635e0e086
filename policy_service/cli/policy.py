"""``policy-service policy``: test and check the policy pack, no database needed."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from policy_service.cli.common import load_settings
from policy_service.domain.errors import PolicyPackError


@click.group()
def policy() -> None:
    """The policy pack."""


@policy.command("test")
@click.option(
    "--pack",
    type=click.Path(path_type=Path, file_okay=False),
    help="Policy pack directory (default: POLICY_SERVICE_POLICY_PACK).",
)
@click.option("--verbose", "-v", is_flag=True, help="Print passing cases too.")
@click.option(
    "--fail-under",
    type=click.FloatRange(0, 100),
    default=None,
    metavar="PERCENT",
    help="Also exit 1 when fewer than PERCENT of the rules are exercised by some case.",
)
def policy_test(pack: Path | None, verbose: bool, fail_under: float | None) -> None:
    """Run the pack's policy test cases; exit 1 on any failure.

    Then report rule coverage: each rule no case exercised (file:line and its text), and how
    many of the rules the cases exercise.
    """
    from policy_service.decisions.policy_tests import rule_coverage, run_pack_tests
    from policy_service.policy.pack import load_pack

    directory = pack or load_settings().policy_pack
    try:
        loaded = load_pack(directory)
        results = run_pack_tests(loaded)
    except PolicyPackError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    failed = [r for r in results if not r.passed]
    for result in results:
        if verbose or not result.passed:
            click.echo(result.describe())
    coverage = rule_coverage(loaded, results)
    for rule in coverage.uncovered:
        click.echo(f"not exercised: {rule.ref.file}:{rule.ref.line} {rule.ref.text}")
    click.echo(
        f"policy {loaded.name} {loaded.version}: {len(results) - len(failed)} passed, "
        f"{len(failed)} failed"
    )
    click.echo(coverage.summary())
    if failed or not results:
        sys.exit(1)
    if fail_under is not None and coverage.percent < fail_under:
        click.echo(f"coverage {coverage.percent:.1f}% is under {fail_under:g}%", err=True)
        sys.exit(1)


@policy.command("check")
@click.option("--pack", type=click.Path(path_type=Path, file_okay=False))
def policy_check(pack: Path | None) -> None:
    """Validate the pack (model, rules, assignments, test files) without running tests."""
    from policy_service.decisions.policy_tests import load_test_files
    from policy_service.policy.pack import load_pack

    try:
        loaded = load_pack(pack or load_settings().policy_pack)
        files = load_test_files(loaded)
    except PolicyPackError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo(
        f"policy {loaded.name} {loaded.version}: {len(loaded.rules)} rules, "
        f"{sum(len(f.cases) for f in files)} test cases: valid"
    )
