"""Role assignments: who holds which roles in an account.

A change is written with a change-log entry in the same transaction; this worker applies it
at once and every other worker within ``sync_interval``.
"""

from __future__ import annotations

from policy_service.domain.errors import InvalidInput, NotFound
from policy_service.domain.identifiers import is_valid_id
from policy_service.services.authorization import Caller, require_in_account
from policy_service.state import ServiceState
from policy_service.storage import accounts as account_store
from policy_service.storage import memberships as membership_store
from policy_service.storage.changes import record_change

MAX_ROLES = 16


def set_member_roles(
    state: ServiceState, caller: Caller, account_id: str, user_id: str, roles: list[str]
) -> list[str]:
    require_in_account(state.runtime, caller, account_id, "account", "member.manage")
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
    wanted = sorted(set(roles))
    with state.unit_of_work() as uow:
        if account_store.get_account(uow.session, account_id) is None:
            raise NotFound(f"account {account_id} does not exist")
        membership_store.set_roles(uow.session, account_id, user_id, wanted)
        record_change(uow.session, "membership", account_id=account_id, subject_id=user_id)
        uow.commit()
    state.sync_now()
    return wanted


def remove_member(state: ServiceState, caller: Caller, account_id: str, user_id: str) -> None:
    require_in_account(state.runtime, caller, account_id, "account", "member.manage")
    with state.unit_of_work() as uow:
        if not membership_store.roles_of(uow.session, account_id, user_id):
            raise NotFound(f"{user_id} holds no role in account {account_id}")
        membership_store.set_roles(uow.session, account_id, user_id, [])
        record_change(uow.session, "membership", account_id=account_id, subject_id=user_id)
        uow.commit()
    state.sync_now()


def list_members(state: ServiceState, caller: Caller, account_id: str) -> dict[str, list[str]]:
    require_in_account(state.runtime, caller, account_id, "account", "account.read")
    with state.unit_of_work(write=False) as uow:
        if account_store.get_account(uow.session, account_id) is None:
            raise NotFound(f"account {account_id} does not exist")
        return membership_store.members_of(uow.session, account_id)
