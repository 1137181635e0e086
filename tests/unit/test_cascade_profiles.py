"""Cascade profile files: every kind named, actions that fit their kinds, errors with lines."""

from pathlib import Path

import pytest

from policy_service.domain.cascade import RELATED_KINDS
from policy_service.domain.errors import PolicyPackError
from policy_service.policy.cascade_profiles import load_profile, load_profiles

PROFILES = Path(__file__).resolve().parents[2] / "policies" / "cascade_profiles"


def test_the_shipped_profiles_name_every_kind_for_delete_and_purge() -> None:
    profiles = load_profiles(PROFILES.parent)
    assert {"trash-retains-all", "cascade-on-delete", "immediate-purge", "erasure"} <= set(profiles)
    for profile in profiles.values():
        assert set(profile.on_delete) == set(RELATED_KINDS)
        assert set(profile.on_purge) == set(RELATED_KINDS)


def copy_with(tmp_path: Path, old: str, new: str) -> Path:
    source = (PROFILES / "cascade-on-delete.toml").read_text()
    assert old in source
    path = tmp_path / "cascade-on-delete.toml"
    path.write_text(source.replace(old, new, 1))
    return path


def test_a_missing_kind_stops_the_load_naming_the_section(tmp_path: Path) -> None:
    path = copy_with(tmp_path, 'notes = "destroy"\n', "")
    with pytest.raises(PolicyPackError, match="notes") as caught:
        load_profile(path)
    assert caught.value.line is not None


def test_an_action_that_does_not_fit_its_kind_is_refused_with_its_line(tmp_path: Path) -> None:
    path = copy_with(tmp_path, 'notes = "destroy"', 'notes = "stop"')
    with pytest.raises(PolicyPackError, match="does not apply to notes") as caught:
        load_profile(path)
    assert path.read_text().splitlines()[caught.value.line - 1].startswith("notes")  # type: ignore[operator]


def test_an_unknown_action_or_guard_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PolicyPackError, match="Must be one of"):
        load_profile(copy_with(tmp_path, 'files = "keep"', 'files = "shred"'))
    with pytest.raises(PolicyPackError, match="block_delete_when"):
        load_profile(copy_with(tmp_path, "block_delete_when = []", 'block_delete_when = ["moon"]'))


def test_the_name_must_match_the_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyPackError, match="file name"):
        load_profile(copy_with(tmp_path, 'name = "cascade-on-delete"', 'name = "other"'))
