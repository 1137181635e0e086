"""Starting on a pack whose own policy test cases fail: refused in production, a warning
elsewhere so a developer can start the service and fix the pack."""

from pathlib import Path
from typing import Any

import pytest

from audit import load_or_create_signing_key
from policy_service import create_app
from policy_service.audit_trail.keys import load_or_create_kek
from policy_service.decisions import policy_admin
from policy_service.decisions.policy_tests import PolicyTestsFailed
from policy_service.policy.pack import load_pack
from tests.conftest import DEFAULT_PACK, add_rule, copy_of_default_pack, settings_for_tests

CASE = "a user may not delete a contact"


@pytest.fixture
def failing_pack(tmp_path: Path) -> Path:
    """The shipped pack with a rule that lets plain users delete, against its own cases."""
    directory = copy_of_default_pack(tmp_path)
    add_rule(directory, "p, user, *, contact, contact.delete, , allow\n")
    return directory


def case_line(pack: Path, name: str) -> int:
    lines = (pack / "tests" / "seed_rules.toml").read_text().splitlines()
    return lines.index(f'name = "{name}"')  # 0-based index of the name = the header's line


def production(tmp_path: Path) -> dict[str, Any]:
    """Overrides for a production start; production creates no keys, so they are made here."""
    kek = tmp_path / "kek.bin"
    load_or_create_kek(kek, True)
    load_or_create_signing_key(tmp_path / "audit_signing_key.pem", create=True)
    return {"environment": "production", "secret_key": "s" * 32, "audit_encryption_key": kek}


class Recorder:
    def __init__(self) -> None:
        self.warnings: list[tuple[str, dict[str, Any]]] = []

    def warning(self, event: str, **fields: Any) -> None:
        self.warnings.append((event, fields))


def test_in_production_the_service_refuses_to_start_on_a_pack_whose_tests_fail(
    sqlite_url: str, tmp_path: Path, failing_pack: Path
) -> None:
    settings = settings_for_tests(
        sqlite_url, tmp_path, policy_pack=failing_pack, **production(tmp_path)
    )
    with pytest.raises(PolicyTestsFailed) as refused:
        create_app(settings)
    assert f"seed_rules.toml:{case_line(failing_pack, CASE)} {CASE}" in str(refused.value)
    assert "got allow" in str(refused.value)


def test_outside_production_the_service_starts_on_a_pack_whose_tests_fail_with_a_warning(
    make_service: Any, sqlite_url: str, failing_pack: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = Recorder()
    monkeypatch.setattr(policy_admin, "log", recorder)
    service = make_service(sqlite_url, policy_pack=failing_pack, environment="development")
    assert service.state.runtime.version == load_pack(failing_pack).version
    [(event, fields)] = recorder.warnings
    assert event == "policy.tests_failed"
    line = case_line(failing_pack, CASE)
    assert any(f.startswith(f"seed_rules.toml:{line} {CASE}") for f in fields["failures"])


def test_in_production_the_service_starts_quietly_on_a_pack_whose_tests_pass(
    make_service: Any, sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = Recorder()
    monkeypatch.setattr(policy_admin, "log", recorder)
    service = make_service(sqlite_url, **production(tmp_path))
    assert service.state.runtime.version == load_pack(DEFAULT_PACK).version
    assert recorder.warnings == []
