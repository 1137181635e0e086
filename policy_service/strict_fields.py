"""Field types stricter than marshmallow's defaults: JSON says true or false, nothing else;
a time is one that can be compared with the service's own."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from marshmallow import fields


class StrictBoolean(fields.Boolean):
    """Only JSON ``true``/``false``; marshmallow's Boolean would take "yes", 1 or "on"."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class QueryBoolean(fields.Boolean):
    """``?flag=true`` / ``?flag=false`` in a query string, and nothing else."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if value in ("true", "false"):
            return bool(value == "true")
        raise self.make_error("invalid", input=value)


class InstantField(fields.AwareDateTime):
    """An ISO 8601 time with an offset (or UTC when it has none, with ``default_timezone``),
    refused unless it is an instant in years 1-9999 in UTC: ``9999-12-31T23:59:59-23:59`` is
    a valid ISO time whose UTC form does not exist, and comparing it with a stored time
    failed with a 500."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        parsed: datetime = super()._deserialize(value, attr, data, **kwargs)
        if parsed.tzinfo is None:  # default_timezone=None keeps a naive time naive
            return parsed
        try:
            return parsed.astimezone(UTC)
        except OverflowError:
            raise self.make_error("invalid", input=value, obj_type="datetime") from None
