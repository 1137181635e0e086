"""AuthZEN 1.0 search (section 8): which resources, which subjects, which actions.

Every result is a decision made by ``authorization.decide``; search only chooses what to ask
about. For resource search over a large contact store the rules themselves are translated
into a SQL predicate - for each allow rule the subject's roles satisfy, the conjunction of its
conditions; minus each deny rule that applies - so the database hands back candidates rather
than every contact. A condition without a SQL form is taken as "may hold" (a superset), and
every candidate is still confirmed with ``decide``, so a result is never wrong: the predicate
only makes the search fast, never decides.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, false, not_, or_, true
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from policy_service.decisions.authorization import (
    Caller,
    decide,
    existing_account,
    gather_facts,
    require_in_account,
)
from policy_service.domain.accounts import Account
from policy_service.domain.clock import utcnow
from policy_service.domain.contacts import ContactFacts, is_valid_contact_id
from policy_service.domain.decisions import (
    Action,
    Decision,
    DecisionRequest,
    Resource,
    Subject,
    qualified_action,
)
from policy_service.domain.errors import BadRequest
from policy_service.domain.facts import Facts
from policy_service.domain.identifiers import PLATFORM_DOMAIN, is_valid_account_id
from policy_service.policy.conditions import parse_condition_names
from policy_service.policy.pack import PolicyPack
from policy_service.policy.runtime import PolicyRuntime, SyncSource
from policy_service.storage import memberships
from policy_service.storage.contact_predicates import (
    contacts_t,
    enrolled,
    facts_from_row,
    held,
)
from policy_service.storage.contact_search import candidate_facts

SQL = ColumnElement[bool]

# Conditions that read only what the account and the subject are (not the contact): decided
# once in Python, on the facts of a decision without a contact, and bound as TRUE or FALSE.
ACCOUNT_CONDITIONS = frozenset(
    {"purge_enabled", "no_trash", "not_delegated", "delegate_is_member", "owner"}
)


@dataclass(frozen=True, slots=True)
class SqlContext:
    """What a contact predicate may depend on besides the row."""

    now: datetime
    facts: Facts  # the facts of a decision in this account for this subject, no contact
    guards: tuple[str, ...]  # the cascade profile's block_delete_when


GUARD_KINDS = {
    "active_workflow_enrollment": "workflow_enrollments",
    "active_campaign_enrollment": "campaign_enrollments",
}


def _within_retention(ctx: SqlContext) -> SQL:
    # Python: max(0, whole days since deleted_at) < retention. For retention > 0 that is
    # "deleted less than retention days ago" (a future deleted_at counts as age 0).
    days = ctx.facts.retention_days
    if days is None or days <= 0:
        return false()
    deleted_at = contacts_t.c.deleted_at
    return and_(deleted_at.is_not(None), deleted_at > ctx.now - timedelta(days=days))


def _retention_passed(ctx: SqlContext) -> SQL:
    days = ctx.facts.retention_days
    deleted_at = contacts_t.c.deleted_at
    if days is None:
        return false()
    if days <= 0:
        return deleted_at.is_not(None)
    return and_(deleted_at.is_not(None), deleted_at <= ctx.now - timedelta(days=days))


def _delete_guarded(ctx: SqlContext) -> SQL:
    kinds = [GUARD_KINDS[guard] for guard in ctx.guards if guard in GUARD_KINDS]
    return or_(*[enrolled(kind) for kind in kinds]) if kinds else false()


# The SQL form of each condition that reads the contact. A unit test holds each to its Python
# condition on generated contacts (tests/unit/test_search_predicates.py).
CONTACT_PREDICATES: dict[str, Callable[[SqlContext], SQL]] = {
    "in_trash": lambda ctx: contacts_t.c.state == "trashed",
    "active": lambda ctx: contacts_t.c.state == "active",
    "within_retention": _within_retention,
    "retention_passed": _retention_passed,
    "on_legal_hold": lambda ctx: held(),
    "not_on_legal_hold": lambda ctx: not_(held()),
    "in_active_workflow": lambda ctx: enrolled("workflow_enrollments"),
    "no_active_workflow": lambda ctx: not_(enrolled("workflow_enrollments")),
    "delete_guarded": _delete_guarded,
}


def condition_sql(name: str, ctx: SqlContext) -> SQL | None:
    """The SQL form of a condition, or None when it has none (then it "may hold")."""
    if name in CONTACT_PREDICATES:
        return CONTACT_PREDICATES[name](ctx)
    if name in ACCOUNT_CONDITIONS:
        (condition,) = parse_condition_names(name)
        return true() if condition.test(ctx.facts) else false()
    return None


def candidate_predicate(
    runtime: PolicyRuntime, account: Account, subject: str, action: str, now: datetime
) -> SQL:
    """Contacts of ``account`` that ``subject`` may possibly ``action``: a superset of the
    answer, exact wherever every condition involved has a SQL form."""
    if not runtime.roles.roles_of(subject, account.id) and not runtime.roles.roles_of(
        subject, PLATFORM_DOMAIN
    ):
        return false()
    ctx = sql_context(runtime.pack, account, subject, now)
    evaluations = runtime.candidate_rules(subject, account.id, "contact", action, ctx.facts)
    allows: list[SQL] = []
    denies: list[SQL] = []
    for evaluation in evaluations:
        rule = evaluation.rule
        if not evaluation.role_held:
            continue
        parts = [condition_sql(c.name, ctx) for c in parse_condition_names(rule.conditions)]
        if rule.effect == "allow":
            allows.append(and_(true(), *[p if p is not None else true() for p in parts]))
        elif all(p is not None for p in parts):  # a deny we cannot express excludes nothing
            denies.append(and_(true(), *[p for p in parts if p is not None]))
    if not allows:
        return false()
    allowed = or_(*allows)
    return and_(allowed, not_(or_(*denies))) if denies else allowed


def sql_context(pack: PolicyPack, account: Account, subject: str, now: datetime) -> SqlContext:
    """The facts of a decision in ``account`` for ``subject`` about no contact in particular."""
    request = DecisionRequest(Subject("user", subject), Action("search"), Resource("contact", None))
    facts = gather_facts(request, account, pack, now).facts
    profile = pack.cascade_profiles.get(account.cascade_profile)
    return SqlContext(now, facts, profile.block_delete_when if profile else ())


# -- pagination --------------------------------------------------------------------------------


def _fingerprint(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


def encode_token(after: str, *query: str) -> str:
    raw = json.dumps({"a": after, "q": _fingerprint(*query)}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str | None, *query: str) -> str | None:
    """The position a token continues from; a token from another query is refused."""
    if not token:
        return None
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        after, fingerprint = data["a"], data["q"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise BadRequest(
            "page.token is not a token this service gave", pointer="/page/token"
        ) from None
    if not isinstance(after, str) or fingerprint != _fingerprint(*query):
        raise BadRequest("page.token belongs to another search", pointer="/page/token")
    return after


# -- the three searches ---------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    decisions: list[Decision]
    next_token: str | None


def _account(
    runtime: PolicyRuntime, source: SyncSource, caller: Caller, account_id: object
) -> Account:
    if account_id is None:
        account_id = runtime.pack.default_account
    if account_id is None or not is_valid_account_id(account_id):
        raise BadRequest(
            "resource.properties.account_id is required and must be a valid account id",
            pointer="/resource/properties/account_id",
        )
    require_in_account(runtime, caller, str(account_id), "account", "decision.evaluate")
    return existing_account(runtime, source, str(account_id))


BATCH = 500


def search_resources(
    runtime: PolicyRuntime,
    source: SyncSource,
    session: Callable[[], Session],
    caller: Caller,
    subject: Subject,
    action_name: str,
    account_id: object,
    *,
    token: str | None,
    limit: int,
    now: datetime | None = None,
) -> Page:
    """Contacts of the account that ``subject`` may ``action`` now, in id order."""
    account = _account(runtime, source, caller, account_id)
    now = now or utcnow()
    action = qualified_action(action_name, "contact")
    query = ("resource", account.id, subject.id, action)
    after = decode_token(token, *query)
    predicate = candidate_predicate(runtime, account, subject.id, action, now)
    found: list[Decision] = []
    # Where every condition has a SQL form each candidate is a result: fetch what the page
    # needs; where some do not, further batches fill the page.
    batch = max(1, min(BATCH, limit))
    with session() as db:
        while True:
            rows = candidate_facts(db, account.id, predicate, after, batch)
            for row in rows:
                contact = facts_from_row(row)
                request = DecisionRequest(
                    subject,
                    Action(action_name),
                    Resource("contact", row[0], {"account_id": account.id}),
                )
                decision = decide(runtime, account, request, contact, now)
                after = row[0]
                if decision.allowed:
                    found.append(decision)
                    if len(found) == limit:
                        return Page(found, encode_token(after, *query))
            if len(rows) < batch:
                return Page(found, None)


def search_subjects(
    runtime: PolicyRuntime,
    source: SyncSource,
    session: Callable[[], Session],
    caller: Caller,
    action_name: str,
    resource: Resource,
    *,
    token: str | None,
    limit: int,
    now: datetime | None = None,
) -> Page:
    """Members of the resource's account who may ``action`` it now, in id order."""
    account = _account(runtime, source, caller, resource.properties.get("account_id"))
    now = now or utcnow()
    query = ("subject", account.id, resource.type, resource.id or "", action_name)
    after = decode_token(token, *query)
    with session() as db:
        members = sorted(memberships.members_of(db, account.id))
    contact = _contact_facts(runtime, source, account, resource)

    def ask(member: str) -> Decision:
        request = DecisionRequest(Subject("user", member), Action(action_name), resource)
        return decide(runtime, account, request, contact, now)

    return _allowed_page(members, ask, after, limit, query)


def searchable_actions(runtime: PolicyRuntime, resource_type: str) -> list[str]:
    """Every action a rule of the pack names for this type of resource."""
    return sorted({rule.action for rule in runtime.pack.rules if rule.obj in ("*", resource_type)})


def search_actions(
    runtime: PolicyRuntime,
    source: SyncSource,
    caller: Caller,
    subject: Subject,
    resource: Resource,
    *,
    token: str | None,
    limit: int,
    now: datetime | None = None,
) -> Page:
    """What ``subject`` may do to ``resource`` now: the buttons a UI shows."""
    account = _account(runtime, source, caller, resource.properties.get("account_id"))
    now = now or utcnow()
    query = ("action", account.id, subject.id, resource.type, resource.id or "")
    after = decode_token(token, *query)
    contact = _contact_facts(runtime, source, account, resource)
    actions = searchable_actions(runtime, resource.type)

    def ask(action: str) -> Decision:
        request = DecisionRequest(subject, Action(action), resource)
        return decide(runtime, account, request, contact, now)

    return _allowed_page(actions, ask, after, limit, query)


def _allowed_page(
    candidates: list[str],
    ask: Callable[[str], Decision],
    after: str | None,
    limit: int,
    query: tuple[str, ...],
) -> Page:
    """The first ``limit`` candidates (sorted) after ``after`` whose decision ``ask`` allows,
    with a token for the next page when candidates remain."""
    found: list[Decision] = []
    for candidate in candidates:
        if after is not None and candidate <= after:
            continue
        decision = ask(candidate)
        if decision.allowed:
            found.append(decision)
            if len(found) == limit:
                more = candidate != candidates[-1]
                return Page(found, encode_token(candidate, *query) if more else None)
    return Page(found, None)


def _contact_facts(
    runtime: PolicyRuntime, source: SyncSource, account: Account, resource: Resource
) -> ContactFacts | None:
    if resource.type != "contact" or not is_valid_contact_id(resource.id):
        return None
    assert resource.id is not None
    return runtime.contact_facts(source, account.id, [resource.id])[resource.id]
