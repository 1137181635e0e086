"""AuthZEN 1.0 request shapes (subject, action, resource, context), shared by the decision
endpoints. Unknown fields are ignored, as the specification asks."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from policy_service.domain.decisions import Action, DecisionRequest, Resource, Subject
from policy_service.domain.identifiers import ID_PATTERN
from policy_service.strict_fields import StrictBoolean

NAME = validate.Regexp(r"^[A-Za-z][A-Za-z0-9_.:-]{0,127}$", error="not a valid name")
TYPE = validate.Regexp(r"^[a-z][a-z0-9_]{0,63}$", error="must be lower-case letters, digits, _")
SEMANTICS = ("execute_all", "deny_on_first_deny", "permit_on_first_permit")


class _Strict(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE


class SubjectSchema(_Strict):
    type = fields.String(required=True, validate=TYPE)
    id = fields.String(
        required=True, validate=validate.Regexp(ID_PATTERN, error="not a valid subject id")
    )
    properties = fields.Dict(keys=fields.String(), load_default=dict)


class ActionSchema(_Strict):
    name = fields.String(required=True, validate=NAME)
    properties = fields.Dict(keys=fields.String(), load_default=dict)


class ResourceSchema(_Strict):
    type = fields.String(required=True, validate=TYPE)
    id = fields.String(required=True, validate=validate.Length(min=1, max=256))
    properties = fields.Dict(keys=fields.String(), load_default=dict)


class EvaluationSchema(_Strict):
    subject = fields.Nested(SubjectSchema, required=True)
    action = fields.Nested(ActionSchema, required=True)
    resource = fields.Nested(ResourceSchema, required=True)
    context = fields.Dict(keys=fields.String(), load_default=dict)

    @ma.post_load
    def make_request(self, data: dict[str, Any], **_: Any) -> DecisionRequest:
        return DecisionRequest(
            subject=Subject(**data["subject"]),
            action=Action(**data["action"]),
            resource=Resource(**data["resource"]),
            context=data["context"],
        )


class OptionsSchema(_Strict):
    evaluations_semantic = fields.String(
        load_default="execute_all", validate=validate.OneOf(SEMANTICS)
    )
    # Not in AuthZEN 1.0: ask for each item's reason and policy version in the answer.
    include_context = StrictBoolean(load_default=False)


class _Items(fields.List[Any]):
    """A list whose items are passed on as they are (any JSON value, null included): each is
    validated on its own once the defaults are merged into it, so the list is not walked
    here - that cost a microsecond an item, on a batch of up to a thousand."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, list):
            raise self.make_error("invalid")
        return value


class EvaluationsSchema(_Strict):
    """The batch envelope. Items are validated one by one after defaults are merged, so that a
    bad item fails alone instead of failing the batch."""

    subject = fields.Dict()
    action = fields.Dict()
    resource = fields.Dict()
    context = fields.Dict()
    # Any JSON value per item (null included): a bad item is answered alone, not the batch.
    evaluations = _Items(fields.Raw(allow_none=True))
    options = fields.Nested(OptionsSchema, load_default=lambda: OptionsSchema().load({}))


class EvaluationResponseSchema(ma.Schema):
    decision = fields.Boolean(required=True)
    context = fields.Dict(
        keys=fields.String(),
        metadata={
            "description": "reason {code, text}, reason_admin and policy_version; for a batch "
            "item that could not be decided, error {status, code, message, errors}"
        },
    )


class EvaluationsResponseSchema(ma.Schema):
    evaluations = fields.List(
        fields.Nested(EvaluationResponseSchema),
        metadata={"description": "one per item, in order (fewer when a semantic stops early)"},
    )
    # AuthZEN: a request without evaluations is answered as a single evaluation.
    decision = fields.Boolean(metadata={"description": "only when no evaluations were sent"})
    context = fields.Dict(
        keys=fields.String(), metadata={"description": "only when no evaluations were sent"}
    )


class ConfigurationSchema(ma.Schema):
    """AuthZEN PDP metadata."""

    policy_decision_point = fields.String(required=True)
    access_evaluation_endpoint = fields.String(required=True)
    access_evaluations_endpoint = fields.String(required=True)
    search_subject_endpoint = fields.String(required=True)
    search_resource_endpoint = fields.String(required=True)
    search_action_endpoint = fields.String(required=True)
    capabilities = fields.List(fields.String(), required=True)


POLICY_VERSION_DOC: dict[str, Any] = {
    "X-Policy-Version": {
        "description": "the version of the policy pack that decided",
        "schema": {"type": "string"},
    }
}
