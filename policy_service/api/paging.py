"""Paged lists at the HTTP edge: the schema of a page, and where the next page starts.

A page is a list under its own key plus where the next one starts, null on the last page:
``next_after`` (the last item's id, to pass back as ``after``) or ``next_cursor`` (opaque, to
pass back as ``cursor``). Each listing names its keys; the shape and the rule live here once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import marshmallow as ma
from marshmallow import fields, validate

NEXT_AFTER_DOC = "pass as after for the next page"

T = TypeVar("T")


def page_schema(
    name: str,
    items_key: str,
    item: type[ma.Schema],
    *,
    next_key: str = "next_after",
    description: str = NEXT_AFTER_DOC,
    next_type: type[fields.Field[Any]] = fields.String,
) -> type[ma.Schema]:
    """A schema named ``name`` (as it appears in /openapi.json) for one page of ``item``."""
    next_field = next_type(required=True, allow_none=True, metadata={"description": description})
    return ma.Schema.from_dict(
        {items_key: fields.List(fields.Nested(item), required=True), next_key: next_field},
        name=name,
    )


def cursor_page_schema(
    name: str, items_key: str, item: type[ma.Schema], description: str
) -> type[ma.Schema]:
    """``page_schema`` for a listing paged by an opaque ``next_cursor``."""
    return page_schema(name, items_key, item, next_key="next_cursor", description=description)


def cursor_query_field() -> fields.String:
    """The ``cursor`` a listing's query takes: the ``next_cursor`` of the page before."""
    return fields.String(
        validate=validate.Length(min=1, max=300),
        metadata={"description": "next_cursor of the previous page"},
    )


def next_after(found: Sequence[T], limit: int, key: Callable[[T], str]) -> str | None:
    """Where the next page starts: after the last item, when the page came back full."""
    return key(found[-1]) if found and len(found) == limit else None
