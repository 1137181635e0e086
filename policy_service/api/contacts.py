"""Contacts, their related records, and their lifecycle: delete, restore, purge, impact,
the trash, and legal holds."""

from __future__ import annotations

from typing import Any

from flask import Response, stream_with_context
from flask.views import MethodView

from policy_service.api.app_state import get_state
from policy_service.api.auth import current_caller
from policy_service.api.contact_schemas import (
    ContactCreateSchema,
    ContactExportSchema,
    ContactListQuery,
    ContactPageSchema,
    ContactSchema,
    DeleteSchema,
    ExportQuery,
    HoldReleaseQuery,
    HoldSchema,
    ImpactQuery,
    ImpactSchema,
    LegalHoldListSchema,
    LegalHoldSchema,
    LifecycleResultSchema,
    PurgeSchema,
    RecordCreateSchema,
    RecordListSchema,
    RecordPatchSchema,
    RecordSchema,
    ReleasedHoldsSchema,
    TrashPageSchema,
    contact_json,
    hold_json,
    impact_json,
    record_json,
    result_json,
)
from policy_service.api.paging import next_after
from policy_service.api.parsing import Blueprint
from policy_service.api.responses import TEXT_CONTENT
from policy_service.domain.clock import iso
from policy_service.lifecycle import actions as lifecycle
from policy_service.lifecycle import contact_export, legal_holds, preview
from policy_service.lifecycle import contacts as contact_service

blp = Blueprint("contacts", __name__, description="Contacts and their lifecycle")
BASE = "/v1/accounts/<account_id>/contacts"


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
        return {
            "contacts": [contact_json(c) for c in found],
            "next_after": next_after(found, query["limit"], lambda c: c.id),
        }


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
        return impact_json(found)


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
        return hold_json(hold)

    @blp.arguments(HoldReleaseQuery, location="query")
    @blp.response(200, ReleasedHoldsSchema)
    def delete(self, query: dict[str, Any], account_id: str, contact_id: str) -> dict[str, Any]:
        """Release the contact's active holds (or one, with ``hold_id``)."""
        released = legal_holds.release_holds(
            get_state(), current_caller(), account_id, contact_id, query.get("hold_id")
        )
        return {"released": [hold_json(h) for h in released]}

    @blp.response(200, LegalHoldListSchema)
    def get(self, account_id: str, contact_id: str) -> dict[str, Any]:
        """The contact's holds, active and released."""
        holds = legal_holds.list_holds(get_state(), current_caller(), account_id, contact_id)
        return {"holds": [hold_json(h) for h in holds]}


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
            "next_after": next_after(entries, query["limit"], lambda e: e.contact.id),
        }
