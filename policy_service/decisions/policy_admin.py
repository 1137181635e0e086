"""Reading and reloading the policy pack.

A pack must keep its own promises: its policy test cases (``services.policy_tests``). A
reload whose pack fails any of them is refused (422, each failing case named file:line) and
recorded in the audit log; the running policy stays as it was. Only an accepted pack's
version is written to the change log, and another worker installs a reloaded pack only when
what it reads from disk is that very version (``PolicyRuntime._apply``), so no worker takes
up a pack whose tests were not passed. At start, the same check stops the service in
production and logs a warning elsewhere (``check_pack_at_start``).
"""

from __future__ import annotations

import hashlib
from typing import Any

import structlog

from policy_service.audit_trail.recording import caller_event, require
from policy_service.config import Settings
from policy_service.decisions.authorization import Caller
from policy_service.decisions.policy_tests import (
    CaseResult,
    PolicyTestsFailed,
    run_pack_tests,
)
from policy_service.domain.errors import PolicyPackError, Unprocessable
from policy_service.policy.pack import PolicyPack, load_pack
from policy_service.ports import Acts, ReloadsPolicy
from policy_service.storage.changes import record_change

log = structlog.get_logger(__name__)


# What a pack's own tests gave, by the pack's version and its test files' content: a process
# that builds several apps on one pack (the test suite does, a worker may on reload) runs them
# once. Bounded: a few packs at most live in one process.
_RESULTS: dict[tuple[str, str], list[CaseResult]] = {}
_MAX_RESULTS = 16


def failing_cases(pack: PolicyPack) -> list[CaseResult]:
    """The pack's own policy test cases that fail. An invalid test file raises
    ``PolicyPackError`` naming the file and line, as an invalid rule does."""
    key = (pack.version, _tests_digest(pack))
    failed = _RESULTS.get(key)
    if failed is None:
        failed = [result for result in run_pack_tests(pack) if not result.passed]
        if len(_RESULTS) >= _MAX_RESULTS:
            _RESULTS.clear()
        _RESULTS[key] = failed
    return list(failed)


def _tests_digest(pack: PolicyPack) -> str:
    digest = hashlib.sha256()
    if pack.tests_dir is not None:
        for path in sorted(pack.tests_dir.glob("*.toml")):
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def check_pack_at_start(settings: Settings, pack: PolicyPack) -> list[CaseResult]:
    """Run the pack's policy tests before serving on it.

    In production a failing case stops the start (``PolicyTestsFailed`` names each case
    file:line). Elsewhere the failures are logged as a warning and returned, so a developer
    can start the service and fix the pack. An invalid test file stops the start anywhere.
    """
    failed = failing_cases(pack)
    if failed and settings.is_production:
        raise PolicyTestsFailed(pack, failed)
    if failed:
        log.warning(
            "policy.tests_failed",
            policy_version=pack.version,
            failures=[f"{r.where} {r.case.name} -- {r.got}" for r in failed],
            hint="run `policy-service policy test`; production refuses to start on this pack",
        )
    return failed


def _record_refused_reload(state: Acts, caller: Caller, code: str, details: dict[str, Any]) -> None:
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
                reason_code=code,
                details=details,
            )
        )
        uow.commit()


def current_policy(state: Acts, caller: Caller) -> PolicyPack:
    require(state, caller, "policy", "policy.read", account_id=None, platform=True)
    return state.runtime.pack


def reload_policy(state: ReloadsPolicy, caller: Caller) -> tuple[PolicyPack, str]:
    """Re-read the pack from disk. A pack that is invalid, or fails its own policy test
    cases, is refused (audited, 422) and the running one kept."""
    require(state, caller, "policy", "policy.write", account_id=None, platform=True)
    previous = state.runtime.version
    try:
        pack = load_pack(state.settings.policy_pack)
        failed = failing_cases(pack)
    except PolicyPackError as error:
        _record_refused_reload(
            state,
            caller,
            "invalid_policy_pack",
            {"error": str(error), "kept_version": previous},
        )
        raise Unprocessable(
            f"the policy pack is invalid; the running policy is kept: {error}",
            file=error.path,
            line=error.line,
        ) from None
    if failed:
        raise _refuse_failing_pack(state, caller, pack, failed, previous)
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


def _refuse_failing_pack(
    state: Acts,
    caller: Caller,
    pack: PolicyPack,
    failed: list[CaseResult],
    previous: str,
) -> Unprocessable:
    """Record the refusal of a pack whose own policy tests fail; return the 422 to raise."""
    count = f"{len(failed)} of its policy test cases fail{'s' if len(failed) == 1 else ''}"
    cases = "; ".join(f"{r.where} {r.case.name} -- {r.got}" for r in failed)
    text = (
        f"the policy pack {pack.version} breaks its own promises ({count}); "
        f"the running policy {previous} is kept: {cases}"
    )
    _record_refused_reload(
        state,
        caller,
        "policy_tests_failed",
        {
            "reason": text,
            "status": 422,
            "kept_version": previous,
            "refused_version": pack.version,
            "failures": [f"{r.where} {r.case.name}" for r in failed],
        },
    )
    return Unprocessable(
        text,
        reason={"code": "policy_tests_failed", "text": count.replace("its", "the pack's own")},
        kept_version=previous,
        refused_version=pack.version,
        failures=[r.as_problem() for r in failed],
    )
