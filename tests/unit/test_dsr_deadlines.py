"""Deadline arithmetic for data-subject requests, at month ends in particular."""

from datetime import UTC, datetime

import pytest

from policy_service.domain.dsr import (
    add_months,
    days_left,
    extended_deadline,
    first_deadline,
    normalise_email,
    normalise_phone,
)


def at(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("received", "due"),
    [
        (at(2026, 1, 31), at(2026, 2, 28)),  # clamped to the end of February
        (at(2028, 1, 31), at(2028, 2, 29)),  # a leap year
        (at(2026, 3, 31), at(2026, 4, 30)),
        (at(2026, 12, 15), at(2027, 1, 15)),  # across the year
        (at(2026, 2, 28), at(2026, 3, 28)),
    ],
)
def test_gdpr_gives_one_calendar_month(received: datetime, due: datetime) -> None:
    assert first_deadline("gdpr", received) == due


def test_a_gdpr_extension_adds_two_further_months_to_the_due_date() -> None:
    due = first_deadline("gdpr", at(2026, 1, 31))
    assert extended_deadline("gdpr", due) == at(2026, 4, 28)
    assert extended_deadline("gdpr", at(2026, 12, 31)) == at(2027, 2, 28)


def test_ccpa_gives_45_days_and_45_more() -> None:
    due = first_deadline("ccpa", at(2026, 1, 31))
    assert due == at(2026, 3, 17)
    assert extended_deadline("ccpa", due) == at(2026, 5, 1)


def test_days_left_counts_calendar_days_and_goes_negative_when_late() -> None:
    assert days_left(at(2026, 2, 28), at(2026, 2, 20)) == 8
    assert days_left(at(2026, 2, 28), at(2026, 3, 3)) == -3


def test_add_months_keeps_the_time_of_day() -> None:
    assert add_months(datetime(2026, 5, 31, 23, 59, tzinfo=UTC), 1).hour == 23


def test_identities_are_normalised_for_matching() -> None:
    assert normalise_email("  Ada@Example.COM ") == "ada@example.com"
    assert normalise_phone("+44 (20) 7946-0000") == "+442079460000"
    assert normalise_phone("020 7946 0000") == "02079460000"
    assert normalise_phone("   ") is None
