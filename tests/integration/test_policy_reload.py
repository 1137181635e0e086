"""Reloading the policy pack from disk, and refusing an invalid one."""

import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DEFAULT_PACK, Service
from tests.integration.conftest import evaluation


@pytest.fixture
def pack_copy(tmp_path: Path) -> Path:
    directory = tmp_path / "pack"
    shutil.copytree(DEFAULT_PACK, directory)
    manifest = directory / "pack.toml"
    model = (DEFAULT_PACK.parent / "casbin_model.conf").resolve()
    manifest.write_text(manifest.read_text().replace('"../casbin_model.conf"', f'"{model}"'))
    return directory


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
    with (pack_copy / "rules.csv").open("a") as rules:
        rules.write("p, user, *, contact, contact.export, , allow\n")
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
    with (pack_copy / "rules.csv").open("a") as rules:
        rules.write("p, user, *, contact, contact.export, when_pigs_fly, allow\n")
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
