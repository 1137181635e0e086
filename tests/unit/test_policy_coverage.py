"""A pack keeps its own promises: which rules its cases exercise, and a worker that takes up
only the pack version that was accepted."""

from collections.abc import Callable
from pathlib import Path

from policy_service.decisions.policy_test_files import load_test_file
from policy_service.decisions.policy_tests import rule_coverage, run_file, run_pack_tests
from policy_service.domain.changes import Change
from policy_service.domain.errors import PolicyPackError
from policy_service.policy.pack import PolicyPack, PolicyRule, load_pack
from policy_service.policy.runtime import PolicyRuntime
from tests.conftest import DEFAULT_PACK, add_rule

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


def rule(pack: PolicyPack, text: str) -> PolicyRule:
    return next(r for r in pack.rules if r.ref.text == text)


def exercised_by(tmp_path: Path, case: str) -> set[str]:
    """The rules (their text) one case exercises, run on the shipped pack."""
    path = tmp_path / "one.toml"
    path.write_text(FIXTURES + "\n[[cases]]\n" + case)
    [result] = run_file(load_pack(DEFAULT_PACK), load_test_file(path))
    assert result.passed, result.describe()
    return {r.ref.text for r in result.exercised}


def test_the_shipped_cases_exercise_every_rule_of_the_shipped_pack() -> None:
    pack = load_pack(DEFAULT_PACK)
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
    add_rule(pack_dir, "p, user, *, contact, contact.export, , allow\n")
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


def reloaded(running: PolicyPack, loader: Callable[[], PolicyPack], version: str) -> str:
    """The version a worker running ``running`` holds once told of an accepted reload of
    ``version``, with ``loader`` reading the pack on disk."""
    runtime = PolicyRuntime(running, pack_loader=loader)
    runtime._apply(reload_change(version), source=None)  # type: ignore[arg-type]
    return runtime.version


def running_and_accepted(pack_dir: Path) -> tuple[PolicyPack, PolicyPack]:
    """The pack as a worker runs it, and the pack with a rule added, as a reload accepted."""
    running = load_pack(pack_dir)
    add_rule(pack_dir, "p, user, *, contact, contact.export, , allow\n")
    return running, load_pack(pack_dir)


def test_a_worker_takes_up_the_reloaded_pack_when_it_is_the_accepted_version(
    pack_dir: Path,
) -> None:
    running, accepted = running_and_accepted(pack_dir)
    assert reloaded(running, lambda: load_pack(pack_dir), accepted.version) == accepted.version


def test_a_worker_keeps_its_policy_when_the_pack_on_disk_is_not_the_accepted_version(
    pack_dir: Path,
) -> None:
    running, accepted = running_and_accepted(pack_dir)
    # Changed again after the reload was accepted: this version was never tested.
    add_rule(pack_dir, "p, user, *, contact, contact.delete, , allow")
    assert reloaded(running, lambda: load_pack(pack_dir), accepted.version) == running.version


def test_a_worker_keeps_its_policy_when_the_pack_on_disk_no_longer_loads(
    pack_dir: Path,
) -> None:
    running = load_pack(pack_dir)

    def broken() -> PolicyPack:
        raise PolicyPackError("rules.csv", 3, "expected 6 fields")

    assert reloaded(running, broken, "sha256:0000000000000000") == running.version
