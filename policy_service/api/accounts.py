"""Accounts (platform admins) and their role assignments (account admins, platform admins)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response
from flask.views import MethodView
from marshmallow import fields, validate

from policy_service.accounts import accounts as account_service
from policy_service.accounts import memberships as membership_service
from policy_service.api.app_state import get_state
from policy_service.api.auth import current_caller
from policy_service.api.paging import next_after, page_schema
from policy_service.api.parsing import Blueprint
from policy_service.api.responses import UtcDateTime
from policy_service.api.schema_parts import StrictSchema
from policy_service.domain.accounts import DEFAULT_RETENTION_DAYS, Account
from policy_service.strict_fields import StrictBoolean

blp = Blueprint("accounts", __name__, description="Accounts and role assignments")


class AccountSchema(ma.Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    cascade_profile = fields.String(required=True)
    retention_days = fields.Integer(required=True)
    purge_enabled = fields.Boolean(required=True)
    created_at = UtcDateTime(required=True)
    updated_at = UtcDateTime(required=True)


class AccountCreateSchema(StrictSchema):
    id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    cascade_profile = fields.String(
        load_default="trash-retains-all", validate=validate.Length(min=1, max=64)
    )
    retention_days = fields.Integer(load_default=DEFAULT_RETENTION_DAYS, strict=True)
    purge_enabled = StrictBoolean(load_default=False)


class AccountPatchSchema(StrictSchema):
    name = fields.String(validate=validate.Length(min=1, max=200))
    cascade_profile = fields.String(validate=validate.Length(min=1, max=64))
    retention_days = fields.Integer(strict=True)
    purge_enabled = StrictBoolean()


class AccountListQuery(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    after = fields.String()
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


AccountListSchema = page_schema("AccountListSchema", "accounts", AccountSchema)


class MembershipSchema(StrictSchema):
    roles = fields.List(
        fields.String(validate=validate.Length(min=1, max=64)),
        required=True,
        validate=validate.Length(min=1, max=16),
    )


class MemberSchema(ma.Schema):
    account_id = fields.String(required=True)
    user_id = fields.String(required=True)
    roles = fields.List(fields.String(), required=True)


class MemberListSchema(ma.Schema):
    members = fields.List(fields.Nested(MemberSchema), required=True)


@blp.route("/v1/accounts")
class Accounts(MethodView):
    @blp.arguments(AccountCreateSchema)
    @blp.response(201, AccountSchema)
    def post(self, body: dict[str, Any]) -> Account:
        """Create an account (platform admins)."""
        return account_service.create_account(get_state(), current_caller(), **body)

    @blp.arguments(AccountListQuery, location="query")
    @blp.response(200, AccountListSchema)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """List accounts by id (platform admins); page with ``after``."""
        limit = query["limit"]
        found = account_service.list_accounts(
            get_state(), current_caller(), after=query.get("after"), limit=limit
        )
        return {"accounts": found, "next_after": next_after(found, limit, lambda a: a.id)}


@blp.route("/v1/accounts/<account_id>")
class AccountById(MethodView):
    @blp.response(200, AccountSchema)
    def get(self, account_id: str) -> Account:
        """One account's settings (its admins, platform admins)."""
        return account_service.get_account(get_state(), current_caller(), account_id)

    @blp.arguments(AccountPatchSchema)
    @blp.response(200, AccountSchema)
    def patch(self, body: dict[str, Any], account_id: str) -> Account:
        """Change an account's settings (platform admins)."""
        return account_service.update_account(get_state(), current_caller(), account_id, body)


@blp.route("/v1/accounts/<account_id>/members")
class Members(MethodView):
    @blp.response(200, MemberListSchema)
    def get(self, account_id: str) -> dict[str, Any]:
        """Who holds which roles in the account."""
        members = membership_service.list_members(get_state(), current_caller(), account_id)
        return {
            "members": [
                {"account_id": account_id, "user_id": user, "roles": roles}
                for user, roles in members.items()
            ]
        }


@blp.route("/v1/accounts/<account_id>/members/<user_id>")
class Member(MethodView):
    @blp.arguments(MembershipSchema)
    @blp.response(200, MemberSchema)
    def put(self, body: dict[str, Any], account_id: str, user_id: str) -> dict[str, Any]:
        """Set the user's roles in the account (replaces what they held)."""
        roles = membership_service.set_member_roles(
            get_state(), current_caller(), account_id, user_id, body["roles"]
        )
        return {"account_id": account_id, "user_id": user_id, "roles": roles}

    @blp.response(204)
    def delete(self, account_id: str, user_id: str) -> Response:
        """Remove every role the user holds in the account."""
        membership_service.remove_member(get_state(), current_caller(), account_id, user_id)
        return Response(status=204)
