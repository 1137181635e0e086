from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from audit import GENESIS_HASH, PLATFORM_CHAIN, AuditWriter, list_checkpoints
from audit.canonical import EVENT_FIELDS, event_record, format_timestamp, sha256_hex
from audit.tables import audit_chain_heads, audit_events
from policy_service.storage.unit_of_work import UnitOfWork
from tests.audit.conftest import CHECKPOINT_EVERY, make_event


def test_appended_events_are_numbered_from_one_and_linked_by_hash(
    append: Callable[..., list[Any]],
) -> None:
    events = append(3)
    assert [e.seq for e in events] == [1, 2, 3]
    assert events[0].prev_hash == GENESIS_HASH
    assert events[1].prev_hash == events[0].hash
    assert events[2].prev_hash == events[1].hash
    assert len({e.event_id for e in events}) == 3
    assert [e.event_id for e in events] == sorted(e.event_id for e in events)


def test_the_hash_covers_the_canonical_encoding_of_every_other_field(
    append: Callable[..., list[Any]],
) -> None:
    (event,) = append(1)
    # Every field is its attribute as stored but these four, encoded for the record ("v" is
    # the format's version, which event_record adds).
    encoded = {
        "actor_roles": list(event.actor_roles),
        "occurred_at": format_timestamp(event.occurred_at),
        "recorded_at": format_timestamp(event.recorded_at),
        "protected": event.protected_ciphertext,
    }
    fields = {name: getattr(event, name) for name in EVENT_FIELDS if name not in {*encoded, "v"}}
    fields.update(encoded)
    assert sha256_hex(event_record(fields)) == event.hash


def test_each_account_has_its_own_chain_and_events_without_account_go_to_platform(
    append: Callable[..., list[Any]],
) -> None:
    a1 = append(2, account_id="acct-1")
    a2 = append(1, account_id="acct-2")
    platform = append(1, account_id=None, action="policy.reload")
    assert [(e.chain, e.seq) for e in a1] == [("acct-1", 1), ("acct-1", 2)]
    assert [(e.chain, e.seq) for e in a2] == [("acct-2", 1)]
    assert [(e.chain, e.seq) for e in platform] == [(PLATFORM_CHAIN, 1)]


def test_an_event_rolled_back_with_its_action_leaves_no_gap(
    writer: AuditWriter, uow: Callable[..., UnitOfWork], append: Callable[..., list[Any]]
) -> None:
    append(1)
    with uow() as work:
        writer.append(work.session, make_event())
        # no commit: the action failed, so its audit event goes with it
    (after,) = append(1)
    assert after.seq == 2
    with uow(write=False) as work:
        seqs = work.session.execute(select(audit_events.c.seq)).scalars().all()
    assert sorted(seqs) == [1, 2]


def test_append_many_numbers_a_mixed_batch_per_chain_and_moves_each_head(
    writer: AuditWriter, uow: Callable[..., UnitOfWork]
) -> None:
    batch = [make_event(account_id=f"acct-{i % 3}") for i in range(9)]
    with uow() as work:
        stored = writer.append_many(work.session, batch)
        work.commit()
    per_chain: dict[str, list[int]] = {}
    for event in stored:
        per_chain.setdefault(event.chain, []).append(event.seq)
    assert per_chain == {"acct-0": [1, 2, 3], "acct-1": [1, 2, 3], "acct-2": [1, 2, 3]}
    with uow(write=False) as work:
        heads = dict(
            work.session.execute(select(audit_chain_heads.c.chain, audit_chain_heads.c.seq)).all()
        )
    assert heads == {"acct-0": 3, "acct-1": 3, "acct-2": 3}


def test_a_checkpoint_is_signed_every_n_events(
    append: Callable[..., list[Any]], uow: Callable[..., UnitOfWork]
) -> None:
    events = append(2 * CHECKPOINT_EVERY + 1)
    with uow(write=False) as work:
        checkpoints = list_checkpoints(work.session, "acct-1")
    assert [c.seq for c in checkpoints] == [CHECKPOINT_EVERY, 2 * CHECKPOINT_EVERY]
    assert [c.hash for c in checkpoints] == [
        events[CHECKPOINT_EVERY - 1].hash,
        events[2 * CHECKPOINT_EVERY - 1].hash,
    ]


def test_a_checkpoint_on_demand_signs_the_current_head_once(
    writer: AuditWriter, append: Callable[..., list[Any]], uow: Callable[..., UnitOfWork]
) -> None:
    events = append(3)
    with uow() as work:
        first = writer.checkpoint(work.session, "acct-1")
        again = writer.checkpoint(work.session, "acct-1")
        work.commit()
    assert (first.seq, first.hash) == (3, events[-1].hash)
    assert again == first
    with uow(write=False) as work:
        assert list_checkpoints(work.session, "acct-1") == [first]


def test_a_checkpoint_of_an_empty_chain_is_refused(
    writer: AuditWriter, uow: Callable[..., UnitOfWork]
) -> None:
    with uow() as work, pytest.raises(ValueError, match="no events"):
        writer.checkpoint(work.session, "acct-9")


def test_occurred_at_is_kept_apart_from_recorded_at(append: Callable[..., list[Any]]) -> None:
    earlier = datetime(2024, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)
    (event,) = append(1, occurred_at=earlier)
    assert event.occurred_at == earlier
    assert event.recorded_at - earlier > timedelta(days=1)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"outcome": "maybe"}, "outcome"),
        ({"details": {"ratio": 0.5}}, "floats"),
        ({"details": {"big": 2**60}}, "outside"),
        ({"protected": {"name": "Ada"}}, "subject_id"),
        ({"account_id": "platform"}, "reserved"),
        ({"target_id": "x" * 200}, "target_id"),
        ({"occurred_at": datetime(2024, 1, 1)}, "timezone"),
    ],
)
def test_an_invalid_event_is_refused_before_anything_is_written(
    writer: AuditWriter,
    uow: Callable[..., UnitOfWork],
    overrides: dict[str, Any],
    message: str,
) -> None:
    with uow() as work:
        with pytest.raises(ValueError, match=message):
            writer.append(work.session, make_event(**overrides))
        assert work.session.execute(select(audit_events.c.event_id)).first() is None


def test_a_writer_needs_a_32_byte_key_encryption_key() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        AuditWriter(b"short")


def test_nested_details_are_stored_as_canonical_text_and_returned_as_a_copy(
    writer: AuditWriter, uow: Callable[..., UnitOfWork]
) -> None:
    details: dict[str, Any] = {"z": [1, {"é": '\u2028 "q"', "t": (True, None)}], "a": {"b": []}}
    with uow() as work:
        stored = writer.append(work.session, make_event(details=details, actor_roles=("b", "a")))
        work.commit()
    details["z"][1]["é"] = "changed"
    assert stored.details == {"z": [1, {"é": '\u2028 "q"', "t": [True, None]}], "a": {"b": []}}
    with uow(write=False) as work:
        roles, text = work.session.execute(
            select(audit_events.c.actor_roles, audit_events.c.details)
        ).one()
    assert roles == '["a","b"]'
    assert text == '{"a":{"b":[]},"z":[1,{"t":[true,null],"é":"\u2028 \\"q\\""}]}'


def test_a_batch_longer_than_a_pipeline_chunk_is_one_gapless_verifiable_run(
    writer: AuditWriter, uow: Callable[..., UnitOfWork], signing_key: Any
) -> None:
    from audit import verify_database
    from audit.writer import PIPELINE_CHUNK

    count = 2 * PIPELINE_CHUNK + 50  # three statements on PostgreSQL, the first on a new chain
    with uow() as work:
        first = writer.append_many(work.session, [make_event() for _ in range(count)])
        second = writer.append_many(work.session, [make_event() for _ in range(count)])
        work.commit()
    assert [e.seq for e in first + second] == list(range(1, 2 * count + 1))
    run = first + second
    assert [e.prev_hash for e in run[1:]] == [e.hash for e in run[:-1]]
    assert [e.event_id for e in first] == sorted(e.event_id for e in first)
    with uow(write=False) as work:
        assert verify_database(work.session, signing_key).ok
        head = work.session.execute(select(audit_chain_heads.c.seq)).scalar_one()
    assert head == 2 * count


def test_a_long_batch_after_another_writer_moved_the_head_is_linked_again_from_it(
    writer: AuditWriter,
    kek: bytes,
    signing_key: Any,
    uow: Callable[..., UnitOfWork],
    append: Callable[..., list[Any]],
) -> None:
    """Two processes' writers on one chain: the first's idea of the head is stale, so every
    chunk of its pipeline inserts nothing, and it links them again from the real head."""
    from audit import verify_database
    from audit.writer import PIPELINE_CHUNK

    append(3)  # this writer now guesses the head is at 3
    other = AuditWriter(kek, signing_key, checkpoint_every=CHECKPOINT_EVERY)
    with uow() as work:
        other.append_many(work.session, [make_event() for _ in range(4)])  # head at 7
        work.commit()
    count = PIPELINE_CHUNK + 10
    with uow() as work:
        stored = writer.append_many(work.session, [make_event() for _ in range(count)])
        work.commit()
    assert [e.seq for e in stored] == list(range(8, 8 + count))
    with uow(write=False) as work:
        assert verify_database(work.session, signing_key).ok
        seqs = work.session.execute(select(audit_events.c.seq)).scalars().all()
    assert sorted(seqs) == list(range(1, 8 + count))


def test_a_refused_event_late_in_a_long_batch_writes_none_of_it(
    writer: AuditWriter, uow: Callable[..., UnitOfWork]
) -> None:
    from audit.writer import PIPELINE_CHUNK

    batch = [make_event() for _ in range(2 * PIPELINE_CHUNK)]
    batch[-1] = make_event(outcome="maybe")
    with uow() as work:
        with pytest.raises(ValueError, match="outcome"):
            writer.append_many(work.session, batch)
        assert work.session.execute(select(audit_events.c.event_id)).first() is None


def test_statements_sent_ahead_of_a_batch_run_in_its_transaction(
    writer: AuditWriter, uow: Callable[..., UnitOfWork], engine: Any
) -> None:
    """A contact's UPDATE and its cascade go ahead of the event in the writer's pipeline:
    they take effect with it, or fail with it, and their row counts come back."""
    from sqlalchemy.exc import DBAPIError

    from audit.writer import PIPELINE_CHUNK, AheadStatement

    if engine.dialect.name != "postgresql":
        with uow() as work, pytest.raises(ValueError, match="PostgreSQL"):
            writer.append_many(work.session, [make_event()], ahead=[AheadStatement("SELECT 1", {})])
        return
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE ahead_probe (n integer)")
    insert = "INSERT INTO ahead_probe VALUES (%(n)s)"
    for count in (1, PIPELINE_CHUNK + 1, 0):
        ahead = [AheadStatement(insert, {"n": 7}), AheadStatement(insert, {"n": 8})]
        with uow() as work:
            stored = writer.append_many(work.session, [make_event()] * count, ahead=ahead)
            work.commit()
        assert len(stored) == count
        assert [statement.rowcount for statement in ahead] == [1, 1]
    with engine.connect() as connection:
        rows = connection.exec_driver_sql("SELECT count(*) FROM ahead_probe").scalar_one()
        missed = AheadStatement("UPDATE ahead_probe SET n = 0 WHERE n = -1", {})
    assert rows == 6
    with uow() as work:
        writer.append_many(work.session, [make_event()], ahead=[missed])
    assert missed.rowcount == 0
    broken = AheadStatement(insert, {"n": "not a number"})
    with uow() as work, pytest.raises(DBAPIError):
        writer.append_many(work.session, [make_event()] * 3, ahead=[broken])
    with uow(write=False) as work:
        seqs = work.session.execute(select(audit_events.c.seq)).scalars().all()
    assert sorted(seqs) == list(range(1, PIPELINE_CHUNK + 3))  # the failed batch left none
