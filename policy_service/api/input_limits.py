"""Hostile input stops at the edge: one check before any view, any query, any write.

Every request, once authenticated, is held to the same limits, whatever the route:

* no NUL character (nor a lone UTF-16 surrogate) in a path segment, a query parameter (name
  or value) or a JSON string - databases refuse them in text, so they would otherwise
  surface as a 500 half-way through;
* the body is read here, at most ``max_body_bytes`` of it, whether the client sent a
  Content-Length or chunked transfer encoding (which Werkzeug's own limit does not cover);
* a JSON body is nested at most ``max_json_depth`` deep (the parser's own recursion limit
  stops anything far deeper; the walk counts the rest), holds integers within +/-2^53 (what a
  JavaScript client reads exactly), finite numbers only, and strings of at most
  ``max_string_chars``.

Each refusal is a 400 (413 for size) problem naming the field by JSON pointer. The parsed
body is kept on ``g`` so views parse it once (``parsing.read_json_object``).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from flask import g, request
from werkzeug.exceptions import RequestEntityTooLarge

from policy_service.api.app_state import get_state
from policy_service.domain.errors import BadRequest, InvalidInput

MAX_SAFE_INTEGER = 2**53
MAX_PATH_VALUE = 128
NUL = "\x00"
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_NO_BODY = object()
# Tests build bodies past this size to exercise the scan on batch-sized bodies.
SMALL_BODY = 1_000


def _pointer(path: tuple[str | int, ...]) -> str:
    escaped = (str(part).replace("~", "~0").replace("/", "~1") for part in path)
    return "/" + "/".join(escaped) if path else ""


def _field_name(path: tuple[str | int, ...]) -> str:
    return ".".join(str(part) for part in path) or "body"


def _refuse(path: tuple[str | int, ...], message: str) -> InvalidInput:
    return InvalidInput(
        f"{_field_name(path)}: {message}",
        errors={_field_name(path): [message]},
        pointer=_pointer(path),
    )


def check_value(
    value: Any,
    max_chars: int,
    path: tuple[str | int, ...] = (),
    *,
    max_depth: int | None = None,
) -> None:
    """Walk a parsed JSON value against the limits (and its nesting, given ``max_depth``)."""
    if isinstance(value, str):
        if NUL in value:
            raise _refuse(path, "must not contain a NUL character")
        if _LONE_SURROGATE.search(value):
            # JSON's \ud800 escapes parse, but no database or encoder accepts the result.
            raise _refuse(path, "must be valid Unicode (a lone surrogate is not)")
        if len(value) > max_chars:
            raise _refuse(path, f"longer than {max_chars} characters")
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int):
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise _refuse(path, "integer outside -2^53..2^53")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise _refuse(path, "must be a finite number")
    elif max_depth is not None and len(path) >= max_depth:  # a list or an object
        raise BadRequest(f"the JSON body nests deeper than {max_depth} levels")
    elif isinstance(value, dict):
        for key, item in value.items():
            if NUL in key or _LONE_SURROGATE.search(key):
                raise _refuse(path, "a key must be valid Unicode without NUL characters")
            if len(key) > max_chars:
                raise _refuse(path, f"a key is longer than {max_chars} characters")
            check_value(item, max_chars, (*path, key), max_depth=max_depth)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_value(item, max_chars, (*path, index), max_depth=max_depth)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(raw: bytes, max_depth: int, max_chars: int) -> Any:
    try:
        value = json.loads(raw, parse_constant=_reject_constant)
    except RecursionError:  # nested past what the parser itself takes
        raise BadRequest(f"the JSON body nests deeper than {max_depth} levels") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"the request body is not valid JSON: {exc}") from None
    if may_be_refused(raw, max_chars, max_depth):
        check_value(value, max_chars, max_depth=max_depth)
    return value


def may_be_refused(raw: bytes, max_chars: int, max_depth: int) -> bool:
    """Whether the walk could refuse anything in this (valid JSON) body.

    Told from the bytes with ``bytes`` methods, which run at C speed, rather than with the
    walk's Python per value (a fifth of a 100-item batch's time) or a regular expression
    (as slow as the walk on a 20 KB body). With no escaped quote in it, splitting the body
    at its quotes gives every string (odd parts) and everything between (even parts):
    numbers, literals, brackets. The walk can refuse only:

    * a NUL or a lone surrogate: as a ``\\u`` escape, or as bytes that are not strict UTF-8
      (json reads bytes with "surrogatepass", and reads UTF-16 and UTF-32 as well);
    * a string (or key) longer than ``max_chars``: never more characters than its bytes;
    * an integer past 2^53 (16 digits) or an infinite float (16 digits, or an exponent);
    * nesting past ``max_depth``: counted by deleting innermost bracket pairs, a level a pass.

    A body with any of them, or with an escaped quote, is walked.
    """
    if b'\\"' in raw or b"\\u0000" in raw or b"\\ud" in raw or b"\\uD" in raw:
        return True
    try:
        # json reads bytes with "surrogatepass", so an encoded lone surrogate would reach a
        # string unescaped; and it reads UTF-16 and UTF-32 too, whose bytes this scan cannot
        # read (they are valid UTF-8 only with NUL bytes between the characters).
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return True
    if b"\x00" in raw:
        return True
    parts = raw.split(b'"')
    if max(map(len, parts[1::2]), default=0) > max_chars:
        return True
    between = b" ".join(parts[0::2])
    if max(map(len, between.translate(_DIGITS_ONLY).split()), default=0) >= 16:
        return True
    if b"e" in between.replace(b"true", b"").replace(b"false", b"") or b"E" in between:
        return True
    brackets = between.translate(None, _NOT_BRACKETS)
    depth = 0
    while brackets:
        depth += 1
        if depth >= max_depth:
            return True
        brackets = _INNERMOST_PAIR.sub(b"", brackets)
    return False


# Digits stay, every other byte becomes a space: what is left splits into the digit runs.
_DIGITS_ONLY = bytes(byte if chr(byte).isdigit() and byte < 128 else 32 for byte in range(256))
_NOT_BRACKETS = bytes(byte for byte in range(256) if byte not in b"[]{}")
# One pass removes exactly the pairs that are adjacent now: one level of nesting.
_INNERMOST_PAIR = re.compile(rb"\[\]|\{\}")


def _read_body(limit: int) -> bytes:
    declared = request.content_length
    if declared is not None and declared > limit:
        raise RequestEntityTooLarge()
    if declared is not None:
        # The server delivers exactly the declared length: read it in one call rather than
        # through Werkzeug's chunked LimitedStream.
        body: bytes = request.environ["wsgi.input"].read(declared)
        return body
    # Read one byte past the limit from the stream itself: a chunked body has no length to
    # check in advance, and Werkzeug would otherwise read it all.
    raw: bytes = request.stream.read(limit + 1)
    if len(raw) > limit:
        raise RequestEntityTooLarge()
    return raw


def _check_text(where: str, name: str, value: str) -> None:
    if NUL in name or NUL in value:
        raise InvalidInput(
            f"{where} {name.replace(NUL, '')!r} must not contain a NUL character",
            errors={name.replace(NUL, "\\u0000"): ["must not contain a NUL character"]},
        )


def check_path_and_query() -> None:
    """Registered after authentication: an anonymous caller learns nothing about the limits."""
    if NUL in request.path:
        raise BadRequest("the path must not contain a NUL character")
    for name, value in (request.view_args or {}).items():
        _check_text("path segment", name, str(value))
        # Every id the service keeps (accounts, contacts, jobs, events) fits the audit log's
        # 128 characters; a longer one names nothing and must not reach a refusal's record.
        if len(str(value)) > MAX_PATH_VALUE:
            raise InvalidInput(
                f"path segment {name} is longer than {MAX_PATH_VALUE} characters",
                errors={name: [f"at most {MAX_PATH_VALUE} characters"]},
            )
    for name, value in request.args.items(multi=True):
        _check_text("query parameter", name, value)


def check_body() -> None:
    """Registered after the account gate: a caller with no part in the account is refused
    before its body is even read."""
    g.json_body = _NO_BODY
    if request.method in ("GET", "HEAD", "OPTIONS", "DELETE") and not request.content_length:
        return
    settings = get_state().settings
    raw = _read_body(settings.max_body_bytes)
    # Views read the body through get_data(); hand it the bytes read here.
    request._cached_data = raw
    if raw.strip() and request.is_json:
        g.json_body = parse_json(raw, settings.max_json_depth, settings.max_string_chars)


def parsed_body() -> tuple[bool, Any]:
    """(True, the JSON body ``check_request`` parsed and checked), or (False, None)."""
    body = g.get("json_body", _NO_BODY)
    return (False, None) if body is _NO_BODY else (True, body)
