"""The service's side of the audit log: the writer, events about callers, audited refusals.

Every change the service makes is recorded in the same unit of work as the change. A refusal
has no change to ride with, so it is recorded in a unit of work of its own before the 403
goes out: a refused attempt is evidence too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from audit import AuditEvent
from policy_service.decisions.authorization import Caller, account_gate, check_in_account
from policy_service.domain.errors import (
    Conflict,
    Forbidden,
    NotFound,
    ServiceError,
    Unprocessable,
)
from policy_service.domain.identifiers import PLATFORM_DOMAIN, is_valid_account_id
from policy_service.policy.runtime import PolicyRuntime
from policy_service.ports import Acts

OPERATOR = "operator"  # the actor type of CLI commands run on the server


def chain_account(account_id: str | None) -> str | None:
    """The account whose chain an event belongs to; platform events have none."""
    if account_id is None or account_id == PLATFORM_DOMAIN or not is_valid_account_id(account_id):
        return None
    return account_id


def caller_event(
    runtime: PolicyRuntime,
    caller: Caller,
    action: str,
    outcome: str,
    *,
    account_id: str | None,
    target_type: str | None = None,
    target_id: str | None = None,
    reason_code: str | None = None,
    details: dict[str, Any] | None = None,
    **extra: Any,
) -> AuditEvent:
    """An event whose actor is the caller (the user a service acts for, when it does)."""
    actor = caller.acting_subject
    account = chain_account(account_id)
    roles = set(runtime.roles.roles_of(actor, account)) if account else set()
    roles |= runtime.roles.roles_of(actor, PLATFORM_DOMAIN)
    return AuditEvent(
        action=action,
        outcome=outcome,  # type: ignore[arg-type]
        actor_type="user" if caller.on_behalf_of else caller.kind,
        actor_id=actor,
        actor_roles=tuple(sorted(roles)),
        account_id=account,
        client_id=caller.principal_id,
        on_behalf_of=caller.on_behalf_of,
        target_type=target_type,
        target_id=target_id,
        reason_code=reason_code,
        request_id=caller.request_id,
        policy_version=runtime.version,
        details=details or {},
        **extra,
    )


def operator_event(
    runtime: PolicyRuntime, action: str, *, target_type: str, target_id: str, **extra: Any
) -> AuditEvent:
    """An event for a command run by an operator on the server (tokens, demo set-up)."""
    return AuditEvent(
        action=action,
        outcome="succeeded",
        actor_type=OPERATOR,
        actor_id=os.environ.get("USER") or None,
        target_type=target_type,
        target_id=target_id,
        policy_version=runtime.version,
        **extra,
    )


@dataclass(frozen=True, slots=True)
class Refusal:
    """A refused attempt: what the audit log records and what the caller is answered."""

    action: str
    status: int  # 403, 404, 409 or 422
    code: str
    text: str
    account_id: str | None
    target_type: str | None = None
    target_id: str | None = None
    request: str | None = None  # what was asked, where the action alone does not say

    def error(self, **extra: Any) -> ServiceError:
        """The problem to raise (``extra``: further members of the problem document)."""
        return refusal_error(self.status, self.code, self.text, **extra)


def record_refusal(state: Acts, caller: Caller, refusal: Refusal) -> None:
    """Record a refused attempt, in a unit of work of its own (there is no change for it to
    ride with). It goes to the account's chain only when the account exists: a name a caller
    made up must not create a chain, so such a refusal is recorded in the platform chain with
    the name it gave."""
    details: dict[str, Any] = {"reason": refusal.text, "status": refusal.status}
    if refusal.request is not None:
        details["request"] = refusal.request
    account_id = refusal.account_id
    chain = chain_account(account_id)
    if chain is not None and state.runtime.account(state.source, chain) is None:
        details["requested_account_id"] = chain
        account_id = None
    with state.unit_of_work() as uow:
        uow.record(
            caller_event(
                state.runtime,
                caller,
                refusal.action,
                "denied" if refusal.status in (401, 403) else "failed",
                account_id=account_id,
                target_type=refusal.target_type,
                target_id=refusal.target_id,
                reason_code=refusal.code,
                details=details,
            )
        )
        uow.commit()


def refusal_error(status: int, code: str, text: str, **extra: Any) -> ServiceError:
    error_class = {403: Forbidden, 404: NotFound, 409: Conflict, 422: Unprocessable}[status]
    return error_class(text, reason={"code": code, "text": text}, **extra)


def refused(state: Acts, caller: Caller, refusal: Refusal, **extra: Any) -> ServiceError:
    """Record the refusal, and return the problem to raise."""
    record_refusal(state, caller, refusal)
    return refusal.error(**extra)


def refuse(
    state: Acts,
    caller: Caller,
    action: str,
    *,
    status: int,
    code: str,
    text: str,
    account_id: str | None,
    target_type: str | None = None,
    target_id: str | None = None,
    request: str | None = None,
    **extra: Any,
) -> ServiceError:
    """``refused``, the refusal given member by member."""
    refusal = Refusal(action, status, code, text, account_id, target_type, target_id, request)
    return refused(state, caller, refusal, **extra)


def require(
    state: Acts,
    caller: Caller,
    obj: str,
    action: str,
    *,
    account_id: str | None,
    platform: bool = False,
    target_type: str | None = None,
    target_id: str | None = None,
) -> None:
    """Authorize the caller in ``account_id`` (or platform-wide); a refusal is recorded in the
    audit log and then raised as a 403."""
    domain = PLATFORM_DOMAIN if platform or account_id is None else account_id
    verdict = check_in_account(state.runtime, caller, domain, obj, action)
    if verdict.allowed:
        return
    where = f" in account {account_id}" if account_id and not platform else ""
    raise refuse(
        state,
        caller,
        action,
        status=403,
        code=verdict.reason.code,
        text=f"{caller.acting_subject} may not {action}{where}: {verdict.reason.text}",
        account_id=account_id,
        target_type=target_type,
        target_id=target_id,
    )


def require_visible(
    state: Acts,
    caller: Caller,
    obj: str,
    action: str,
    *,
    account_id: str | None,
    hidden: ServiceError,
    target_type: str | None = None,
    target_id: str | None = None,
) -> None:
    """``require`` for an object addressed by its id alone (a job, a request, an event):
    a caller with no part in the object's account is answered exactly as for an id that does
    not exist (``hidden``, a 404), so ids cannot be probed across tenants. A member who lacks
    the permission gets the usual 403. Either refusal is recorded."""
    domain = PLATFORM_DOMAIN if account_id is None else account_id
    verdict = check_in_account(state.runtime, caller, domain, obj, action)
    if verdict.allowed:
        return
    if account_id is not None and account_gate(state.runtime, caller, account_id) is None:
        require(
            state,
            caller,
            obj,
            action,
            account_id=account_id,
            target_type=target_type,
            target_id=target_id,
        )
    reason = verdict.reason
    record_refusal(
        state,
        caller,
        Refusal(action, 404, reason.code, reason.text, account_id, target_type, target_id),
    )
    raise hidden
