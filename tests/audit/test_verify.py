"""Tampering is detected, from the database and offline from an export.

The attacker here has write access to the database (the tests switch the append-only
triggers off) or to the export file. Setup: chain acct-1 has 12 events, checkpoints at 5
and 10; acct-2 and the platform chain have a few events each.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit import EventFilter, VerificationReport, export_events, verify_database, verify_export
from audit.canonical import encode, sha256_hex
from policy_service.storage.unit_of_work import UnitOfWork

A1 = "acct-1"


@pytest.fixture
def log(append: Callable[..., list[Any]]) -> list[Any]:
    events = append(12, account_id=A1)
    append(3, account_id="acct-2")
    append(2, account_id=None, action="policy.reload")
    return events


def _from_db(uow: Callable[..., UnitOfWork], key: Ed25519PrivateKey) -> VerificationReport:
    with uow(write=False) as work:
        return verify_database(work.session, key.public_key())


_EXPORT_KEY: list[Ed25519PrivateKey] = []


@pytest.fixture(autouse=True)
def _export_key(signing_key: Ed25519PrivateKey) -> None:
    _EXPORT_KEY[:] = [signing_key]


def _export_lines(uow: Callable[..., UnitOfWork], filters: EventFilter | None = None) -> list[str]:
    with uow(write=False) as work:
        text = "".join(
            export_events(work.session, filters or EventFilter(), signing_key=_EXPORT_KEY[0])
        )
    return text.splitlines(keepends=True)


def _verify_lines(lines: list[str], key: Ed25519PrivateKey) -> VerificationReport:
    return verify_export(io.BytesIO("".join(lines).encode()), key.public_key())


def _event_line_index(lines: list[str], chain: str, seq: int) -> int:
    for index, line in enumerate(lines):
        item = json.loads(line)
        if item["type"] == "event" and (item["record"]["chain"], item["record"]["seq"]) == (
            chain,
            seq,
        ):
            return index
    raise AssertionError(f"no event {chain}/{seq}")


def _fix_end_count(lines: list[str]) -> list[str]:
    # A careful attacker also fixes the unsigned end line's count.
    events = sum(1 for line in lines if line.startswith('{"type":"event"'))
    end = json.loads(lines[-1])
    end["events"] = events
    return [*lines[:-1], json.dumps(end) + "\n"]


def _bad(report: VerificationReport, seq: int, reason: str, chain: str = A1) -> None:
    assert not report.ok
    assert (report.first_bad_chain, report.first_bad_seq) == (chain, seq), report
    assert report.reason is not None
    assert report.reason.startswith(reason), report.reason


# -- intact ------------------------------------------------------------------------------


def test_an_intact_log_verifies_from_the_database(
    log: list[Any], uow: Callable[..., UnitOfWork], signing_key: Ed25519PrivateKey
) -> None:
    report = _from_db(uow, signing_key)
    assert report.ok, report
    assert report.events_checked == 17
    assert report.chains_checked == 3
    assert (report.checkpoints_valid, report.checkpoints_total) == (2, 2)
    assert report.first_bad_seq is None
    assert report.gaps == []
    # acct-1 events 11 and 12, and all of acct-2 and platform, are after the last checkpoint
    assert report.unanchored_events == 2 + 3 + 2


def test_an_intact_log_verifies_offline_from_its_export(
    log: list[Any], uow: Callable[..., UnitOfWork], signing_key: Ed25519PrivateKey, tmp_path: Any
) -> None:
    path = tmp_path / "audit.ndjson"
    path.write_text("".join(_export_lines(uow)))
    report = verify_export(path, signing_key.public_key())
    assert report.ok, report
    assert report.complete
    assert report.events_checked == 17
    assert (report.checkpoints_valid, report.checkpoints_total) == (3, 3)


def test_a_reformatted_export_still_verifies_through_the_slow_path(
    log: list[Any], uow: Callable[..., UnitOfWork], signing_key: Ed25519PrivateKey
) -> None:
    lines = [json.dumps(json.loads(line), indent=None) + "\n" for line in _export_lines(uow)]
    report = _verify_lines(lines, signing_key)
    assert report.ok, report
    assert report.events_checked == 17


def test_checkpoints_signed_by_another_key_are_not_valid(
    log: list[Any], uow: Callable[..., UnitOfWork]
) -> None:
    other = Ed25519PrivateKey.generate()
    # The export has a third signature: its end line, the export-time checkpoint.
    for report, total in ((_from_db(uow, other), 2), (_verify_lines(_export_lines(uow), other), 3)):
        assert (report.checkpoints_valid, report.checkpoints_total) == (0, total)
        assert any(p.reason == "checkpoint_signature_invalid" for p in report.problems)
    _bad(_from_db(uow, other), 5, "checkpoint_signature_invalid")
    offline = _verify_lines(_export_lines(uow), other)
    _bad(offline, 5, "checkpoint_signature_invalid")
    # Offline nothing is then signed: the other chains are an unsigned tail.
    assert ("acct-2", 1, "unsigned_tail") in [(p.chain, p.seq, p.reason) for p in offline.problems]


# -- a modified event --------------------------------------------------------------------


def test_a_modified_event_is_detected_in_the_database(
    log: list[Any],
    uow: Callable[..., UnitOfWork],
    signing_key: Ed25519PrivateKey,
    tamper: Callable[[str], None],
) -> None:
    tamper(f"UPDATE audit_events SET outcome = 'denied' WHERE chain = '{A1}' AND seq = 3")
    _bad(_from_db(uow, signing_key), 3, "hash_mismatch")


def test_a_modified_ciphertext_is_detected_in_the_database(
    writer: Any,
    uow: Callable[..., UnitOfWork],
    signing_key: Ed25519PrivateKey,
    tamper: Callable[[str], None],
) -> None:
    from tests.audit.conftest import make_event

    with uow() as work:
        writer.append(work.session, make_event(subject_id="c-1", protected={"name": "Ada"}))
        work.commit()
    tamper("UPDATE audit_events SET protected = 'AAAA' WHERE seq = 1")
    _bad(_from_db(uow, signing_key), 1, "hash_mismatch")


def test_a_modified_event_is_detected_in_an_export(
    log: list[Any], uow: Callable[..., UnitOfWork], signing_key: Ed25519PrivateKey
) -> None:
    lines = _export_lines(uow)
    at = _event_line_index(lines, A1, 3)
    lines[at] = lines[at].replace('"outcome":"succeeded"', '"outcome":"denied"')
    _bad(_verify_lines(lines, signing_key), 3, "hash_mismatch")


def test_a_modified_event_with_the_chain_rehashed_is_caught_by_the_next_checkpoint(
    log: list[Any], uow: Callable[..., UnitOfWork], signing_key: Ed25519PrivateKey
) -> None:
    lines = _export_lines(uow)
    prev = None
    for seq in range(3, 13):
        at = _event_line_index(lines, A1, seq)
        item = json.loads(lines[at])
        record = item["record"]
        if seq == 3:
            record["outcome"] = "denied"
        if prev is not None:
            record["prev_hash"] = prev
        prev = sha256_hex(encode(record))
        record_text = encode(record).decode()
        lines[at] = f'{{"type":"event","hash":"{prev}","record":{record_text}}}\n'
    _bad(_verify_lines(lines, signing_key), 5, "checkpoint_mismatch")


# -- an event removed from the middle ----------------------------------------------------


def test_an_event_removed_from_the_middle_is_detected_in_the_database(
    log: list[Any],
    uow: Callable[..., UnitOfWork],
    signing_key: Ed25519PrivateKey,
    tamper: Callable[[str], None],
) -> None:
    tamper(f"DELETE FROM audit_events WHERE chain = '{A1}' AND seq = 6")
    report = _from_db(uow, signing_key)
    _bad(report, 6, "gap")
    assert report.gaps == [(A1, 6, 6)]


def test_an_event_removed_from_the_middle_is_detected_in_an_export(
    log: list[Any], uow: Callable[..., UnitOfWork], signing_key: Ed25519PrivateKey
) -> None:
    lines = _export_lines(uow)
    del lines[_event_line_index(lines, A1, 6)]
    report = _verify_lines(_fix_end_count(lines), signing_key)
    _bad(report, 6, "gap")
    assert report.gaps == [(A1, 6, 6)]


# -- two events swapped ------------------------------------------------------------------


def test_two_swapped_events_are_detected_in_the_database(
    log: list[Any],
    uow: Callable[..., UnitOfWork],
    signing_key: Ed25519PrivateKey,
    tamper: Callable[[str], None],
) -> None:
    where = f"WHERE chain = '{A1}' AND seq ="
    tamper(f"UPDATE audit_events SET seq = -3 {where} 3")
    tamper(f"UPDATE audit_events SET seq = 3 {where} 4")
    tamper(f"UPDATE audit_events SET seq = 4 {where} -3")
    _bad(_from_db(uow, signing_key), 3, "hash_mismatch")


def test_two_swapped_events_are_detected_in_an_export(
    log: list[Any], uow: Callable[..., UnitOfWork], signing_key: Ed25519PrivateKey
) -> None:
    lines = _export_lines(uow)
    a, b = _event_line_index(lines, A1, 3), _event_line_index(lines, A1, 4)
    lines[a], lines[b] = lines[b], lines[a]
    report = _verify_lines(lines, signing_key)
    _bad(report, 3, "gap")
    assert any(p.reason == "out_of_order" and p.seq == 3 for p in report.problems)


# -- a truncated tail --------------------------------------------------------------------


def test_a_truncated_tail_is_detected_in_the_database(
    log: list[Any],
    uow: Callable[..., UnitOfWork],
    signing_key: Ed25519PrivateKey,
    tamper: Callable[[str], None],
) -> None:
    tamper(f"DELETE FROM audit_events WHERE chain = '{A1}' AND seq >= 9")
    tamper(f"UPDATE audit_chain_heads SET seq = 8 WHERE chain = '{A1}'")  # cover tracks
    report = _from_db(uow, signing_key)
    _bad(report, 9, "truncated")
    assert report.checkpoints_valid == 1


def test_a_truncated_tail_is_detected_in_an_export(
    log: list[Any], uow: Callable[..., UnitOfWork], signing_key: Ed25519PrivateKey
) -> None:
    lines = _export_lines(uow, EventFilter(account_id=A1))
    lines = [
        line
        for line in lines
        if not (line.startswith('{"type":"event"') and json.loads(line)["record"]["seq"] >= 9)
    ]
    lines[1] = lines[1].replace('"last_seq":12', '"last_seq":8')  # cover tracks
    report = _verify_lines(_fix_end_count(lines), signing_key)
    _bad(report, 9, "truncated")


def test_an_export_cut_short_is_detected(
    log: list[Any], uow: Callable[..., UnitOfWork], signing_key: Ed25519PrivateKey
) -> None:
    lines = _export_lines(uow)
    report = _verify_lines(lines[:-4], signing_key)
    assert not report.ok
    assert any(p.reason == "truncated" for p in report.problems)


# -- exports of part of the log ----------------------------------------------------------


def test_an_account_export_holds_only_its_chain_and_verifies_on_its_own(
    log: list[Any], uow: Callable[..., UnitOfWork], signing_key: Ed25519PrivateKey
) -> None:
    lines = _export_lines(uow, EventFilter(account_id="acct-2"))
    chains = {json.loads(line).get("chain") for line in lines} - {None}
    assert chains == {"acct-2"}
    report = _verify_lines(lines, signing_key)
    assert report.ok, report
    assert report.events_checked == 3


def test_a_time_range_export_is_a_whole_chain_segment_and_verifies(
    writer: Any, uow: Callable[..., UnitOfWork], signing_key: Ed25519PrivateKey
) -> None:
    from tests.audit.conftest import make_event

    start = datetime(2024, 1, 1, tzinfo=UTC)
    with uow() as work:
        writer.append_many(
            work.session,
            [make_event(occurred_at=start + timedelta(hours=hour)) for hour in range(12)],
        )
        work.commit()
    filters = EventFilter(
        account_id=A1, since=start + timedelta(hours=3), until=start + timedelta(hours=9)
    )
    lines = _export_lines(uow, filters)
    report = _verify_lines(lines, signing_key)
    assert report.ok, report
    assert report.complete
    assert report.events_checked == 6  # seq 4..9
    assert (report.checkpoints_valid, report.checkpoints_total) == (
        2,
        2,
    )  # its checkpoint and the signed end


def test_a_filtered_selection_export_is_marked_incomplete_and_its_events_verify(
    append: Callable[..., list[Any]],
    uow: Callable[..., UnitOfWork],
    signing_key: Ed25519PrivateKey,
) -> None:
    append(4, action="contact.delete")
    append(4, action="contact.restore")
    lines = _export_lines(uow, EventFilter(action="contact.restore"))
    report = _verify_lines(lines, signing_key)
    assert report.ok, report
    assert not report.complete
    assert report.events_checked == 4
