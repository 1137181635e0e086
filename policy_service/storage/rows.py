"""A stored row as the frozen record the rest of the service reads: each field of the record
is the row's column of the same name, unless the caller converts it."""

from __future__ import annotations

import functools
from dataclasses import fields
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

R = TypeVar("R", bound="DataclassInstance")


@functools.cache
def _field_names(record: type[DataclassInstance]) -> tuple[str, ...]:
    return tuple(field.name for field in fields(record))


def from_row(record: type[R], row: Any, **converted: Any) -> R:
    """A ``record`` from ``row``: ``converted`` gives the fields that are not the column as
    stored (JSON to decode, a tuple to build); every other field is copied."""
    copied = {name: getattr(row, name) for name in _field_names(record) if name not in converted}
    return record(**copied, **converted)
