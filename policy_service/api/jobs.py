"""Bulk jobs (delete, restore), their contacts' outcomes, and the retention sweep."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import marshmallow as ma
from flask.views import MethodView
from marshmallow import fields, validate

from policy_service.api.app_state import get_state
from policy_service.api.auth import current_caller
from policy_service.api.paging import cursor_page_schema, page_schema
from policy_service.api.parsing import Blueprint
from policy_service.api.responses import UtcDateTime
from policy_service.api.schema_parts import StrictSchema, described_map
from policy_service.decisions.authorization import Caller
from policy_service.domain.clock import iso
from policy_service.domain.contacts import DELETE_REASONS, NOT_A_DELETE
from policy_service.lifecycle import jobs, retention
from policy_service.state import ServiceState
from policy_service.strict_fields import StrictBoolean

blp = Blueprint("jobs", __name__, description="Bulk jobs and retention")


class SelectionFilterSchema(StrictSchema):
    tag = fields.String(validate=validate.Length(min=1, max=200))
    query = fields.String(validate=validate.Length(min=1, max=200))
    all = StrictBoolean()


class _SelectionSchema(StrictSchema):
    """The contacts a bulk job works on: these ids, or those the filter finds."""

    ids = fields.List(
        fields.String(validate=validate.Length(min=1, max=60)),
        validate=validate.Length(min=1, max=100_000),
    )
    filter = fields.Nested(SelectionFilterSchema)


class BulkDeleteSchema(_SelectionSchema):
    # Not required by the schema: a bulk delete without it is the audited 422.
    confirm = fields.String(
        load_default=None,
        validate=validate.Length(max=20),
        metadata={"description": 'must be "DELETE"'},
    )
    expected_count = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))
    reason_code = fields.String(
        required=True, validate=validate.OneOf([*DELETE_REASONS, *NOT_A_DELETE])
    )
    reason_text = fields.String(validate=validate.Length(max=500))


class BulkRestoreSchema(_SelectionSchema):
    expected_count = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=0),
        metadata={"description": "how many trashed contacts the caller reviewed"},
    )


JOB_STATUSES = ("queued", "running", "cancelling", *sorted(jobs.FINAL))


class JobListQuery(StrictSchema):
    status = fields.String(validate=validate.OneOf(JOB_STATUSES))
    kind = fields.String(validate=validate.OneOf(("bulk_delete", "bulk_restore")))
    cursor = fields.String(validate=validate.Length(min=1, max=200))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class JobItemQuery(StrictSchema):
    status = fields.String(validate=validate.OneOf(("pending", "done", "skipped")))
    after = fields.Integer(strict=False, validate=validate.Range(min=-1, max=10_000_000))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


class JobItemSchema(ma.Schema):
    position = fields.Integer(required=True)
    contact_id = fields.String(required=True)
    status = fields.String(required=True, metadata={"description": "pending, done or skipped"})
    reason_code = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "why a skipped contact was left alone (as a single action)"},
    )


JobItemPageSchema = page_schema(
    "JobItemPageSchema",
    "items",
    JobItemSchema,
    description="pass as after= for more",
    next_type=fields.Integer,
)


class JobSchema(ma.Schema):
    id = fields.String(required=True)
    account_id = fields.String(required=True)
    kind = fields.String(required=True)
    status = fields.String(required=True)
    total = fields.Integer(required=True)
    processed = fields.Integer(required=True)
    failed = fields.Integer(required=True, metadata={"description": "contacts skipped"})
    items = described_map(fields.Integer(), "how many of the job's contacts are in each state")
    params = fields.Dict(keys=fields.String(), required=True)
    created_by = fields.String(required=True)
    created_at = UtcDateTime(required=True)
    updated_at = UtcDateTime(required=True)
    finished_at = UtcDateTime(required=True, allow_none=True)


JobPageSchema = cursor_page_schema("JobPageSchema", "jobs", JobSchema, "pass as cursor= for more")


class SweepSchema(ma.Schema):
    purged = fields.Integer(required=True)
    accounts = described_map(fields.Integer(), "per account, how many contacts were purged")
    held = fields.List(
        fields.Dict(keys=fields.String(), values=fields.String()),
        required=True,
        metadata={"description": "contacts past their window that a legal hold keeps"},
    )
    refused = fields.List(
        fields.Dict(keys=fields.String(), values=fields.String()),
        required=True,
        metadata={"description": "contacts the policy did not let the sweep purge"},
    )


LOCATION_DOC = {
    "Location": {"description": "where to follow the job", "schema": {"type": "string"}}
}


def job_json(job: jobs.Job, items: dict[str, int] | None = None) -> dict[str, Any]:
    return {
        "id": job.id,
        "account_id": job.account_id,
        "kind": job.kind,
        "status": job.status,
        "total": job.total,
        "processed": job.processed,
        "failed": job.failed,
        "items": items or {},
        "params": job.params,
        "created_by": job.created_by,
        "created_at": iso(job.created_at),
        "updated_at": iso(job.updated_at),
        "finished_at": iso(job.finished_at),
    }


def _job_json(state: ServiceState, job: jobs.Job) -> dict[str, Any]:
    """The job with how many of its contacts are in each state (one more query)."""
    return job_json(job, jobs.item_summary(state, job.id))


def _accepted(state: ServiceState, job: jobs.Job) -> tuple[dict[str, Any], int, dict[str, str]]:
    """202 with the job just started, and where to follow it."""
    return _job_json(state, job), 202, {"Location": f"/v1/jobs/{job.id}"}


def _job_answer(
    step: Callable[[ServiceState, Caller, str], jobs.Job], job_id: str
) -> dict[str, Any]:
    """The job as ``step`` (reading or changing it, for the current caller) leaves it."""
    state = get_state()
    return _job_json(state, step(state, current_caller(), job_id))


@blp.route("/v1/accounts/<account_id>/contacts/bulk-delete")
class BulkDelete(MethodView):
    @blp.arguments(BulkDeleteSchema)
    @blp.response(202, JobSchema, headers=LOCATION_DOC)
    def post(
        self, body: dict[str, Any], account_id: str
    ) -> tuple[dict[str, Any], int, dict[str, str]]:
        """Delete a confirmed selection in the background; 202 with the job. 409 when the
        selection no longer holds ``expected_count`` contacts."""
        state = get_state()
        job = jobs.create_bulk_delete(
            state,
            current_caller(),
            account_id,
            ids=body.get("ids"),
            filter=body.get("filter"),
            confirm=body.get("confirm"),
            expected_count=body["expected_count"],
            reason_code=body["reason_code"],
            reason_text=body.get("reason_text"),
        )
        return _accepted(state, job)


@blp.route("/v1/accounts/<account_id>/contacts/bulk-restore")
class BulkRestore(MethodView):
    @blp.arguments(BulkRestoreSchema)
    @blp.response(202, JobSchema, headers=LOCATION_DOC)
    def post(
        self, body: dict[str, Any], account_id: str
    ) -> tuple[dict[str, Any], int, dict[str, str]]:
        """Restore a reviewed selection from the trash in the background; each contact goes
        through the same decision as a single restore. 409 when the selection no longer
        holds ``expected_count`` trashed contacts (naming the ids that are missing)."""
        state = get_state()
        job = jobs.create_bulk_restore(
            state,
            current_caller(),
            account_id,
            ids=body.get("ids"),
            filter=body.get("filter"),
            expected_count=body["expected_count"],
        )
        return _accepted(state, job)


@blp.route("/v1/accounts/<account_id>/jobs")
class AccountJobs(MethodView):
    @blp.arguments(JobListQuery, location="query")
    @blp.response(200, JobPageSchema)
    def get(self, query: dict[str, Any], account_id: str) -> dict[str, Any]:
        """The account's jobs, newest first, a page at a time."""
        state = get_state()
        found, cursor = jobs.list_jobs(
            state,
            current_caller(),
            account_id,
            status=query.get("status"),
            kind=query.get("kind"),
            cursor=query.get("cursor"),
            limit=query["limit"],
        )
        summaries = jobs.item_summaries(state, [job.id for job in found])
        return {
            "jobs": [job_json(job, summaries.get(job.id, {})) for job in found],
            "next_cursor": cursor,
        }


@blp.route("/v1/jobs/<job_id>/items")
class JobItems(MethodView):
    @blp.arguments(JobItemQuery, location="query")
    @blp.response(200, JobItemPageSchema)
    def get(self, query: dict[str, Any], job_id: str) -> dict[str, Any]:
        """Each contact of the job with its outcome and, when skipped, the reason code."""
        items, after = jobs.list_items(
            get_state(),
            current_caller(),
            job_id,
            status=query.get("status"),
            after=query.get("after"),
            limit=query["limit"],
        )
        return {
            "items": [
                {
                    "position": item.position,
                    "contact_id": item.contact_id,
                    "status": item.status,
                    "reason_code": item.reason_code,
                }
                for item in items
            ],
            "next_after": after,
        }


@blp.route("/v1/jobs/<job_id>")
class JobView(MethodView):
    @blp.response(200, JobSchema)
    def get(self, job_id: str) -> dict[str, Any]:
        """A job's progress: total, processed, failed (skipped contacts), status."""
        return _job_answer(jobs.get_job, job_id)


@blp.route("/v1/jobs/<job_id>/cancel")
class Cancel(MethodView):
    @blp.response(200, JobSchema)
    def post(self, job_id: str) -> dict[str, Any]:
        """Stop a job after the chunk under way; what is done stays done."""
        return _job_answer(jobs.cancel_job, job_id)


@blp.route("/v1/retention/sweep")
class Sweep(MethodView):
    @blp.response(200, SweepSchema)
    def post(self) -> dict[str, Any]:
        """Purge trashed contacts past their retention window; held ones are reported."""
        report = retention.sweep(get_state(), current_caller())
        return {
            "purged": report.purged,
            "accounts": report.accounts,
            "held": report.held,
            "refused": report.refused,
        }
