"""Which audit events become which webhook events, and the per-worker subscription cache
(no database: its one query is replaced by a fake)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, cast

import pytest

from audit import StoredEvent
from policy_service.domain.changes import Change
from policy_service.integration import outbox
from policy_service.integration.outbox import SubscriptionCache, event_types_for, message


def stored(action: str, outcome: str = "succeeded", **details: Any) -> StoredEvent:
    return cast(
        StoredEvent,
        SimpleNamespace(action=action, outcome=outcome, target_type="contact", details=details),
    )


@pytest.mark.parametrize(
    ("action", "details", "expected"),
    [
        ("contact.delete", {"to": "trash"}, ["contact.deleted"]),
        ("contact.delete", {}, ["contact.deleted"]),  # a bulk delete to the trash
        ("contact.delete", {"to": "purged"}, ["contact.deleted", "contact.purged"]),
        ("contact.restore", {}, ["contact.restored"]),
        ("contact.purge", {"to": "purged"}, ["contact.purged"]),
        ("contact.erased", {"to": "purged"}, ["contact.purged"]),
        ("contact.created", {}, []),
        ("legal_hold.placed", {}, []),
    ],
)
def test_audit_events_map_to_webhook_events(
    action: str, details: dict[str, Any], expected: list[str]
) -> None:
    assert event_types_for(stored(action, **details)) == expected


def test_a_refused_action_announces_nothing_but_a_failed_job_does() -> None:
    assert event_types_for(stored("contact.delete", "denied", to="trash")) == []
    job = cast(
        StoredEvent,
        SimpleNamespace(action="job.finished", outcome="failed", target_type="job", details={}),
    )
    assert event_types_for(job) == ["job.finished"]


def test_a_message_is_type_timestamp_and_data() -> None:
    body = json.loads(message("contact.deleted", datetime(2026, 1, 2, tzinfo=UTC), {"a": 1}))
    assert body == {
        "type": "contact.deleted",
        "timestamp": "2026-01-02T00:00:00+00:00",
        "data": {"a": 1},
    }


def test_the_cache_reads_an_account_once_until_a_change_drops_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reads: list[str] = []
    endpoints = [("whep_1", ("contact.deleted", "contact.purged"))]

    def subscriptions(_session: object, account_id: str) -> list[tuple[str, tuple[str, ...]]]:
        reads.append(account_id)
        return list(endpoints)

    monkeypatch.setattr(outbox.queries, "subscriptions", subscriptions)
    cache = SubscriptionCache()
    session: Any = object()
    assert cache.get(session, "acme") == {
        "contact.deleted": ("whep_1",),
        "contact.purged": ("whep_1",),
    }
    assert cache.get(session, "acme")["contact.deleted"] == ("whep_1",)
    assert cache.get(session, "globex") == {
        "contact.deleted": ("whep_1",),
        "contact.purged": ("whep_1",),
    }
    assert reads == ["acme", "globex"]
    endpoints.clear()
    cache.apply(Change(7, "webhooks", "acme", None, ""))
    assert cache.get(session, "acme") == {}
    assert reads == ["acme", "globex", "acme"]


def test_a_read_that_began_before_a_change_is_not_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    cache = SubscriptionCache()

    def subscriptions(_session: object, account_id: str) -> list[tuple[str, tuple[str, ...]]]:
        cache.forget(account_id)  # the change lands while the read is under way
        return []

    monkeypatch.setattr(outbox.queries, "subscriptions", subscriptions)
    session: Any = object()
    cache.get(session, "acme")
    calls: list[str] = []
    monkeypatch.setattr(outbox.queries, "subscriptions", lambda _s, a: calls.append(a) or [])
    cache.get(session, "acme")
    assert calls == ["acme"]  # read again: the first answer was not cached
