"""Who is signed in to the console.

The session cookie is Flask's, signed with the app's secret key: it holds the principal's
id and the moment the sign-in ends, never the API token. Roles are not in it either: every
request reads them from the policy runtime, so a role taken away applies at once.
"""

from __future__ import annotations

import time
from typing import Any

from flask import g, session

from policy_service.accounts.tokens import principal_for_token
from policy_service.api.app_state import get_state
from policy_service.decisions.authorization import Caller
from policy_service.domain.errors import Unauthenticated

USER = "uid"
KIND = "kind"
PLATFORM = "pa"
EXPIRES = "exp"


def sign_in(token: str) -> Caller:
    """Resolve the pasted token the way the API does, then start a fresh session."""
    state = get_state()
    state.sync()  # revocations made by other workers
    principal = principal_for_token(state, token.strip())
    if principal.kind != "user":
        raise Unauthenticated("the console is for people: sign in with a user's token")
    minutes = state.settings.console_session_minutes
    session.clear()  # no session fixation: whatever was there before goes
    session.permanent = True
    session[USER] = principal.id
    session[KIND] = principal.kind
    session[PLATFORM] = principal.platform_admin
    session[EXPIRES] = int(time.time()) + minutes * 60
    return _caller(principal.id, principal.kind, principal.platform_admin)


def sign_out() -> None:
    session.clear()


def current() -> Caller | None:
    """The signed-in caller, or None (never signed in, signed out, or expired)."""
    user: Any = session.get(USER)
    expires: Any = session.get(EXPIRES)
    if not isinstance(user, str) or not isinstance(expires, int):
        return None
    if time.time() >= expires:
        session.clear()
        return None
    return _caller(user, str(session.get(KIND, "user")), bool(session.get(PLATFORM, False)))


def _caller(user: str, kind: str, platform_admin: bool) -> Caller:
    return Caller(user, kind, platform_admin, None, g.get("request_id"))
