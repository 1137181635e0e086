"""Request bodies: JSON objects only, checked before any schema sees them.

webargs would quietly treat a body with the wrong Content-Type as absent, and flask-smorest
answers schema errors with 422; this service answers every malformed body with a 400
problem that says what was wrong.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, NoReturn

import flask
import marshmallow as ma
from flask_smorest import Blueprint as SmorestBlueprint
from webargs.flaskparser import FlaskParser

from policy_service.api.app_state import get_state
from policy_service.api.input_limits import parse_json, parsed_body
from policy_service.api.responses import document_problems
from policy_service.domain.errors import BadRequest, InvalidInput
from policy_service.domain.suggestions import closest_choice


def _is_json_mimetype(mimetype: str) -> bool:
    return mimetype == "application/json" or (
        mimetype.startswith("application/") and mimetype.endswith("+json")
    )


def read_json_object(request: flask.Request) -> dict[str, Any]:
    if not _is_json_mimetype(request.mimetype):
        raise BadRequest("Content-Type must be application/json")
    parsed, body = parsed_body()
    if not parsed:
        raw = request.get_data(cache=True)
        if not raw.strip():
            raise BadRequest("the request body is empty; a JSON object is expected")
        # Not through the edge check (a request built outside the app): the same limits.
        settings = get_state().settings
        body = parse_json(raw, settings.max_json_depth, settings.max_string_chars)
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    return body


class StrictParser(FlaskParser):
    DEFAULT_VALIDATION_STATUS = 400
    # A mistyped filter must not silently widen a query (``?acount_id=`` returning all).
    DEFAULT_UNKNOWN_BY_LOCATION = {**FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION, "query": ma.RAISE}

    def load_json(self, req: flask.Request, schema: ma.Schema) -> Any:
        # No body at all is an empty object: a body whose fields are all optional may be left
        # out, and a required field left out is named in the 400 like any other.
        if not req.get_data(cache=True).strip() and not req.content_type:
            return {}
        return read_json_object(req)

    def handle_error(
        self,
        error: ma.ValidationError,
        req: flask.Request,
        schema: ma.Schema,
        *,
        error_status_code: int | None,
        error_headers: Mapping[str, str] | None,
    ) -> NoReturn:
        messages = error.messages
        # webargs nests messages under the location; callers care about the fields.
        if isinstance(messages, dict) and set(messages) <= {"json", "query", "view_args"}:
            merged: dict[str, Any] = {}
            for part in messages.values():
                if isinstance(part, dict):
                    merged.update(part)
            messages = merged
        if isinstance(messages, dict):
            _suggest(messages, _sent(req))
        raise InvalidInput("the request does not match the expected schema", errors=messages)


# marshmallow's ``OneOf`` message: "Must be one of: a, b, c."
_ONE_OF = re.compile(r"^Must be one of: (?P<choices>.*)\.$", re.DOTALL)


def _sent(req: flask.Request) -> dict[str, Any]:
    """What the caller sent, body and query together, to look a refused value up in."""
    sent: dict[str, Any] = dict(req.args)
    parsed, body = parsed_body()
    if parsed and isinstance(body, dict):
        sent.update(body)
    return sent


def _suggest(messages: dict[Any, Any], sent: Any) -> None:
    """Add "did you mean 'x'?" to each OneOf refusal, once for every field of every schema
    (nested ones and lists of them too), from the value the caller sent."""
    for name, value in messages.items():
        given = sent.get(name) if isinstance(sent, dict) else None
        if isinstance(sent, list) and isinstance(name, int) and 0 <= name < len(sent):
            given = sent[name]
        if isinstance(value, dict):
            _suggest(value, given)
        elif isinstance(value, list):
            for text in list(value):
                match = _ONE_OF.match(text) if isinstance(text, str) else None
                if match is None:
                    continue
                suggestion = closest_choice(given, match["choices"].split(", "))
                if suggestion is not None:
                    value.append(f"did you mean {suggestion!r}?")


class Blueprint(SmorestBlueprint):  # type: ignore[misc]
    ARGUMENTS_PARSER = StrictParser()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Errors leave as application/problem+json; document them so (after the response
        # step, which documents flask-smorest's own error body).
        self._prepare_doc_cbks.append(document_problems)
