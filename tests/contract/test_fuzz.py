"""Schemathesis over every operation of /openapi.json, in-process (WSGI), as a platform admin
and as a plain user of the account.

Each operation is fuzzed with valid (positive) and invalid (negative) requests, once for each
combination of path parameters that name existing resources (so success responses are
checked against their schemas) and once with generated ones. Generation is derandomized and
bounded by ``MAX_EXAMPLES`` per operation, variant and mode, so a run is repeatable and its
length known (``POLICY_SERVICE_FUZZ_EXAMPLES`` overrides it for a longer local run).

A 500 caused by one of ``KNOWN_SERVICE_BUGS`` (bugs below the HTTP edge, each reproduced on
its own in test_known_bugs) makes the run an expected failure; any other failure fails it, and
says which exception a 500 came from.
"""

from __future__ import annotations

import itertools
import os
import sys
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from policy_service.api import problems
from tests.contract.conftest import World

pytestmark = pytest.mark.slow

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
MAX_EXAMPLES = int(os.environ.get("POLICY_SERVICE_FUZZ_EXAMPLES", "20"))
SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,  # the same cases on every run
    database=None,
    deadline=None,
    phases=(Phase.explicit, Phase.generate, Phase.shrink),
    suppress_health_check=list(HealthCheck),
    print_blob=False,
)

# Known bugs below the HTTP edge: a fragment of the exception a 500 comes from -> the test in
# test_known_bugs that reproduces it on its own (a strict expected failure). A 500 from any
# other exception, and any other failure, fails the run.
KNOWN_SERVICE_BUGS: dict[str, str] = {}


class KnownBug(Exception):
    """A 500 caused by one of KNOWN_SERVICE_BUGS."""


class ServerErrors:
    """Stands in for the problems module's logger: keeps the exception behind the latest 500
    (instead of logging its traceback) so a failure can say where it came from."""

    def __init__(self, logger: Any) -> None:
        self.logger = logger
        self.last: BaseException | None = None

    def exception(self, *_: Any, **__: Any) -> None:
        self.last = sys.exc_info()[1]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.logger, name)


@dataclass
class Report:
    operations: int = 0
    requests: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    failures: dict[str, list[str]] = field(default_factory=dict)  # operation -> what failed
    known: dict[str, set[str]] = field(default_factory=dict)  # operation -> known bugs hit
    seconds: float = 0.0

    def summary(self, role: str) -> str:
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(self.statuses.items()))
        return (
            f"{role}: {self.operations} operations, {self.requests} requests ({statuses}) "
            f"in {self.seconds:.1f}s; {len(self.failures)} operations failing, "
            f"{len(self.known)} hitting known bugs"
        )


def _variants(world: World, operation: Any) -> list[dict[str, str]]:
    """Every combination of existing values for the operation's path parameters, and {} (all
    generated)."""
    names = [p.name for p in operation.path_parameters if p.name in world.existing]
    combos = itertools.product(*(world.existing[name] for name in names))
    seeded = [dict(zip(names, values, strict=True)) for values in combos] if names else []
    return [*seeded, {}]


def _runner(strategy: Any, headers: dict[str, str], report: Report, errors: ServerErrors) -> Any:
    @SETTINGS
    @given(data=st.data())
    def run(data: Any) -> None:
        case = data.draw(strategy)
        errors.last = None
        response = case.call(headers=headers)
        report.requests += 1
        status = response.status_code
        report.statuses[status] = report.statuses.get(status, 0) + 1
        cause = f"{type(errors.last).__name__}: {errors.last}" if errors.last else None
        if status == 500 and cause and any(known in cause for known in KNOWN_SERVICE_BUGS):
            raise KnownBug(cause)
        try:
            case.validate_response(response, checks=CHECKS)
        except (Exception, BaseExceptionGroup) as exc:
            if cause:
                exc.add_note(f"The service raised {cause}")
            raise

    return run


def fuzz(world: World, token: str, errors: ServerErrors) -> Report:
    report = Report()
    started = time.perf_counter()
    # Loaded from the document rather than from_wsgi("/openapi.json"), which leaves out the
    # operation that serves the document; requests still go to the app in-process.
    schema = schemathesis.openapi.from_dict(world.service.client.get("/openapi.json").get_json())
    schema.app = world.service.app
    headers = {"Authorization": f"Bearer {token}"}
    for result in schema.get_all_operations():
        operation = result.ok()
        report.operations += 1
        for path_parameters, mode in itertools.product(_variants(world, operation), MODES):
            strategy = operation.as_strategy(mode, path_parameters=path_parameters or None)
            try:
                _runner(strategy, headers, report, errors)()
            except Unsatisfiable:
                if mode is not GenerationMode.NEGATIVE:
                    raise
                # Nothing about the request can be invalid (no parameters, no body).
            except KnownBug as bug:
                report.known.setdefault(operation.label, set()).add(str(bug))
            except (Exception, BaseExceptionGroup) as exc:  # schemathesis raises FailureGroup
                found = "".join(traceback.format_exception_only(exc)).strip()
                report.failures.setdefault(operation.label, []).append(
                    f"{mode.value}, path {path_parameters or 'generated'}: {found}"
                )
    report.seconds = time.perf_counter() - started
    return report


@pytest.mark.parametrize("role", ["platform_admin", "user"])
def test_every_operation_conforms_to_the_document(
    world: World, role: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = world.crm.root if role == "platform_admin" else world.crm.user
    errors = ServerErrors(problems.log)
    monkeypatch.setattr(problems, "log", errors)
    report = fuzz(world, token, errors)
    print(report.summary(role))
    assert report.operations >= 57, "every operation of the document is fuzzed"
    assert not report.failures, "\n\n".join(
        f"{label}:\n" + "\n".join(found) for label, found in report.failures.items()
    )
    if report.known:
        tests = sorted(
            {test for known, test in KNOWN_SERVICE_BUGS.items() for label in report.known
             if any(known in cause for cause in report.known[label])}
        )  # fmt: skip
        pytest.xfail(f"known bugs below the API edge ({', '.join(tests)}): {sorted(report.known)}")
