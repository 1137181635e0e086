"""``policy-service policy test`` as a policy author runs it, and a production start on a
pack that breaks its own promises."""

import re
import shutil
from pathlib import Path

import pytest

from tests.conftest import DEFAULT_PACK
from tests.server_process import cli, free_port

pytestmark = pytest.mark.e2e

COVERAGE = re.compile(r"^coverage: (\d+)/(\d+) rules exercised \((\d+)%\)$", re.MULTILINE)


@pytest.fixture
def pack(tmp_path: Path) -> Path:
    directory = tmp_path / "pack"
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


def test_policy_test_reports_that_the_shipped_cases_exercise_every_rule() -> None:
    result = cli("policy", "test", "--pack", str(DEFAULT_PACK), "--fail-under", "100", env={})
    assert result.returncode == 0, result.stdout + result.stderr
    found = COVERAGE.search(result.stdout)
    assert found is not None, result.stdout
    assert found.group(1) == found.group(2)
    assert found.group(3) == "100"
    assert "not exercised" not in result.stdout


def test_policy_test_lists_a_rule_no_case_exercises_with_its_file_line_and_text(
    pack: Path,
) -> None:
    rule = "p, user, *, contact, contact.export, , allow"
    line = add_rule(pack, rule)
    result = cli("policy", "test", "--pack", str(pack), env={})
    assert result.returncode == 0, result.stdout + result.stderr  # the cases still pass
    assert f"not exercised: rules.csv:{line} {rule}" in result.stdout
    found = COVERAGE.search(result.stdout)
    assert found is not None, result.stdout
    assert int(found.group(1)) == int(found.group(2)) - 1


def test_policy_test_fails_under_the_coverage_asked_for(pack: Path) -> None:
    add_rule(pack, "p, user, *, contact, contact.export, , allow")
    result = cli("policy", "test", "--pack", str(pack), "--fail-under", "100", env={})
    assert result.returncode == 1
    assert "is under 100%" in result.stderr


def test_policy_test_names_the_case_a_rule_breaks(pack: Path) -> None:
    add_rule(pack, "p, user, *, contact, contact.delete, , allow")
    result = cli("policy", "test", "--pack", str(pack), env={})
    assert result.returncode == 1
    failed = [line for line in result.stdout.splitlines() if line.startswith("FAIL ")]
    assert any(
        re.match(r"FAIL seed_rules\.toml:\d+ a user may not delete a contact -- got allow", line)
        for line in failed
    ), result.stdout
    assert COVERAGE.search(result.stdout) is not None


def test_a_production_server_refuses_to_start_on_a_pack_whose_tests_fail(
    sqlite_url: str, tmp_path: Path, pack: Path
) -> None:
    add_rule(pack, "p, user, *, contact, contact.delete, , allow")
    env = {
        "POLICY_SERVICE_DATABASE_URL": sqlite_url,
        "POLICY_SERVICE_AUDIT_SIGNING_KEY": str(tmp_path / "key.pem"),
        "POLICY_SERVICE_AUDIT_ENCRYPTION_KEY": str(tmp_path / "kek.bin"),
        "POLICY_SERVICE_POLICY_PACK": str(pack),
    }
    assert cli("tokens", "list", env=env).returncode == 0  # makes the keys production needs
    production = {**env, "POLICY_SERVICE_ENVIRONMENT": "production"}
    production["POLICY_SERVICE_SECRET_KEY"] = "s" * 32
    result = cli("serve", "--port", str(free_port()), "--workers", "1", env=production)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert re.search(r"seed_rules\.toml:\d+ a user may not delete a contact -- got allow", output)
