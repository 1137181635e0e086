"""What use cases depend on: narrow views of the process state, as Protocols.

A service function names the smallest of these it needs (``Decides`` to decide, ``Stores``
to write, ``Configured`` to read settings, or a combination) instead of taking the whole
``ServiceState``; its signature then says what it depends on, and a test can hand it
something smaller. ``ServiceState`` (``state.py``) is the one object that provides them all:
it satisfies each structurally, which mypy checks at every call site. Attributes are
read-only properties here, so the state's plain attributes satisfy them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from audit import AuditWriter
from policy_service.config import Settings
from policy_service.integration.outbox import WebhookOutbox
from policy_service.policy.runtime import PolicyRuntime
from policy_service.storage.sync_source import SqlSyncSource
from policy_service.storage.unit_of_work import UnitOfWork

__all__ = [
    "Acts",
    "AdminDeps",
    "Announces",
    "AuditDeps",
    "Certifies",
    "CheckpointDeps",
    "Configured",
    "Decides",
    "DeliveryDeps",
    "DsrDeps",
    "DsrIntake",
    "DsrSteps",
    "EndpointDeps",
    "Evidences",
    "Finishes",
    "FinishesErasure",
    "Inspects",
    "LifecycleDeps",
    "ManagesEndpoints",
    "OpensSealed",
    "OpensSessions",
    "Publishes",
    "ReloadsPolicy",
    "SealedActs",
    "Seals",
    "SealsDeliveries",
    "Signs",
    "SignsCertificates",
    "Stores",
    "Syncs",
    "TracksWebhooks",
    "Witnesses",
    "WitnessesOverHttp",
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


class ReloadsPolicy(AdminDeps, Configured, Protocol):
    """``AdminDeps`` for the pack: re-read from where the settings say it is."""


class DeliveryDeps(Stores, Configured, Protocol):
    """Webhook delivery's housekeeping: the store, and the settings' limits."""


class Inspects(Decides, OpensSessions, Protocol):
    """The worker's caches, and plain reads of the store: who a bearer token belongs to, the
    gauges a metrics scrape reads."""


class Signs(Protocol):
    """The audit writer: it signs checkpoints, and holds the key that encrypts personal data
    in audit events."""

    @property
    def audit(self) -> AuditWriter: ...


class SignsCertificates(Protocol):
    """The service's signing key (completion certificates, exports, the public key)."""

    @property
    def signing_key(self) -> Ed25519PrivateKey: ...


class Publishes(Protocol):
    """The webhook outbox: events published in the changing transaction."""

    @property
    def outbox(self) -> WebhookOutbox: ...


class TracksWebhooks(Protocol):
    """Say, in the changing transaction, that an account's webhook endpoints changed."""

    def webhooks_changed(self, session: Session, account_id: str) -> None: ...


class Seals(Configured, Signs, Protocol):
    """Keys derived from the settings' secret (or the audit writer's key): sealed identities,
    webhook secrets, suppression digests."""


class Witnesses(Stores, Configured, Protocol):
    """Hand committed checkpoints to the witness directory and the HTTP witness."""


class Evidences(Witnesses, Signs, Protocol):
    """Sign checkpoints where needed, witness them, and read proofs against them."""


class WitnessesOverHttp(Witnesses, Protocol):
    """``Witnesses``, and when this process started: the HTTP witness's first pass sends
    what was signed since."""

    @property
    def started_at(self) -> datetime: ...


class CheckpointDeps(WitnessesOverHttp, Evidences, Protocol):
    """The periodic checkpoint: sign what is due, then witness it."""


class AuditDeps(Acts, Evidences, SignsCertificates, Protocol):
    """Reading, exporting and verifying the audit log: ``Acts`` to authorize and record,
    the writer and the signing key, and the engine an export streams from."""

    @property
    def engine(self) -> Engine: ...


class Announces(Decides, Publishes, Protocol):
    """Record a data-subject request's step and publish it to webhooks."""


class DsrSteps(Acts, Publishes, Protocol):
    """A data-subject request's steps: authorize, change, record, publish."""


class Certifies(Decides, SignsCertificates, Protocol):
    """Sign a completion certificate under the policy version in force."""


class Finishes(Announces, Certifies, Protocol):
    """Complete a data-subject request: its last step recorded, its certificate signed."""


class FinishesErasure(Finishes, Seals, Protocol):
    """``Finishes`` an erasure: its identity unsealed and put on the suppression list."""


class DsrIntake(DsrSteps, Seals, Protocol):
    """Take in a data-subject request: ``DsrSteps``, and its identity sealed."""


class DsrDeps(DsrIntake, FinishesErasure, Protocol):
    """Data-subject requests end to end: execution, systems' confirmations, completion."""


class OpensSealed(Stores, Seals, Protocol):
    """Read a row with a sealed field and open it (a data-subject request's identity)."""


class SealedActs(Acts, Seals, Protocol):
    """``Acts`` with the keys derived from the secret and the audit writer: contacts checked
    against the suppression list, certificates with their evidence."""


class SealsDeliveries(DeliveryDeps, Signs, Protocol):
    """Webhook delivery: ``DeliveryDeps``, and the keys that open secrets and identities."""


class ManagesEndpoints(Acts, TracksWebhooks, Protocol):
    """Change an account's webhook endpoints, applied to this worker at once."""


class EndpointDeps(ManagesEndpoints, Seals, Protocol):
    """``ManagesEndpoints``, and sealing a new endpoint's secret."""


class Scheduled(LifecycleDeps, DsrDeps, CheckpointDeps, SealsDeliveries, Protocol):
    """What the scheduler's tasks need together (the sweep, job recovery, checkpoints,
    webhook delivery), the sync it runs before them, and the engine its task locks use."""

    @property
    def engine(self) -> Engine: ...

    def sync(self) -> None: ...
