from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, text

from audit import (
    ERASED,
    AuditWriter,
    SubjectErasedError,
    destroy_subject_key,
    get_event,
    verify_database,
)
from policy_service.storage.unit_of_work import UnitOfWork
from tests.audit.conftest import make_event

PERSONAL = {"name": "Ada Lovelace", "email": "ada@example.com", "phone": "+44 20 7946 0000"}


def _protected_event(subject: str = "contact-1") -> Any:
    return make_event(target_id=subject, subject_id=subject, protected=PERSONAL)


def test_protected_fields_are_stored_encrypted_and_read_back_decrypted(
    writer: AuditWriter, uow: Callable[..., UnitOfWork], engine: Engine, kek: bytes
) -> None:
    with uow() as work:
        stored = writer.append(work.session, _protected_event())
        work.commit()
    with engine.connect() as connection:
        dump = " ".join(
            str(value)
            for table in ("audit_events", "audit_subject_keys")
            for row in connection.execute(text(f"SELECT * FROM {table}"))
            for value in row
        )
    for value in PERSONAL.values():
        assert value not in dump
    with uow(write=False) as work:
        event = get_event(work.session, stored.event_id, key_encryption_key=kek)
    assert event is not None
    assert event.protected == PERSONAL
    assert event.protected_ciphertext == stored.protected_ciphertext


def test_a_reader_without_the_key_encryption_key_sees_sealed_fields(
    writer: AuditWriter, uow: Callable[..., UnitOfWork]
) -> None:
    with uow() as work:
        stored = writer.append(work.session, _protected_event())
        work.commit()
    with uow(write=False) as work:
        event = get_event(work.session, stored.event_id)
    assert event is not None
    assert event.protected == {"sealed": True}


def test_destroying_a_subject_key_erases_its_fields_and_the_chain_still_verifies(
    writer: AuditWriter,
    uow: Callable[..., UnitOfWork],
    kek: bytes,
    signing_key: Ed25519PrivateKey,
) -> None:
    with uow() as work:
        ada = writer.append(work.session, _protected_event("contact-1"))
        bob = writer.append(work.session, _protected_event("contact-2"))
        work.commit()
    with uow() as work:
        assert destroy_subject_key(work.session, "contact-1") is True
        writer.append(work.session, make_event(action="contact.purge", target_id="contact-1"))
        work.commit()
    with uow(write=False) as work:
        erased = get_event(work.session, ada.event_id, key_encryption_key=kek)
        kept = get_event(work.session, bob.event_id, key_encryption_key=kek)
        report = verify_database(work.session, signing_key.public_key())
    assert erased is not None
    assert kept is not None
    assert erased.protected == ERASED
    assert kept.protected == PERSONAL
    assert report.ok, report


def test_an_erased_subject_takes_no_new_protected_data(
    writer: AuditWriter, uow: Callable[..., UnitOfWork]
) -> None:
    with uow() as work:
        writer.append(work.session, _protected_event())
        destroy_subject_key(work.session, "contact-1")
        with pytest.raises(SubjectErasedError):
            writer.append(work.session, _protected_event())


def test_erasing_a_subject_that_never_had_a_key_still_blocks_later_protected_data(
    writer: AuditWriter, uow: Callable[..., UnitOfWork]
) -> None:
    with uow() as work:
        assert destroy_subject_key(work.session, "contact-7") is False
        assert destroy_subject_key(work.session, "contact-7") is False
        with pytest.raises(SubjectErasedError):
            writer.append(work.session, _protected_event("contact-7"))


def test_events_of_one_subject_share_its_key_but_not_a_nonce(
    writer: AuditWriter, uow: Callable[..., UnitOfWork], engine: Engine
) -> None:
    with uow() as work:
        first, second = writer.append_many(work.session, [_protected_event()] * 2)
        work.commit()
    assert first.protected_ciphertext != second.protected_ciphertext
    with engine.connect() as connection:
        keys = connection.execute(text("SELECT count(*) FROM audit_subject_keys")).scalar()
    assert keys == 1


def test_a_wrapped_key_the_caller_has_just_read_is_used_without_reading_it_again(
    writer: AuditWriter, uow: Callable[..., UnitOfWork], engine: Engine, kek: bytes
) -> None:
    from sqlalchemy import event

    with uow() as work:
        writer.append(work.session, _protected_event())  # the subject's key is made
        work.commit()
    with engine.connect() as connection:
        wrapped = connection.execute(
            text("SELECT wrapped_key FROM audit_subject_keys WHERE subject_id = 'contact-1'")
        ).scalar_one()
    reads: list[str] = []

    def seen(*args: Any) -> None:
        if "audit_subject_keys" in args[2]:
            reads.append(args[2])

    event.listen(engine, "before_cursor_execute", seen)
    try:
        with uow() as work:
            (stored,) = writer.append_many(
                work.session, [_protected_event()], wrapped_keys={"contact-1": bytes(wrapped)}
            )
            work.commit()
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert reads == []
    with uow(write=False) as work:
        found = get_event(work.session, stored.event_id, key_encryption_key=kek)
    assert found is not None
    assert found.protected == PERSONAL
