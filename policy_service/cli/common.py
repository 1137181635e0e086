"""What every command needs: the settings from the environment and a loaded service state."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from policy_service.config import ConfigError, Settings
from policy_service.domain.errors import PolicyPackError

if TYPE_CHECKING:
    from policy_service.state import ServiceState


def load_settings(**overrides: object) -> Settings:
    """The settings from ``POLICY_SERVICE_*``; a bad value is a usage error, not a traceback."""
    try:
        return Settings.from_env(None, **{k: v for k, v in overrides.items() if v is not None})
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def load_state(settings: Settings) -> ServiceState:
    """The service state with its role assignments loaded.

    Its engine is disposed when the command ends, so running commands in-process (tests, a
    shell) leaves no connections behind.
    """
    from policy_service.audit_trail.keys import AuditKeyError
    from policy_service.state import ServiceState

    try:
        state = ServiceState.build(settings)
        state.load()
    except PolicyPackError as exc:
        raise click.ClickException(f"invalid policy pack: {exc}") from None
    except (AuditKeyError, FileNotFoundError) as exc:
        # Production never makes keys by itself: say how to, instead of a traceback.
        raise click.ClickException(
            f"{exc}; create the audit keys with `policy-service audit create-keys`"
        ) from None
    context = click.get_current_context(silent=True)
    if context is not None:
        context.call_on_close(state.engine.dispose)
    return state
