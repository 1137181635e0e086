"""Cascade profiles: what each does to each related kind on delete and purge."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from policy_service.api.auth import current_caller
from policy_service.api.parsing import Blueprint
from policy_service.domain.cascade import CascadeProfile
from policy_service.domain.errors import NotFound
from policy_service.state import get_state

blp = Blueprint("cascade_profiles", __name__, description="Cascade profiles")


def profile_json(profile: CascadeProfile) -> dict[str, Any]:
    return {
        "name": profile.name,
        "version": profile.version,
        "description": profile.description,
        "trash": profile.trash,
        "retention_days": profile.retention_days,
        "block_delete_when": list(profile.block_delete_when),
        "on_delete": dict(profile.on_delete),
        "on_purge": dict(profile.on_purge),
    }


def _profiles() -> dict[str, CascadeProfile]:
    # Any authenticated caller may read profiles: they describe behaviour, hold no data.
    current_caller()
    return get_state().runtime.pack.cascade_profiles


@blp.route("/v1/cascade-profiles")
class Profiles(MethodView):
    def get(self) -> dict[str, Any]:
        """Every cascade profile the running pack holds, with its version."""
        profiles = _profiles()
        return {"profiles": [profile_json(p) for p in profiles.values()]}


@blp.route("/v1/cascade-profiles/<name>")
class Profile(MethodView):
    def get(self, name: str) -> dict[str, Any]:
        """One profile."""
        profile = _profiles().get(name)
        if profile is None:
            raise NotFound(f"no cascade profile {name!r}")
        return profile_json(profile)
