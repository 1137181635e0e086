"""Principals and their API tokens (operator commands; there is no HTTP endpoint for them)."""

from __future__ import annotations

from policy_service.audit_trail.recording import operator_event
from policy_service.domain.errors import InvalidInput, Unauthenticated
from policy_service.domain.identifiers import is_valid_id
from policy_service.ports import Acts, AdminDeps, Inspects, Stores
from policy_service.storage import tokens as token_store
from policy_service.storage.changes import record_change

PRINCIPAL_KINDS = ("user", "service")


def issue_token(
    state: Acts,
    principal_id: str,
    *,
    kind: str = "user",
    platform_admin: bool | None = None,
    label: str = "",
) -> tuple[token_store.TokenInfo, str]:
    """Create (or update) the principal and give it a new token. Returns the token once."""
    if not is_valid_id(principal_id):
        raise InvalidInput("invalid principal id", errors={"principal": ["not a valid id"]})
    if kind not in PRINCIPAL_KINDS:
        raise InvalidInput("invalid principal kind", errors={"kind": list(PRINCIPAL_KINDS)})
    with state.unit_of_work() as uow:
        principal, admin_changed = token_store.upsert_principal(
            uow.session, principal_id, kind, platform_admin
        )
        if admin_changed:
            record_change(uow.session, "principal", subject_id=principal_id)
            uow.record(
                operator_event(
                    state.runtime,
                    "principal.platform_admin_changed",
                    target_type="principal",
                    target_id=principal_id,
                    details={"platform_admin": principal.platform_admin},
                )
            )
        info, token = token_store.create_token(uow.session, principal_id, label)
        uow.record(
            operator_event(
                state.runtime,
                "token.issued",
                target_type="principal",
                target_id=principal_id,
                details={"token_id": info.id, "kind": kind, "label": label},
            )
        )
        uow.commit()
    return info, token


def revoke_tokens(
    state: AdminDeps,
    *,
    token_id: str | None = None,
    principal_id: str | None = None,
    label: str | None = None,
) -> int:
    if token_id is None and principal_id is None and label is None:
        raise InvalidInput("name a token id, a principal or a label to revoke")
    with state.unit_of_work() as uow:
        count = token_store.revoke(
            uow.session, token_id=token_id, principal_id=principal_id, label=label
        )
        if count:
            # Workers cache authenticated tokens; this makes every one of them forget.
            record_change(uow.session, "token", subject_id=principal_id, detail=token_id or "")
            uow.record(
                operator_event(
                    state.runtime,
                    "token.revoked",
                    target_type="principal" if principal_id else "token",
                    target_id=principal_id or token_id or label or "",
                    details={"count": count, "token_id": token_id, "label": label},
                )
            )
        uow.commit()
    state.sync_now()
    return count


def list_tokens(state: Stores, principal_id: str | None = None) -> list[token_store.TokenInfo]:
    with state.unit_of_work(write=False) as uow:
        return token_store.list_tokens(uow.session, principal_id)


MAX_CACHED_TOKENS = 10_000


def principal_for_token(state: Inspects, token: str) -> token_store.Principal:
    """Who a bearer token belongs to: from this worker's cache (kept current through the
    change log, revocations included), else from the store."""
    token_hash = token_store.hash_token(token)
    cached = state.runtime.tokens.get(token_hash)
    if cached is not None:
        return token_store.Principal(*cached)
    with state.session_factory() as session:
        principal = token_store.authenticate_hash(session, token_hash)
    if principal is None:
        raise Unauthenticated("the token is unknown or revoked", token_error=True)
    if len(state.runtime.tokens) >= MAX_CACHED_TOKENS:
        state.runtime.tokens.clear()
    state.runtime.tokens[token_hash] = (principal.id, principal.kind, principal.platform_admin)
    return principal
