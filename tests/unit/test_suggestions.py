"""The closest valid value, suggested in a 400 (issue 15)."""

from policy_service.domain.cascade import RELATED_KINDS
from policy_service.domain.dsr import CHANNELS
from policy_service.domain.suggestions import closest_choice


def test_closest_choice_finds_the_value_meant() -> None:
    assert closest_choice("web", CHANNELS) == "web_form"
    assert closest_choice("note", RELATED_KINDS) == "notes"
    assert closest_choice("Email ", CHANNELS) == "email"
    assert closest_choice("workflow", RELATED_KINDS) == "workflow_enrollments"


def test_closest_choice_suggests_nothing_far_off_or_not_a_string() -> None:
    assert closest_choice("zzzzqqq", CHANNELS) is None
    assert closest_choice(5, CHANNELS) is None
    assert closest_choice("", CHANNELS) is None
