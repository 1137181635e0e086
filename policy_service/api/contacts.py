"""Contacts, their related records, and their lifecycle: delete, restore, purge, impact,
the trash, and legal holds."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import marshmallow as ma
from flask import Response, stream_with_context
from flask.views import MethodView
from marshmallow import fields, validate

from policy_service.api.app_state import get_state
from policy_service.api.auth import current_caller
from policy_service.api.parsing import Blueprint
from policy_service.api.responses import TEXT_CONTENT, UtcDateTime
from policy_service.domain.cascade import RELATED_KINDS
from policy_service.domain.clock import iso
from policy_service.domain.contacts import DELETE_REASONS, NOT_A_DELETE, Contact, RelatedRecord
from policy_service.lifecycle import actions as lifecycle
from policy_service.lifecycle import contact_export, legal_holds, preview
from policy_service.lifecycle import contacts as contact_service

blp = Blueprint("contacts", __name__, description="Contacts and their lifecycle")
BASE = "/v1/accounts/<account_id>/contacts"


class _Strict(ma.Schema):
    class Meta:
        unknown = ma.RAISE


class ContactCreateSchema(_Strict):
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


class ContactListQuery(_Strict):
    q = fields.String(validate=validate.Length(min=1, max=200))
    tag = fields.String(validate=validate.Length(min=1, max=200))
    after = fields.String(validate=validate.Length(max=60))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class RecordCreateSchema(_Strict):
    kind = fields.String(required=True, validate=validate.OneOf(RELATED_KINDS))
    data = fields.Dict(keys=fields.String(), required=True)


class DeleteSchema(_Strict):
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


class PurgeSchema(_Strict):
    # Not required by the schema: a purge without it is the audited 422 confirmation_required.
    confirm = fields.String(
        load_default=None, validate=validate.Length(max=20),
        metadata={"description": 'must be "PURGE"'},
    )  # fmt: skip


class ImpactQuery(_Strict):
    action = fields.String(required=True, validate=validate.OneOf(("delete", "restore", "purge")))


class HoldSchema(_Strict):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))
    matter = fields.String(validate=validate.Length(max=200))


class HoldReleaseQuery(_Strict):
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


class ContactPageSchema(ma.Schema):
    contacts = fields.List(fields.Nested(ContactSchema), required=True)
    next_after = fields.String(
        required=True, allow_none=True, metadata={"description": "pass as after for the next page"}
    )


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
    cascade = fields.Dict(
        keys=fields.String(),
        values=_COUNTS,
        required=True,
        metadata={"description": "per related kind, how many records each action touched"},
    )
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


class TrashPageSchema(ma.Schema):
    contacts = fields.List(fields.Nested(TrashEntrySchema), required=True)
    next_after = fields.String(
        required=True, allow_none=True, metadata={"description": "pass as after for the next page"}
    )


def contact_json(contact: Contact) -> dict[str, Any]:
    return {
        "account_id": contact.account_id,
        "id": contact.id,
        "name": contact.name,
        "email": contact.email,
        "phone": contact.phone,
        "tags": list(contact.tags),
        "state": contact.state,
        "deleted_at": iso(contact.deleted_at),
        "deleted_by": contact.deleted_by,
        "delete_operation_id": contact.delete_operation_id,
        "delete_reason": contact.delete_reason,
        "purged_at": iso(contact.purged_at),
        "version": contact.version,
        "created_at": iso(contact.created_at),
        "updated_at": iso(contact.updated_at),
    }


def record_json(record: RelatedRecord) -> dict[str, Any]:
    data = asdict(record)
    data["created_at"] = iso(record.created_at)
    data["updated_at"] = iso(record.updated_at)
    return data


def result_json(result: lifecycle.LifecycleResult) -> dict[str, Any]:
    return {
        "contact": contact_json(result.contact),
        "action": result.action,
        "operation_id": result.operation_id,
        "cascade_profile": {"name": result.profile.name, "version": result.profile.version},
        "cascade": result.counts.as_dict(),
        "totals": result.counts.totals(),
        "audit_event_id": result.event_id,
    }


@blp.route(BASE)
class Contacts(MethodView):
    @blp.arguments(ContactCreateSchema)
    @blp.response(201, ContactSchema)
    def post(self, body: dict[str, Any], account_id: str) -> dict[str, Any]:
        """Create a contact (tags may trigger the account's deletion rules)."""
        contact = contact_service.create_contact(
            get_state(),
            current_caller(),
            account_id,
            id=body.get("id"),
            name=body.get("name"),
            email=body.get("email"),
            phone=body.get("phone"),
            tags=body["tags"],
            suppression_override=body.get("suppression_override"),
        )
        return contact_json(contact)

    @blp.arguments(ContactListQuery, location="query")
    @blp.response(200, ContactPageSchema)
    def get(self, query: dict[str, Any], account_id: str) -> dict[str, Any]:
        """Active contacts, by id; ``q`` searches name, email, phone and id."""
        found = contact_service.list_contacts(
            get_state(),
            current_caller(),
            account_id,
            query=query.get("q"),
            tag=query.get("tag"),
            after=query.get("after"),
            limit=query["limit"],
        )
        more = len(found) == query["limit"]
        return {
            "contacts": [contact_json(c) for c in found],
            "next_after": found[-1].id if more else None,
        }


class ExportQuery(_Strict):
    format = fields.String(load_default="csv", validate=validate.OneOf(("csv",)))
    q = fields.String(validate=validate.Length(min=1, max=200))
    tag = fields.String(validate=validate.Length(min=1, max=200))
    state = fields.String(load_default="active", validate=validate.OneOf(("active", "trashed")))


@blp.route(f"{BASE}/export")
class ExportMany(MethodView):
    @blp.arguments(ExportQuery, location="query")
    @blp.response(200, TEXT_CONTENT, content_type="text/csv", description="CSV, streamed.")
    def get(self, query: dict[str, Any], account_id: str) -> Response:
        """Contacts as CSV (streamed), filtered like the list; an export is audited."""
        chunks = contact_export.export_csv(
            get_state(),
            current_caller(),
            account_id,
            query=query.get("q"),
            tag=query.get("tag"),
            contact_state=query["state"],
        )
        response = Response(stream_with_context(chunks), mimetype="text/csv")
        response.headers["Content-Disposition"] = f"attachment; filename={account_id}-contacts.csv"
        return response


@blp.route(f"{BASE}/<contact_id>/export")
class ExportOne(MethodView):
    @blp.response(200, ContactExportSchema)
    def get(self, account_id: str, contact_id: str) -> dict[str, Any]:
        """One contact with every related record, as JSON: a backup before deleting."""
        contact, records = contact_export.export_contact(
            get_state(), current_caller(), account_id, contact_id
        )
        return {"contact": contact_json(contact), "records": [record_json(r) for r in records]}


@blp.route(f"{BASE}/<contact_id>")
class ContactById(MethodView):
    @blp.response(200, ContactSchema)
    def get(self, account_id: str, contact_id: str) -> dict[str, Any]:
        """One contact, in whatever state it is (a purged contact has no personal data)."""
        return contact_json(
            contact_service.get_contact(get_state(), current_caller(), account_id, contact_id)
        )


@blp.route(f"{BASE}/<contact_id>/records")
class Records(MethodView):
    @blp.arguments(RecordCreateSchema)
    @blp.response(201, RecordSchema)
    def post(self, body: dict[str, Any], account_id: str, contact_id: str) -> dict[str, Any]:
        """Add a related record (a note, a task, a tag, a workflow enrollment, ...)."""
        record = contact_service.add_record(
            get_state(), current_caller(), account_id, contact_id, body["kind"], body["data"]
        )
        return record_json(record)

    @blp.response(200, RecordListSchema)
    def get(self, account_id: str, contact_id: str) -> dict[str, Any]:
        """Every related record that came from this contact, with its state."""
        records = contact_service.list_records(
            get_state(), current_caller(), account_id, contact_id
        )
        return {"records": [record_json(r) for r in records]}


class RecordPatchSchema(_Strict):
    status = fields.String(
        required=True,
        validate=validate.OneOf(("ended",)),
        metadata={"description": '"ended" ends a workflow or campaign enrollment'},
    )


@blp.route(f"{BASE}/<contact_id>/records/<record_id>")
class RecordById(MethodView):
    @blp.arguments(RecordPatchSchema)
    @blp.response(200, RecordSchema)
    def patch(
        self, body: dict[str, Any], account_id: str, contact_id: str, record_id: str
    ) -> dict[str, Any]:
        """End an enrollment (seed 004: remove the contact from the workflow or campaign
        before deleting it). Audited; a profile's guard then lets the delete go ahead."""
        record = contact_service.end_enrollment(
            get_state(), current_caller(), account_id, contact_id, record_id
        )
        return record_json(record)


@blp.route(f"{BASE}/<contact_id>/delete")
class Delete(MethodView):
    @blp.arguments(DeleteSchema)
    @blp.response(200, LifecycleResultSchema)
    def post(self, body: dict[str, Any], account_id: str, contact_id: str) -> dict[str, Any]:
        """Move the contact to the trash (or purge it, where the profile has no trash)."""
        result = lifecycle.delete_contact(
            get_state(),
            current_caller(),
            account_id,
            contact_id,
            body["reason_code"],
            body.get("reason_text"),
            body.get("confirm"),
        )
        return result_json(result)


@blp.route(f"{BASE}/<contact_id>/restore")
class Restore(MethodView):
    @blp.response(200, LifecycleResultSchema)
    def post(self, account_id: str, contact_id: str) -> dict[str, Any]:
        """Bring a contact back from the trash, with exactly what its delete hid."""
        return result_json(
            lifecycle.restore_contact(get_state(), current_caller(), account_id, contact_id)
        )


@blp.route(f"{BASE}/<contact_id>/purge")
class Purge(MethodView):
    @blp.arguments(PurgeSchema)
    @blp.response(200, LifecycleResultSchema)
    def post(self, body: dict[str, Any], account_id: str, contact_id: str) -> dict[str, Any]:
        """Remove the contact for good. Irreversible: needs ``{"confirm": "PURGE"}``."""
        result = lifecycle.purge_contact(
            get_state(), current_caller(), account_id, contact_id, body.get("confirm")
        )
        return result_json(result)


@blp.route(f"{BASE}/<contact_id>/impact")
class ImpactView(MethodView):
    @blp.arguments(ImpactQuery, location="query")
    @blp.response(200, ImpactSchema)
    def get(self, query: dict[str, Any], account_id: str, contact_id: str) -> dict[str, Any]:
        """A dry run: per related kind what the action would do, and whether it is allowed."""
        found = preview.impact(
            get_state(), current_caller(), account_id, contact_id, query["action"]
        )
        return {
            "action": found.action,
            "contact": contact_json(found.contact),
            "cascade_profile": {"name": found.profile.name, "version": found.profile.version},
            "cascade": found.counts.as_dict(),
            "totals": found.counts.totals(),
            "allowed": found.allowed,
            "status": found.status,
            "reason": {"code": found.reason_code, "text": found.reason_text},
        }


@blp.route(f"{BASE}/<contact_id>/legal-holds")
class LegalHolds(MethodView):
    @blp.arguments(HoldSchema)
    @blp.response(201, LegalHoldSchema)
    def post(self, body: dict[str, Any], account_id: str, contact_id: str) -> dict[str, Any]:
        """Place a legal hold: it blocks purge, retention purge and erasure."""
        hold = legal_holds.place_hold(
            get_state(),
            current_caller(),
            account_id,
            contact_id,
            body["reason"],
            body.get("matter"),
        )
        return _hold_json(hold)

    @blp.arguments(HoldReleaseQuery, location="query")
    @blp.response(200, ReleasedHoldsSchema)
    def delete(self, query: dict[str, Any], account_id: str, contact_id: str) -> dict[str, Any]:
        """Release the contact's active holds (or one, with ``hold_id``)."""
        released = legal_holds.release_holds(
            get_state(), current_caller(), account_id, contact_id, query.get("hold_id")
        )
        return {"released": [_hold_json(h) for h in released]}

    @blp.response(200, LegalHoldListSchema)
    def get(self, account_id: str, contact_id: str) -> dict[str, Any]:
        """The contact's holds, active and released."""
        holds = legal_holds.list_holds(get_state(), current_caller(), account_id, contact_id)
        return {"holds": [_hold_json(h) for h in holds]}


def _hold_json(hold: legal_holds.LegalHold) -> dict[str, Any]:
    data = asdict(hold)
    data["placed_at"] = iso(hold.placed_at)
    data["released_at"] = iso(hold.released_at)
    return data


@blp.route("/v1/accounts/<account_id>/trash")
class Trash(MethodView):
    @blp.arguments(ContactListQuery, location="query")
    @blp.response(200, TrashPageSchema)
    def get(self, query: dict[str, Any], account_id: str) -> dict[str, Any]:
        """Search the trash by name, email, phone or contact id; days left before purge."""
        entries = preview.search_trash(
            get_state(),
            current_caller(),
            account_id,
            query.get("q"),
            query.get("after"),
            query["limit"],
        )
        return {
            "contacts": [
                {
                    **contact_json(e.contact),
                    "days_left": e.days_left,
                    "purge_after": iso(e.purge_after),
                }
                for e in entries
            ],
            "next_after": entries[-1].contact.id if len(entries) == query["limit"] else None,
        }
