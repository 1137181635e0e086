"""Reading, exporting and verifying the audit log (compliance officers, account admins,
platform admins). Exports and verification runs are themselves audit events."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Literal

from audit import (
    Checkpoint,
    ConsistencyProof,
    EventFilter,
    EventPage,
    InclusionProof,
    InvalidCursorError,
    MissingNodesError,
    Outcome,
    ProofUnavailableError,
    StoredEvent,
    VerificationReport,
    chain_for,
    export_events,
    get_event,
    list_checkpoints,
    prove_consistency,
    prove_event,
    public_key_pem,
    query_events,
    verify_database,
)
from audit.witness import verify_witness
from policy_service.audit_trail.checkpointing import witness
from policy_service.audit_trail.recording import (
    caller_event,
    operator_event,
    require,
    require_visible,
)
from policy_service.decisions.authorization import Caller, check_in_account, existing_account
from policy_service.domain.errors import BadRequest, Conflict, InvalidInput, NotFound
from policy_service.domain.identifiers import PLATFORM_DOMAIN
from policy_service.ports import Acts, AuditDeps, SignsCertificates


def _authorize(state: Acts, caller: Caller, action: str, account_id: str | None) -> None:
    """An account's holders of ``action`` see that account; platform admins see all.

    Authorization comes first, so a caller with no part in an account learns nothing about
    it; then an account that does not exist is a 404 - before anything is recorded about it,
    so naming one never creates an audit chain for it."""
    if account_id == PLATFORM_DOMAIN:
        raise BadRequest(
            f"{PLATFORM_DOMAIN!r} is not an account: leave account_id out for the platform "
            "chain (or, when reading, for every chain)",
            errors={"account_id": ["reserved for the platform chain"]},
        )
    if account_id is None:
        if not check_in_account(state.runtime, caller, PLATFORM_DOMAIN, "audit", action).allowed:
            # An account's officer who left the account out: say what to send, rather than
            # that they hold no role in the platform.
            raise InvalidInput(
                "account_id is required: every account's log at once is for platform admins",
                errors={"account_id": ["required for callers who are not platform admins"]},
            )
        require(state, caller, "audit", action, account_id=None, platform=True)
        return
    require(state, caller, "audit", action, account_id=account_id)
    existing_account(state.runtime, state.source, account_id)


def read_events(
    state: AuditDeps, caller: Caller, filters: EventFilter, cursor: str | None, limit: int
) -> EventPage:
    _authorize(state, caller, "audit.read", filters.account_id)
    with state.unit_of_work(write=False) as uow:
        try:
            return query_events(
                uow.session,
                filters,
                cursor,
                limit,
                key_encryption_key=state.audit.key_encryption_key,
            )
        except InvalidCursorError:
            raise BadRequest("the cursor is not one this service handed out") from None


def read_event(state: AuditDeps, caller: Caller, event_id: str) -> StoredEvent:
    return _visible_event(state, caller, event_id, state.audit.key_encryption_key)


def _visible_event(
    state: Acts, caller: Caller, event_id: str, key_encryption_key: bytes | None
) -> StoredEvent:
    """The event, if the caller may read it; otherwise the 404 an unknown id gets (ids are
    not probed across tenants). ``key_encryption_key`` decrypts its personal data."""
    with state.unit_of_work(write=False) as uow:
        event = get_event(uow.session, event_id, key_encryption_key=key_encryption_key)
    if event is None:
        raise NotFound(f"no audit event {event_id}")
    require_visible(
        state,
        caller,
        "audit",
        "audit.read",
        account_id=event.account_id,
        hidden=NotFound(f"no audit event {event_id}"),
        target_type="audit_event",
        target_id=event_id,
    )
    return event


def export(
    state: AuditDeps,
    caller: Caller,
    filters: EventFilter,
    format: Literal["ndjson", "csv"],
) -> Iterator[str]:
    """Record the export, then stream it from a connection the stream owns."""
    _authorize(state, caller, "audit.export", filters.account_id)
    with state.unit_of_work() as uow:
        uow.record(
            caller_event(
                state.runtime,
                caller,
                "audit.export",
                "succeeded",
                account_id=filters.account_id,
                target_type="audit_log",
                target_id=chain_for(filters.account_id),
                details={"format": format, "filters": _filter_details(filters)},
            )
        )
        uow.commit()
    return _stream(state, filters, format)


def _stream(
    state: AuditDeps, filters: EventFilter, format: Literal["ndjson", "csv"]
) -> Iterator[str]:
    with state.engine.connect() as connection:
        yield from export_events(
            connection,
            filters,
            format,
            key_encryption_key=state.audit.key_encryption_key,
            signing_key=state.signing_key,
        )


def _filter_details(filters: EventFilter) -> dict[str, Any]:
    return {
        key: (value.isoformat() if hasattr(value, "isoformat") else value)
        for key, value in asdict(filters).items()
        if value not in (None, False)
    }


def verify(
    state: AuditDeps,
    caller: Caller | None,
    account_id: str | None,
    witness_dir: Path | None = None,
) -> VerificationReport:
    """Verify one account's chain (or every chain, platform-wide) and record the run."""
    if caller is not None:
        _authorize(state, caller, "audit.verify", account_id)
    elif account_id is not None and state.runtime.account(state.source, account_id) is None:
        raise NotFound(f"account {account_id} does not exist")  # the CLI, an operator
    chain = chain_for(account_id) if account_id is not None else None
    interval = state.settings.audit_checkpoint_seconds
    with state.unit_of_work(write=False) as uow:
        report = verify_database(
            uow.session,
            state.signing_key.public_key(),
            chain,
            max_unanchored_seconds=2 * interval if interval else None,
        )
        directory = witness_dir or state.settings.audit_witness_dir
        if directory is not None:
            # What the database cannot tell about itself: a chain shorter than a witnessed
            # checkpoint (truncated), or with another root at a witnessed size (fork).
            for problem in verify_witness(
                uow.session, directory, state.signing_key.public_key(), chain
            ).problems:
                report.add(problem)
            report.finish()
    details = {
        "ok": report.ok,
        "events_checked": report.events_checked,
        "chains_checked": report.chains_checked,
        "checkpoints_valid": report.checkpoints_valid,
        "checkpoints_total": report.checkpoints_total,
        "first_bad_chain": report.first_bad_chain,
        "first_bad_seq": report.first_bad_seq,
        "reason": report.reason,
        "unanchored_events": report.unanchored_events,
        "oldest_unanchored_seconds": (
            None
            if report.oldest_unanchored_seconds is None
            else int(report.oldest_unanchored_seconds)
        ),
    }
    outcome: Outcome = "succeeded" if report.ok else "failed"
    with state.unit_of_work() as uow:
        event = (
            caller_event(
                state.runtime,
                caller,
                "audit.verify",
                outcome,
                account_id=account_id,
                target_type="audit_log",
                target_id=chain or "all",
                details=details,
            )
            if caller is not None
            else replace(
                operator_event(
                    state.runtime,
                    "audit.verify",
                    target_type="audit_log",
                    target_id=chain or "all",
                    details=details,
                ),
                outcome=outcome,
                account_id=account_id,
            )
        )
        uow.record(event)
        uow.commit()
    return report


def checkpoints(state: Acts, caller: Caller, account_id: str | None) -> list[Checkpoint]:
    _authorize(state, caller, "audit.read", account_id)
    with state.unit_of_work(write=False) as uow:
        return list_checkpoints(uow.session, chain_for(account_id))


def sign_checkpoint(state: AuditDeps, caller: Caller, account_id: str | None) -> Checkpoint:
    _authorize(state, caller, "audit.verify", account_id)
    with state.unit_of_work() as uow:
        try:
            checkpoint = state.audit.checkpoint(uow.session, chain_for(account_id))
        except ValueError as error:
            raise NotFound(str(error)) from None
        uow.commit()
    witness(state, checkpoint)
    return checkpoint


def event_proof(
    state: Acts, caller: Caller, event_id: str, tree_size: int | None
) -> InclusionProof:
    """An RFC 9162 inclusion proof of one event against a signed checkpoint; visible to
    whoever may read the event (others get the 404 an unknown id gets)."""
    _visible_event(state, caller, event_id, None)
    with state.unit_of_work(write=False) as uow:
        try:
            proof = prove_event(uow.session, event_id, tree_size)
        except ProofUnavailableError as error:
            raise NotFound(str(error)) from None
        except MissingNodesError as error:
            raise _unprovable(error) from None
    if proof is None:  # pragma: no cover - the event was there a moment ago
        raise NotFound(f"no audit event {event_id}")
    return proof


def consistency(
    state: Acts, caller: Caller, account_id: str | None, first: int, second: int
) -> ConsistencyProof:
    """An RFC 9162 consistency proof between two checkpointed sizes of a chain."""
    _authorize(state, caller, "audit.read", account_id)
    if first > second:
        raise BadRequest(
            "first must not be greater than second",
            errors={"first": ["greater than second"]},
        )
    with state.unit_of_work(write=False) as uow:
        try:
            return prove_consistency(uow.session, chain_for(account_id), first, second)
        except ProofUnavailableError as error:
            raise NotFound(str(error)) from None
        except MissingNodesError as error:
            raise _unprovable(error) from None


def _unprovable(error: MissingNodesError) -> Conflict:
    # Only a log changed behind the service's back lacks what a signed checkpoint covers.
    return Conflict(f"the stored log cannot prove this: {error}; run audit verification")


def public_key(state: SignsCertificates) -> str:
    return public_key_pem(state.signing_key)
