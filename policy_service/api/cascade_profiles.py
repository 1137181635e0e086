"""Cascade profiles: what each does to each related kind on delete and purge."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView
from marshmallow import fields

from policy_service.api.app_state import get_state
from policy_service.api.auth import current_caller
from policy_service.api.parsing import Blueprint
from policy_service.api.schema_parts import described_map
from policy_service.domain.cascade import CascadeProfile
from policy_service.domain.errors import NotFound

blp = Blueprint("cascade_profiles", __name__, description="Cascade profiles")


class CascadeProfileSchema(ma.Schema):
    name = fields.String(required=True)
    version = fields.String(required=True)
    description = fields.String(required=True)
    trash = fields.Boolean(required=True, metadata={"description": "whether a delete trashes"})
    retention_days = fields.Integer(
        required=True, allow_none=True, metadata={"description": "caps the account's window"}
    )
    block_delete_when = fields.List(fields.String(), required=True)
    on_delete = described_map(
        fields.String(), "per related kind, what a delete does to its records"
    )
    on_purge = described_map(fields.String(), "per related kind, what a purge does to its records")


class CascadeProfileListSchema(ma.Schema):
    profiles = fields.List(fields.Nested(CascadeProfileSchema), required=True)


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
    @blp.response(200, CascadeProfileListSchema)
    def get(self) -> dict[str, Any]:
        """Every cascade profile the running pack holds, with its version."""
        profiles = _profiles()
        return {"profiles": [profile_json(p) for p in profiles.values()]}


@blp.route("/v1/cascade-profiles/<name>")
class Profile(MethodView):
    @blp.response(200, CascadeProfileSchema)
    def get(self, name: str) -> dict[str, Any]:
        """One profile."""
        profile = _profiles().get(name)
        if profile is None:
            raise NotFound(f"no cascade profile {name!r}")
        return profile_json(profile)
