"""Contact lifecycle policy service.

``create_app()`` is the WSGI factory (``gunicorn 'policy_service:create_app()'``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from policy_service.config import Settings

__all__ = ["create_app"]


def create_app(config: Settings | Mapping[str, Any] | None = None) -> Flask:
    """Build the application. ``config`` is a ``Settings`` or overrides of the environment's."""

    from policy_service.api import (
        accounts,
        audit,
        auth,
        authzen,
        cascade_profiles,
        contacts,
        decision_logs,
        deletion_rules,
        dsr,
        dsr_systems,
        explain,
        health,
        input_limits,
        jobs,
        openapi_doc,
        policy,
        problems,
        request_context,
        search,
        webhooks,
    )
    from policy_service.api.flask_app import ServiceFlask
    from policy_service.decisions.policy_admin import check_pack_at_start
    from policy_service.observability import configure_logging
    from policy_service.state import EXTENSION_KEY, ServiceState

    settings = config if isinstance(config, Settings) else Settings.from_env(**dict(config or {}))
    configure_logging(settings)

    app = ServiceFlask(__name__)
    app.config.update(
        API_TITLE="Contact lifecycle policy service",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={
            "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}},
            "security": [{"bearerAuth": []}],
        },
        # One byte more than the limit: Werkzeug caps a chunked body's stream at this length
        # (silently), so input_limits reads up to it and refuses a body that reaches it.
        MAX_CONTENT_LENGTH=settings.max_body_bytes + 1,
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]

    state = ServiceState.build(settings)
    # The pack's own policy tests: failing, they stop the start in production (a warning
    # elsewhere); an invalid policy test file stops it anywhere.
    check_pack_at_start(settings, state.runtime.pack)
    # The database may be away while a worker starts (gunicorn replacing one that died):
    # a worker that cannot start takes gunicorn's master down with it, so the worker starts
    # anyway, answers 503 where it needs the database, and loads once the database is back.
    loaded = state.try_load()
    app.extensions[EXTENSION_KEY] = state

    request_context.init_app(app)
    # In this order: who asks; a path and query fit to read; no part in the account named
    # in the path, no further; only then is the body read and checked.
    auth.init_app(app)
    app.before_request(input_limits.check_path_and_query)
    app.before_request(auth.gate_account)
    app.before_request(input_limits.check_body)
    api = openapi_doc.Api(app)
    for blueprint in (
        health.blp,
        authzen.discovery,
        authzen.blp,
        search.blp,
        decision_logs.blp,
        explain.blp,
        accounts.blp,
        policy.blp,
        audit.blp,
        cascade_profiles.blp,
        contacts.blp,
        deletion_rules.blp,
        jobs.blp,
        dsr.blp,
        dsr_systems.blp,
        webhooks.blp,
    ):
        api.register_blueprint(blueprint)
    problems.init_app(app)  # after Api(), whose own HTTP error handler this replaces
    # The compliance console: a plain blueprint (not in the API document), its own session.
    from policy_service import console

    console.init_app(app, settings)
    if settings.job_runner == "thread":
        from policy_service.lifecycle.jobs import start_background_runner

        # Started with the app, i.e. in each gunicorn worker after the fork: it resumes jobs
        # whose runner died (their lease expired) and runs queued ones. Not before the state
        # has loaded: jobs record the caller's roles in the audit trail.
        if loaded:
            start_background_runner(state)
        else:
            state.load_in_background(then=lambda: start_background_runner(state))
    # -- scheduled maintenance (retention sweep, recovery of orphaned jobs) --
    # A thread in each worker; the database lets one worker of all run each task per
    # interval. Each tick loads the state first if it has not loaded yet (the database may
    # be away), so it needs no loader of its own. Tests ("inline") tick it themselves.
    if settings.job_runner != "inline":
        from policy_service.scheduler import start_scheduler

        start_scheduler(state)
    return app
