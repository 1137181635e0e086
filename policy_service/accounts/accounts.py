"""Accounts (tenants): created and changed by platform admins; every change is audited."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy.exc import IntegrityError

from audit import AuditEvent
from policy_service.audit_trail.recording import caller_event, require
from policy_service.decisions.authorization import Caller
from policy_service.domain.accounts import DEFAULT_RETENTION_DAYS, Account
from policy_service.domain.clock import utcnow
from policy_service.domain.errors import Conflict, InvalidInput, NotFound
from policy_service.domain.identifiers import is_valid_account_id
from policy_service.ports import Acts, Decides
from policy_service.storage import accounts as account_store
from policy_service.storage.changes import record_change

MAX_RETENTION_DAYS = 3_650
SETTINGS = ("name", "cascade_profile", "retention_days", "purge_enabled")


def _check_settings(cascade_profile: str, retention_days: int, known_profiles: set[str]) -> None:
    if known_profiles and cascade_profile not in known_profiles:
        raise InvalidInput(
            f"unknown cascade profile {cascade_profile!r}",
            errors={"cascade_profile": [f"one of: {', '.join(sorted(known_profiles))}"]},
        )
    if not 0 < retention_days <= MAX_RETENTION_DAYS:
        raise InvalidInput(
            "retention_days out of range",
            errors={"retention_days": [f"between 1 and {MAX_RETENTION_DAYS}"]},
        )


def known_cascade_profiles(state: Decides) -> set[str]:
    return set(state.runtime.pack.cascade_profiles)


def _settings_of(account: Account) -> dict[str, Any]:
    return {name: getattr(account, name) for name in SETTINGS}


def _require_manage(state: Acts, caller: Caller, account_id: str) -> None:
    """The caller may manage accounts (platform-wide); the refusal names a valid id."""
    named = account_id if is_valid_account_id(account_id) else None
    require(
        state,
        caller,
        "account",
        "account.manage",
        account_id=named,
        platform=True,
        target_type="account",
        target_id=named,
    )


def _account_event(
    state: Decides, caller: Caller, action: str, account_id: str, details: dict[str, Any]
) -> AuditEvent:
    return caller_event(
        state.runtime,
        caller,
        action,
        "succeeded",
        account_id=account_id,
        target_type="account",
        target_id=account_id,
        details=details,
    )


def create_account(
    state: Acts,
    caller: Caller,
    *,
    id: str,
    name: str,
    cascade_profile: str,
    retention_days: int = DEFAULT_RETENTION_DAYS,
    purge_enabled: bool = False,
) -> Account:
    _require_manage(state, caller, id)
    if not is_valid_account_id(id):
        raise InvalidInput("invalid account id", errors={"id": ["lower-case letters, digits, - _"]})
    _check_settings(cascade_profile, retention_days, known_cascade_profiles(state))
    now = utcnow()
    account = Account(id, name, cascade_profile, retention_days, purge_enabled, now, now)
    with state.unit_of_work() as uow:
        if account_store.get_account(uow.session, id) is not None:
            raise Conflict(f"account {id} already exists")
        try:
            account_store.add_account(uow.session, account)
            record_change(uow.session, "account", account_id=id)
            details = {"settings": _settings_of(account)}
            uow.record(_account_event(state, caller, "account.created", id, details))
            uow.commit()
        except IntegrityError:
            raise Conflict(f"account {id} already exists") from None
    state.runtime.forget_account(id)
    return account


def get_account(state: Acts, caller: Caller, account_id: str) -> Account:
    require(state, caller, "account", "account.read", account_id=account_id)
    with state.unit_of_work(write=False) as uow:
        account = account_store.get_account(uow.session, account_id)
    if account is None:
        raise NotFound(f"account {account_id} does not exist")
    return account


def list_accounts(state: Acts, caller: Caller, *, after: str | None, limit: int) -> list[Account]:
    require(state, caller, "account", "account.read", account_id=None, platform=True)
    with state.unit_of_work(write=False) as uow:
        return account_store.list_accounts(uow.session, after=after, limit=limit)


def update_account(
    state: Acts, caller: Caller, account_id: str, changes: dict[str, Any]
) -> Account:
    _require_manage(state, caller, account_id)
    with state.unit_of_work() as uow:
        current = account_store.get_account(uow.session, account_id)
        if current is None:
            raise NotFound(f"account {account_id} does not exist")
        updated = replace(current, **changes, updated_at=utcnow())
        _check_settings(
            updated.cascade_profile, updated.retention_days, known_cascade_profiles(state)
        )
        before, after = _settings_of(current), _settings_of(updated)
        account_store.update_account(uow.session, updated)
        record_change(uow.session, "account", account_id=account_id)
        changed = {
            k: {"from": before[k], "to": after[k]} for k in SETTINGS if before[k] != after[k]
        }
        details = {"changed": changed}
        uow.record(_account_event(state, caller, "account.updated", account_id, details))
        uow.commit()
    state.runtime.forget_account(account_id)
    return updated
