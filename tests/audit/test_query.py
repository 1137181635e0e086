from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from audit import AuditWriter, EventFilter, InvalidCursorError, get_event, query_events
from policy_service.storage.unit_of_work import UnitOfWork
from tests.audit.conftest import make_event

START = datetime(2024, 6, 1, tzinfo=UTC)


@pytest.fixture
def sample(writer: AuditWriter, uow: Callable[..., UnitOfWork]) -> list[Any]:
    events = [
        make_event(
            account_id="acct-1" if i % 2 else "acct-2",
            actor_id=f"user-{i % 3}",
            action=("contact.delete", "contact.restore", "dsr.erasure.completed")[i % 3],
            target_id=f"contact-{i % 4}",
            outcome="denied" if i % 5 == 0 else "succeeded",
            request_id=f"req-{i}",
            job_id="job-1" if i < 3 else None,
            dsr_id="dsr-1" if i % 3 == 2 else None,
            occurred_at=START + timedelta(minutes=i),
        )
        for i in range(20)
    ]
    with uow() as work:
        stored = writer.append_many(work.session, events)
        work.commit()
    return stored


def _ids(uow: Callable[..., UnitOfWork], filters: EventFilter, limit: int = 50) -> list[str]:
    with uow(write=False) as work:
        return [e.event_id for e in query_events(work.session, filters, limit=limit).events]


def _expected(sample: list[Any], keep: Callable[[Any], bool]) -> list[str]:
    return sorted((e.event_id for e in sample if keep(e)), reverse=True)


def test_events_come_newest_first(sample: list[Any], uow: Callable[..., UnitOfWork]) -> None:
    assert _ids(uow, EventFilter()) == [e.event_id for e in reversed(sample)]


@pytest.mark.parametrize(
    ("filters", "keep"),
    [
        (EventFilter(account_id="acct-1"), lambda e: e.account_id == "acct-1"),
        (EventFilter(actor_id="user-1"), lambda e: e.actor_id == "user-1"),
        (EventFilter(action="contact.restore"), lambda e: e.action == "contact.restore"),
        (EventFilter(action="dsr.*"), lambda e: e.action.startswith("dsr.")),
        (
            EventFilter(target_type="contact", target_id="contact-2"),
            lambda e: e.target_id == "contact-2",
        ),
        (EventFilter(outcome="denied"), lambda e: e.outcome == "denied"),
        (EventFilter(request_id="req-7"), lambda e: e.request_id == "req-7"),
        (EventFilter(job_id="job-1"), lambda e: e.job_id == "job-1"),
        (EventFilter(dsr_id="dsr-1"), lambda e: e.dsr_id == "dsr-1"),
        (
            EventFilter(since=START + timedelta(minutes=5), until=START + timedelta(minutes=9)),
            lambda e: START + timedelta(minutes=5) <= e.occurred_at < START + timedelta(minutes=9),
        ),
        (
            EventFilter(account_id="acct-2", outcome="denied"),
            lambda e: e.account_id == "acct-2" and e.outcome == "denied",
        ),
    ],
)
def test_each_filter_selects_exactly_the_matching_events(
    sample: list[Any],
    uow: Callable[..., UnitOfWork],
    filters: EventFilter,
    keep: Callable[[Any], bool],
) -> None:
    expected = _expected(sample, keep)
    assert expected
    assert _ids(uow, filters) == expected


def test_a_cursor_walks_every_page_once_in_order(
    sample: list[Any], uow: Callable[..., UnitOfWork]
) -> None:
    seen: list[str] = []
    cursor = None
    with uow(write=False) as work:
        while True:
            page = query_events(work.session, EventFilter(account_id="acct-1"), cursor, limit=3)
            seen.extend(e.event_id for e in page.events)
            cursor = page.next_cursor
            if cursor is None:
                break
    assert seen == _expected(sample, lambda e: e.account_id == "acct-1")


def test_a_forged_cursor_is_refused(sample: list[Any], uow: Callable[..., UnitOfWork]) -> None:
    with uow(write=False) as work, pytest.raises(InvalidCursorError):
        query_events(work.session, EventFilter(), cursor="bm90LWEtY3Vyc29y")


def test_get_event_returns_the_event_or_none(
    sample: list[Any], uow: Callable[..., UnitOfWork]
) -> None:
    with uow(write=False) as work:
        found = get_event(work.session, sample[4].event_id)
        missing = get_event(work.session, "00000000-0000-7000-8000-000000000000")
    assert found == sample[4]
    assert missing is None
