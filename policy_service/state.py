"""What one process holds: settings, the database engine, and the policy runtime.

Built by ``create_app`` (or by a CLI command) and stored on ``app.extensions``; nothing here
is created at import time. Building needs no database: a worker must be able to start while
the database is away. What comes from the database (role assignments, the change log's
version) is loaded on first need and retried until it succeeds; until then requests that
need it are refused with 503.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from audit import AuditWriter
from policy_service.audit_trail.keys import build_writer
from policy_service.config import Settings
from policy_service.domain.clock import utcnow
from policy_service.integration.metrics import observe_audit_append
from policy_service.integration.outbox import WEBHOOK_CHANGE, WebhookOutbox
from policy_service.policy.pack import load_pack
from policy_service.policy.runtime import PolicyRuntime
from policy_service.storage.changes import record_change
from policy_service.storage.database import (
    create_database_engine,
    is_unavailable,
    make_session_factory,
)
from policy_service.storage.sync_source import SqlSyncSource
from policy_service.storage.unit_of_work import UnitOfWork

EXTENSION_KEY = "policy_service"
LOAD_RETRY_MAX_S = 5.0
CATCH_UP_POLL_S = 0.05
log = structlog.get_logger(__name__)


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
    loaded: bool = False
    # The webhook outbox, with this worker's cache of which endpoints want which events.
    outbox: WebhookOutbox = field(default_factory=WebhookOutbox)
    _load_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

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
        audit, signing_key = build_writer(settings)
        state = cls(
            settings,
            engine,
            session_factory,
            runtime,
            source,
            audit,
            signing_key,
            utcnow(),
        )
        runtime.change_listeners[WEBHOOK_CHANGE] = state.outbox.subscriptions.apply
        return state

    def load(self) -> None:
        """Read role assignments; call once the schema exists."""
        with self._load_lock:
            self.runtime.load_assignments(self.source)
            self.loaded = True

    def ensure_loaded(self) -> None:
        """Load unless this process already has; raises the database's error if it cannot."""
        if self.loaded:
            return
        with self._load_lock:
            if not self.loaded:
                self.runtime.load_assignments(self.source)
                self.loaded = True
                log.info("state.loaded", synced_version=self.runtime.synced_version)

    def try_load(self) -> bool:
        """Load if the database allows; False (logged) if it does not, for now."""
        try:
            self.ensure_loaded()
        except Exception as exc:
            if is_unavailable(exc):
                log.warning("state.load_deferred", error_type=type(exc).__name__)
            elif isinstance(exc, SQLAlchemyError):
                # Reachable but not usable, e.g. its schema missing during a restore: still
                # the database's state rather than ours, and it may be put right.
                log.exception("state.load_failed")
            else:
                raise
            return False
        return True

    def load_in_background(self, then: Callable[[], None] | None = None) -> threading.Thread:
        """Retry loading in a daemon thread until it succeeds, then call ``then``.

        Requests load the state themselves (``sync``); this is for work that no request
        starts, like the job runner.
        """

        def retry() -> None:
            delay = 0.2
            while True:
                try:
                    if self.try_load():
                        break
                except Exception:  # not an outage; still nothing to do but try again
                    log.exception("state.load_failed")
                time.sleep(delay)
                delay = min(delay * 2, LOAD_RETRY_MAX_S)
            if then is not None:
                then()

        thread = threading.Thread(target=retry, name="state-loader", daemon=True)
        thread.start()
        return thread

    def unit_of_work(self, *, write: bool = True) -> UnitOfWork:
        return UnitOfWork(
            self.session_factory,
            write=write,
            audit=self.audit,
            observer=self.outbox.capture,
            append_timer=observe_audit_append,
        )

    def sync(self) -> None:
        if not self.loaded:
            self.ensure_loaded()  # a fresh load is as current as a sync
            return
        self.runtime.sync(self.source)

    def contacts_changed(self, session: Session, account_id: str) -> None:
        """Say, in the changing transaction, that an account's contacts changed: every worker
        then drops its cached contact facts for the account (this one at once)."""
        record_change(session, "contacts", account_id=account_id)
        self.runtime.forget_contacts(account_id)

    def webhooks_changed(self, session: Session, account_id: str) -> None:
        """Say, in the changing transaction, that an account's webhook endpoints changed:
        every worker then reads which endpoints want which events again (this one at once)."""
        record_change(session, WEBHOOK_CHANGE, account_id=account_id)
        self.outbox.subscriptions.forget(account_id)

    def sync_now(self) -> None:
        """Apply this worker's own change at once rather than at the next interval."""
        if not self.loaded:
            self.ensure_loaded()
            return
        self.runtime.sync(self.source, force=True)

    def catch_up(
        self, version: int, wait_s: float, *, poll_s: float = CATCH_UP_POLL_S
    ) -> Literal["current", "unknown", "behind"]:
        """Bring this worker to change ``version`` at least (a caller's consistency token).

        "current": it is there (at once, with no query, when it already was); "unknown": the
        store itself has no such version (one is only handed out once it has committed, so
        waiting cannot help); "behind": the store has it but this worker could not apply it
        within ``wait_s`` seconds (a backlog longer than one sync reads, say), polling the
        change log every ``poll_s``. An unreachable store raises as ``sync`` does.
        """
        runtime = self.runtime
        deadline = time.monotonic() + wait_s
        while True:
            if not self.loaded:
                self.ensure_loaded()
            before = runtime.synced_version
            if before >= version:
                return "current"
            runtime.sync_to(self.source, version)
            if runtime.synced_version >= version:
                return "current"
            if runtime.store_version < version:
                return "unknown"
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return "behind"
            if runtime.synced_version == before:  # no progress: give the store a moment
                time.sleep(min(poll_s, remaining))
