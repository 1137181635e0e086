"""The transactional outbox: webhook events written in the transaction of their change.

Lifecycle changes already append their audit event through the unit of work
(``uow.record``); the unit of work hands each appended event to ``WebhookOutbox.capture``,
which turns the ones subscribers can ask for (a contact deleted, restored or purged, a job
finished) into outbox rows, one per matching endpoint. A data-subject request's steps call
``publish`` from ``privacy/steps.py``, since such a request may cover several accounts. The
rows commit with the change or not at all; ``integration/webhooks.py`` sends them.

What an account wants is cached per worker (``SubscriptionCache``): an account with no
endpoints costs one indexed lookup on its first event, then nothing. Creating or removing an
endpoint records a ``webhooks`` change; every worker drops the account's entry when its
change-log poll sees it (within ``sync_interval``), this worker at once.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Final

from sqlalchemy.orm import Session

from audit import StoredEvent
from policy_service.domain.changes import Change
from policy_service.domain.clock import iso, utcnow
from policy_service.storage import webhooks as queries
from policy_service.storage.contacts import new_id
from policy_service.storage.webhooks import NewDelivery

CONTACT_DELETED: Final = "contact.deleted"
CONTACT_RESTORED: Final = "contact.restored"
CONTACT_PURGED: Final = "contact.purged"
JOB_FINISHED: Final = "job.finished"
DSR_RECEIVED: Final = "dsr.received"
DSR_APPROVED: Final = "dsr.approved"
DSR_DENIED: Final = "dsr.denied"
DSR_COMPLETED: Final = "dsr.completed"
DSR_SYSTEM_TASK: Final = "dsr.system_task"
EVENT_TYPES: Final = (
    CONTACT_DELETED,
    CONTACT_RESTORED,
    CONTACT_PURGED,
    JOB_FINISHED,
    DSR_RECEIVED,
    DSR_APPROVED,
    DSR_DENIED,
    DSR_COMPLETED,
    DSR_SYSTEM_TASK,
)
# A request's steps (privacy/steps.py) that are announced, and as what.
DSR_STEP_EVENTS: Final = {
    "create": DSR_RECEIVED,
    "approve": DSR_APPROVED,
    "deny": DSR_DENIED,
    "complete": DSR_COMPLETED,
}
WEBHOOK_CHANGE: Final = "webhooks"  # the change-log kind that drops an account's cache entry

# event type -> the ids of the endpoints that want it
Subscriptions = Mapping[str, tuple[str, ...]]
JsonObject = dict[str, object]


class SubscriptionCache:
    """Per account, which endpoints want which events; filled on first need."""

    MAX_ACCOUNTS = 100_000

    def __init__(self) -> None:
        self._by_account: dict[str, Subscriptions] = {}
        self._lock = threading.Lock()
        # Bumped by every forget: a read that began before one is not kept (it may predate
        # the change that caused it).
        self._generation = 0

    def get(self, session: Session, account_id: str) -> Subscriptions:
        cached = self._by_account.get(account_id)
        if cached is not None:
            return cached
        generation = self._generation
        wanted: dict[str, list[str]] = {}
        for endpoint_id, events in queries.subscriptions(session, account_id):
            for event_type in events:
                wanted.setdefault(event_type, []).append(endpoint_id)
        found = {event_type: tuple(ids) for event_type, ids in wanted.items()}
        with self._lock:
            if generation == self._generation:
                if len(self._by_account) >= self.MAX_ACCOUNTS:
                    self._by_account.clear()
                self._by_account[account_id] = found
        return found

    def forget(self, account_id: str) -> None:
        with self._lock:
            self._generation += 1
            self._by_account.pop(account_id, None)

    def apply(self, change: Change) -> None:
        """A ``webhooks`` change read from the change log (another worker's, or ours)."""
        if change.account_id is not None:
            self.forget(change.account_id)


def _contact_types(event: StoredEvent) -> list[str]:
    if event.target_type != "contact":
        return []
    to = event.details.get("to")
    types = []
    if event.action == "contact.delete":
        types.append(CONTACT_DELETED)
    elif event.action == "contact.restore":
        types.append(CONTACT_RESTORED)
    if to == "purged":  # a purge, a delete where there is no trash, the sweep, an erasure
        types.append(CONTACT_PURGED)
    return types


def event_types_for(event: StoredEvent) -> list[str]:
    """The webhook events an audit event announces (none for most)."""
    if event.outcome != "succeeded" and event.action != JOB_FINISHED:
        return []
    if event.action == JOB_FINISHED:
        return [JOB_FINISHED]
    return _contact_types(event)


def _data(event: StoredEvent, event_type: str) -> JsonObject:
    """What a subscriber is told: ids and counts, never personal data."""
    details = event.details
    if event_type == JOB_FINISHED:
        return {
            "account_id": event.account_id,
            "job_id": event.job_id,
            "status": details.get("status"),
            "total": details.get("total"),
            "processed": details.get("processed"),
            "skipped": details.get("skipped"),
            "items": details.get("items"),
            "audit_event_id": event.event_id,
        }
    return {
        "account_id": event.account_id,
        "contact_id": event.target_id,
        "operation_id": details.get("operation_id"),
        "reason_code": event.reason_code,
        "permanent": details.get("to") == "purged",
        "job_id": event.job_id,
        "dsr_id": event.dsr_id,
        "actor_id": event.actor_id,
        "audit_event_id": event.event_id,
    }


def message(event_type: str, occurred_at: datetime, data: JsonObject) -> str:
    """The body Standard Webhooks recommends: ``{"type", "timestamp", "data"}``."""
    return json.dumps(
        {"type": event_type, "timestamp": iso(occurred_at), "data": data},
        sort_keys=True,
        separators=(",", ":"),
    )


class WebhookOutbox:
    """Turns events into outbox rows in the caller's transaction."""

    def __init__(self) -> None:
        self.subscriptions = SubscriptionCache()

    def capture(self, session: Session, events: Sequence[StoredEvent]) -> None:
        """Called by the unit of work with the audit events it just appended."""
        pending: list[NewDelivery] = []
        for event in events:
            if event.account_id is None:
                continue
            types = event_types_for(event)
            if not types:
                continue  # most events: no lookup at all
            wanted = self.subscriptions.get(session, event.account_id)
            for event_type in types:
                endpoints = wanted.get(event_type, ())
                if not endpoints:
                    continue
                body = message(event_type, event.occurred_at, _data(event, event_type))
                message_id = new_id("msg")
                pending.extend(
                    NewDelivery(message_id, endpoint_id, event.account_id, event_type, body)
                    for endpoint_id in endpoints
                )
        if pending:
            queries.add_deliveries(session, pending, utcnow())

    def publish(
        self,
        session: Session,
        account_ids: Sequence[str] | None,
        event_type: str,
        data: JsonObject,
        *,
        dsr_id: str | None = None,
    ) -> int:
        """Announce an event about ``account_ids`` (None: every account) to the endpoints
        that want it, in the caller's transaction; how many deliveries were written."""
        accounts = queries.accounts_with_endpoints(session) if account_ids is None else account_ids
        now = utcnow()
        message_id = new_id("msg")
        pending: list[NewDelivery] = []
        for account_id in accounts:
            endpoints = self.subscriptions.get(session, account_id).get(event_type, ())
            if endpoints:
                body = message(event_type, now, {**data, "account_id": account_id})
                pending.extend(
                    NewDelivery(message_id, endpoint_id, account_id, event_type, body, dsr_id)
                    for endpoint_id in endpoints
                )
        queries.add_deliveries(session, pending, now)
        return len(pending)

    @staticmethod
    def deliver_to(
        session: Session,
        endpoint_id: str,
        account_id: str,
        event_type: str,
        data: JsonObject,
        *,
        dsr_id: str | None = None,
    ) -> str:
        """One delivery to one endpoint, whatever it subscribed to (a DSR system's task goes
        to the system's own endpoint); its id."""
        now = utcnow()
        body = message(event_type, now, data)
        delivery = NewDelivery(new_id("msg"), endpoint_id, account_id, event_type, body, dsr_id)
        return queries.add_deliveries(session, [delivery], now)[0]
