"""Loading a policy pack: every problem names the file and the line."""

from pathlib import Path

import pytest

from policy_service.decisions.policy_tests import load_test_files, run_pack_tests
from policy_service.domain.errors import PolicyPackError
from policy_service.policy.pack import load_pack
from tests.conftest import DEFAULT_PACK


def append(path: Path, text: str) -> int:
    """Append a line and return its line number."""
    content = path.read_text()
    path.write_text(content + text + "\n")
    return content.count("\n") + 1


def test_the_shipped_pack_loads_with_a_content_hash_version() -> None:
    pack = load_pack(DEFAULT_PACK)
    assert pack.version.startswith("sha256:")
    assert {"admin", "user", "compliance_officer", "service"} <= pack.roles


def test_the_version_changes_with_the_rules(pack_dir: Path) -> None:
    before = load_pack(pack_dir).version
    append(pack_dir / "rules.csv", "p, user, *, contact, contact.export, , allow")
    assert load_pack(pack_dir).version != before


def test_every_shipped_policy_case_passes() -> None:
    results = run_pack_tests(load_pack(DEFAULT_PACK))
    assert results, "the pack ships policy cases"
    assert [r.describe() for r in results if not r.passed] == []


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("p, admin, *, contact, contact.delete, allow", "6 fields"),
        ("p, admin, *, contact, contact.delete, , maybe", "effect"),
        ("p, admin, *, contact, contact.delete, is_friday, allow", "unknown condition"),
        ("p, Admin!, *, contact, contact.delete, , allow", "invalid role"),
        ("q, admin, *, contact, contact.delete, , allow", "expected a rule"),
        ("p, admin, *, contact, contact.read, , allow", "duplicate"),
    ],
)
def test_an_invalid_rule_names_the_file_and_line(pack_dir: Path, line: str, message: str) -> None:
    number = append(pack_dir / "rules.csv", line)
    with pytest.raises(PolicyPackError, match=message) as caught:
        load_pack(pack_dir)
    assert caught.value.path.endswith("rules.csv")
    assert caught.value.line == number
    assert f"rules.csv:{number}" in str(caught.value)


def test_an_invalid_model_stops_the_load_naming_the_model_file(pack_dir: Path) -> None:
    model = pack_dir.parent / "casbin_model.conf"
    model.write_text(model.read_text().replace("r = sub, dom, obj, act, facts", "r = sub, obj"))
    with pytest.raises(PolicyPackError, match=r"casbin_model\.conf") as caught:
        load_pack(pack_dir)
    assert caught.value.line is not None


def test_an_unknown_manifest_key_is_refused_with_its_line(pack_dir: Path) -> None:
    number = append(pack_dir / "pack.toml", 'colour = "blue"')
    with pytest.raises(PolicyPackError, match="unknown key") as caught:
        load_pack(pack_dir)
    assert caught.value.line == number


def test_an_invalid_policy_test_file_names_the_file_and_line(pack_dir: Path) -> None:
    path = pack_dir / "tests" / "broken.toml"
    path.write_text('[[cases]]\nname = "x"\nsubject = "ada"\n\n[[cases]]\nname = "y"\nexpect = 1\n')
    with pytest.raises(PolicyPackError, match=r"broken\.toml:1") as caught:
        load_test_files(load_pack(pack_dir))
    assert "required" in str(caught.value)


def test_a_policy_test_file_with_bad_toml_names_the_line(pack_dir: Path) -> None:
    (pack_dir / "tests" / "broken.toml").write_text('[[cases]]\nname = "x\n')
    with pytest.raises(PolicyPackError, match=r"broken\.toml:\d"):
        load_test_files(load_pack(pack_dir))


def test_a_wrong_expectation_is_reported_as_a_failure(pack_dir: Path) -> None:
    (pack_dir / "tests" / "wrong.toml").write_text(
        '[[accounts]]\nid = "acme"\n\n[[members]]\naccount = "acme"\nuser = "uma"\n'
        'roles = ["user"]\n\n[[cases]]\nname = "users delete (wrong on purpose)"\n'
        'subject = "uma"\naccount = "acme"\naction = "delete"\nresource = "contact"\n'
        'expect = "allow"\n'
    )
    failed = [r for r in run_pack_tests(load_pack(pack_dir)) if not r.passed]
    assert len(failed) == 1
    assert "FAIL wrong.toml:9" in failed[0].describe()
    assert "got deny" in failed[0].describe()
