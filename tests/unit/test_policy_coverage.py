"""A pack keeps its own promises: which rules its cases exercise, and a worker that takes up
only the pack version that was accepted."""

import shutil
from pathlib import Path

import pytest

from policy_service.decisions.policy_tests import (
    load_test_file,
    rule_coverage,
    run_file,
    run_pack_tests,
)
from policy_service.domain.changes import Change
from policy_service.domain.errors import PolicyPackError
from policy_service.policy.pack import PolicyPack, PolicyRule, load_pack
from policy_service.policy.runtime import PolicyRuntime

PACK = Path(__file__).resolve().parents[2] / "policies"
MODEL = Path(__file__).resolve().parents[2] / "casbin_model.conf"

FIXTURES = """
[[accounts]]
id = "acme"
purge_enabled = true

[[members]]
account = "acme"
user = "ada"
roles = ["admin"]

[[members]]
account = "acme"
user = "uma"
roles = ["user"]

[[members]]
account = "acme"
user = "svc-crm"
roles = ["service"]
"""


@pytest.fixture
def pack_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "pack"
    shutil.copytree(PACK, directory)
    shutil.copy(MODEL, tmp_path / "casbin_model.conf")
    return directory


def rule(pack: PolicyPack, text: str) -> PolicyRule:
    return next(r for r in pack.rules if r.ref.text == text)


def exercised_by(tmp_path: Path, case: str) -> set[str]:
    """The rules (their text) one case exercises, run on the shipped pack."""
    path = tmp_path / "one.toml"
    path.write_text(FIXTURES + "\n[[cases]]\n" + case)
    [result] = run_file(load_pack(PACK), load_test_file(path))
    assert result.passed, result.describe()
    return {r.ref.text for r in result.exercised}


def test_the_shipped_cases_exercise_every_rule_of_the_shipped_pack() -> None:
    pack = load_pack(PACK)
    coverage = rule_coverage(pack, run_pack_tests(pack))
    assert [f"{r.ref.file}:{r.ref.line} {r.ref.text}" for r in coverage.uncovered] == []
    assert (
        coverage.summary()
        == f"coverage: {len(pack.rules)}/{len(pack.rules)} rules exercised (100%)"
    )


def test_a_case_exercises_the_rules_whose_role_its_subject_holds_for_its_action(
    tmp_path: Path,
) -> None:
    case = (
        'name = "an admin purges"\nsubject = "ada"\naccount = "acme"\naction = "purge"\n'
        'resource = "contact"\nproperties = { state = "trashed", deleted_days_ago = 3 }\n'
        'expect = "allow"\n'
    )
    assert exercised_by(tmp_path, case) == {
        "p, admin, *, contact, contact.purge, in_trash purge_enabled, allow",
        "p, *, *, contact, contact.purge, on_legal_hold, deny",  # its condition was evaluated
    }


def test_a_subject_with_no_role_in_the_account_exercises_no_rule(tmp_path: Path) -> None:
    case = (
        'name = "a stranger deletes"\nsubject = "zed"\naccount = "acme"\naction = "delete"\n'
        'resource = "contact"\nexpect = "deny"\nreason = "no_role_in_account"\n'
    )
    assert exercised_by(tmp_path, case) == set()


def test_a_case_through_a_service_exercises_its_right_to_act_for_the_user(
    tmp_path: Path,
) -> None:
    case = (
        'name = "a service updates for a user"\nsubject = "uma"\nthrough_service = "svc-crm"\n'
        'account = "acme"\naction = "update"\nresource = "contact"\nexpect = "allow"\n'
    )
    assert exercised_by(tmp_path, case) == {
        "p, service, *, account, account.act_for_user, delegate_is_member, allow",
        "p, user, *, contact, contact.update, , allow",
    }


def test_a_rule_no_case_exercises_is_reported_with_its_file_and_line(pack_dir: Path) -> None:
    with (pack_dir / "rules.csv").open("a") as rules:
        rules.write("p, user, *, contact, contact.export, , allow\n")
    pack = load_pack(pack_dir)
    coverage = rule_coverage(pack, run_pack_tests(pack))
    added = rule(pack, "p, user, *, contact, contact.export, , allow")
    assert coverage.uncovered == [added]
    assert added.ref.line == (pack_dir / "rules.csv").read_text().count("\n")
    total = len(pack.rules)
    percent = int(100 * (total - 1) / total)
    assert coverage.summary() == f"coverage: {total - 1}/{total} rules exercised ({percent}%)"


# -- another worker takes up a reload through the change log --------------------------------


def reload_change(version: str) -> Change:
    return Change(1, "policy", None, None, version)


def test_a_worker_takes_up_the_reloaded_pack_when_it_is_the_accepted_version(
    pack_dir: Path,
) -> None:
    running = load_pack(pack_dir)
    with (pack_dir / "rules.csv").open("a") as rules:
        rules.write("p, user, *, contact, contact.export, , allow\n")
    accepted = load_pack(pack_dir)
    runtime = PolicyRuntime(running, pack_loader=lambda: load_pack(pack_dir))
    runtime._apply(reload_change(accepted.version), source=None)  # type: ignore[arg-type]
    assert runtime.version == accepted.version


def test_a_worker_keeps_its_policy_when_the_pack_on_disk_is_not_the_accepted_version(
    pack_dir: Path,
) -> None:
    running = load_pack(pack_dir)
    with (pack_dir / "rules.csv").open("a") as rules:
        rules.write("p, user, *, contact, contact.export, , allow\n")
    accepted = load_pack(pack_dir)
    with (pack_dir / "rules.csv").open("a") as rules:  # changed again, never tested
        rules.write("p, user, *, contact, contact.delete, , allow\n")
    runtime = PolicyRuntime(running, pack_loader=lambda: load_pack(pack_dir))
    runtime._apply(reload_change(accepted.version), source=None)  # type: ignore[arg-type]
    assert runtime.version == running.version


def test_a_worker_keeps_its_policy_when_the_pack_on_disk_no_longer_loads(
    pack_dir: Path,
) -> None:
    running = load_pack(pack_dir)

    def broken() -> PolicyPack:
        raise PolicyPackError("rules.csv", 3, "expected 6 fields")

    runtime = PolicyRuntime(running, pack_loader=broken)
    runtime._apply(reload_change("sha256:0000000000000000"), source=None)  # type: ignore[arg-type]
    assert runtime.version == running.version
