"""The compliance console at ``/console``: server-rendered pages for officers and admins.

An HTTP edge like ``api/``: every page and button calls the same use cases
(``lifecycle/``, ``privacy/``, ``audit_trail/``) and the same decision function as the JSON
API, so what the console shows and does is what the API would answer and record. It is a
plain Flask blueprint, not a flask-smorest one: it is not part of the API document.

Safety: sign-in with an API token opens a session kept on the server (``session.py``); its
HttpOnly, SameSite=Strict cookie (Secure in production) holds only a random session id,
never the token. Sign-out, the idle and absolute limits, and revoking the token end it. Every
form carries a CSRF token (flask-wtf, checked for this blueprint only: the JSON API has no
cookies and needs none). Responses carry a strict Content-Security-Policy with no inline
script.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface

from policy_service.api.app_state import get_state
from policy_service.config import Settings
from policy_service.console import (  # noqa: F401 (each page module registers its routes)
    pages_audit,
    pages_contacts,
    pages_holds,
    pages_policy,
    pages_requests,
    pages_trash,
)
from policy_service.console.web import bp, csrf

__all__ = ["init_app"]


def init_app(app: Flask, settings: Settings) -> None:
    # Production requires POLICY_SERVICE_SECRET_KEY (config.validate). Elsewhere the key is
    # derived from the audit signing key, which every worker of an instance shares, so a
    # session signed by one worker is good in the others.
    app.secret_key = settings.secret_key or _derived_key(get_state(app).signing_key)
    app.config.update(
        # Flask's signed cookie keeps only the CSRF secret and one-time messages; who is
        # signed in is the server-side session (console/session.py).
        SESSION_COOKIE_NAME="policy_console",
        SESSION_COOKIE_PATH="/console",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=settings.is_production,
        PERMANENT_SESSION_LIFETIME=timedelta(minutes=settings.console_session_minutes),
        # Checked by the console's own before_request, not app-wide: the JSON API is not
        # cookie-authenticated, so it has nothing to forge.
        WTF_CSRF_CHECK_DEFAULT=False,
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session, which expires
        WTF_CSRF_SSL_STRICT=settings.is_production,
    )
    app.session_interface = ConsoleSessionInterface()
    csrf.init_app(app)
    app.register_blueprint(bp)


class ConsoleSessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie, opened only under ``/console``.

    Flask opens the session of every request; the JSON API has none (its callers send a
    bearer token), and opening one meant a serializer and a cookie parse on every decision.
    """

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if not request.path.startswith("/console"):
            return self.null_session_class()
        return super().open_session(app, request)


def _derived_key(signing_key: Ed25519PrivateKey) -> str:
    raw = signing_key.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    return hashlib.sha256(b"policy-service console session\x00" + raw).hexdigest()
