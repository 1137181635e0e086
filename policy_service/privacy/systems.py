"""Erasure across systems: the systems downstream of the CRM, and their part of a request.

An account registers the systems its CRM feeds (``POST /v1/accounts/{a}/dsr-systems``),
each with a webhook endpoint of the account or none. When an erasure has done its own part
(``privacy/execution.py``), each system of the accounts it covers gets a task in the same
transaction: one with an endpoint is sent a ``dsr.system_task`` webhook (the person's
identity is added as it is sent, from the request); one without is a manual task. The
request stays ``in_progress`` - its deadline running for the whole - until every system has
confirmed (``POST /v1/dsr/{id}/systems/{system}/confirm``): a system with its counts, an
officer closing a manual task with a note. The last confirmation completes the request,
and its certificate lists each system and its confirmation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from policy_service.audit_trail.recording import caller_event, require, require_visible
from policy_service.decisions.authorization import Caller, check_in_account
from policy_service.domain import dsr as rules
from policy_service.domain.clock import iso, utcnow
from policy_service.domain.errors import Conflict, NotFound, Unprocessable
from policy_service.integration.outbox import DSR_SYSTEM_TASK
from policy_service.lifecycle.guards import load_account
from policy_service.ports import Acts, Announces, DsrDeps
from policy_service.privacy.completion import finish_erasure
from policy_service.privacy.records import load_visible
from policy_service.privacy.steps import record_transition
from policy_service.storage import dsr as dsr_queries
from policy_service.storage import dsr_systems as queries
from policy_service.storage import webhooks as webhook_queries
from policy_service.storage.dsr_systems import CONFIRMED, MANUAL, PENDING, DsrSystem, SystemTask
from policy_service.storage.tables import DsrRow
from policy_service.storage.unit_of_work import UnitOfWork

MANAGE = "dsr_system.manage"
CONFIRM = "dsr.system_confirm"

__all__ = [
    "DsrSystem",
    "SystemTask",
    "awaiting_systems",
    "certificate_entries",
    "confirm",
    "list_systems",
    "list_tasks",
    "register_system",
    "remove_system",
]


# -- the systems -------------------------------------------------------------------------------


def register_system(
    state: Acts, caller: Caller, account_id: str, name: str, endpoint_id: str | None
) -> DsrSystem:
    require(state, caller, "account", MANAGE, account_id=account_id)
    load_account(state, account_id)
    with state.unit_of_work() as uow:
        if endpoint_id is not None and (
            webhook_queries.get_endpoint(uow.session, account_id, endpoint_id) is None
        ):
            raise Unprocessable(
                f"no webhook endpoint {endpoint_id} in account {account_id}",
                errors={"webhook_id": ["not found"]},
            )
        system = queries.add_system(
            uow.session, account_id, name, endpoint_id, caller.acting_subject, utcnow()
        )
        if system is None:
            raise Conflict(f"account {account_id} already has a DSR system {name!r}")
        uow.record(
            caller_event(
                state.runtime,
                caller,
                "dsr_system.registered",
                "succeeded",
                account_id=account_id,
                target_type="dsr_system",
                target_id=name,
                details={"webhook_id": endpoint_id},
            )
        )
        uow.commit()
    return system


def list_systems(state: Acts, caller: Caller, account_id: str) -> list[DsrSystem]:
    require(state, caller, "account", MANAGE, account_id=account_id)
    with state.unit_of_work(write=False) as uow:
        return queries.systems_of(uow.session, [account_id])


def remove_system(state: Acts, caller: Caller, account_id: str, name: str) -> None:
    """Erasures executed from now on leave the system out; tasks it was given remain."""
    require(state, caller, "account", MANAGE, account_id=account_id)
    with state.unit_of_work() as uow:
        if not queries.remove_system(uow.session, account_id, name):
            raise NotFound(f"no DSR system {name!r} in account {account_id}")
        uow.record(
            caller_event(
                state.runtime,
                caller,
                "dsr_system.removed",
                "succeeded",
                account_id=account_id,
                target_type="dsr_system",
                target_id=name,
            )
        )
        uow.commit()


# -- a request's tasks -------------------------------------------------------------------------


def awaiting_systems(
    state: Announces, uow: UnitOfWork, caller: Caller, row: DsrRow, account_ids: Sequence[str]
) -> bool:
    """Whether the erasure must wait for downstream systems. The first time it is asked,
    each system of the accounts gets its task (and, with an endpoint, its webhook), in the
    caller's transaction."""
    session = uow.session
    tasks = queries.tasks_of(session, row.id)
    if tasks:
        return any(task.status == PENDING for task in tasks)
    systems = queries.systems_of(session, account_ids)
    if not systems:
        return False
    now = utcnow()
    for system in systems:
        task: dict[str, object] = {
            "dsr_id": row.id,
            "account_id": system.account_id,
            "system": system.name,
            "mode": _mode(system),
            "type": row.type,
            "jurisdiction": row.jurisdiction,
            "due_at": iso(row.due_at),
            "confirm": f"/v1/dsr/{row.id}/systems/{system.name}/confirm",
        }
        delivery_id = None
        if system.endpoint_id is not None:
            # To the system itself: the sender adds the person's identity (dsr_id given).
            delivery_id = state.outbox.deliver_to(
                session,
                system.endpoint_id,
                system.account_id,
                DSR_SYSTEM_TASK,
                task,
                dsr_id=row.id,
            )
        else:
            # A manual task: the account's endpoints that asked for dsr.system_task hear of
            # it (a ticketing tool, say), without the identity.
            state.outbox.publish(session, [system.account_id], DSR_SYSTEM_TASK, task)
        queries.add_task(session, row.id, system, delivery_id, now)
    tasked = [{"account_id": s.account_id, "system": s.name, "mode": _mode(s)} for s in systems]
    record_transition(
        state, uow, caller, row, "systems-tasked", rules.IN_PROGRESS, details={"systems": tasked}
    )
    return True


def _mode(system: DsrSystem) -> str:
    return "webhook" if system.endpoint_id is not None else MANUAL


def certificate_entries(tasks: Sequence[SystemTask]) -> list[dict[str, object]]:
    """What the certificate says of each system: how it was told, who confirmed it when, with
    what counts. An officer's note stays with the task (it is free text)."""
    return [
        {
            "account_id": task.account_id,
            "system": task.system,
            "mode": task.mode,
            "confirmed_by": task.confirmed_by,
            "confirmed_at": iso(task.confirmed_at),
            "counts": task.counts or {},
            "closed_with_note": task.note is not None,
        }
        for task in tasks
    ]


def list_tasks(state: Acts, caller: Caller, dsr_id: str) -> list[SystemTask]:
    with state.unit_of_work(write=False) as uow:
        load_visible(state, uow.session, caller, dsr_id)
        return queries.tasks_of(uow.session, dsr_id)


@dataclass(frozen=True)
class Confirmation:
    task: SystemTask
    status: str  # the request's, afterwards
    tasks: list[SystemTask]


def _pick(
    state: Acts, caller: Caller, dsr_id: str, system: str, account_id: str | None
) -> SystemTask:
    """The one task the caller confirms; a caller with no part in it is told it does not
    exist, as for a made-up request or system."""
    hidden = NotFound(f"no task for system {system!r} in data-subject request {dsr_id}")
    with state.unit_of_work(write=False) as uow:
        tasks = [
            t
            for t in queries.tasks_of(uow.session, dsr_id)
            if t.system == system and account_id in (None, t.account_id)
        ]
    if not tasks:
        raise hidden
    allowed = [
        t
        for t in tasks
        if check_in_account(state.runtime, caller, t.account_id, "dsr", CONFIRM).allowed
    ]
    if not allowed:  # records the refusal: 404 for outsiders, 403 for members without it
        require_visible(
            state,
            caller,
            "dsr",
            CONFIRM,
            account_id=tasks[0].account_id,
            hidden=hidden,
            target_type="dsr",
            target_id=dsr_id,
        )
    if len(allowed) > 1:
        raise Unprocessable(
            f"several accounts have a system {system!r}: name the account_id",
            errors={"account_id": sorted(t.account_id for t in allowed)},
        )
    return allowed[0]


def confirm(
    state: DsrDeps,
    caller: Caller,
    dsr_id: str,
    system: str,
    *,
    account_id: str | None = None,
    counts: dict[str, int] | None = None,
    note: str | None = None,
) -> Confirmation:
    """Confirm a system's part: with its counts (a system told by webhook), or with a note
    (an officer closing a manual task). The last confirmation completes the request."""
    picked = _pick(state, caller, dsr_id, system, account_id)
    note = note.strip() if note else None
    if picked.mode == MANUAL and not note:
        raise Unprocessable(
            "a manual task is closed with a note saying what was done",
            errors={"note": ["required"]},
        )
    if picked.mode != MANUAL and counts is None and not note:
        raise Unprocessable(
            "a system confirms with its counts (or an officer with a note)",
            errors={"counts": ["required"]},
        )
    with state.unit_of_work() as uow:
        row = dsr_queries.lock_request(uow.session, dsr_id)
        named = queries.lock_tasks(uow.session, dsr_id, system)
        locked = [t for t in named if t.account_id == picked.account_id]
        if row is None or not locked:
            raise NotFound(f"no task for system {system!r} in data-subject request {dsr_id}")
        if locked[0].status == CONFIRMED:
            raise Conflict(f"system {system!r} has already confirmed request {dsr_id}")
        task = queries.confirm_task(
            locked[0], counts=counts, note=note, by=caller.acting_subject, now=utcnow()
        )
        uow.record(
            caller_event(
                state.runtime,
                caller,
                "dsr.system_confirmed",
                "succeeded",
                account_id=task.account_id,
                target_type="dsr",
                target_id=dsr_id,
                dsr_id=dsr_id,
                details={"system": system, "mode": task.mode, "counts": counts or {}},
                subject_id=f"dsr/{dsr_id}" if note else None,
                protected={"note": note} if note else None,
            )
        )
        uow.session.flush()
        tasks = queries.tasks_of(uow.session, dsr_id)
        runner_at_work = row.lease_until is not None and row.lease_until > utcnow()
        every_one = all(t.status == CONFIRMED for t in tasks)
        if row.status == rules.IN_PROGRESS and every_one and not runner_at_work:
            finish_erasure(state, uow, caller, row, certificate_entries(tasks))
        status = row.status
        uow.commit()
    return Confirmation(task, status, tasks)
