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

from policy_service.accounts.tokens import principal_for_token
from policy_service.api.app_state import get_state
from policy_service.api.request_context import wait_for_consistency
from policy_service.audit_trail.recording import refuse
from policy_service.decisions.authorization import Caller, account_gate
from policy_service.domain.errors import BadRequest, Forbidden, Unauthenticated
from policy_service.domain.identifiers import PLATFORM_DOMAIN, is_valid_id

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
    principal = principal_for_token(state, token)
    if wait_for_consistency(state):  # X-Consistency-Token: on state at least that new
        principal = principal_for_token(state, token)  # a revocation it asked for included

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


def gate_account() -> None:
    """A route whose path names an account refuses, before it reads anything (its body
    included), a caller with no part in that account: no role there, or a service acting for
    someone who has none. An account that does not exist is refused alike, so the answer
    says nothing about which accounts exist. Platform admins acting directly pass: what they
    may do in an account is up to each route's own permission."""
    caller: Caller | None = g.get("caller")
    account_id = (request.view_args or {}).get("account_id")
    if caller is None or account_id is None:
        return
    state = get_state()
    runtime = state.runtime
    if caller.on_behalf_of is None and runtime.roles.roles_of(caller.principal_id, PLATFORM_DOMAIN):
        return
    refused = account_gate(runtime, caller, account_id)
    if refused is None:
        return
    rule = request.url_rule.rule if request.url_rule else request.path
    raise refuse(
        state,
        caller,
        "account.access",
        status=403,
        code=refused.reason.code,
        text=f"{caller.acting_subject} may not act in account {account_id}: {refused.reason.text}",
        account_id=account_id,
        target_type="account",
        target_id=account_id,
        request=f"{request.method} {rule}",
    )


def init_app(app: Flask) -> None:
    app.before_request(_authenticate)
