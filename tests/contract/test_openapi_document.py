"""/openapi.json is a valid OpenAPI 3 document that describes every operation completely:
its success responses with schemas, its errors as RFC 9457 problems, and which operations
need no token."""

from __future__ import annotations

from typing import Any

import pytest
from openapi_spec_validator import OpenAPIV30SpecValidator

from policy_service.api.problems import PROBLEM_JSON
from tests.conftest import Service

METHODS = ("get", "put", "post", "delete", "patch")
PUBLIC = {
    "GET /health",
    "GET /.well-known/authzen-configuration",
    "GET /openapi.json",
    "GET /v1/audit/public-key",
}
PROBLEM_REF = "#/components/schemas/Problem"


@pytest.fixture
def document(sqlite_service: Service) -> dict[str, Any]:
    response = sqlite_service.client.get("/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.get_json()
    return body


def operations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        f"{method.upper()} {path}": operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    }


def test_the_document_is_valid_openapi(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.0")
    errors = [error.message for error in OpenAPIV30SpecValidator(document).iter_errors()]
    assert not errors, "\n".join(errors[:10])


def test_every_route_of_the_app_is_in_the_document(
    sqlite_service: Service, document: dict[str, Any]
) -> None:
    documented = set(operations(document))
    served = set()
    for rule in sqlite_service.app.url_map.iter_rules():
        if rule.endpoint == "static" or (
            rule.endpoint.startswith("api-docs.") and rule.endpoint != "api-docs.openapi_json"
        ):
            continue
        if rule.endpoint.startswith("console."):  # the HTML console is not part of the API
            assert not any(path.startswith("/console") for path in document["paths"])
            continue
        path = rule.rule.replace("<", "{").replace(">", "}")
        served |= {f"{m} {path}" for m in rule.methods or () if m.lower() in METHODS}
    assert served == documented


def test_every_operation_documents_a_success_with_its_schema(document: dict[str, Any]) -> None:
    missing = []
    for label, operation in operations(document).items():
        successes = {s: r for s, r in operation["responses"].items() if s.startswith("2")}
        described = [
            status
            for status, response in successes.items()
            if status == "204"
            or any(
                media.get("schema") and (type_ == "application/json" or "json" not in type_)
                for type_, media in response.get("content", {}).items()
            )
        ]
        if not described:
            missing.append(label)
    assert not missing, f"no success response with a schema: {missing}"


def test_every_error_is_a_problem_and_every_operation_documents_its_errors(
    document: dict[str, Any],
) -> None:
    problem = document["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail"}
    wrong = []
    for label, operation in operations(document).items():
        responses = operation["responses"]
        assert "default" not in responses, label  # every status is named
        errors = {status: r for status, r in responses.items() if status[0] in "45"}
        if "500" not in errors:
            wrong.append(f"{label}: no 500")
        if label not in PUBLIC and not {"400", "401", "403", "404", "503"} <= set(errors):
            wrong.append(f"{label}: documents only {sorted(errors)}")
        if "requestBody" in operation and not {"400", "413"} <= set(errors):
            wrong.append(f"{label}: takes a body but documents only {sorted(errors)}")
        for status, response in errors.items():
            content = response.get("content", {})
            if list(content) != [PROBLEM_JSON] or content[PROBLEM_JSON]["schema"] != {
                "$ref": PROBLEM_REF
            }:
                wrong.append(f"{label} {status}: {content}")
    assert not wrong, "\n".join(wrong)


def test_public_operations_and_only_they_need_no_token(document: dict[str, Any]) -> None:
    assert document["security"] == [{"bearerAuth": []}]
    found = operations(document)
    public = {label for label, operation in found.items() if operation.get("security") == []}
    assert public == PUBLIC
    for label in public:
        assert not {"401", "403"} & set(found[label]["responses"]), label


def test_the_count_of_documented_operations(document: dict[str, Any]) -> None:
    found = operations(document)
    with_schema = [
        label
        for label, operation in found.items()
        if any(
            content.get("schema")
            for status, response in operation["responses"].items()
            if status.startswith("2")
            for content in response.get("content", {}).values()
        )
    ]
    no_content = [label for label, op in found.items() if "204" in op["responses"]]
    print(f"{len(found)} operations, {len(with_schema)} with a success schema, {no_content} 204")
    assert len(with_schema) + len(no_content) == len(found)
