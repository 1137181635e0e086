"""Change-log versions on PostgreSQL take no global lock: writers in different accounts do
not queue behind each other, and a reader's watermark never passes a change still
committing (issue 11 section 6)."""

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from policy_service.policy.change_feed import ChangeFeed
from policy_service.storage import changes
from policy_service.storage.database import create_database_engine, make_session_factory
from policy_service.storage.sync_source import SqlSyncSource


@pytest.fixture
def pg_engine(postgres_url: str) -> Iterator[Engine]:
    engine = create_database_engine(postgres_url)
    yield engine
    engine.dispose()


@pytest.mark.postgres
def test_a_writer_commits_while_another_holds_its_change_uncommitted(pg_engine: Engine) -> None:
    factory = make_session_factory(pg_engine)
    source = SqlSyncSource(factory)
    with factory() as slow, factory() as fast:
        changes.record_change(slow, "contacts", account_id="acme")
        # The slow writer has taken its version and not committed: the moment the old
        # single-row counter held its lock.
        changes._write_noted(slow)
        fast.execute(text("SET LOCAL lock_timeout = '1s'"))
        changes.record_change(fast, "contacts", account_id="globex")
        fast.commit()  # would time out behind the slow writer's row lock

        feed = ChangeFeed()
        applied = feed.take(source.changes_since(0), now=0.0)
        assert [c.account_id for c in applied] == ["globex"]
        assert feed.watermark == 0  # the slow writer's version may still commit

        slow.commit()
        applied = feed.take(source.changes_since(feed.watermark), now=1.0)
        assert [c.account_id for c in applied] == ["acme"]
        assert feed.watermark == 2


def test_a_transaction_that_rolls_back_takes_no_version(database_url: str) -> None:
    engine = create_database_engine(database_url)
    try:
        factory = make_session_factory(engine)
        with factory() as session:
            changes.record_change(session, "contacts", account_id="acme")
            session.rollback()
        with factory() as session:
            changes.record_change(session, "contacts", account_id="acme")
            changes.record_change(session, "contacts", account_id="acme")  # the same, once
            session.commit()
        with Session(engine) as session:
            assert [c.version for c in changes.changes_since(session, 0)] == [1]
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_a_worker_loaded_while_a_change_was_committing_still_applies_it(
    pg_engine: Engine,
) -> None:
    factory = make_session_factory(pg_engine)
    source = SqlSyncSource(factory)
    with factory() as slow, factory() as fast:
        changes.record_change(slow, "token", subject_id="ada")
        changes._write_noted(slow)
        changes.record_change(fast, "contacts", account_id="globex")
        fast.commit()
        feed = ChangeFeed()
        version = source.current_version()
        feed.loaded(version, [c.version for c in source.changes_since(0)], now=time.monotonic())
        assert feed.watermark == 0
        slow.commit()
        applied = feed.take(source.changes_since(feed.watermark), now=time.monotonic())
        assert [c.kind for c in applied] == ["token"]
        assert feed.watermark == 2
