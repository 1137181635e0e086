"""Schema pieces the API's modules share: the strict request schema, a described JSON object
of one kind of value, and a dataclass answered as JSON."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING, Any

import marshmallow as ma
from marshmallow import fields

from policy_service.domain.clock import iso

if TYPE_CHECKING:
    from _typeshed import DataclassInstance


class StrictSchema(ma.Schema):
    """A request body or query that refuses fields it does not know: a mistyped field is a
    400 naming it, never silently ignored."""

    class Meta:
        unknown = ma.RAISE


def described_map(values: fields.Field[Any], description: str) -> fields.Dict:
    """A required JSON object from string keys to ``values``, described in /openapi.json."""
    return fields.Dict(
        keys=fields.String(), values=values, required=True, metadata={"description": description}
    )


def dataclass_json(value: DataclassInstance) -> dict[str, Any]:
    """The dataclass's fields by name, its times as RFC 3339 (``iso``)."""
    return {
        name: iso(field) if isinstance(field, datetime) else field
        for name, field in asdict(value).items()
    }
