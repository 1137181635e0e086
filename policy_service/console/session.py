"""Who is signed in to the console: sessions kept on the server (``storage.console_sessions``).

Signing in with an API token stores a session row naming the token by its id; the
``policy_console_sid`` cookie holds only the session's random id (HttpOnly, SameSite=Strict,
Secure in production). Each request looks the row up with its token: a session ends when it
has been idle for ``IDLE_MINUTES``, ``CONSOLE_SESSION_MINUTES`` after sign-in, at sign-out
(the row is deleted), or on the first request after its token is revoked. Roles are not
stored either: every request reads them from the policy runtime.

Flask's own signed cookie (``policy_console``) carries no identity: only flask-wtf's CSRF
secret and the one-time messages shown after an action.
"""

from __future__ import annotations

from datetime import timedelta

from flask import g, request, session
from werkzeug.wrappers import Response as BaseResponse

from audit import AuditEvent
from policy_service.accounts.tokens import principal_for_token
from policy_service.api.app_state import get_state
from policy_service.audit_trail.recording import caller_event
from policy_service.decisions.authorization import Caller
from policy_service.domain.clock import utcnow
from policy_service.domain.errors import Unauthenticated
from policy_service.storage import console_sessions as store
from policy_service.storage.tokens import hash_token

SID_COOKIE = "policy_console_sid"
COOKIE_PATH = "/console"
IDLE_MINUTES = 30
# last_seen_at is written at most this often, so reading a page is not a write each time.
TOUCH_EVERY = timedelta(seconds=60)
_SET, _CLEAR = "console_sid_set", "console_sid_clear"


def _limits() -> tuple[timedelta, timedelta]:
    absolute = timedelta(minutes=get_state().settings.console_session_minutes)
    return absolute, min(absolute, timedelta(minutes=IDLE_MINUTES))


def sign_in(token: str) -> Caller:
    """Resolve the pasted token the way the API does, then open a fresh session."""
    state = get_state()
    state.sync()  # revocations made by other workers
    token = token.strip()
    principal = principal_for_token(state, token)
    if principal.kind != "user":
        raise Unauthenticated("the console is for people: sign in with a user's token")
    absolute, idle = _limits()
    now = utcnow()
    with state.unit_of_work() as uow:
        store.end_expired(uow.session, now, idle)  # housekeeping
        token_id = store.token_id_for_hash(uow.session, hash_token(token))
        if token_id is None:
            raise Unauthenticated("the token is unknown or revoked")
        old = request.cookies.get(SID_COOKIE)
        if old:
            store.end_session(uow.session, old)  # no session fixation: the old one goes
        session_id = store.open_session(uow.session, principal.id, token_id, now, now + absolute)
        caller = _caller(principal.id, principal.kind, principal.platform_admin)
        # Who looked at the console, and with which token, is evidence too (the platform
        # chain: a session spans every account the person holds a role in).
        uow.record(_session_event(caller, "console.sign_in", token_id))
        uow.commit()
    session.clear()  # a fresh CSRF secret for the signed-in session
    setattr(g, _SET, session_id)
    return caller


def sign_out() -> None:
    session_id = request.cookies.get(SID_COOKIE)
    if session_id:
        state = get_state()
        with state.unit_of_work() as uow:
            live = store.live_session(uow.session, session_id, utcnow(), _limits()[1])
            if store.end_session(uow.session, session_id) and live is not None:
                caller = _caller(live.principal_id, live.kind, live.platform_admin)
                uow.record(_session_event(caller, "console.sign_out", live.token_id))
            uow.commit()
    session.clear()
    setattr(g, _CLEAR, True)


def current() -> Caller | None:
    """The signed-in caller, or None (never signed in, signed out, expired or revoked)."""
    session_id = request.cookies.get(SID_COOKIE)
    if not session_id or not session_id.startswith(store.SESSION_PREFIX):
        return None
    state = get_state()
    _, idle = _limits()
    now = utcnow()
    with state.unit_of_work(write=False) as uow:
        found = store.live_session(uow.session, session_id, now, idle)
    if found is None:
        setattr(g, _CLEAR, True)
        return None
    if now - found.last_seen_at >= TOUCH_EVERY:
        with state.unit_of_work() as uow:
            store.touch(uow.session, found.id_hash, now)
            uow.commit()
    return _caller(found.principal_id, found.kind, found.platform_admin)


def apply_cookie(response: BaseResponse) -> BaseResponse:
    """Set the new session's cookie, or remove one that no longer opens a session."""
    production = get_state().settings.is_production
    session_id: str | None = g.get(_SET)
    if session_id is not None:
        absolute, _ = _limits()
        response.set_cookie(
            SID_COOKIE,
            session_id,
            max_age=int(absolute.total_seconds()),
            path=COOKIE_PATH,
            secure=production,
            httponly=True,
            samesite="Strict",
        )
    elif g.get(_CLEAR):
        response.delete_cookie(
            SID_COOKIE, path=COOKIE_PATH, secure=production, httponly=True, samesite="Strict"
        )
    return response


def _session_event(caller: Caller, action: str, token_id: str) -> AuditEvent:
    return caller_event(
        get_state().runtime,
        caller,
        action,
        "succeeded",
        account_id=None,
        target_type="token",
        target_id=token_id,
    )


def _caller(user: str, kind: str, platform_admin: bool) -> Caller:
    return Caller(user, kind, platform_admin, None, g.get("request_id"))
