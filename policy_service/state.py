"""What one process holds: settings, the database engine, and the policy runtime.

Built by ``create_app`` (or by a CLI command) and stored on ``app.extensions``; nothing here
is created at import time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask, current_app
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from audit import AuditWriter
from policy_service.config import Settings
from policy_service.policy.pack import load_pack
from policy_service.policy.runtime import PolicyRuntime
from policy_service.storage.changes import record_change
from policy_service.storage.database import create_database_engine, make_session_factory
from policy_service.storage.sync_source import SqlSyncSource
from policy_service.storage.unit_of_work import UnitOfWork

EXTENSION_KEY = "policy_service"


@dataclass
class ServiceState:
    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    runtime: PolicyRuntime
    source: SqlSyncSource
    audit: AuditWriter
    signing_key: Ed25519PrivateKey
    started_at: datetime

    @classmethod
    def build(cls, settings: Settings) -> ServiceState:
        pack = load_pack(settings.policy_pack)
        engine = create_database_engine(settings.database_url)
        session_factory = make_session_factory(engine)
        runtime = PolicyRuntime(
            pack,
            cache_size=settings.decision_cache_size,
            sync_interval=settings.sync_interval,
            pack_loader=lambda: load_pack(settings.policy_pack),
        )
        source = SqlSyncSource(session_factory)
        from policy_service.services.audit_trail import build_writer

        audit, signing_key = build_writer(settings)
        return cls(
            settings,
            engine,
            session_factory,
            runtime,
            source,
            audit,
            signing_key,
            datetime.now(UTC),
        )

    def load(self) -> None:
        """Read role assignments; call once the schema exists."""
        self.runtime.load_assignments(self.source)

    def unit_of_work(self, *, write: bool = True) -> UnitOfWork:
        return UnitOfWork(self.session_factory, write=write, audit=self.audit)

    def sync(self) -> None:
        self.runtime.sync(self.source)

    def contacts_changed(self, session: Session, account_id: str) -> None:
        """Say, in the changing transaction, that an account's contacts changed: every worker
        then drops its cached contact facts for the account (this one at once)."""
        record_change(session, "contacts", account_id=account_id)
        self.runtime.forget_contacts(account_id)

    def sync_now(self) -> None:
        """Apply this worker's own change at once rather than at the next interval."""
        self.runtime.sync(self.source, force=True)


def get_state(app: Flask | None = None) -> ServiceState:
    state: ServiceState = (app or current_app).extensions[EXTENSION_KEY]
    return state
