"""Role assignments: who holds which roles in an account.

A change is written with a change-log entry and an audit event in the same transaction; this
worker applies it at once and every other worker within ``sync_interval``.
"""

from __future__ import annotations

from policy_service.audit_trail.recording import caller_event, require
from policy_service.decisions.authorization import Caller
from policy_service.domain.errors import InvalidInput, NotFound
from policy_service.domain.identifiers import is_valid_id
from policy_service.ports import Acts, AdminDeps, Decides
from policy_service.storage import accounts as account_store
from policy_service.storage import memberships as membership_store
from policy_service.storage.changes import record_change

MAX_ROLES = 16


def _validate(state: Decides, user_id: str, roles: list[str]) -> list[str]:
    if not is_valid_id(user_id):
        raise InvalidInput("invalid user id", errors={"user_id": ["not a valid id"]})
    known = state.runtime.pack.roles
    unknown = sorted(set(roles) - known)
    if unknown:
        raise InvalidInput(
            f"unknown roles: {', '.join(unknown)}",
            errors={"roles": [f"known roles: {', '.join(sorted(known))}"]},
        )
    if len(set(roles)) > MAX_ROLES:
        raise InvalidInput("too many roles", errors={"roles": [f"at most {MAX_ROLES}"]})
    return sorted(set(roles))


def _change_roles(
    state: AdminDeps, caller: Caller, account_id: str, user_id: str, wanted: list[str]
) -> list[str]:
    action = "membership.changed" if wanted else "membership.removed"
    with state.unit_of_work() as uow:
        if account_store.get_account(uow.session, account_id) is None:
            raise NotFound(f"account {account_id} does not exist")
        before = membership_store.roles_of(uow.session, account_id, user_id)
        if not wanted and not before:
            raise NotFound(f"{user_id} holds no role in account {account_id}")
        membership_store.set_roles(uow.session, account_id, user_id, wanted)
        record_change(uow.session, "membership", account_id=account_id, subject_id=user_id)
        uow.record(
            caller_event(
                state.runtime,
                caller,
                action,
                "succeeded",
                account_id=account_id,
                target_type="user",
                target_id=user_id,
                details={"roles_before": before, "roles_after": wanted},
            )
        )
        uow.commit()
    state.sync_now()
    return wanted


def _require_manage(state: Acts, caller: Caller, account_id: str, user_id: str) -> None:
    """The caller may manage the account's members (the refusal names the user, when valid)."""
    target_id = user_id if is_valid_id(user_id) else None
    require(
        state,
        caller,
        "account",
        "member.manage",
        account_id=account_id,
        target_type="user",
        target_id=target_id,
    )


def set_member_roles(
    state: AdminDeps, caller: Caller, account_id: str, user_id: str, roles: list[str]
) -> list[str]:
    _require_manage(state, caller, account_id, user_id)
    return _change_roles(state, caller, account_id, user_id, _validate(state, user_id, roles))


def remove_member(state: AdminDeps, caller: Caller, account_id: str, user_id: str) -> None:
    _require_manage(state, caller, account_id, user_id)
    _change_roles(state, caller, account_id, user_id, [])


def list_members(state: Acts, caller: Caller, account_id: str) -> dict[str, list[str]]:
    require(state, caller, "account", "account.read", account_id=account_id)
    with state.unit_of_work(write=False) as uow:
        if account_store.get_account(uow.session, account_id) is None:
            raise NotFound(f"account {account_id} does not exist")
        return membership_store.members_of(uow.session, account_id)
