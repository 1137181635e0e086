"""Fixtures for the audit package's tests: a writer, its keys, and a way to play attacker."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from audit import AuditEvent, AuditWriter
from policy_service.storage.database import make_session_factory
from policy_service.storage.unit_of_work import UnitOfWork

CHECKPOINT_EVERY = 5


@pytest.fixture(scope="session")
def signing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="session")
def kek() -> bytes:
    return os.urandom(32)


@pytest.fixture
def writer(kek: bytes, signing_key: Ed25519PrivateKey) -> AuditWriter:
    return AuditWriter(kek, signing_key, checkpoint_every=CHECKPOINT_EVERY)


@pytest.fixture
def session_factory(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture
def uow(session_factory: sessionmaker[Session]) -> Callable[..., UnitOfWork]:
    def make(write: bool = True) -> UnitOfWork:
        return UnitOfWork(session_factory, write=write)

    return make


def make_event(**overrides: Any) -> AuditEvent:
    fields: dict[str, Any] = {
        "action": "contact.delete",
        "outcome": "succeeded",
        "actor_type": "user",
        "actor_id": "user-1",
        "actor_roles": ("admin",),
        "account_id": "acct-1",
        "client_id": "crm-web",
        "target_type": "contact",
        "target_id": "contact-1",
        "reason_code": "duplicate",
        "request_id": "req-1",
        "policy_version": "7",
        "cascade_profile": "trash",
        "cascade_profile_version": "2",
        "details": {"notes": 3, "tasks": 1},
    }
    fields.update(overrides)
    return AuditEvent(**fields)


@pytest.fixture
def append(writer: AuditWriter, uow: Callable[..., UnitOfWork]) -> Callable[..., list[Any]]:
    """Append ``count`` events built from ``overrides`` in one committed unit of work."""

    def run(count: int = 1, **overrides: Any) -> list[Any]:
        with uow() as work:
            stored = writer.append_many(work.session, [make_event(**overrides)] * count)
            work.commit()
        return stored

    return run


def disable_append_only(engine: Engine) -> None:
    """Play the attacker with database access: switch the append-only triggers off."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql("ALTER TABLE audit_events DISABLE TRIGGER USER")
            connection.exec_driver_sql("ALTER TABLE audit_checkpoints DISABLE TRIGGER USER")
            connection.exec_driver_sql("ALTER TABLE audit_chain_heads DISABLE TRIGGER USER")
            connection.exec_driver_sql("ALTER TABLE audit_merkle_nodes DISABLE TRIGGER USER")
        else:
            for table in ("audit_events", "audit_checkpoints", "audit_merkle_nodes"):
                for operation in ("update", "delete"):
                    connection.exec_driver_sql(f"DROP TRIGGER {table}_no_{operation}")
            for operation in ("delete", "rewind"):
                connection.exec_driver_sql(f"DROP TRIGGER audit_chain_heads_no_{operation}")


@pytest.fixture
def tamper(engine: Engine) -> Callable[[str], None]:
    disabled = False

    def run(sql: str) -> None:
        nonlocal disabled
        if not disabled:
            disable_append_only(engine)
            disabled = True
        with engine.begin() as connection:
            connection.exec_driver_sql(sql)

    return run
