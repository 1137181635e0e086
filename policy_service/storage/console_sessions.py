"""Console sessions (``console_sessions``): opened by pasting an API token, ended by sign-out,
by their idle or absolute limit, or by revoking the token they were opened with.

The cookie carries a random session id; only its SHA-256 is stored, so a copy of the table
opens no session. The token is referred to by its id in ``api_tokens``, never kept itself.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from policy_service.storage.tables import ApiTokenRow, ConsoleSessionRow, PrincipalRow

SESSION_PREFIX = "cs_"


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    id_hash: str
    principal_id: str
    kind: str
    platform_admin: bool
    token_id: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime


def hash_session_id(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def token_id_for_hash(session: Session, token_hash: str) -> str | None:
    """The id of the live (unrevoked) API token with this hash."""
    return session.execute(
        select(ApiTokenRow.id).where(
            ApiTokenRow.token_hash == token_hash, ApiTokenRow.revoked_at.is_(None)
        )
    ).scalar_one_or_none()


def open_session(
    session: Session, principal_id: str, token_id: str, now: datetime, expires_at: datetime
) -> str:
    """Store a new session; returns its id (the cookie's value), which is not stored."""
    session_id = SESSION_PREFIX + secrets.token_urlsafe(32)
    session.add(
        ConsoleSessionRow(
            id_hash=hash_session_id(session_id),
            principal_id=principal_id,
            token_id=token_id,
            created_at=now,
            last_seen_at=now,
            expires_at=expires_at,
        )
    )
    session.flush()
    return session_id


def live_session(
    session: Session, session_id: str, now: datetime, idle: timedelta
) -> ConsoleSession | None:
    """The session, if it has not expired (absolute or idle) and its token is not revoked."""
    row = session.execute(
        select(
            ConsoleSessionRow.id_hash,
            ConsoleSessionRow.principal_id,
            PrincipalRow.kind,
            PrincipalRow.platform_admin,
            ConsoleSessionRow.token_id,
            ConsoleSessionRow.created_at,
            ConsoleSessionRow.last_seen_at,
            ConsoleSessionRow.expires_at,
        )
        .join(ApiTokenRow, ApiTokenRow.id == ConsoleSessionRow.token_id)
        .join(PrincipalRow, PrincipalRow.id == ConsoleSessionRow.principal_id)
        .where(
            ConsoleSessionRow.id_hash == hash_session_id(session_id),
            ConsoleSessionRow.expires_at > now,
            ConsoleSessionRow.last_seen_at > now - idle,
            ApiTokenRow.revoked_at.is_(None),
        )
    ).first()
    return None if row is None else ConsoleSession(*row)


def touch(session: Session, id_hash: str, now: datetime) -> None:
    session.execute(
        update(ConsoleSessionRow)
        .where(ConsoleSessionRow.id_hash == id_hash)
        .values(last_seen_at=now)
    )


def end_session(session: Session, session_id: str) -> int:
    return session.execute(  # type: ignore[attr-defined, no-any-return]
        delete(ConsoleSessionRow).where(ConsoleSessionRow.id_hash == hash_session_id(session_id))
    ).rowcount


def end_expired(session: Session, now: datetime, idle: timedelta) -> int:
    """Delete sessions past either limit (those of revoked tokens are refused when used)."""
    return session.execute(  # type: ignore[attr-defined, no-any-return]
        delete(ConsoleSessionRow).where(
            or_(
                ConsoleSessionRow.expires_at <= now,
                ConsoleSessionRow.last_seen_at <= now - idle,
            )
        )
    ).rowcount


def sessions_of(session: Session, principal_id: str) -> list[str]:
    """The stored hashes of a principal's sessions (for tests and operators)."""
    return list(
        session.execute(
            select(ConsoleSessionRow.id_hash).where(ConsoleSessionRow.principal_id == principal_id)
        ).scalars()
    )
