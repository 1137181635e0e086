"""The service's errors: one small hierarchy, each with an HTTP status and a problem type.

``policy_service.api.problems`` turns them into RFC 9457 ``application/problem+json``.
"""

from __future__ import annotations

from typing import Any, ClassVar

PROBLEM_TYPE_BASE = "urn:policy-service:problem:"


class ServiceError(Exception):
    """The root of the hierarchy. A subclass names its problem in the class statement:
    ``class Gone(ServiceError, status=410, slug="gone", title="Gone")`` (``status`` may be
    left to the parent's)."""

    status: ClassVar[int] = 500
    slug: ClassVar[str] = "internal-error"
    title: ClassVar[str] = "Internal error"

    def __init_subclass__(
        cls, *, status: int | None = None, slug: str | None = None, title: str | None = None
    ) -> None:
        super().__init_subclass__()
        if status is not None:
            cls.status = status
        if slug is not None:
            cls.slug = slug
        if title is not None:
            cls.title = title

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions = extensions

    @property
    def problem_type(self) -> str:
        return PROBLEM_TYPE_BASE + self.slug


class BadRequest(ServiceError, status=400, slug="bad-request", title="Bad request"):
    pass


class InvalidInput(BadRequest, slug="invalid-input", title="Invalid input"):
    """The body parsed but does not match the schema; ``errors`` says where."""


class Unauthenticated(
    ServiceError, status=401, slug="unauthenticated", title="Authentication required"
):
    pass


class Forbidden(ServiceError, status=403, slug="forbidden", title="Forbidden"):
    pass


class NotFound(ServiceError, status=404, slug="not-found", title="Not found"):
    pass


class Conflict(ServiceError, status=409, slug="conflict", title="Conflict"):
    pass


class Unprocessable(
    ServiceError, status=422, slug="unprocessable", title="Request cannot be carried out"
):
    pass


class PolicyPackError(Exception):
    """A policy pack file is invalid. The message names the file and the line."""

    def __init__(self, path: str, line: int | None, message: str) -> None:
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {message}")
        self.path = path
        self.line = line
        self.message = message
