"""Field types stricter than marshmallow's defaults: JSON says true or false, nothing else."""

from __future__ import annotations

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
