"""The contacts API's schemas (requests and responses) and the JSON its views answer with.

The views in ``api/contacts.py`` load through these and dump through them, so
/openapi.json describes what is sent.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from policy_service.api.paging import page_schema
from policy_service.api.responses import UtcDateTime
from policy_service.api.schema_parts import StrictSchema, dataclass_json, described_map
from policy_service.domain.cascade import RELATED_KINDS, CascadeProfile
from policy_service.domain.contacts import (
    DELETE_REASONS,
    NOT_A_DELETE,
    CascadeCounts,
    Contact,
    RelatedRecord,
)
from policy_service.lifecycle import actions as lifecycle
from policy_service.lifecycle import legal_holds, preview


class ContactCreateSchema(StrictSchema):
    id = fields.String(validate=validate.Length(min=1, max=60))
    name = fields.String(validate=validate.Length(max=200), allow_none=True)
    email = fields.Email(validate=validate.Length(max=320), allow_none=True)
    phone = fields.String(
        validate=validate.Regexp(r"^\+?[0-9 ().-]{3,40}$", error="not a phone number"),
        allow_none=True,
    )
    tags = fields.List(fields.String(validate=validate.Length(min=1, max=200)), load_default=list)
    suppression_override = fields.String(
        validate=validate.Length(min=1, max=500),
        metadata={"description": "why a person on the suppression list is created anyway"},
    )


class ContactListQuery(StrictSchema):
    q = fields.String(validate=validate.Length(min=1, max=200))
    tag = fields.String(validate=validate.Length(min=1, max=200))
    after = fields.String(validate=validate.Length(max=60))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class RecordCreateSchema(StrictSchema):
    kind = fields.String(required=True, validate=validate.OneOf(RELATED_KINDS))
    data = fields.Dict(keys=fields.String(), required=True)


class DeleteSchema(StrictSchema):
    # Not OneOf: unsubscribe / dnd / stop_follow_up get a 422 with guidance, not a 400.
    reason_code = fields.String(
        required=True,
        validate=validate.OneOf([*DELETE_REASONS, *NOT_A_DELETE]),
        metadata={"description": f"one of {sorted(DELETE_REASONS)}"},
    )
    reason_text = fields.String(validate=validate.Length(max=500))
    confirm = fields.String(
        validate=validate.Length(max=20),
        metadata={
            "description": 'must be "DELETE" where the account\'s profile has no trash (the '
            "delete cannot be undone); ignored otherwise"
        },
    )


class PurgeSchema(StrictSchema):
    # Not required by the schema: a purge without it is the audited 422 confirmation_required.
    confirm = fields.String(
        load_default=None,
        validate=validate.Length(max=20),
        metadata={"description": 'must be "PURGE"'},
    )


class ImpactQuery(StrictSchema):
    action = fields.String(required=True, validate=validate.OneOf(("delete", "restore", "purge")))


class HoldSchema(StrictSchema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))
    matter = fields.String(validate=validate.Length(max=200))


class HoldReleaseQuery(StrictSchema):
    hold_id = fields.String(validate=validate.Length(max=40))


# -- responses ---------------------------------------------------------------------------------

_COUNTS = fields.Dict(keys=fields.String(), values=fields.Integer())


class ContactSchema(ma.Schema):
    account_id = fields.String(required=True)
    id = fields.String(required=True)
    name = fields.String(required=True, allow_none=True)
    email = fields.String(required=True, allow_none=True)
    phone = fields.String(required=True, allow_none=True)
    tags = fields.List(fields.String(), required=True)
    state = fields.String(required=True, metadata={"enum": ["active", "trashed", "purged"]})
    deleted_at = UtcDateTime(required=True, allow_none=True)
    deleted_by = fields.String(required=True, allow_none=True)
    delete_operation_id = fields.String(required=True, allow_none=True)
    delete_reason = fields.String(required=True, allow_none=True)
    purged_at = UtcDateTime(required=True, allow_none=True)
    version = fields.Integer(required=True)
    created_at = UtcDateTime(required=True)
    updated_at = UtcDateTime(required=True)


ContactPageSchema = page_schema("ContactPageSchema", "contacts", ContactSchema)


class RecordSchema(ma.Schema):
    id = fields.String(required=True)
    account_id = fields.String(required=True)
    contact_id = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "null once the record no longer belongs to it"},
    )
    origin_contact_id = fields.String(required=True)
    kind = fields.String(required=True, metadata={"enum": list(RELATED_KINDS)})
    label = fields.String(required=True, allow_none=True)
    data = fields.Dict(keys=fields.String(), required=True)
    state = fields.String(required=True)
    operation_id = fields.String(required=True, allow_none=True)
    created_at = UtcDateTime(required=True)
    updated_at = UtcDateTime(required=True)


class RecordListSchema(ma.Schema):
    records = fields.List(fields.Nested(RecordSchema), required=True)


class ContactExportSchema(ma.Schema):
    contact = fields.Nested(ContactSchema, required=True)
    records = fields.List(fields.Nested(RecordSchema), required=True)


class ProfileRefSchema(ma.Schema):
    name = fields.String(required=True)
    version = fields.String(required=True)


class LifecycleResultSchema(ma.Schema):
    contact = fields.Nested(ContactSchema, required=True)
    action = fields.String(required=True)
    operation_id = fields.String(required=True)
    cascade_profile = fields.Nested(ProfileRefSchema, required=True)
    cascade = described_map(_COUNTS, "per related kind, how many records each action touched")
    totals = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    audit_event_id = fields.String(required=True)


class ImpactReasonSchema(ma.Schema):
    code = fields.String(required=True)
    text = fields.String(required=True)


class ImpactSchema(ma.Schema):
    action = fields.String(required=True)
    contact = fields.Nested(ContactSchema, required=True)
    cascade_profile = fields.Nested(ProfileRefSchema, required=True)
    cascade = fields.Dict(keys=fields.String(), values=_COUNTS, required=True)
    totals = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    allowed = fields.Boolean(required=True)
    status = fields.Integer(
        required=True, metadata={"description": "what the action would answer now"}
    )
    reason = fields.Nested(ImpactReasonSchema, required=True)


class LegalHoldSchema(ma.Schema):
    id = fields.String(required=True)
    account_id = fields.String(required=True)
    contact_id = fields.String(required=True)
    reason = fields.String(required=True)
    matter = fields.String(required=True, allow_none=True)
    placed_by = fields.String(required=True)
    placed_at = UtcDateTime(required=True)
    released_by = fields.String(required=True, allow_none=True)
    released_at = UtcDateTime(required=True, allow_none=True)


class LegalHoldListSchema(ma.Schema):
    holds = fields.List(fields.Nested(LegalHoldSchema), required=True)


class ReleasedHoldsSchema(ma.Schema):
    released = fields.List(fields.Nested(LegalHoldSchema), required=True)


class TrashEntrySchema(ContactSchema):
    days_left = fields.Integer(required=True)
    purge_after = UtcDateTime(required=True)


TrashPageSchema = page_schema("TrashPageSchema", "contacts", TrashEntrySchema)


def contact_json(contact: Contact) -> dict[str, Any]:
    return {**dataclass_json(contact), "tags": list(contact.tags)}


def record_json(record: RelatedRecord) -> dict[str, Any]:
    return dataclass_json(record)


def _cascade_json(profile: CascadeProfile, counts: CascadeCounts) -> dict[str, Any]:
    """The profile an action ran (or would run) under, and what it did to each related kind."""
    return {
        "cascade_profile": {"name": profile.name, "version": profile.version},
        "cascade": counts.as_dict(),
        "totals": counts.totals(),
    }


def result_json(result: lifecycle.LifecycleResult) -> dict[str, Any]:
    return {
        "contact": contact_json(result.contact),
        "action": result.action,
        "operation_id": result.operation_id,
        **_cascade_json(result.profile, result.counts),
        "audit_event_id": result.event_id,
    }


class ExportQuery(StrictSchema):
    format = fields.String(load_default="csv", validate=validate.OneOf(("csv",)))
    q = fields.String(validate=validate.Length(min=1, max=200))
    tag = fields.String(validate=validate.Length(min=1, max=200))
    state = fields.String(load_default="active", validate=validate.OneOf(("active", "trashed")))


class RecordPatchSchema(StrictSchema):
    status = fields.String(
        required=True,
        validate=validate.OneOf(("ended",)),
        metadata={"description": '"ended" ends a workflow or campaign enrollment'},
    )


def hold_json(hold: legal_holds.LegalHold) -> dict[str, Any]:
    return dataclass_json(hold)


def impact_json(found: preview.Impact) -> dict[str, Any]:
    return {
        "action": found.action,
        "contact": contact_json(found.contact),
        **_cascade_json(found.profile, found.counts),
        "allowed": found.allowed,
        "status": found.status,
        "reason": {"code": found.reason_code, "text": found.reason_text},
    }
