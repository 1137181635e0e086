"""The console's forms, held to the JSON API's input limits.

Each form is loaded through the marshmallow schema the API route loads its body with
(``api/contact_schemas.py``, ``api/jobs.py``, ``api/dsr.py``, ``api/dsr_systems.py``) and
through the limits the API checks every body against first (``api/input_limits.check_value``:
no NUL, integers within +/-2^53, strings of at most ``max_string_chars``). So a value the API
answers with a 400 is refused by the console too: the page is shown again with a 400 status
and the field's message, and nothing is changed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

import marshmallow as ma
from marshmallow import fields

from policy_service.api.app_state import get_state
from policy_service.api.input_limits import check_value
from policy_service.domain.errors import InvalidInput

Errors = dict[str, list[str]]


class FormInvalid(Exception):
    """A form the API would refuse with a 400; ``errors`` maps each field to its messages."""

    def __init__(self, errors: Errors) -> None:
        super().__init__(_summary(errors))
        self.errors = errors


def _summary(errors: Errors) -> str:
    return "; ".join(f"{field}: {' '.join(messages)}" for field, messages in errors.items())


def _flatten(messages: Any, prefix: str = "") -> Errors:
    """marshmallow's nested messages as ``{"identity.email": ["Not a valid email address."]}``."""
    if isinstance(messages, dict):
        flat: Errors = {}
        for key, value in messages.items():
            flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return {prefix or "form": [str(m) for m in messages]}
    return {prefix or "form": [str(messages)]}


def _integers(schema: ma.Schema, body: dict[str, Any]) -> dict[str, Any]:
    """A form sends text: a schema's integer field gets the integer the text spells (the API's
    strict integers take JSON numbers only), or the text itself, for the schema to refuse."""
    converted = dict(body)
    for name, field in schema.fields.items():
        value = converted.get(name)
        if isinstance(field, fields.Integer) and isinstance(value, str):
            with contextlib.suppress(ValueError):
                converted[name] = int(value.strip())
    return converted


def load(schema: ma.Schema, form: Mapping[str, str], names: tuple[str, ...]) -> dict[str, Any]:
    """The named fields of ``form`` loaded through ``schema``; a field left blank is left out
    (as a JSON client leaves it out). Raises ``FormInvalid``."""
    body: dict[str, Any] = {}
    for name in names:
        value = form.get(name)
        if value is not None and value.strip():
            body[name] = value.strip()
    return load_body(schema, _integers(schema, body))


def load_body(schema: ma.Schema, body: dict[str, Any]) -> dict[str, Any]:
    """A body built from a form, checked as the API checks a JSON body. Raises ``FormInvalid``."""
    try:
        check_value(body, get_state().settings.max_string_chars)
    except InvalidInput as error:
        found = error.extensions.get("errors") or {"form": [error.detail]}
        raise FormInvalid({str(k): [str(m) for m in v] for k, v in found.items()}) from None
    try:
        loaded: dict[str, Any] = schema.load(body)
    except ma.ValidationError as error:
        raise FormInvalid(_flatten(error.messages)) from None
    return loaded


def require(condition: bool, field: str, message: str) -> None:
    """A rule of the console's own form (beyond the API's schema): raises ``FormInvalid``."""
    if not condition:
        raise FormInvalid({field: [message]})
