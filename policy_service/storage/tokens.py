"""API tokens and the principals that hold them. Only a token's SHA-256 is stored."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from policy_service.domain.clock import utcnow
from policy_service.storage.tables import ApiTokenRow, PrincipalRow

TOKEN_PREFIX = "pst_"  # noqa: S105 (a public prefix that makes leaked tokens greppable)


@dataclass(frozen=True, slots=True)
class Principal:
    id: str
    kind: str
    platform_admin: bool


@dataclass(frozen=True, slots=True)
class TokenInfo:
    id: str
    principal_id: str
    label: str
    created_at: datetime
    revoked_at: datetime | None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def get_principal(session: Session, principal_id: str) -> Principal | None:
    row = session.get(PrincipalRow, principal_id)
    return None if row is None else Principal(row.id, row.kind, row.platform_admin)


def upsert_principal(
    session: Session, principal_id: str, kind: str, platform_admin: bool | None
) -> tuple[Principal, bool]:
    """Create or update a principal; the flag says whether platform-admin status changed."""
    row = session.get(PrincipalRow, principal_id, with_for_update=True)
    if row is None:
        row = PrincipalRow(id=principal_id, kind=kind, platform_admin=bool(platform_admin))
        session.add(row)
        session.flush()
        return Principal(row.id, row.kind, row.platform_admin), bool(platform_admin)
    changed = platform_admin is not None and row.platform_admin != platform_admin
    if platform_admin is not None:
        row.platform_admin = platform_admin
    row.kind = kind
    session.flush()
    return Principal(row.id, row.kind, row.platform_admin), changed


def create_token(session: Session, principal_id: str, label: str) -> tuple[TokenInfo, str]:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiTokenRow(
        id="tok_" + secrets.token_hex(8),
        principal_id=principal_id,
        token_hash=hash_token(token),
        label=label,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    return TokenInfo(row.id, row.principal_id, row.label, row.created_at, None), token


def authenticate(session: Session, token: str) -> Principal | None:
    return authenticate_hash(session, hash_token(token))


def authenticate_hash(session: Session, token_hash: str) -> Principal | None:
    row = session.execute(
        select(PrincipalRow.id, PrincipalRow.kind, PrincipalRow.platform_admin)
        .join(ApiTokenRow, ApiTokenRow.principal_id == PrincipalRow.id)
        .where(ApiTokenRow.token_hash == token_hash, ApiTokenRow.revoked_at.is_(None))
    ).first()
    return None if row is None else Principal(row.id, row.kind, row.platform_admin)


def revoke(
    session: Session,
    *,
    token_id: str | None = None,
    principal_id: str | None = None,
    label: str | None = None,
) -> int:
    query = update(ApiTokenRow).where(ApiTokenRow.revoked_at.is_(None)).values(revoked_at=utcnow())
    if token_id is not None:
        query = query.where(ApiTokenRow.id == token_id)
    if principal_id is not None:
        query = query.where(ApiTokenRow.principal_id == principal_id)
    if label is not None:
        query = query.where(ApiTokenRow.label == label)
    return session.execute(query).rowcount  # type: ignore[attr-defined, no-any-return]


def list_tokens(session: Session, principal_id: str | None = None) -> list[TokenInfo]:
    query = select(ApiTokenRow).order_by(ApiTokenRow.created_at)
    if principal_id is not None:
        query = query.where(ApiTokenRow.principal_id == principal_id)
    return [
        TokenInfo(r.id, r.principal_id, r.label, r.created_at, r.revoked_at)
        for r in session.execute(query).scalars()
    ]
