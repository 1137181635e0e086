"""Sending webhooks: signed per Standard Webhooks, at least once, with backoff.

The outbox (``integration/outbox.py``) holds what is to be sent. ``deliver_due`` - the
scheduler's ``webhook_delivery`` task, run by one worker of all - leases each due delivery
with a conditional UPDATE (so even two runners never send the same attempt), sends it
outside any transaction, and records the attempt:

* a 2xx answer: ``succeeded``;
* anything else (another status, a timeout, a refused connection): ``pending`` again, due
  after ``base * 2^(attempts-1)`` seconds, capped at ``webhook_retry_max_seconds``, with
  jitter (a random share of up to half of it taken off, so receivers that came back are not
  hit by every sender at once); after ``webhook_max_attempts`` it is ``failed``.

A runner that dies mid-send leaves its lease to expire and the delivery is sent again: the
receiver sees the same ``webhook-id`` and drops the duplicate, as the specification asks.

Headers: ``webhook-id`` (the message id, the same on every attempt and every endpoint),
``webhook-timestamp`` (seconds since the epoch) and ``webhook-signature`` (``v1,`` + base64
HMAC-SHA256 of ``id.timestamp.body`` under the endpoint's ``whsec_`` secret), made with the
``standardwebhooks`` library. Secrets are 24 random bytes, kept sealed.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import random
import secrets
import socket
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import structlog
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from standardwebhooks import Webhook

from policy_service.config import Settings
from policy_service.domain.clock import utcnow
from policy_service.integration import metrics
from policy_service.integration.outbox import DSR_SYSTEM_TASK
from policy_service.ports import DeliveryDeps, Seals, SealsDeliveries, Stores
from policy_service.privacy.sealing import derive_key, open_identity
from policy_service.storage import dsr as dsr_queries
from policy_service.storage import webhooks as queries
from policy_service.storage.webhooks import FAILED, PENDING, SUCCEEDED, Outgoing

log = structlog.get_logger(__name__)

SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix Standard Webhooks secrets carry
SECRET_BYTES = 24
NONCE_BYTES = 12
# A runner that has not recorded its attempt by then is taken to have died.
LEASE = timedelta(seconds=120)
# Deliveries leased at once: sent one after the other, all within the lease even when every
# receiver takes its whole timeout.
BATCH = 10
USER_AGENT = "policy-service-webhooks/1"
MAX_ERROR_CHARS = 500


# -- secrets -----------------------------------------------------------------------------------


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def seal_secret(state: Seals, endpoint_id: str, secret: str) -> str:
    """The secret encrypted for its endpoint (AES-GCM, the endpoint id as associated data)."""
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(derive_key(state, b"webhook-secret")).encrypt(
        nonce, secret.encode(), endpoint_id.encode()
    )
    return base64.b64encode(nonce + sealed).decode()


def open_secret(state: Seals, endpoint_id: str, token: str) -> str:
    raw = base64.b64decode(token)
    key = AESGCM(derive_key(state, b"webhook-secret"))
    return key.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], endpoint_id.encode()).decode()


def signed_headers(secret: str, message_id: str, at: datetime, body: str) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, at, body),
    }


# -- sending -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """What one attempt came to: the receiver's status, or why there was none."""

    status_code: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


# Sends (url, body, headers, timeout); tests may pass their own.
Sender = Callable[[str, bytes, Mapping[str, str], float], Answer]


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is the receiver's answer (a failed attempt), not a place to go: following
    it could lead a signed delivery anywhere, private addresses included."""

    def redirect_request(self, *_: object, **__: object) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def address_refused(settings: Settings, url: str) -> str | None:
    """Why a URL may not be sent to, or None. In production (unless allowed) a host that
    resolves to a loopback, private, link-local or otherwise non-global address is refused,
    so an endpoint cannot be pointed at the service's own network."""
    if not settings.is_production or settings.webhook_allow_private_addresses:
        return None
    host = urlsplit(url).hostname
    if not host:
        return "the URL has no host"
    try:
        found = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError as error:
        return f"{host} does not resolve: {error}"
    for address in found:
        if not ipaddress.ip_address(str(address).split("%")[0]).is_global:
            return f"{host} resolves to {address}, which is not a public address"
    return None


def http_send(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> Answer:
    # The URL's scheme is http or https: checked when the endpoint was registered, and here.
    if not url.startswith(("http://", "https://")):
        return Answer(None, "not an http(s) URL")
    request = urllib.request.Request(url, data=body, method="POST", headers=dict(headers))  # noqa: S310
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return Answer(response.status, None)
    except urllib.error.HTTPError as error:
        return Answer(error.code, f"HTTP {error.code}")
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        return Answer(None, f"{type(error).__name__}: {reason}"[:MAX_ERROR_CHARS])


def backoff(settings: Settings, attempts: int, rng: random.Random | None = None) -> timedelta:
    """The wait after the ``attempts``-th failed attempt: doubling, capped, with jitter."""
    base = settings.webhook_retry_base_seconds * 2 ** max(attempts - 1, 0)
    capped = min(base, settings.webhook_retry_max_seconds)
    jitter = (rng or random).uniform(0.5, 1.0)
    return timedelta(seconds=capped * jitter)


@dataclass
class DeliveryReport:
    sent: int = 0
    succeeded: int = 0
    retrying: int = 0
    failed: int = 0
    lost: int = 0  # leases that ran out before the attempt was recorded
    ids: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        return {
            "sent": self.sent,
            "succeeded": self.succeeded,
            "retrying": self.retrying,
            "failed": self.failed,
            "lost": self.lost,
        }


def _runner_id() -> str:
    return f"{socket.gethostname()[:120]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def _claim(state: Stores, owner: str, now: datetime, limit: int) -> list[Outgoing]:
    with state.unit_of_work() as uow:
        due = queries.due_ids(uow.session, now, limit)
        won = [d for d in due if queries.claim(uow.session, d, owner, now, now + LEASE)]
        found = queries.outgoing(uow.session, won)
        uow.commit()
    return found


def _body(state: SealsDeliveries, delivery: Outgoing) -> str:
    """The body as sent. A DSR system's task carries the person's identity, read from the
    request as it is sent (never kept in the outbox); once the request completes the
    identity is gone, and so it is from the task."""
    if delivery.event_type != DSR_SYSTEM_TASK or delivery.dsr_id is None:
        return delivery.payload
    with state.unit_of_work(write=False) as uow:
        row = dsr_queries.get_request(uow.session, delivery.dsr_id)
        sealed = row.identity_ciphertext if row is not None else None
    if sealed is None:
        return delivery.payload
    identity = open_identity(state, delivery.dsr_id, sealed)
    message = json.loads(delivery.payload)
    message["data"]["identity"] = {"email": identity.email, "phone": identity.phone}
    return json.dumps(message, sort_keys=True, separators=(",", ":"))


def _attempt(state: SealsDeliveries, delivery: Outgoing, send: Sender) -> tuple[Answer, int]:
    at = utcnow()
    try:
        body = _body(state, delivery)
        secret = open_secret(state, delivery.endpoint_id, delivery.secret_ciphertext)
    except Exception as error:  # a payload or secret that cannot be opened: a failed attempt
        log.exception("webhooks.prepare_failed", delivery_id=delivery.id)
        return Answer(None, f"not sent: {type(error).__name__}"), 0
    refused = address_refused(state.settings, delivery.url)
    if refused is not None:
        return Answer(None, f"not sent: {refused}"[:MAX_ERROR_CHARS]), 0
    headers = {
        **signed_headers(secret, delivery.message_id, at, body),
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }
    started = time.monotonic()
    answer = send(delivery.url, body.encode(), headers, state.settings.webhook_timeout_seconds)
    return answer, round((time.monotonic() - started) * 1000)


def deliver_due(
    state: SealsDeliveries,
    *,
    send: Sender = http_send,
    limit: int = BATCH,
    rng: random.Random | None = None,
) -> DeliveryReport:
    """Send every delivery that is due (a batch of ``limit`` at a time) and record each
    attempt. Returns what became of them."""
    settings = state.settings
    owner = _runner_id()
    report = DeliveryReport()
    while True:
        batch = _claim(state, owner, utcnow(), limit)
        for delivery in batch:
            answer, duration_ms = _attempt(state, delivery, send)
            attempts = delivery.attempts + 1
            now = utcnow()
            if answer.ok:
                status, next_at = SUCCEEDED, now
            elif attempts >= settings.webhook_max_attempts:
                status, next_at = FAILED, now
            else:
                status, next_at = PENDING, now + backoff(settings, attempts, rng)
            with state.unit_of_work() as uow:
                recorded = queries.record_attempt(
                    uow.session,
                    delivery.id,
                    owner,
                    at=now,
                    status_code=answer.status_code,
                    error=answer.error,
                    duration_ms=duration_ms,
                    status=status,
                    next_attempt_at=next_at,
                )
                uow.commit()
            report.sent += 1
            report.ids.append(delivery.id)
            metrics.WEBHOOK_DELIVERIES.labels(delivery.event_type, status).inc()
            if not answer.ok:
                metrics.WEBHOOK_FAILURES.labels(delivery.event_type).inc()
            if not recorded:
                report.lost += 1
            elif status == SUCCEEDED:
                report.succeeded += 1
            elif status == FAILED:
                report.failed += 1
                log.warning("webhooks.delivery_failed", delivery_id=delivery.id, attempts=attempts)
            else:
                report.retrying += 1
        if len(batch) < limit:
            return report


def prune_log(state: DeliveryDeps) -> int:
    """Delete delivered and failed deliveries older than ``webhook_log_retention_days``
    (with their attempts); how many."""
    days = state.settings.webhook_log_retention_days
    if days <= 0:
        return 0
    with state.unit_of_work() as uow:
        removed = queries.remove_finished_before(uow.session, utcnow() - timedelta(days=days))
        uow.commit()
    return removed
