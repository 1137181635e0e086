"""Policy test cases: request -> expected decision, in TOML files beside the rules.

``policy-service policy test`` runs them through the very function the HTTP API uses
(``evaluate``), with accounts and role assignments taken from the file's fixtures instead of
the database, and exits 1 on any failure, as ``opa test`` does.

The file format is read by ``decisions/policy_test_files.py``.

The same cases guard the running service: a reload whose pack fails them is refused and the
running policy kept, and in production the service does not start on such a pack
(``services.policy_admin``).

Rule coverage: a rule of ``rules.csv`` is *exercised* by a case when the policy consulted it
for that case's decision with the subject holding its role - the rule names the case's action
and object (or ``*``), it speaks to the case's account (its own domain, ``*``, or the platform
for platform rules), and the subject holds the rule's role there (any subject for role ``*``).
Its conditions were then evaluated, whatever they came to: the case depends on the rule. This
is exactly what ``PolicyRuntime.candidate_rules`` reports with ``role_held``, taken for every
question the case's decision asks the enforcer - including, for a ``through_service`` case,
whether the service may act for the user. A subject holding no role in the account (or the
platform) is refused before any rule is consulted, and exercises none. ``policy-service policy
test`` lists the rules no case exercised, file:line and text, and prints
``coverage: N/M rules exercised``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from policy_service.decisions.authorization import (
    Caller,
    decide,
    delegation_refusal,
    evaluate,
    resolve_account,
)
from policy_service.decisions.policy_test_files import PolicyCase, PolicyTestFile, load_test_file
from policy_service.domain.accounts import Account
from policy_service.domain.changes import Change
from policy_service.domain.clock import utcnow
from policy_service.domain.decisions import (
    Decision,
    DecisionRequest,
    Resource,
    Verdict,
)
from policy_service.domain.errors import PolicyPackError, ServiceError
from policy_service.domain.facts import Facts, FactSet
from policy_service.domain.identifiers import PLATFORM_DOMAIN
from policy_service.policy.pack import PolicyPack, PolicyRule
from policy_service.policy.runtime import PolicyRuntime, SyncSource

RUNNER = "policy-test-runner"


@dataclass(frozen=True)
class CaseResult:
    case: PolicyCase
    passed: bool
    got: str
    # The rules this case exercised (see the module docstring).
    exercised: frozenset[PolicyRule] = frozenset()

    @property
    def where(self) -> str:
        return f"{self.case.file.name}:{self.case.line}"

    def describe(self) -> str:
        mark = "PASS" if self.passed else "FAIL"
        detail = "" if self.passed else f" -- {self.got}"
        return f"{mark} {self.where} {self.case.name}{detail}"

    def as_problem(self) -> dict[str, Any]:
        """A failing case as a refusal lists it."""
        expected = ("allow" if self.case.expect else "deny") + (
            f" ({self.case.reason})" if self.case.reason else ""
        )
        return {
            "file": self.case.file.name,
            "line": self.case.line,
            "case": self.case.name,
            "expected": expected,
            "got": self.got.removeprefix("got "),
        }


class PolicyTestsFailed(PolicyPackError):
    """The pack loads, but some of its own policy test cases fail. The message names each
    failing case by file:line."""

    def __init__(self, pack: PolicyPack, failures: list[CaseResult]) -> None:
        verb = "fails" if len(failures) == 1 else "fail"
        cases = "; ".join(f"{r.where} {r.case.name} -- {r.got}" for r in failures)
        super().__init__(
            str(pack.tests_dir or pack.directory),
            None,
            f"policy {pack.name} {pack.version}: {len(failures)} of its own policy test "
            f"cases {verb}: {cases}",
        )
        self.failures = failures


@dataclass(frozen=True)
class Coverage:
    """Which rules of the pack its cases exercised."""

    rules: tuple[PolicyRule, ...]
    exercised: frozenset[PolicyRule]

    @property
    def uncovered(self) -> list[PolicyRule]:
        return [rule for rule in self.rules if rule not in self.exercised]

    @property
    def percent(self) -> float:
        if not self.rules:
            return 100.0
        return 100.0 * (len(self.rules) - len(self.uncovered)) / len(self.rules)

    def summary(self) -> str:
        covered = len(self.rules) - len(self.uncovered)
        # Rounded down: "100%" only when every rule is exercised.
        return f"coverage: {covered}/{len(self.rules)} rules exercised ({int(self.percent)}%)"


def rule_coverage(pack: PolicyPack, results: Iterable[CaseResult]) -> Coverage:
    exercised = frozenset(rule for result in results for rule in result.exercised)
    return Coverage(pack.rules, exercised & frozenset(pack.rules))


def load_test_files(pack: PolicyPack) -> list[PolicyTestFile]:
    if pack.tests_dir is None:
        return []
    return [load_test_file(path) for path in sorted(pack.tests_dir.glob("*.toml"))]


class _FixtureSource(SyncSource):
    def __init__(self, test_file: PolicyTestFile) -> None:
        self._file = test_file

    def current_version(self) -> int:
        return 0

    def changes_since(self, version: int) -> list[Change]:
        return []

    def all_assignments(self) -> Iterable[tuple[str, str, str]]:
        yield from self._file.members
        yield RUNNER, "platform_admin", PLATFORM_DOMAIN

    def roles_of(self, account_id: str, user_id: str) -> list[str]:
        return [
            role for user, role, acc in self._file.members if (acc, user) == (account_id, user_id)
        ]

    def is_platform_admin(self, principal_id: str) -> bool:
        return principal_id == RUNNER

    def account(self, account_id: str) -> Account | None:
        return self._file.accounts.get(account_id)


class _RecordingRuntime(PolicyRuntime):
    """A runtime without a decision cache that notes the rules each question to the enforcer
    consulted with the subject holding their role: what a case exercised."""

    def __init__(self, pack: PolicyPack) -> None:
        super().__init__(pack, cache_size=0)
        self.exercised: set[PolicyRule] = set()

    def uncached_verdict(
        self, subject: str, domain: str, obj: str, action: str, facts: Facts
    ) -> Verdict:
        if subject != RUNNER:  # the runner's own right to ask is not the case's
            for evaluation in self.candidate_rules(subject, domain, obj, action, facts):
                if evaluation.role_held:
                    self.exercised.add(evaluation.rule)
        return super().uncached_verdict(subject, domain, obj, action, facts)


def run_file(pack: PolicyPack, test_file: PolicyTestFile) -> Iterator[CaseResult]:
    runtime = _RecordingRuntime(pack)
    source = _FixtureSource(test_file)
    runtime.load_assignments(source)
    caller = Caller(RUNNER, "service", platform_admin=True)
    now = utcnow()
    for case in test_file.cases:
        request = case.request
        if case.deleted_days_ago is not None:
            deleted_at = now - timedelta(days=case.deleted_days_ago)
            properties = {**request.resource.properties, "deleted_at": deleted_at.isoformat()}
            request = DecisionRequest(
                request.subject,
                request.action,
                Resource(request.resource.type, request.resource.id, properties),
            )
        runtime.exercised = set()
        try:
            if case.through_service is None:
                decision = evaluate(runtime, source, caller, request, now=now)
            else:
                decision = _through_service(runtime, source, case, request, now)
        except ServiceError as error:
            yield CaseResult(case, False, f"error: {error.detail}")
            continue
        got = "allow" if decision.allowed else "deny"
        passed = decision.allowed == case.expect and (
            case.reason is None or case.reason == decision.reason.code
        )
        yield CaseResult(
            case,
            passed,
            f"got {got} ({decision.reason.code}: {decision.reason.text})",
            frozenset(runtime.exercised),
        )


def _through_service(
    runtime: PolicyRuntime,
    source: SyncSource,
    case: PolicyCase,
    request: DecisionRequest,
    now: datetime,
) -> Decision:
    """The decision an action gets when a service takes it for the case's subject: first may
    the service act for that user in the account, then the user's own decision, delegated."""
    assert case.through_service is not None
    account = resolve_account(runtime, source, request)
    caller = Caller(case.through_service, "service", on_behalf_of=request.subject.id)
    refused = delegation_refusal(runtime, caller, account.id)
    if refused is None:
        return decide(runtime, account, request, None, now, delegated=True)
    return Decision(
        allowed=False,
        reason=refused.reason,
        policy_version=runtime.version,
        account_id=account.id,
        subject_id=request.subject.id,
        action=request.action.name,
        resource_type=request.resource.type,
        resource_id=request.resource.id,
        rule=refused.rule,
        facts=FactSet(Facts(subject_id=request.subject.id), ()),
        roles=(),
        status=refused.status,
    )


def run_pack_tests(pack: PolicyPack) -> list[CaseResult]:
    return [result for test_file in load_test_files(pack) for result in run_file(pack, test_file)]
