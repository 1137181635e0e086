from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit import AuditWriter, EventFilter, export_events, verify_export
from audit import export as export_module
from policy_service.storage.unit_of_work import UnitOfWork
from tests.audit.conftest import make_event


def test_an_ndjson_export_has_a_header_chains_checkpoints_events_and_an_end(
    append: Callable[..., list[Any]], uow: Callable[..., UnitOfWork]
) -> None:
    append(6)
    with uow(write=False) as work:
        lines = [
            json.loads(line)
            for line in "".join(export_events(work.session, EventFilter())).splitlines()
        ]
    kinds = [line["type"] for line in lines]
    assert kinds == ["header", "chain", "checkpoint", *["event"] * 6, "end"]
    assert lines[1] == {
        "type": "chain",
        "chain": "acct-1",
        "first_seq": 1,
        "last_seq": 6,
        "complete": True,
    }
    assert lines[-1]["events"] == 6
    assert set(lines[3]) == {"type", "hash", "record"}


def test_an_export_streams_in_batches_and_still_verifies_across_them(
    append: Callable[..., list[Any]],
    uow: Callable[..., UnitOfWork],
    signing_key: Ed25519PrivateKey,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    append(23)
    monkeypatch.setattr(export_module, "BATCH", 4)
    with uow(write=False) as work:
        chunks = export_events(work.session, EventFilter(), signing_key=signing_key)
        assert isinstance(chunks, Iterator)  # lazy: nothing is read before it is consumed
        data = "".join(chunks)
    assert data.count('"type":"event"') == 23
    assert verify_export(io.StringIO(data), signing_key.public_key()).ok


def test_an_ndjson_export_never_holds_plaintext_personal_data(
    writer: AuditWriter, uow: Callable[..., UnitOfWork], kek: bytes
) -> None:
    with uow() as work:
        writer.append(work.session, make_event(subject_id="c-1", protected={"name": "Ada"}))
        work.commit()
    with uow(write=False) as work:
        data = "".join(export_events(work.session, EventFilter(), key_encryption_key=kek))
    assert "Ada" not in data


def test_a_csv_export_is_one_row_per_event_with_protected_fields_for_people(
    writer: AuditWriter, uow: Callable[..., UnitOfWork], kek: bytes
) -> None:
    with uow() as work:
        writer.append_many(
            work.session,
            [
                make_event(subject_id="c-1", protected={"name": "Ada"}),
                make_event(target_id="=HYPERLINK(1)"),
            ],
        )
        work.commit()
    with uow(write=False) as work:
        data = "".join(export_events(work.session, EventFilter(), "csv", key_encryption_key=kek))
    rows = list(csv.DictReader(io.StringIO(data)))
    assert [row["seq"] for row in rows] == ["1", "2"]
    assert json.loads(rows[0]["protected_fields"]) == {"name": "Ada"}
    assert rows[1]["target_id"] == "'=HYPERLINK(1)"  # formulas are defused


def test_an_unknown_export_format_is_refused(uow: Callable[..., UnitOfWork]) -> None:
    with uow(write=False) as work, pytest.raises(ValueError, match="format"):
        export_events(work.session, EventFilter(), "xml")  # type: ignore[arg-type]
