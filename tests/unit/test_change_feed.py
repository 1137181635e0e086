"""The change feed's watermark when versions commit out of order."""

from policy_service.domain.changes import Change
from policy_service.policy.change_feed import GAP_WAIT_S, LATE_WATCH_S, ChangeFeed


def changes(*versions: int) -> list[Change]:
    return [Change(v, "contacts", "acme", None, "") for v in versions]


def test_changes_in_order_move_the_watermark_to_the_last_one() -> None:
    feed = ChangeFeed()
    assert [c.version for c in feed.take(changes(1, 2, 3), now=0.0)] == [1, 2, 3]
    assert feed.watermark == 3
    assert not feed.waiting


def test_a_change_after_a_gap_is_applied_at_once_but_the_watermark_waits_below_the_gap() -> None:
    feed = ChangeFeed()
    assert [c.version for c in feed.take(changes(1, 3), now=0.0)] == [1, 3]
    assert feed.watermark == 1
    assert feed.waiting
    # Read again while the gap is open: nothing is applied twice.
    assert feed.take(changes(3), now=1.0) == []
    assert feed.watermark == 1


def test_the_gap_filling_closes_it_and_the_watermark_jumps_past_what_was_applied() -> None:
    feed = ChangeFeed()
    feed.take(changes(1, 3, 4), now=0.0)
    assert [c.version for c in feed.take(changes(2, 3, 4), now=1.0)] == [2]
    assert feed.watermark == 4
    assert not feed.waiting


def test_a_gap_that_never_fills_is_passed_after_the_wait_and_then_watched_for() -> None:
    feed = ChangeFeed()
    feed.take(changes(1, 3), now=0.0)
    feed.take([], now=GAP_WAIT_S + 0.1)
    assert feed.watermark == 3
    assert feed.passed_gaps(now=GAP_WAIT_S + 0.2) == [2]
    # A slow commit that lands later is still applied, once.
    assert [c.version for c in feed.landed(changes(2))] == [2]
    assert feed.landed(changes(2)) == []
    assert feed.passed_gaps(now=GAP_WAIT_S + 0.3) == []


def test_a_passed_gap_is_given_up_after_the_watch() -> None:
    feed = ChangeFeed()
    feed.take(changes(1, 3), now=0.0)
    feed.take([], now=GAP_WAIT_S)
    assert feed.passed_gaps(now=GAP_WAIT_S + LATE_WATCH_S + 1) == []


def test_after_a_load_versions_missing_below_the_store_version_are_waited_for() -> None:
    feed = ChangeFeed()
    feed.loaded(10, recent=[1, 2, 3, 5, 6, 7, 8, 9, 10], now=0.0)
    assert feed.watermark == 3
    # 5..10 were part of the load: only 4 is new when it lands.
    assert [c.version for c in feed.take(changes(4, 5, 6, 7, 8, 9, 10), now=1.0)] == [4]
    assert feed.watermark == 10


def test_a_load_with_nothing_missing_starts_at_the_store_version() -> None:
    feed = ChangeFeed()
    feed.loaded(3, recent=[1, 2, 3], now=0.0)
    assert feed.watermark == 3
    assert not feed.waiting
