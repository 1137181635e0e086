"""Bearer-token authentication for every endpoint except health and discovery.

A view opts out with ``@public``. The caller is resolved once per request into ``g.caller``;
a service token may name a user in ``X-On-Behalf-Of``, and the decision is then made for
that user while both are recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import structlog
from flask import Flask, current_app, g, request

from policy_service.domain.errors import BadRequest, Forbidden, Unauthenticated
from policy_service.domain.identifiers import is_valid_id
from policy_service.services.authorization import Caller
from policy_service.state import ServiceState, get_state
from policy_service.storage import tokens

ON_BEHALF_OF_HEADER = "X-On-Behalf-Of"
F = TypeVar("F", bound=Callable[..., Any])


def public(view: F) -> F:
    """No token needed; /openapi.json says so (``security: []``) and lists no 401/403."""
    view.is_public = True  # type: ignore[attr-defined]
    apidoc = dict(getattr(view, "_apidoc", {}))
    apidoc["manual_doc"] = {**apidoc.get("manual_doc", {}), "security": []}
    apidoc["public"] = True
    view._apidoc = apidoc  # type: ignore[attr-defined]
    return view


def current_caller() -> Caller:
    caller: Caller | None = g.get("caller")
    if caller is None:  # a view without @public always runs after _authenticate
        raise Unauthenticated("authentication required")
    return caller


def _bearer_token() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise Unauthenticated("send 'Authorization: Bearer <token>'")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("the Authorization header must be 'Bearer <token>'", token_error=True)
    return token.strip()


PUBLIC_BLUEPRINTS = frozenset({"api-docs"})  # /openapi.json: discovery, like the well-known


def _is_public(view: Any) -> bool:
    if request.blueprint in PUBLIC_BLUEPRINTS:
        return True
    view_class = getattr(view, "view_class", None)
    if view_class is not None:  # a MethodView: the mark is on the method for this verb
        view = getattr(view_class, request.method.lower(), None)
    return bool(getattr(view, "is_public", False))


def _authenticate() -> None:
    view = current_app.view_functions.get(request.endpoint or "")
    if view is None or _is_public(view):
        return
    token = _bearer_token()
    state = get_state()
    # Pick up changes other workers made (revocations included) before trusting anything.
    state.sync()
    principal = _principal_for(state, token)

    on_behalf_of = request.headers.get(ON_BEHALF_OF_HEADER)
    if on_behalf_of is not None:
        if principal.kind != "service":
            raise Forbidden(f"only service tokens may send {ON_BEHALF_OF_HEADER}")
        if not is_valid_id(on_behalf_of):
            raise BadRequest(f"{ON_BEHALF_OF_HEADER} is not a valid user id")
    g.caller = Caller(
        principal.id, principal.kind, principal.platform_admin, on_behalf_of, g.get("request_id")
    )
    structlog.contextvars.bind_contextvars(principal=principal.id, on_behalf_of=on_behalf_of)


MAX_CACHED_TOKENS = 10_000


def _principal_for(state: ServiceState, token: str) -> tokens.Principal:
    token_hash = tokens.hash_token(token)
    cached = state.runtime.tokens.get(token_hash)
    if cached is not None:
        return tokens.Principal(*cached)
    with state.session_factory() as session:
        principal = tokens.authenticate_hash(session, token_hash)
    if principal is None:
        raise Unauthenticated("the token is unknown or revoked", token_error=True)
    if len(state.runtime.tokens) >= MAX_CACHED_TOKENS:
        state.runtime.tokens.clear()
    state.runtime.tokens[token_hash] = (principal.id, principal.kind, principal.platform_admin)
    return principal


def init_app(app: Flask) -> None:
    app.before_request(_authenticate)
