"""What use cases depend on: narrow views of the process state, as Protocols.

A service function names the smallest of these it needs (``Decides`` to decide, ``Stores``
to write, ``Configured`` to read settings, or a combination) instead of taking the whole
``ServiceState``; its signature then says what it depends on, and a test can hand it
something smaller. ``ServiceState`` (``state.py``) is the one object that provides them all:
it satisfies each structurally, which mypy checks at every call site. Attributes are
read-only properties here, so the state's plain attributes satisfy them.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker

from policy_service.config import Settings
from policy_service.policy.runtime import PolicyRuntime
from policy_service.storage.sync_source import SqlSyncSource
from policy_service.storage.unit_of_work import UnitOfWork

__all__ = [
    "Acts",
    "AdminDeps",
    "Configured",
    "Decides",
    "DeliveryDeps",
    "Inspects",
    "LifecycleDeps",
    "OpensSessions",
    "Stores",
    "Syncs",
]


class Decides(Protocol):
    """What a decision needs: the policy runtime (pack, roles, caches) and where it loads
    accounts and role assignments from."""

    @property
    def runtime(self) -> PolicyRuntime: ...

    @property
    def source(self) -> SqlSyncSource: ...


class Stores(Protocol):
    """What a writer needs: a unit of work (audit writer and outbox included), and a way to
    say in the changing transaction that an account's contacts changed."""

    def unit_of_work(self, *, write: bool = True) -> UnitOfWork: ...

    def contacts_changed(self, session: Session, account_id: str) -> None: ...


class Configured(Protocol):
    """The process's settings."""

    @property
    def settings(self) -> Settings: ...


class Syncs(Protocol):
    """Apply this worker's own change (roles, tokens, the pack) at once."""

    def sync_now(self) -> None: ...


class OpensSessions(Protocol):
    """A plain session, outside any unit of work (a read with no audit event to ride with)."""

    @property
    def session_factory(self) -> sessionmaker[Session]: ...


class Acts(Decides, Stores, Protocol):
    """Decide, then change and record in one unit of work: most lifecycle steps."""


class LifecycleDeps(Decides, Stores, Configured, Protocol):
    """``Acts`` sized by the settings: the bulk-job runner and the retention sweep."""


class AdminDeps(Decides, Stores, Syncs, Protocol):
    """``Acts`` on role assignments, tokens or the pack, applied to this worker at once."""


class DeliveryDeps(Stores, Configured, Protocol):
    """Webhook delivery's housekeeping: the store, and the settings' limits."""


class Inspects(Decides, OpensSessions, Protocol):
    """The worker's caches, and plain reads of the store: who a bearer token belongs to, the
    gauges a metrics scrape reads."""
