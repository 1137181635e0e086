import pytest

from policy_service.domain.facts import Facts
from policy_service.policy.conditions import (
    REGISTRY,
    UnknownCondition,
    all_hold,
    evaluate_each,
    parse_condition_names,
)


def facts(**values: object) -> Facts:
    return Facts(subject_id="ada", **values)  # type: ignore[arg-type]


def test_in_trash_holds_only_for_trashed_contacts() -> None:
    assert REGISTRY["in_trash"].test(facts(contact_state="trashed"))
    assert not REGISTRY["in_trash"].test(facts(contact_state="active"))
    assert not REGISTRY["in_trash"].test(facts())


def test_within_retention_is_strictly_less_than_the_window() -> None:
    within = REGISTRY["within_retention"].test
    assert within(facts(trash_age_days=59, retention_days=60))
    assert not within(facts(trash_age_days=60, retention_days=60))
    assert not within(facts(trash_age_days=61, retention_days=60))


def test_within_retention_fails_closed_when_the_deletion_time_is_unknown() -> None:
    assert not REGISTRY["within_retention"].test(facts(retention_days=60))


def test_owner_matches_the_subject_id_or_email() -> None:
    owner = REGISTRY["owner"].test
    assert owner(facts(owner_id="ada"))
    assert owner(facts(subject_email="ada@example.com", owner_id="ada@example.com"))
    assert not owner(facts(subject_email="ada@example.com", owner_id="bob@example.com"))
    assert not owner(facts())


def test_legal_hold_conditions_are_opposites() -> None:
    held = facts(legal_hold=True)
    assert REGISTRY["on_legal_hold"].test(held)
    assert not REGISTRY["not_on_legal_hold"].test(held)


def test_all_named_conditions_must_hold() -> None:
    assert all_hold("in_trash purge_enabled", facts(contact_state="trashed", purge_enabled=True))
    assert not all_hold("in_trash purge_enabled", facts(contact_state="trashed"))
    assert all_hold("", facts())


def test_each_condition_is_reported_with_its_value() -> None:
    assert evaluate_each("in_trash purge_enabled", facts(contact_state="trashed")) == [
        ("in_trash", True),
        ("purge_enabled", False),
    ]


def test_an_unknown_condition_name_is_refused_not_evaluated() -> None:
    with pytest.raises(UnknownCondition, match="__import__"):
        parse_condition_names("__import__('os')")
