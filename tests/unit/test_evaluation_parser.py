"""The fast AuthZEN parser and the documented marshmallow schema agree on every body."""

import copy
from typing import Any

import marshmallow as ma
import pytest

from policy_service.api.decision_schemas import EvaluationSchema
from policy_service.api.evaluation_parser import parse_evaluation
from policy_service.domain.errors import InvalidInput

VALID: dict[str, Any] = {
    "subject": {"type": "user", "id": "CiRmZDA2MTRk+/=", "properties": {"email": "a@b.c"}},
    "action": {"name": "can_read"},
    "resource": {"type": "contact", "id": "c-1", "properties": {"account_id": "acme"}},
    "context": {"time": "now"},
}


def variant(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    body = copy.deepcopy(VALID)
    target = body
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return body


BODIES = [VALID, {**VALID, "extra": 1}, variant(("subject", "unknown"), 1)]
for field_path in [
    ("subject",), ("action",), ("resource",), ("subject", "id"), ("subject", "type"),
    ("action", "name"), ("resource", "type"), ("resource", "id"),
]:  # fmt: skip
    BODIES.append(variant(field_path, KeyError))
    BODIES.append(variant(field_path, 7))
    BODIES.append(variant(field_path, None))
for field_path, bad in [
    (("subject", "id"), "has space"), (("subject", "id"), "x" * 200), (("subject", "type"), "User"),
    (("action", "name"), "9lives"), (("resource", "id"), ""), (("resource", "id"), "r" * 257),
    (("resource", "type"), "con tact"), (("subject", "properties"), [1]),
    (("resource", "properties"), "x"), (("action", "properties"), None), (("context",), []),
    (("context",), None), (("subject",), "ada"), (("resource",), ["contact"]),
]:  # fmt: skip
    BODIES.append(variant(field_path, bad))


@pytest.mark.parametrize("body", BODIES)
def test_the_fast_parser_and_the_schema_give_the_same_verdict(body: dict[str, Any]) -> None:
    try:
        EvaluationSchema().load(body)
        schema_accepts, schema_fields = True, set()
    except ma.ValidationError as error:
        schema_accepts, schema_fields = False, set(error.messages)  # type: ignore[arg-type]
    try:
        parsed = parse_evaluation(body)
        parser_accepts, parser_fields = True, set()
    except InvalidInput as error:
        parser_accepts, parser_fields = False, set(error.extensions["errors"])
    assert parser_accepts == schema_accepts
    assert parser_fields == schema_fields
    if parser_accepts:
        assert parsed == EvaluationSchema().load(body)
