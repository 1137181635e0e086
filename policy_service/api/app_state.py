"""The ``ServiceState`` of the app handling the current request (the HTTP edge only)."""

from __future__ import annotations

from flask import Flask, current_app

from policy_service.state import EXTENSION_KEY, ServiceState


def get_state(app: Flask | None = None) -> ServiceState:
    state: ServiceState = (app or current_app).extensions[EXTENSION_KEY]
    return state
