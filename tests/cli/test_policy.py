"""``policy-service policy test`` and ``policy check`` as a policy author runs them."""

from __future__ import annotations

import re
from pathlib import Path

from tests.cli.runner import add_rule, cli
from tests.conftest import DEFAULT_PACK

COVERAGE = re.compile(r"^coverage: (\d+)/(\d+) rules exercised \((\d+)%\)$", re.MULTILINE)
SUMMARY = re.compile(r"^policy \S+ \S+: (\d+) passed, (\d+) failed$", re.MULTILINE)
BROKEN_DELETE = "p, user, *, contact, contact.delete, , allow"
UNTESTED_EXPORT = "p, user, *, contact, contact.export, , allow"


def test_policy_test_reports_that_the_shipped_cases_exercise_every_rule() -> None:
    result = cli("policy", "test", "--pack", str(DEFAULT_PACK), "--fail-under", "100", env={})
    assert result.exit_code == 0, result.output
    found = COVERAGE.search(result.stdout)
    assert found is not None, result.stdout
    assert found.group(1) == found.group(2)
    assert found.group(3) == "100"
    assert "not exercised" not in result.stdout
    summary = SUMMARY.search(result.stdout)
    assert summary is not None, result.stdout
    assert int(summary.group(1)) > 0
    assert summary.group(2) == "0"
    assert "PASS" not in result.stdout  # passing cases only with --verbose


def test_policy_test_verbose_prints_the_passing_cases_too() -> None:
    result = cli("policy", "test", "--pack", str(DEFAULT_PACK), "-v", env={})
    assert result.exit_code == 0, result.output
    passing = [line for line in result.stdout.splitlines() if line.startswith("PASS ")]
    summary = SUMMARY.search(result.stdout)
    assert summary is not None
    assert len(passing) == int(summary.group(1))


def test_policy_test_reads_the_pack_from_the_environment(pack: Path) -> None:
    add_rule(pack, BROKEN_DELETE)
    assert cli("policy", "test", env={}).exit_code == 0  # the shipped pack by default
    result = cli("policy", "test", env={"POLICY_SERVICE_POLICY_PACK": str(pack)})
    assert result.exit_code == 1
    assert "a user may not delete a contact -- got allow" in result.stdout


def test_policy_test_lists_a_rule_no_case_exercises_with_its_file_line_and_text(
    pack: Path,
) -> None:
    line = add_rule(pack, UNTESTED_EXPORT)
    result = cli("policy", "test", "--pack", str(pack), env={})
    assert result.exit_code == 0, result.output  # the cases still pass
    assert f"not exercised: rules.csv:{line} {UNTESTED_EXPORT}" in result.stdout
    found = COVERAGE.search(result.stdout)
    assert found is not None, result.stdout
    assert int(found.group(1)) == int(found.group(2)) - 1


def test_policy_test_fails_under_the_coverage_asked_for(pack: Path) -> None:
    add_rule(pack, UNTESTED_EXPORT)
    result = cli("policy", "test", "--pack", str(pack), "--fail-under", "100", env={})
    assert result.exit_code == 1
    assert re.fullmatch(r"coverage \d+\.\d% is under 100%\n", result.stderr), result.stderr
    assert "is under" not in result.stdout
    # A threshold the pack meets passes.
    assert cli("policy", "test", "--pack", str(pack), "--fail-under", "50", env={}).exit_code == 0


def test_policy_test_refuses_a_coverage_outside_0_to_100() -> None:
    result = cli("policy", "test", "--pack", str(DEFAULT_PACK), "--fail-under", "101", env={})
    assert result.exit_code == 2
    assert "--fail-under" in result.stderr


def test_policy_test_names_the_case_a_rule_breaks(pack: Path) -> None:
    add_rule(pack, BROKEN_DELETE)
    result = cli("policy", "test", "--pack", str(pack), env={})
    assert result.exit_code == 1
    failed = [line for line in result.stdout.splitlines() if line.startswith("FAIL ")]
    assert any(
        re.match(r"FAIL seed_rules\.toml:\d+ a user may not delete a contact -- got allow", line)
        for line in failed
    ), result.stdout
    assert COVERAGE.search(result.stdout) is not None
    summary = SUMMARY.search(result.stdout)
    assert summary is not None
    assert int(summary.group(2)) == len(failed)


def test_policy_test_and_check_name_the_line_of_an_invalid_pack(pack: Path) -> None:
    line = add_rule(pack, "p, admin, *, contact, contact.delete, , perhaps")
    for command in ("test", "check"):
        result = cli("policy", command, "--pack", str(pack), env={})
        assert result.exit_code == 1, command
        assert result.stderr.startswith("error: "), result.stderr
        assert f"rules.csv:{line}" in result.stderr
        assert "effect" in result.stderr
        assert result.stdout == ""


def test_policy_check_validates_without_running_the_cases(pack: Path) -> None:
    result = cli("policy", "check", "--pack", str(DEFAULT_PACK), env={})
    assert result.exit_code == 0, result.output
    assert re.fullmatch(r"policy \S+ \S+: \d+ rules, \d+ test cases: valid\n", result.stdout)
    # A rule that breaks a case is still a valid pack: check does not run the cases.
    add_rule(pack, BROKEN_DELETE)
    from_env = cli("policy", "check", env={"POLICY_SERVICE_POLICY_PACK": str(pack)})
    assert from_env.exit_code == 0, from_env.output
    rules = [int(re.findall(r"(\d+) rules", r.stdout)[0]) for r in (result, from_env)]
    assert rules[1] == rules[0] + 1
