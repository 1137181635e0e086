"""Managing an account's webhook endpoints: register, list, remove, read the delivery log,
redeliver. Each change is audited in its own transaction and, for endpoints, announced on
the change log so every worker's subscription cache picks it up.

Who may: ``webhook.manage`` in the account (``policies/rules.csv``: its admins, platform
admins). An endpoint or delivery of another account answers 404, as one that does not exist.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from policy_service.audit_trail.recording import caller_event, require
from policy_service.decisions.authorization import Caller
from policy_service.domain.clock import as_utc, utcnow
from policy_service.domain.errors import Conflict, InvalidInput, NotFound, Unprocessable
from policy_service.integration.outbox import EVENT_TYPES
from policy_service.integration.webhooks import address_refused, new_secret, seal_secret
from policy_service.lifecycle.guards import load_account
from policy_service.ports import Acts, EndpointDeps, ManagesEndpoints
from policy_service.storage import webhooks as queries
from policy_service.storage.contacts import new_id
from policy_service.storage.webhooks import Attempt, Delivery, Endpoint

PERMISSION = "webhook.manage"
MAX_ENDPOINTS = 20  # per account: each event is written once per endpoint that wants it


@dataclass(frozen=True)
class NewEndpoint:
    endpoint: Endpoint
    secret: str  # shown once


@dataclass(frozen=True)
class LoggedDelivery:
    delivery: Delivery
    attempts: list[Attempt]


def _check(url: str, events: Sequence[str]) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("url must be an http(s) URL with a host", errors={"url": [url[:200]]})
    if parts.username is not None or parts.password is not None:
        # Credentials in a URL would be shown to every admin who lists the endpoints (and
        # urllib does not send them anyway): authenticate with the signature instead.
        raise InvalidInput(
            "url must not carry a user name or password: receivers check the signature",
            errors={"url": ["no user:password@ in the URL"]},
        )
    try:
        parts.port  # noqa: B018 (urllib checks the range only when asked)
    except ValueError:
        raise InvalidInput(
            "url has a port outside 1..65535", errors={"url": ["port outside 1..65535"]}
        ) from None
    if parts.port == 0:
        raise InvalidInput(
            "url has a port outside 1..65535", errors={"url": ["port outside 1..65535"]}
        )
    unknown = sorted(set(events) - set(EVENT_TYPES))
    if not events or unknown:
        raise InvalidInput(
            f"events: one or more of {', '.join(EVENT_TYPES)}",
            errors={"events": unknown or ["empty"]},
        )


def create_endpoint(
    state: EndpointDeps,
    caller: Caller,
    account_id: str,
    *,
    url: str,
    events: Sequence[str],
    description: str = "",
) -> NewEndpoint:
    require(state, caller, "account", PERMISSION, account_id=account_id)
    _check(url, events)
    refused = address_refused(state.settings, url)
    if refused is not None:
        raise Unprocessable(f"webhooks are not sent there: {refused}", errors={"url": [refused]})
    load_account(state, account_id)
    secret = new_secret()
    endpoint_id = new_id("whep")
    with state.unit_of_work() as uow:
        if len(queries.endpoints_of(uow.session, account_id)) >= MAX_ENDPOINTS:
            raise Conflict(f"account {account_id} has {MAX_ENDPOINTS} endpoints already")
        endpoint = queries.add_endpoint(
            uow.session,
            account_id,
            url=url,
            events=events,
            description=description,
            secret_ciphertext=seal_secret(state, endpoint_id, secret),
            created_by=caller.acting_subject,
            now=utcnow(),
            endpoint_id=endpoint_id,
        )
        uow.record(
            caller_event(
                state.runtime,
                caller,
                "webhook.created",
                "succeeded",
                account_id=account_id,
                target_type="webhook",
                target_id=endpoint.id,
                details={"url": url, "events": list(endpoint.events)},
            )
        )
        state.webhooks_changed(uow.session, account_id)
        uow.commit()
    return NewEndpoint(endpoint, secret)


def list_endpoints(state: Acts, caller: Caller, account_id: str) -> list[Endpoint]:
    require(state, caller, "account", PERMISSION, account_id=account_id)
    with state.unit_of_work(write=False) as uow:
        return queries.endpoints_of(uow.session, account_id)


def get_endpoint(state: Acts, caller: Caller, account_id: str, endpoint_id: str) -> Endpoint:
    require(state, caller, "account", PERMISSION, account_id=account_id)
    with state.unit_of_work(write=False) as uow:
        return _found(queries.get_endpoint(uow.session, account_id, endpoint_id), endpoint_id)


def _found(endpoint: Endpoint | None, endpoint_id: str) -> Endpoint:
    if endpoint is None:
        raise NotFound(f"no webhook endpoint {endpoint_id}")
    return endpoint


def delete_endpoint(
    state: ManagesEndpoints, caller: Caller, account_id: str, endpoint_id: str
) -> None:
    """Remove the endpoint with its delivery log. Refused (409) while a DSR system is told
    through it: remove or re-register the system first."""
    require(state, caller, "account", PERMISSION, account_id=account_id)
    with state.unit_of_work() as uow:
        _found(queries.get_endpoint(uow.session, account_id, endpoint_id), endpoint_id)
        systems = queries.endpoint_in_use(uow.session, account_id, endpoint_id)
        if systems:
            raise Conflict(
                f"webhook endpoint {endpoint_id} tells the DSR systems {', '.join(systems)}; "
                "remove them first"
            )
        queries.remove_endpoint(uow.session, account_id, endpoint_id)
        uow.record(
            caller_event(
                state.runtime,
                caller,
                "webhook.deleted",
                "succeeded",
                account_id=account_id,
                target_type="webhook",
                target_id=endpoint_id,
            )
        )
        state.webhooks_changed(uow.session, account_id)
        uow.commit()


# -- the delivery log --------------------------------------------------------------------------


def _encode_cursor(delivery: Delivery) -> str:
    raw = json.dumps([as_utc(delivery.created_at).isoformat(), delivery.id])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created, delivery_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return as_utc(datetime.fromisoformat(created)), str(delivery_id)
    except (ValueError, TypeError, UnicodeDecodeError):
        raise InvalidInput(
            "the cursor is not one this service handed out", errors={"cursor": ["not valid"]}
        ) from None


def list_deliveries(
    state: Acts,
    caller: Caller,
    account_id: str,
    endpoint_id: str,
    *,
    status: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[LoggedDelivery], str | None]:
    """An endpoint's deliveries, newest first, each with its attempts; and the next cursor."""
    require(state, caller, "account", PERMISSION, account_id=account_id)
    after = _decode_cursor(cursor) if cursor is not None else None
    with state.unit_of_work(write=False) as uow:
        _found(queries.get_endpoint(uow.session, account_id, endpoint_id), endpoint_id)
        page = queries.deliveries_of(
            uow.session, endpoint_id, status=status, after=after, limit=limit + 1
        )
        attempts = queries.attempts_of(uow.session, [d.id for d in page[:limit]])
    logged = [LoggedDelivery(d, attempts[d.id]) for d in page[:limit]]
    next_cursor = _encode_cursor(page[limit - 1]) if len(page) > limit else None
    return logged, next_cursor


def redeliver(
    state: Acts, caller: Caller, account_id: str, endpoint_id: str, delivery_id: str
) -> LoggedDelivery:
    """Send a delivery again: pending, due now, its attempts counted afresh (those made are
    kept in its log)."""
    require(state, caller, "account", PERMISSION, account_id=account_id)
    with state.unit_of_work() as uow:
        _found(queries.get_endpoint(uow.session, account_id, endpoint_id), endpoint_id)
        if queries.get_delivery(uow.session, endpoint_id, delivery_id) is None:
            raise NotFound(f"no delivery {delivery_id}")
        queries.reset_delivery(uow.session, delivery_id, utcnow())
        uow.record(
            caller_event(
                state.runtime,
                caller,
                "webhook.redelivered",
                "succeeded",
                account_id=account_id,
                target_type="webhook_delivery",
                target_id=delivery_id,
                details={"endpoint_id": endpoint_id},
            )
        )
        delivery = queries.get_delivery(uow.session, endpoint_id, delivery_id)
        attempts = queries.attempts_of(uow.session, [delivery_id])[delivery_id]
        uow.commit()
    assert delivery is not None
    return LoggedDelivery(delivery, attempts)
