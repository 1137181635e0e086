"""The one decision path: every endpoint and every AuthZEN request ends in ``decide``.

``evaluate`` answers a policy enforcement point about a subject; ``require`` authorizes the
service's own endpoints for the caller. Both go through the same enforcer, the same facts
and the same cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from policy_service.domain.accounts import Account
from policy_service.domain.clock import utcnow
from policy_service.domain.contacts import ContactFacts, is_valid_contact_id
from policy_service.domain.decisions import (
    Action,
    Decision,
    DecisionRequest,
    Reason,
    Resource,
    Subject,
    Verdict,
    qualified_action,
)
from policy_service.domain.errors import BadRequest, Forbidden, NotFound
from policy_service.domain.facts import Facts, FactSet, FactSource
from policy_service.domain.identifiers import PLATFORM_DOMAIN, is_valid_account_id
from policy_service.policy.pack import PolicyPack
from policy_service.policy.refusals import RuleEvaluation
from policy_service.policy.runtime import PolicyRuntime, SyncSource

CONTACT_STATES = frozenset({"active", "trashed", "purged"})


@dataclass(frozen=True, slots=True)
class Caller:
    """Who sent the request, and for whom a service acts (``X-On-Behalf-Of``)."""

    principal_id: str
    kind: str  # user | service
    platform_admin: bool = False
    on_behalf_of: str | None = None
    request_id: str | None = None

    @property
    def acting_subject(self) -> str:
        return self.on_behalf_of or self.principal_id


@dataclass(frozen=True)
class Explanation:
    decision: Decision
    rules: list[RuleEvaluation]
    platform_roles: tuple[str, ...]


# -- facts ----------------------------------------------------------------------------------


def _property_error(name: str, expected: str) -> BadRequest:
    return BadRequest(
        f"resource.properties.{name} must be {expected}", pointer=f"/resource/properties/{name}"
    )


def _parse_timestamp(name: str, raw: Any) -> datetime:
    if not isinstance(raw, str):
        raise _property_error(name, "an ISO 8601 timestamp")
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise _property_error(name, "an ISO 8601 timestamp") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def gather_facts(
    request: DecisionRequest,
    account: Account,
    pack: PolicyPack,
    now: datetime,
    contact: ContactFacts | None = None,
    *,
    delegated: bool = False,
) -> FactSet:
    """Facts for one decision. The service's own knowledge wins over the caller's: for a
    contact it holds, state, deletion time, legal hold and enrollments come from the store;
    whether a delete goes to the trash and which guards block it come from the account's
    cascade profile."""
    values: dict[str, Any] = {"subject_id": request.subject.id}
    sources: dict[str, FactSource] = {"subject_id": FactSource.REQUEST}

    pack_email = pack.subject_attributes.get(request.subject.id, {}).get("email")
    if pack_email is not None:
        values["subject_email"], sources["subject_email"] = pack_email, FactSource.POLICY_PACK
    elif isinstance(request.subject.properties.get("email"), str):
        values["subject_email"] = request.subject.properties["email"]
        sources["subject_email"] = FactSource.REQUEST

    aliases = pack.property_aliases
    properties = request.resource.properties
    if aliases:
        properties = {aliases.get(key, key): value for key, value in properties.items()}
    state = properties.get("state", properties.get("contact_state"))
    if state is not None:
        if state not in CONTACT_STATES:
            raise _property_error("state", "one of " + ", ".join(sorted(CONTACT_STATES)))
        values["contact_state"], sources["contact_state"] = state, FactSource.REQUEST
    if properties.get("deleted_at") is not None:
        deleted_at = _parse_timestamp("deleted_at", properties["deleted_at"])
        age = now - deleted_at
        values["trash_age_days"] = max(0, age.days)
        sources["trash_age_days"] = FactSource.CLOCK
    for name in ("legal_hold", "active_workflow", "active_campaign"):
        if name in properties:
            if not isinstance(properties[name], bool):
                raise _property_error(name, "true or false")
            values[name], sources[name] = properties[name], FactSource.REQUEST
    active_campaign = values.pop("active_campaign", False)
    sources.pop("active_campaign", None)
    if "owner_id" in properties:
        if not isinstance(properties["owner_id"], str):
            raise _property_error("owner_id", "a string")
        values["owner_id"], sources["owner_id"] = properties["owner_id"], FactSource.REQUEST

    if contact is not None:
        values["contact_state"], sources["contact_state"] = contact.state, FactSource.STORE
        values["legal_hold"], sources["legal_hold"] = contact.legal_hold, FactSource.STORE
        values["active_workflow"] = contact.active_workflow
        sources["active_workflow"] = FactSource.STORE
        active_campaign = contact.active_campaign
        values.pop("trash_age_days", None)
        sources.pop("trash_age_days", None)
        if contact.deleted_at is not None:
            deleted_at = contact.deleted_at
            if deleted_at.tzinfo is None:  # SQLite hands back naive UTC
                deleted_at = deleted_at.replace(tzinfo=UTC)
            values["trash_age_days"] = max(0, (now - deleted_at).days)
            sources["trash_age_days"] = FactSource.STORE
    profile = pack.cascade_profiles.get(account.cascade_profile)
    retention = profile.effective_retention(account.retention_days) if profile else None
    values["retention_days"] = retention if retention is not None else account.retention_days
    sources["retention_days"] = FactSource.STORE
    values["purge_enabled"], sources["purge_enabled"] = account.purge_enabled, FactSource.STORE
    if profile is not None:
        enrolled = ContactFacts(
            "active", None, False, values.get("active_workflow", False), active_campaign
        )
        values["trash"] = profile.trash
        values["blocking_guards"] = enrolled.blocking_guards(profile.block_delete_when)
        sources["trash"] = sources["blocking_guards"] = FactSource.POLICY_PACK
    if delegated:
        values["delegated"], sources["delegated"] = True, FactSource.REQUEST
    return FactSet(Facts(**values), tuple(sorted(sources.items())))


def guards_considered(
    pack: PolicyPack, account: Account, action: str, facts: Facts
) -> tuple[tuple[str, bool], ...]:
    """The account's profile guards for a delete, each with whether it holds now."""
    profile = pack.cascade_profiles.get(account.cascade_profile)
    if profile is None or action != "contact.delete":
        return ()
    return tuple((guard, guard in facts.blocking_guards) for guard in profile.block_delete_when)


# -- deciding --------------------------------------------------------------------------------


def _verdict(
    runtime: PolicyRuntime, subject: str, domain: str, obj: str, action: str, facts: Facts
) -> Verdict:
    # Ask Casbin only about subjects that hold some role here or platform-wide: an unknown
    # subject can be allowed nothing, and is not worth a trip through every rule.
    if not runtime.roles.roles_of(subject, domain) and not runtime.roles.roles_of(
        subject, PLATFORM_DOMAIN
    ):
        where = "the platform" if domain == PLATFORM_DOMAIN else f"account {domain}"
        return Verdict(
            False, Reason("no_role_in_account", f"{subject} holds no role in {where}"), None
        )
    return runtime.verdict(subject, domain, obj, action, facts)


def existing_account(runtime: PolicyRuntime, source: SyncSource, account_id: str) -> Account:
    """The account, or the one answer every route gives for an account that does not exist."""
    account = runtime.account(source, account_id)
    if account is None:
        raise NotFound(f"account {account_id} does not exist")
    return account


def resolve_account(
    runtime: PolicyRuntime, source: SyncSource, request: DecisionRequest
) -> Account:
    return existing_account(runtime, source, requested_account_id(runtime, request))


def requested_account_id(runtime: PolicyRuntime, request: DecisionRequest) -> str:
    account_id = request.resource.properties.get("account_id", runtime.pack.default_account)
    if account_id is None:
        raise BadRequest(
            "resource.properties.account_id is required",
            pointer="/resource/properties/account_id",
        )
    if not is_valid_account_id(account_id):
        raise BadRequest(
            "resource.properties.account_id is not a valid account id",
            pointer="/resource/properties/account_id",
        )
    return str(account_id)


def evaluate(
    runtime: PolicyRuntime,
    source: SyncSource,
    caller: Caller,
    request: DecisionRequest,
    *,
    now: datetime | None = None,
    known_contacts: dict[tuple[str, str], ContactFacts | None] | None = None,
    asked_in: set[str] | None = None,
) -> Decision:
    """Answer a PEP: may ``request.subject`` do ``request.action`` to ``request.resource``?

    ``known_contacts`` lets a batch look contacts up in one query instead of one per item;
    ``asked_in`` holds the accounts where this caller, in this batch, has already been found
    allowed to ask (so its own check runs once per account, not once per item).
    """
    # The caller first, then the account: one with no part in the account named learns
    # nothing about whether it exists (403 either way); only those who may ask get a 404.
    account_id = requested_account_id(runtime, request)
    if asked_in is None or account_id not in asked_in:
        require_in_account(runtime, caller, account_id, "account", "decision.evaluate")
        if asked_in is not None:
            asked_in.add(account_id)
    account = existing_account(runtime, source, account_id)
    contact = None
    resource = request.resource
    if resource.type == "contact" and is_valid_contact_id(resource.id):
        assert resource.id is not None
        key = (account.id, resource.id)
        if known_contacts is not None and key in known_contacts:
            contact = known_contacts[key]
        else:
            contact = runtime.contact_facts(source, account.id, [resource.id])[resource.id]
    return decide(runtime, account, request, contact, now or utcnow())


def decide(
    runtime: PolicyRuntime,
    account: Account,
    request: DecisionRequest,
    contact: ContactFacts | None,
    now: datetime,
    *,
    delegated: bool = False,
) -> Decision:
    """The one decision: who, what the account allows, the contact's state, its window, legal
    holds and the profile's guards - all as rules over facts, so the answer to a PEP and the
    action itself can never disagree. The decision carries the status the action answers."""
    facts = gather_facts(request, account, runtime.pack, now, contact, delegated=delegated)
    action = qualified_action(request.action.name, request.resource.type)
    verdict = _verdict(
        runtime, request.subject.id, account.id, request.resource.type, action, facts.facts
    )
    return _decision(runtime, verdict, account, request, action, facts)


def decide_for_caller(
    runtime: PolicyRuntime,
    caller: Caller,
    account: Account,
    action: str,
    contact_id: str,
    contact: ContactFacts,
    now: datetime,
) -> Decision:
    """``decide`` for an action the caller takes itself, or takes for a user (a service with
    ``X-On-Behalf-Of``, which must first be allowed to act for that user here)."""
    request = DecisionRequest(
        Subject("user", caller.acting_subject), Action(action), Resource("contact", contact_id)
    )
    refused = delegation_refusal(runtime, caller, account.id)
    if refused is not None:
        facts = gather_facts(request, account, runtime.pack, now, contact, delegated=True)
        return _decision(runtime, refused, account, request, action, facts)
    delegated = caller.on_behalf_of is not None
    return decide(runtime, account, request, contact, now, delegated=delegated)


def _decision(
    runtime: PolicyRuntime,
    verdict: Verdict,
    account: Account,
    request: DecisionRequest,
    action: str,
    facts: FactSet,
) -> Decision:
    return Decision(
        allowed=verdict.allowed,
        reason=verdict.reason,
        policy_version=runtime.version,
        account_id=account.id,
        subject_id=request.subject.id,
        action=action,
        resource_type=request.resource.type,
        resource_id=request.resource.id,
        rule=verdict.rule,
        facts=facts,
        roles=tuple(sorted(runtime.roles.roles_of(request.subject.id, account.id))),
        status=200 if verdict.allowed else verdict.status,
        guards=guards_considered(runtime.pack, account, action, facts.facts),
    )


def explain(
    runtime: PolicyRuntime,
    source: SyncSource,
    caller: Caller,
    request: DecisionRequest,
    *,
    now: datetime | None = None,
) -> Explanation:
    decision = evaluate(runtime, source, caller, request, now=now)
    rules = runtime.candidate_rules(
        request.subject.id,
        decision.account_id,
        decision.resource_type,
        decision.action,
        decision.facts.facts,
    )
    platform_roles = tuple(sorted(runtime.roles.roles_of(request.subject.id, PLATFORM_DOMAIN)))
    return Explanation(decision, rules, platform_roles)


# -- the service's own endpoints ---------------------------------------------------------------


def delegation_refusal(runtime: PolicyRuntime, caller: Caller, domain: str) -> Verdict | None:
    """For a service acting for a user: the refusal when the policy does not let it act for
    that user in ``domain`` (``account.act_for_user``), else None. Not acting for anyone: None."""
    if caller.on_behalf_of is None:
        return None
    member = domain != PLATFORM_DOMAIN and bool(runtime.roles.roles_of(caller.on_behalf_of, domain))
    facts = Facts(subject_id=caller.principal_id, delegate_is_member=member)
    verdict = _verdict(
        runtime, caller.principal_id, domain, "account", "account.act_for_user", facts
    )
    return None if verdict.allowed else verdict


def account_gate(runtime: PolicyRuntime, caller: Caller, account_id: str) -> Verdict | None:
    """Asked before anything in an account is read: the refusal when the caller (or the user a
    service acts for) holds no role in it, else None. An account that does not exist and one
    the caller has no part in are refused alike, so a refusal says nothing about existence."""
    refused = delegation_refusal(runtime, caller, account_id)
    if refused is not None:
        return refused
    subject = caller.acting_subject
    if runtime.roles.roles_of(subject, account_id):
        return None
    return Verdict(
        False,
        Reason("no_role_in_account", f"{subject} holds no role in account {account_id}"),
        None,
    )


def check_in_account(
    runtime: PolicyRuntime, caller: Caller, account_id: str, obj: str, action: str
) -> Verdict:
    """May the caller (or the user a service acts for) do ``action`` in ``account_id``?"""
    refused = delegation_refusal(runtime, caller, account_id)
    if refused is not None:
        return refused
    subject = caller.acting_subject
    facts = Facts(subject_id=subject, delegated=caller.on_behalf_of is not None)
    return _verdict(runtime, subject, account_id, obj, action, facts)


def require_in_account(
    runtime: PolicyRuntime, caller: Caller, account_id: str, obj: str, action: str
) -> None:
    verdict = check_in_account(runtime, caller, account_id, obj, action)
    if not verdict.allowed:
        raise Forbidden(
            f"{caller.acting_subject} may not {action} in account {account_id}: "
            f"{verdict.reason.text}",
            reason={"code": verdict.reason.code, "text": verdict.reason.text},
        )


def require_platform(runtime: PolicyRuntime, caller: Caller, obj: str, action: str) -> None:
    require_in_account(runtime, caller, PLATFORM_DOMAIN, obj, action)
