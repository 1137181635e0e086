"""Demo accounts, one per seed article, with one user per role and contacts carrying related
records, for trying the service out locally (``policy-service serve --demo``; the README's
Tour walks through them)."""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from policy_service.accounts.tokens import issue_token, revoke_tokens
from policy_service.audit_trail.recording import operator_event
from policy_service.decisions.authorization import Caller
from policy_service.domain.accounts import Account
from policy_service.domain.clock import utcnow
from policy_service.lifecycle.contacts import add_record, create_contact
from policy_service.state import ServiceState
from policy_service.storage import accounts as account_store
from policy_service.storage import contacts as contact_store
from policy_service.storage import memberships as membership_store
from policy_service.storage.changes import record_change
from policy_service.storage.unit_of_work import UnitOfWork

DEMO_ACCOUNT = "demo"
DEMO_LABEL = "demo"
DEMO_TOKENS_FILE = Path("instance") / "demo-tokens.env"


@dataclass(frozen=True)
class DemoAccount:
    id: str
    name: str
    cascade_profile: str
    purge_enabled: bool


# One account per seed article's cascade profile (README, "Tour").
DEMO_ACCOUNTS: tuple[DemoAccount, ...] = (
    DemoAccount(
        DEMO_ACCOUNT,
        "Demo: LeadCenter (seed 000), the trash keeps everything",
        "trash-retains-all",
        True,
    ),
    DemoAccount(
        "demo-cascade",
        "Demo: HighLevel (seeds 002, 004), a delete cascades",
        "cascade-on-delete",
        False,
    ),
    DemoAccount(
        "demo-guarded",
        "Demo: HighLevel FAQ (seed 004), workflows guard a delete",
        "cascade-on-delete-guarded",
        False,
    ),
    DemoAccount("demo-purge", "Demo: seed 003, a delete is permanent", "immediate-purge", False),
)
# Contacts in every demo account: Ada carries one record of most kinds (an active workflow
# enrollment among them); Bob and Cy, tagged "stale", are there to be bulk deleted.
DEMO_CONTACTS: tuple[tuple[str, str, str, str | None, list[str]], ...] = (
    ("ada", "Ada Lovelace", "ada@example.com", "+44 20 7946 0000", ["vip"]),
    ("bob", "Bob Stale", "bob@example.com", None, ["stale"]),
    ("cy", "Cy Stale", "cy@example.com", None, ["stale"]),
)
ADA_RECORDS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("notes", {"text": "met Ada at the fair"}),
    ("conversations", {"text": "email thread about plan A"}),
    ("tasks", {"text": "call Ada back"}),
    ("appointments", {"text": "demo call, Monday 10:00"}),
    ("workflow_enrollments", {"name": "nurture"}),
    (
        "commission_records",
        {"amount": "120.00", "currency": "EUR", "date": "2026-10-01", "product": "plan-a"},
    ),
    ("files", {"name": "contract.pdf"}),
)
DEMO_USERS: tuple[tuple[str, str, bool, list[str]], ...] = (
    # principal, kind, platform admin, roles in every demo account
    ("demo-admin", "user", False, ["admin"]),
    ("demo-user", "user", False, ["user"]),
    ("demo-officer", "user", False, ["compliance_officer"]),
    ("demo-crm", "service", False, ["service"]),
    ("demo-platform", "user", True, []),
)


@dataclass(frozen=True)
class DemoCredential:
    principal: str
    kind: str
    roles: str
    token: str


def seed_demo(state: ServiceState) -> tuple[list[DemoCredential], dict[str, str | None]]:
    """Create the demo accounts, their members and contacts where missing; issue fresh tokens
    (old ones revoked). Returns the credentials and, per demo account, the id of Ada's
    workflow enrollment (the Tour ends it)."""
    now = utcnow()
    with state.unit_of_work() as uow:
        for demo in DEMO_ACCOUNTS:
            _seed_account(state, uow, demo, now)
        uow.commit()
    state.sync_now()
    enrollments = {demo.id: _seed_contacts(state, demo.id) for demo in DEMO_ACCOUNTS}
    revoke_tokens(state, label=DEMO_LABEL)
    credentials = []
    for principal, kind, platform_admin, roles in DEMO_USERS:
        _, token = issue_token(
            state, principal, kind=kind, platform_admin=platform_admin, label=DEMO_LABEL
        )
        described = "platform_admin" if platform_admin else ", ".join(roles)
        credentials.append(DemoCredential(principal, kind, described, token))
    state.sync_now()
    return credentials, enrollments


def _seed_account(state: ServiceState, uow: UnitOfWork, demo: DemoAccount, now: datetime) -> None:
    if account_store.get_account(uow.session, demo.id) is None:
        account_store.add_account(
            uow.session,
            Account(demo.id, demo.name, demo.cascade_profile, 60, demo.purge_enabled, now, now),
        )
        record_change(uow.session, "account", account_id=demo.id)
        uow.record(
            operator_event(
                state.runtime,
                "account.created",
                target_type="account",
                target_id=demo.id,
                account_id=demo.id,
                details={"demo": True},
            )
        )
    for principal, _, _, roles in DEMO_USERS:
        if roles and membership_store.roles_of(uow.session, demo.id, principal) != roles:
            membership_store.set_roles(uow.session, demo.id, principal, roles)
            record_change(uow.session, "membership", account_id=demo.id, subject_id=principal)
            uow.record(
                operator_event(
                    state.runtime,
                    "membership.changed",
                    target_type="user",
                    target_id=principal,
                    account_id=demo.id,
                    details={"roles_after": roles},
                )
            )


def _seed_contacts(state: ServiceState, account_id: str) -> str | None:
    """The demo contacts that are missing, created by the demo admin through the same
    functions as the API (so decided and audited); returns Ada's workflow enrollment id."""
    admin = Caller("demo-admin", "user")
    for contact_id, name, email, phone, tags in DEMO_CONTACTS:
        with state.unit_of_work(write=False) as uow:
            exists = contact_store.get_contact(uow.session, account_id, contact_id) is not None
        if exists:
            continue
        create_contact(
            state,
            admin,
            account_id,
            id=contact_id,
            name=name,
            email=email,
            phone=phone,
            tags=tags,
        )
        if contact_id == "ada":
            for kind, data in ADA_RECORDS:
                add_record(state, admin, account_id, contact_id, kind, data)
        else:
            add_record(state, admin, account_id, contact_id, "notes", {"text": f"{name}, old"})
    with state.unit_of_work(write=False) as uow:
        records = contact_store.records_of(uow.session, account_id, "ada")
    enrollments = [r.id for r in records if r.kind == "workflow_enrollments"]
    return enrollments[0] if enrollments else None


def write_tokens_file(
    path: Path,
    credentials: list[DemoCredential],
    enrollments: dict[str, str | None],
    base_url: str,
) -> None:
    """The demo tokens as ``export NAME=value`` lines a shell can ``source`` (mode 0600):
    ``API``, ``ADMIN_TOKEN``, ``USER_TOKEN``, ``OFFICER_TOKEN``, ``CRM_TOKEN``,
    ``PLATFORM_TOKEN`` and ``GUARDED_ENROLLMENT`` (Ada's workflow in ``demo-guarded``)."""
    names = {
        "demo-admin": "ADMIN_TOKEN",
        "demo-user": "USER_TOKEN",
        "demo-officer": "OFFICER_TOKEN",
        "demo-crm": "CRM_TOKEN",
        "demo-platform": "PLATFORM_TOKEN",
    }
    lines = [
        "# Written by `policy-service serve --demo` (fresh tokens on every start).",
        "# Use: source " + shlex.quote(str(path)),
        f"export API={shlex.quote(base_url)}",
    ]
    lines += [
        f"export {names[c.principal]}={shlex.quote(c.token)}"
        for c in credentials
        if c.principal in names
    ]
    enrollment = enrollments.get("demo-guarded")
    if enrollment:
        lines.append(f"export GUARDED_ENROLLMENT={shlex.quote(enrollment)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    os.chmod(path, 0o600)
