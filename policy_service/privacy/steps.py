"""The steps a request moves through: verify identity, approve, deny, extend.

``received -> identity_verified -> approved | denied -> in_progress -> completed``; which
step applies in which status is ``domain.dsr.TRANSITIONS``. Every step is recorded twice, in
the same transaction as the change: a row in ``dsr_transitions`` (who, when, from, to) and an
audit event carrying the request's id.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from policy_service.decisions.authorization import Caller
from policy_service.domain import dsr as rules
from policy_service.domain.clock import as_utc, iso, utcnow
from policy_service.domain.errors import Conflict, InvalidInput, NotFound, Unprocessable
from policy_service.domain.suggestions import closest_choice
from policy_service.integration.outbox import DSR_STEP_EVENTS
from policy_service.ports import Acts, Announces, DsrSteps, Publishes
from policy_service.privacy.events import dsr_step_event
from policy_service.privacy.records import (
    ALL,
    DataSubjectRequest,
    accounts_of,
    authorize,
    request_view,
)
from policy_service.storage import dsr as queries
from policy_service.storage.tables import DsrRow
from policy_service.storage.unit_of_work import UnitOfWork


def record_transition(
    state: Announces,
    uow: UnitOfWork,
    caller: Caller,
    row: DsrRow,
    step: str,
    to_status: str,
    *,
    from_status: str | None = None,
    note: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Move the request to ``to_status`` (from its current status unless told otherwise),
    with its transition row and audit event."""
    now = utcnow()
    previous = row.status if from_status is None else from_status
    row.status = to_status
    row.updated_at = now
    queries.add_transition(
        uow.session,
        row.id,
        step=step,
        from_status=previous,
        to_status=to_status,
        by=caller.acting_subject,
        at=now,
        note=note,
    )
    uow.record(
        dsr_step_event(
            state,
            caller,
            row,
            step=step,
            from_status=previous,
            to_status=to_status,
            note=note,
            details=details,
        )
    )
    _announce(state, uow, row, step, to_status)


def _announce(state: Publishes, uow: UnitOfWork, row: DsrRow, step: str, status: str) -> None:
    """The step's webhook event, if it has one, to the endpoints of the request's accounts
    that want it (outbox rows in this transaction). Ids and dates only: no identity."""
    event_type = DSR_STEP_EVENTS.get(step)
    if event_type is None:
        return
    accounts = accounts_of(row)
    data: dict[str, object] = {
        "dsr_id": row.id,
        "type": row.type,
        "jurisdiction": row.jurisdiction,
        "status": status,
        "due_at": iso(row.due_at),
    }
    if step == "deny":
        data["exemption_code"] = row.exemption_code
    state.outbox.publish(
        uow.session, None if accounts == ALL else accounts, event_type, data, dsr_id=row.id
    )


@contextmanager
def step(
    state: Acts, caller: Caller, dsr_id: str, name: str
) -> Iterator[tuple[UnitOfWork, DsrRow]]:
    """A unit of work holding the request's row locked, once the step is known to apply.

    The caller is authorized before the write transaction opens: a refusal is recorded in a
    unit of work of its own, which must not wait on this one's lock (SQLite has one writer).
    """
    with state.unit_of_work(write=False) as reading:
        found = queries.get_request(reading.session, dsr_id)
        accounts = accounts_of(found) if found is not None else None
    if accounts is None:
        raise NotFound(f"no data-subject request {dsr_id}")
    authorize(state, caller, accounts, dsr_id)
    with state.unit_of_work() as uow:
        row = queries.lock_request(uow.session, dsr_id)
        if row is None:
            raise NotFound(f"no data-subject request {dsr_id}")
        if row.status not in rules.TRANSITIONS[name]:
            raise Conflict(
                f"request {dsr_id} is {row.status}; {name} applies to "
                f"{', '.join(sorted(rules.TRANSITIONS[name]))}",
                status_now=row.status,
            )
        yield uow, row


def verify_identity(
    state: DsrSteps, caller: Caller, dsr_id: str, method: str
) -> DataSubjectRequest:
    with step(state, caller, dsr_id, "verify-identity") as (uow, row):
        record_transition(
            state,
            uow,
            caller,
            row,
            "verify-identity",
            rules.IDENTITY_VERIFIED,
            details={"method": method},
        )
        uow.commit()
        return request_view(uow.session, row)


def approve(state: DsrSteps, caller: Caller, dsr_id: str) -> DataSubjectRequest:
    with step(state, caller, dsr_id, "approve") as (uow, row):
        record_transition(state, uow, caller, row, "approve", rules.APPROVED)
        uow.commit()
        return request_view(uow.session, row)


def deny(
    state: DsrSteps, caller: Caller, dsr_id: str, exemption_code: str | None, text: str | None
) -> DataSubjectRequest:
    with step(state, caller, dsr_id, "deny") as (uow, row):
        codes = rules.EXEMPTIONS[row.jurisdiction]
        if exemption_code is None or exemption_code not in codes or not (text or "").strip():
            hint = [f"one of {sorted(codes)}"]
            suggestion = closest_choice(exemption_code, codes)
            if suggestion is not None and suggestion != exemption_code:
                hint.append(f"did you mean {suggestion!r}?")
            raise Unprocessable(
                "a denial needs an exemption code and a text",
                errors={"exemption_code": hint, "text": ["required"]},
            )
        row.exemption_code = exemption_code
        row.identity_ciphertext = None  # nothing more will be done with it
        ground = {"exemption_code": exemption_code, "ground": codes[exemption_code]}
        record_transition(state, uow, caller, row, "deny", rules.DENIED, note=text, details=ground)
        uow.commit()
        return request_view(uow.session, row)


def extend(state: DsrSteps, caller: Caller, dsr_id: str, reason: str) -> DataSubjectRequest:
    with step(state, caller, dsr_id, "extend") as (uow, row):
        if row.extended:
            raise Conflict(f"request {dsr_id} was already extended once")
        if as_utc(row.due_at) < utcnow():
            raise Conflict("the first deadline has passed; an extension had to be made before it")
        if not reason.strip():
            raise InvalidInput("an extension needs its reason", errors={"reason": ["required"]})
        previous = as_utc(row.due_at)
        row.due_at = rules.extended_deadline(row.jurisdiction, previous)
        row.extended = True
        since = {"previous_due_at": iso(previous)}
        record_transition(state, uow, caller, row, "extend", row.status, note=reason, details=since)
        uow.commit()
        return request_view(uow.session, row)
