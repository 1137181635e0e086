"""Reading and reloading the policy pack."""

from __future__ import annotations

from policy_service.domain.errors import PolicyPackError, Unprocessable
from policy_service.policy.pack import PolicyPack, load_pack
from policy_service.services.audit_trail import caller_event, require
from policy_service.services.authorization import Caller
from policy_service.services.policy_tests import load_test_files
from policy_service.state import ServiceState
from policy_service.storage.changes import record_change


def load_valid_pack(state: ServiceState) -> PolicyPack:
    """Load the pack and its test files; every problem names the file and line."""
    pack = load_pack(state.settings.policy_pack)
    load_test_files(pack)
    return pack


def current_policy(state: ServiceState, caller: Caller) -> PolicyPack:
    require(state, caller, "policy", "policy.read", account_id=None, platform=True)
    return state.runtime.pack


def reload_policy(state: ServiceState, caller: Caller) -> tuple[PolicyPack, str]:
    """Re-read the pack from disk. An invalid pack is refused and the running one kept."""
    require(state, caller, "policy", "policy.write", account_id=None, platform=True)
    previous = state.runtime.version
    try:
        pack = load_valid_pack(state)
    except PolicyPackError as error:
        with state.unit_of_work() as uow:
            uow.record(
                caller_event(
                    state.runtime,
                    caller,
                    "policy.reload",
                    "failed",
                    account_id=None,
                    target_type="policy",
                    target_id=state.runtime.pack.name,
                    reason_code="invalid_policy_pack",
                    details={"error": str(error), "kept_version": previous},
                )
            )
            uow.commit()
        raise Unprocessable(
            f"the policy pack is invalid; the running policy is kept: {error}",
            file=error.path,
            line=error.line,
        ) from None
    with state.unit_of_work() as uow:
        record_change(uow.session, "policy", detail=pack.version)
        event = caller_event(
            state.runtime,
            caller,
            "policy.reload",
            "succeeded",
            account_id=None,
            target_type="policy",
            target_id=pack.name,
            details={
                "previous_version": previous,
                "version": pack.version,
                "rules": len(pack.rules),
            },
        )
        uow.record(event)
        uow.commit()
    state.runtime.install_pack(pack)
    state.sync_now()
    return pack, previous
