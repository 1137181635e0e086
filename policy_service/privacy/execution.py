"""Carrying a request out, as a leased, resumable job (as bulk jobs are run).

``execute`` moves the request to ``in_progress`` and takes its lease (``lease_owner``,
``lease_until``) in one transaction, recording who executed it. The runner then:

1. finds every contact the identity matches (active or in the trash) in the accounts the
   request covers and writes the new ones to ``dsr_items``;
2. for an erasure, works through the pending items a chunk at a time: each chunk renews the
   lease under the request's row lock, and its purges, cascades, audit events and item
   outcomes commit together, so no contact is erased twice or missed;
3. completes in one transaction: the suppression entries (erasure) or the sealed package
   (access), the signed certificate, the identity wiped, the lease released.

An ``execute`` call works for up to ``REQUEST_BUDGET``; a request not done by then is
answered ``in_progress`` and left to the scheduler's job recovery (or the next call). A
runner that fails releases the lease, so the request can be executed again at once; one that
dies (a killed worker) leaves its lease to expire, after which the job recovery or a call
resumes it from the first pending item. A call that finds another live runner at work
answers the request as it stands.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog

from policy_service.decisions.authorization import Caller
from policy_service.domain import dsr as rules
from policy_service.domain.accounts import Account
from policy_service.domain.cascade import CascadeProfile
from policy_service.domain.clock import utcnow
from policy_service.domain.contacts import PURGED, Contact
from policy_service.domain.dsr import Identity
from policy_service.domain.errors import Conflict
from policy_service.lifecycle.actions import decide_on_contact, load_account
from policy_service.lifecycle.bulk import ChunkRaced, purge_chunk_rows
from policy_service.ports import Acts, DsrDeps, LifecycleDeps, OpensSealed, Stores
from policy_service.privacy.certificate import access_summary_and_package
from policy_service.privacy.completion import finish, finish_erasure
from policy_service.privacy.records import (
    ALL,
    Accounts,
    DataSubjectRequest,
    accounts_of,
    request_view,
)
from policy_service.privacy.sealing import open_identity, seal
from policy_service.privacy.steps import record_transition, step
from policy_service.privacy.systems import awaiting_systems, certificate_entries
from policy_service.storage import contacts as store
from policy_service.storage import dsr as queries
from policy_service.storage.dsr_systems import tasks_of as system_tasks
from policy_service.storage.tables import DsrRow
from policy_service.storage.unit_of_work import UnitOfWork

log = structlog.get_logger(__name__)

ERASURE_PROFILE = "erasure"
# A runner renews its lease with every chunk; one that stops for this long has died.
LEASE = timedelta(seconds=60)
# How long an execute call works before it answers and leaves the rest to the job recovery
# (well inside the worker's 60 s timeout).
REQUEST_BUDGET = timedelta(seconds=20)
# What became of each contact found.
ERASED, RESTRICTED, REFUSED, GONE = "erased", "restricted", "refused", "gone"


@dataclass(frozen=True)
class _Plan:
    """What a run needs to know, read once under its lease."""

    dsr_id: str
    kind: str
    accounts: Accounts
    account_ids: list[str]
    identity: Identity
    caller: Caller


class _LeaseLost(Exception):
    """Another runner took the request over (this one stopped renewing in time)."""


def runner_id() -> str:
    return f"{socket.gethostname()[:120]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def _caller_json(caller: Caller) -> str:
    return json.dumps(
        {
            "principal_id": caller.principal_id,
            "kind": caller.kind,
            "platform_admin": caller.platform_admin,
            "on_behalf_of": caller.on_behalf_of,
            "request_id": caller.request_id,
        }
    )


def _executor(row: DsrRow) -> Caller:
    fields = json.loads(row.executor or "{}")
    return Caller(
        fields["principal_id"],
        fields["kind"],
        platform_admin=fields["platform_admin"],
        on_behalf_of=fields["on_behalf_of"],
        request_id=fields["request_id"],
    )


# -- the lease ---------------------------------------------------------------------------------


def _lease_free(row: DsrRow, owner: str) -> bool:
    return (
        row.lease_owner in (None, owner) or row.lease_until is None or row.lease_until <= utcnow()
    )


def _take_lease(row: DsrRow, owner: str) -> None:
    row.lease_owner = owner
    row.lease_until = utcnow() + LEASE


def _hold(uow: UnitOfWork, dsr_id: str, owner: str) -> DsrRow:
    """The request's row, locked, with the runner's lease renewed; raises if it lost it."""
    row = queries.lock_request(uow.session, dsr_id)
    if row is None or row.status != rules.IN_PROGRESS or row.lease_owner != owner:
        raise _LeaseLost(dsr_id)
    _take_lease(row, owner)
    return row


def _release(state: Stores, dsr_id: str, owner: str) -> None:
    with state.unit_of_work() as uow:
        row = queries.lock_request(uow.session, dsr_id)
        if row is not None and row.lease_owner == owner:
            row.lease_owner = row.lease_until = None
            uow.commit()


# -- running -----------------------------------------------------------------------------------


def execute(state: DsrDeps, caller: Caller, dsr_id: str) -> DataSubjectRequest:
    """Carry the request out. Run again after an interruption, it finishes the same way."""
    owner = runner_id()
    with step(state, caller, dsr_id, "execute") as (uow, row):
        if not _lease_free(row, owner):  # another runner is at work on it
            return request_view(uow.session, row)
        if row.status == rules.APPROVED:
            record_transition(state, uow, caller, row, "execute", rules.IN_PROGRESS)
        row.executor = _caller_json(caller)
        _take_lease(row, owner)
        uow.commit()
    return run_execution(state, dsr_id, owner, budget=REQUEST_BUDGET)


def run_execution(
    state: DsrDeps, dsr_id: str, owner: str, *, budget: timedelta | None
) -> DataSubjectRequest:
    """Work the request, whose lease ``owner`` holds, to its end, or until ``budget`` is
    spent (then the lease is released for the job recovery). Returns it as it then stands."""
    deadline = None if budget is None else time.monotonic() + budget.total_seconds()
    try:
        plan = _prepare(state, dsr_id, owner)
        if plan.kind != "erasure" or _erase(state, plan, owner, deadline):
            _complete(state, plan, owner)
        else:
            _release(state, dsr_id, owner)
            log.info("dsr.execution_handed_over", dsr_id=dsr_id)
    except _LeaseLost:
        log.warning("dsr.execution_lease_lost", dsr_id=dsr_id, owner=owner)
    except BaseException:
        try:  # so the request can be executed again at once, not after the lease runs out
            _release(state, dsr_id, owner)
        except Exception:
            log.warning("dsr.lease_release_failed", dsr_id=dsr_id, exc_info=True)
        raise
    with state.unit_of_work(write=False) as uow:
        row = queries.get_request(uow.session, dsr_id)
        assert row is not None
        return request_view(uow.session, row)


def _prepare(state: OpensSealed, dsr_id: str, owner: str) -> _Plan:
    """Read the request and record every contact the identity matches as an item."""
    with state.unit_of_work() as uow:
        row = _hold(uow, dsr_id, owner)
        identity = open_identity(state, row.id, row.identity_ciphertext or "")
        accounts = accounts_of(row)
        account_ids = queries.all_account_ids(uow.session) if accounts == ALL else list(accounts)
        known = queries.item_keys(uow.session, dsr_id)
        found = queries.matching_contacts(uow.session, account_ids, identity.email, identity.phone)
        queries.add_items(uow.session, dsr_id, [pair for pair in found if pair not in known])
        plan = _Plan(dsr_id, row.type, accounts, account_ids, identity, _executor(row))
        uow.commit()
    return plan


def _erase(state: LifecycleDeps, plan: _Plan, owner: str, deadline: float | None) -> bool:
    """Erase the pending items a chunk at a time; False when the deadline came first."""
    profile = state.runtime.pack.cascade_profiles.get(ERASURE_PROFILE)
    if profile is None:
        raise Conflict("the policy pack has no 'erasure' cascade profile")
    worked = False
    for account_id in plan.account_ids:
        account = load_account(state, account_id)
        while True:
            with state.unit_of_work() as uow:
                _hold(uow, plan.dsr_id, owner)
                pending = queries.items_pending(
                    uow.session, plan.dsr_id, account_id, state.settings.job_chunk_size
                )
                if not pending:
                    break
                if worked and deadline is not None and time.monotonic() >= deadline:
                    return False
                if erase_chunk(state, uow, plan.caller, account, profile, plan.dsr_id, pending):
                    uow.commit()
                    worked = True
    return True


def erase_chunk(
    state: Acts,
    uow: UnitOfWork,
    caller: Caller,
    account: Account,
    profile: CascadeProfile,
    dsr_id: str,
    pending: list[str],
) -> bool:
    """Decide on and purge one chunk of contacts, and record each one's outcome. False when a
    contact changed under it (the caller rolls back and reads the chunk again)."""
    session = uow.session
    found = store.get_contacts(session, account.id, pending)
    facts = store.facts_of(session, account.id, pending)
    to_erase: list[Contact] = []
    outcomes: dict[str, tuple[str, dict[str, object]]] = {}
    for contact_id in pending:
        contact = found.get(contact_id)
        if contact is None or contact.state == PURGED:
            outcomes[contact_id] = (GONE, {})
            continue
        decision = decide_on_contact(
            state, caller, account, contact_id, "contact.erase", facts[contact_id]
        )
        if decision.allowed:
            to_erase.append(contact)
        elif decision.reason.code == "legal_hold":
            holds = queries.open_hold_ids(session, account.id, contact_id)
            outcomes[contact_id] = (RESTRICTED, {"holds": holds})
        else:
            reason: dict[str, object] = {
                "reason_code": decision.reason.code,
                "reason": decision.reason.text,
            }
            outcomes[contact_id] = (REFUSED, reason)
    if to_erase:
        try:
            counts = purge_chunk_rows(
                state,
                uow,
                caller,
                account,
                profile,
                to_erase,
                action="contact.erased",
                reason_code="erasure_request",
                operation_id=store.new_id("op"),
                dsr_id=dsr_id,
            )
        except ChunkRaced:
            return False
        for contact in to_erase:
            outcomes[contact.id] = (ERASED, {"cascade": counts[contact.id].as_dict()})
    queries.set_item_outcomes(
        session,
        dsr_id,
        account.id,
        {
            contact_id: (status, json.dumps(detail))
            for contact_id, (status, detail) in outcomes.items()
        },
    )
    return True


def _complete(state: DsrDeps, plan: _Plan, owner: str) -> None:
    """Finish the request in one transaction: suppression entries or the sealed package, the
    signed certificate, the identity wiped, the lease released. An erasure whose accounts
    have downstream systems first gives each its task and waits for their confirmations
    (``privacy/systems.py``): the last of them completes it."""
    with state.unit_of_work() as uow:
        row = _hold(uow, plan.dsr_id, owner)
        if plan.kind == "erasure":
            if awaiting_systems(state, uow, plan.caller, row, plan.account_ids):
                # Nothing is left for a runner to do: no job recovery picks it up again.
                row.executor = None
                row.lease_owner = row.lease_until = None
                uow.commit()
                return
            entries = certificate_entries(system_tasks(uow.session, row.id))
            finish_erasure(state, uow, plan.caller, row, entries)
        else:
            items = queries.items_of(uow.session, plan.dsr_id)
            result, package = access_summary_and_package(state, uow.session, items)
            row.package_ciphertext = seal(state, row.id, package)
            finish(state, uow, plan.caller, row, result)
        uow.commit()


# -- resuming ----------------------------------------------------------------------------------


def _claim(state: Stores, dsr_id: str, owner: str) -> bool:
    with state.unit_of_work() as uow:
        row = queries.lock_request(uow.session, dsr_id)
        if row is None or row.status != rules.IN_PROGRESS or not _lease_free(row, owner):
            return False
        _take_lease(row, owner)
        uow.commit()
        return True


def resume_executions(state: DsrDeps) -> tuple[int, int]:
    """Run to its end every request left ``in_progress`` with no live runner (handed over by
    an execute call, or its runner died), acting as who executed it. For the scheduler's job
    recovery. Returns how many were found, and how many this pass completed."""
    with state.unit_of_work(write=False) as uow:
        unattended = queries.unattended_executions(uow.session, rules.IN_PROGRESS, utcnow())
    completed = 0
    for dsr_id in unattended:
        owner = runner_id()
        if not _claim(state, dsr_id, owner):
            continue  # another runner got there first
        try:
            request = run_execution(state, dsr_id, owner, budget=None)
        except Exception:  # one failing request does not hold the others up
            log.exception("dsr.resume_failed", dsr_id=dsr_id)
            continue
        completed += request.status == rules.COMPLETED
    if unattended:
        log.info("dsr.executions_resumed", found=len(unattended), completed=completed)
    return len(unattended), completed


def execution_outcome(state: Stores, request: DataSubjectRequest) -> dict[str, Any]:
    """Per account, what became of each contact the request found: ``erased`` (ids),
    ``restricted`` (ids with their legal holds), ``kept`` (ids with the reason: an access
    request keeps everything, an erasure a refused contact) and ``pending`` (not yet worked;
    the request is still ``in_progress``), with the related records erased, per kind and
    action. Ids and counts only, no personal data."""
    with state.unit_of_work(write=False) as uow:
        items = queries.items_of(uow.session, request.id)
    per_account: dict[str, dict[str, Any]] = {}
    for item in items:
        entry = per_account.setdefault(
            item.account_id,
            {"erased": [], "restricted": [], "kept": [], "pending": [], "erased_records": {}},
        )
        detail = json.loads(item.detail or "{}")
        if request.type != "erasure":
            entry["kept"].append({"contact_id": item.contact_id, "reason": "access_request"})
        elif item.status == "erased":
            entry["erased"].append(item.contact_id)
            for kind, actions in detail.get("cascade", {}).items():
                kinds = entry["erased_records"].setdefault(kind, {})
                for action, count in actions.items():
                    kinds[action] = kinds.get(action, 0) + count
        elif item.status == "restricted":
            holds = detail.get("holds", [])
            entry["restricted"].append({"contact_id": item.contact_id, "holds": holds})
        elif item.status == queries.PENDING:
            entry["pending"].append(item.contact_id)
        else:
            reason = detail.get("reason", item.status)
            entry["kept"].append({"contact_id": item.contact_id, "reason": reason})
    return {"accounts": per_account}
