"""Reloading the policy pack from disk, and refusing an invalid one."""

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Service, add_rule, copy_of_default_pack
from tests.integration.conftest import evaluation


@pytest.fixture
def pack_copy(tmp_path: Path) -> Path:
    return copy_of_default_pack(tmp_path)


@pytest.fixture
def reloadable(make_service: Any, database_url: str, pack_copy: Path) -> Service:
    service = make_service(database_url, policy_pack=pack_copy)
    service.account("acme")
    service.caller("pep", roles={"acme": ["service"]}, kind="service")
    service.caller("uma", roles={"acme": ["user"]})
    service.caller("root", platform_admin=True)
    return service


def ask(service: Service, body: dict[str, Any]) -> dict[str, Any]:
    return service.request(
        "POST", "/access/v1/evaluation", service.tokens["pep"], json=body
    ).get_json()  # type: ignore[no-any-return]


def test_a_reload_applies_new_rules_and_reports_the_new_version(
    reloadable: Service, pack_copy: Path
) -> None:
    body = evaluation("uma", "export")
    before = ask(reloadable, body)
    assert before["decision"] is False
    add_rule(pack_copy, "p, user, *, contact, contact.export, , allow\n")
    response = reloadable.request("POST", "/v1/policy/reload", reloadable.tokens["root"])
    assert response.status_code == 200
    assert response.get_json()["previous_version"] == before["context"]["policy_version"]
    after = ask(reloadable, body)
    assert after["decision"] is True
    assert after["context"]["policy_version"] == response.get_json()["version"]
    assert after["context"]["policy_version"] != before["context"]["policy_version"]


def test_an_invalid_pack_is_refused_and_the_running_policy_kept(
    reloadable: Service, pack_copy: Path
) -> None:
    version = reloadable.state.runtime.version
    add_rule(pack_copy, "p, user, *, contact, contact.export, when_pigs_fly, allow\n")
    response = reloadable.request("POST", "/v1/policy/reload", reloadable.tokens["root"])
    assert response.status_code == 422
    problem = response.get_json()
    assert problem["file"].endswith("rules.csv")
    assert problem["line"] > 1
    assert "when_pigs_fly" in problem["detail"]
    assert reloadable.state.runtime.version == version
    assert ask(reloadable, evaluation("uma", "read"))["decision"] is True


def test_only_platform_admins_reload(reloadable: Service) -> None:
    for principal in ("pep", "uma"):
        response = reloadable.request("POST", "/v1/policy/reload", reloadable.tokens[principal])
        assert response.status_code == 403


def test_the_running_policy_can_be_read_by_platform_admins(reloadable: Service) -> None:
    policy = reloadable.request("GET", "/v1/policy", reloadable.tokens["root"]).get_json()
    assert policy["version"] == reloadable.state.runtime.version
    assert any(rule["action"] == "contact.delete" for rule in policy["rules"])
    assert "within_retention" in policy["conditions"]


# -- a pack must keep its own promises: its policy test cases -------------------------------

USERS_DELETE = "p, user, *, contact, contact.delete, , allow\n"


def case_line(pack: Path, name: str) -> int:
    """The line of the ``[[cases]]`` header of the named case in seed_rules.toml."""
    lines = (pack / "tests" / "seed_rules.toml").read_text().splitlines()
    return lines.index(f'name = "{name}"')  # the header is the line before; lines count from 1


def test_a_reload_whose_policy_tests_fail_is_refused_and_the_running_policy_kept(
    reloadable: Service, pack_copy: Path
) -> None:
    version = reloadable.state.runtime.version
    body = evaluation("uma", "delete", state="active")
    assert ask(reloadable, body)["decision"] is False
    add_rule(pack_copy, USERS_DELETE)
    response = reloadable.request("POST", "/v1/policy/reload", reloadable.tokens["root"])
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["kept_version"] == version
    failure = next(f for f in problem["failures"] if f["case"] == "a user may not delete a contact")
    assert failure["file"] == "seed_rules.toml"
    assert failure["line"] == case_line(pack_copy, "a user may not delete a contact")
    assert failure["expected"] == "deny (not_permitted)"
    assert failure["got"].startswith("allow")
    assert f"seed_rules.toml:{failure['line']} a user may not delete a contact" in problem["detail"]
    assert reloadable.state.runtime.version == version
    after = ask(reloadable, body)
    assert after["decision"] is False
    assert after["context"]["policy_version"] == version


def test_a_reload_refused_for_failing_policy_tests_is_recorded_in_the_audit_log(
    reloadable: Service, pack_copy: Path
) -> None:
    version = reloadable.state.runtime.version
    add_rule(pack_copy, USERS_DELETE)
    reloadable.request("POST", "/v1/policy/reload", reloadable.tokens["root"])
    found = reloadable.request(
        "GET", "/v1/audit/events?action=policy.reload", reloadable.tokens["root"]
    ).get_json()["events"]
    assert [(e["outcome"], e["reason_code"], e["actor_id"]) for e in found] == [
        ("failed", "policy_tests_failed", "root")
    ]
    details = found[0]["details"]
    assert details["kept_version"] == version
    line = case_line(pack_copy, "a user may not delete a contact")
    assert f"seed_rules.toml:{line} a user may not delete a contact" in details["failures"]


def test_a_changed_pack_whose_policy_tests_pass_is_accepted_and_takes_effect(
    reloadable: Service, pack_copy: Path
) -> None:
    version = reloadable.state.runtime.version
    add_rule(pack_copy, "p, user, *, contact, contact.export, , allow\n")
    (pack_copy / "tests" / "exports.toml").write_text(
        '[[accounts]]\nid = "acme"\n\n[[members]]\naccount = "acme"\nuser = "uma"\n'
        'roles = ["user"]\n\n[[cases]]\nname = "a user may export contacts"\nsubject = "uma"\n'
        'account = "acme"\naction = "export"\nresource = "contact"\nexpect = "allow"\n'
    )
    response = reloadable.request("POST", "/v1/policy/reload", reloadable.tokens["root"])
    assert response.status_code == 200
    assert response.get_json()["previous_version"] == version
    assert reloadable.state.runtime.version == response.get_json()["version"] != version
    assert ask(reloadable, evaluation("uma", "export"))["decision"] is True


def test_another_worker_takes_up_only_the_pack_version_that_was_accepted(
    make_service: Any, database_url: str, reloadable: Service, pack_copy: Path
) -> None:
    other = make_service(database_url, policy_pack=pack_copy)
    other.tokens = reloadable.tokens
    running = other.state.runtime.version
    add_rule(pack_copy, "p, user, *, contact, contact.export, , allow\n")
    accepted = reloadable.request("POST", "/v1/policy/reload", reloadable.tokens["root"])
    assert accepted.status_code == 200
    # Before the other worker syncs, the pack on disk changes again, into one that breaks
    # its promises: the other worker must not take that up in place of the accepted one.
    add_rule(pack_copy, USERS_DELETE)
    other.state.sync_now()
    assert other.state.runtime.version == running
    assert ask(other, evaluation("uma", "delete", state="active"))["decision"] is False
