"""Named queries of webhooks: endpoints, the outbox (one row per delivery), attempts.

``integration/`` asks the database for nothing that is not a function here. Claiming a
delivery is one conditional ``UPDATE`` whose row count says who won, so of several workers
(or a worker and a redeliver call) exactly one sends an attempt.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import CursorResult, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from policy_service.storage.contacts import new_id
from policy_service.storage.rows import from_row
from policy_service.storage.tables import (
    DsrSystemRow,
    WebhookAttemptRow,
    WebhookEndpointRow,
    WebhookOutboxRow,
)

PENDING, SUCCEEDED, FAILED = "pending", "succeeded", "failed"


@dataclass(frozen=True)
class Endpoint:
    id: str
    account_id: str
    url: str
    events: tuple[str, ...]
    description: str
    created_by: str
    created_at: datetime


@dataclass(frozen=True)
class Attempt:
    attempted_at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


@dataclass(frozen=True)
class Delivery:
    id: str
    message_id: str
    endpoint_id: str
    account_id: str
    event_type: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


@dataclass(frozen=True)
class Outgoing:
    """A claimed delivery with what sending it needs."""

    id: str
    message_id: str
    endpoint_id: str
    event_type: str
    payload: str
    dsr_id: str | None
    attempts: int
    url: str
    secret_ciphertext: str


def _endpoint(row: WebhookEndpointRow) -> Endpoint:
    return from_row(Endpoint, row, events=tuple(json.loads(row.events)))


def _delivery(row: WebhookOutboxRow) -> Delivery:
    # A due time means something only while the delivery is still to be sent.
    next_attempt_at = row.next_attempt_at if row.status == PENDING else None
    return from_row(Delivery, row, next_attempt_at=next_attempt_at)


# -- endpoints ---------------------------------------------------------------------------------


def add_endpoint(
    session: Session,
    account_id: str,
    *,
    url: str,
    events: Sequence[str],
    description: str,
    secret_ciphertext: str,
    created_by: str,
    now: datetime,
    endpoint_id: str | None = None,
) -> Endpoint:
    row = WebhookEndpointRow(
        id=endpoint_id or new_id("whep"),
        account_id=account_id,
        url=url,
        events=json.dumps(sorted(set(events))),
        description=description,
        secret_ciphertext=secret_ciphertext,
        created_by=created_by,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return _endpoint(row)


def endpoints_of(session: Session, account_id: str) -> list[Endpoint]:
    query = (
        select(WebhookEndpointRow)
        .where(WebhookEndpointRow.account_id == account_id)
        .order_by(WebhookEndpointRow.created_at, WebhookEndpointRow.id)
    )
    return [_endpoint(row) for row in session.execute(query).scalars()]


def get_endpoint(session: Session, account_id: str, endpoint_id: str) -> Endpoint | None:
    row = session.get(WebhookEndpointRow, endpoint_id)
    return _endpoint(row) if row is not None and row.account_id == account_id else None


def subscriptions(session: Session, account_id: str) -> list[tuple[str, tuple[str, ...]]]:
    """(endpoint id, events wanted) of each of the account's endpoints: the one indexed
    lookup an account pays for its webhooks, cached per worker (``integration/outbox.py``)."""
    query = select(WebhookEndpointRow.id, WebhookEndpointRow.events).where(
        WebhookEndpointRow.account_id == account_id
    )
    return [(str(i), tuple(json.loads(e))) for i, e in session.execute(query)]


def accounts_with_endpoints(session: Session) -> list[str]:
    """For events about every account (a data-subject request about "all")."""
    query = select(WebhookEndpointRow.account_id).distinct().order_by(WebhookEndpointRow.account_id)
    return list(session.execute(query).scalars())


def endpoint_in_use(session: Session, account_id: str, endpoint_id: str) -> list[str]:
    """The DSR systems told through the endpoint."""
    query = select(DsrSystemRow.name).where(
        DsrSystemRow.account_id == account_id, DsrSystemRow.endpoint_id == endpoint_id
    )
    return list(session.execute(query).scalars())


def remove_endpoint(session: Session, account_id: str, endpoint_id: str) -> bool:
    """The endpoint, its deliveries and their attempts; False if it is not the account's."""
    deliveries = select(WebhookOutboxRow.id).where(WebhookOutboxRow.endpoint_id == endpoint_id)
    removed: CursorResult[tuple[()]] = session.execute(  # type: ignore[assignment]
        delete(WebhookEndpointRow).where(
            WebhookEndpointRow.id == endpoint_id, WebhookEndpointRow.account_id == account_id
        )
    )
    if removed.rowcount != 1:
        return False
    session.execute(delete(WebhookAttemptRow).where(WebhookAttemptRow.delivery_id.in_(deliveries)))
    session.execute(delete(WebhookOutboxRow).where(WebhookOutboxRow.endpoint_id == endpoint_id))
    return True


# -- the outbox --------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewDelivery:
    message_id: str
    endpoint_id: str
    account_id: str
    event_type: str
    payload: str
    dsr_id: str | None = None


def add_deliveries(session: Session, deliveries: Sequence[NewDelivery], now: datetime) -> list[str]:
    """Write deliveries to the outbox in one statement; their ids, in order."""
    ids = [new_id("dlv") for _ in deliveries]
    if deliveries:
        session.execute(
            insert(WebhookOutboxRow),
            [
                {
                    "id": delivery_id,
                    "message_id": d.message_id,
                    "endpoint_id": d.endpoint_id,
                    "account_id": d.account_id,
                    "event_type": d.event_type,
                    "payload": d.payload,
                    "dsr_id": d.dsr_id,
                    "status": PENDING,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
                for delivery_id, d in zip(ids, deliveries, strict=True)
            ],
        )
    return ids


def deliveries_of(
    session: Session,
    endpoint_id: str,
    *,
    status: str | None,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[Delivery]:
    """An endpoint's deliveries, newest first; ``after`` is the (created_at, id) of the last
    one of the previous page."""
    query = select(WebhookOutboxRow).where(WebhookOutboxRow.endpoint_id == endpoint_id)
    if status is not None:
        query = query.where(WebhookOutboxRow.status == status)
    if after is not None:
        created, delivery_id = after
        query = query.where(
            or_(
                WebhookOutboxRow.created_at < created,
                (WebhookOutboxRow.created_at == created) & (WebhookOutboxRow.id < delivery_id),
            )
        )
    query = query.order_by(WebhookOutboxRow.created_at.desc(), WebhookOutboxRow.id.desc())
    return [_delivery(row) for row in session.execute(query.limit(limit)).scalars()]


def get_delivery(session: Session, endpoint_id: str, delivery_id: str) -> Delivery | None:
    row = session.get(WebhookOutboxRow, delivery_id)
    return _delivery(row) if row is not None and row.endpoint_id == endpoint_id else None


def attempts_of(session: Session, delivery_ids: Sequence[str]) -> dict[str, list[Attempt]]:
    found: dict[str, list[Attempt]] = {d: [] for d in delivery_ids}
    if not delivery_ids:
        return found
    query = (
        select(WebhookAttemptRow)
        .where(WebhookAttemptRow.delivery_id.in_(list(delivery_ids)))
        .order_by(WebhookAttemptRow.id)
    )
    for row in session.execute(query).scalars():
        found[row.delivery_id].append(
            Attempt(row.attempted_at, row.status_code, row.error, row.duration_ms)
        )
    return found


def reset_delivery(session: Session, delivery_id: str, now: datetime) -> None:
    """Redeliver: pending again, due now, with a fresh count of attempts."""
    session.execute(
        update(WebhookOutboxRow)
        .where(WebhookOutboxRow.id == delivery_id)
        .values(
            status=PENDING,
            attempts=0,
            next_attempt_at=now,
            lease_owner=None,
            lease_until=None,
            delivered_at=None,
        )
    )


# -- sending -----------------------------------------------------------------------------------


def due_ids(session: Session, now: datetime, limit: int) -> list[str]:
    query = (
        select(WebhookOutboxRow.id)
        .where(
            WebhookOutboxRow.status == PENDING,
            WebhookOutboxRow.next_attempt_at <= now,
            or_(WebhookOutboxRow.lease_until.is_(None), WebhookOutboxRow.lease_until < now),
        )
        .order_by(WebhookOutboxRow.next_attempt_at, WebhookOutboxRow.id)
        .limit(limit)
    )
    return list(session.execute(query).scalars())


def claim(session: Session, delivery_id: str, owner: str, now: datetime, until: datetime) -> bool:
    """Lease one due delivery; True only for the one caller whose UPDATE took it."""
    result: CursorResult[tuple[()]] = session.execute(  # type: ignore[assignment]
        update(WebhookOutboxRow)
        .where(
            WebhookOutboxRow.id == delivery_id,
            WebhookOutboxRow.status == PENDING,
            WebhookOutboxRow.next_attempt_at <= now,
            or_(WebhookOutboxRow.lease_until.is_(None), WebhookOutboxRow.lease_until < now),
        )
        .values(lease_owner=owner, lease_until=until)
    )
    return result.rowcount == 1


def outgoing(session: Session, delivery_ids: Sequence[str]) -> list[Outgoing]:
    if not delivery_ids:
        return []
    query = (
        select(
            WebhookOutboxRow.id,
            WebhookOutboxRow.message_id,
            WebhookOutboxRow.endpoint_id,
            WebhookOutboxRow.event_type,
            WebhookOutboxRow.payload,
            WebhookOutboxRow.dsr_id,
            WebhookOutboxRow.attempts,
            WebhookEndpointRow.url,
            WebhookEndpointRow.secret_ciphertext,
        )
        .join(WebhookEndpointRow, WebhookEndpointRow.id == WebhookOutboxRow.endpoint_id)
        .where(WebhookOutboxRow.id.in_(list(delivery_ids)))
        .order_by(WebhookOutboxRow.next_attempt_at, WebhookOutboxRow.id)
    )
    return [Outgoing(*row) for row in session.execute(query)]


def record_attempt(
    session: Session,
    delivery_id: str,
    owner: str,
    *,
    at: datetime,
    status_code: int | None,
    error: str | None,
    duration_ms: int,
    status: str,
    next_attempt_at: datetime,
) -> bool:
    """Record an attempt and its consequence, if ``owner`` still holds the lease."""
    result: CursorResult[tuple[()]] = session.execute(  # type: ignore[assignment]
        update(WebhookOutboxRow)
        .where(WebhookOutboxRow.id == delivery_id, WebhookOutboxRow.lease_owner == owner)
        .values(
            status=status,
            attempts=WebhookOutboxRow.attempts + 1,
            next_attempt_at=next_attempt_at,
            lease_owner=None,
            lease_until=None,
            last_status_code=status_code,
            last_error=error,
            delivered_at=at if status == SUCCEEDED else None,
        )
    )
    if result.rowcount != 1:
        return False
    session.add(
        WebhookAttemptRow(
            delivery_id=delivery_id,
            attempted_at=at,
            status_code=status_code,
            error=error,
            duration_ms=duration_ms,
        )
    )
    return True


def remove_finished_before(session: Session, before: datetime) -> int:
    """Delivered and failed deliveries created before ``before``, with their attempts."""
    finished = select(WebhookOutboxRow.id).where(
        WebhookOutboxRow.status.in_((SUCCEEDED, FAILED)), WebhookOutboxRow.created_at < before
    )
    session.execute(delete(WebhookAttemptRow).where(WebhookAttemptRow.delivery_id.in_(finished)))
    removed: CursorResult[tuple[()]] = session.execute(  # type: ignore[assignment]
        delete(WebhookOutboxRow).where(
            WebhookOutboxRow.status.in_((SUCCEEDED, FAILED)), WebhookOutboxRow.created_at < before
        )
    )
    return int(removed.rowcount)


def count_by_status(session: Session) -> dict[str, int]:
    query = select(WebhookOutboxRow.status, func.count()).group_by(WebhookOutboxRow.status)
    return {str(status): int(count) for status, count in session.execute(query)}
