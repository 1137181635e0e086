"""A demo account with one user per role, for trying the service out locally."""

from __future__ import annotations

from dataclasses import dataclass

from policy_service.accounts.tokens import issue_token, revoke_tokens
from policy_service.audit_trail.recording import operator_event
from policy_service.domain.accounts import Account
from policy_service.domain.clock import utcnow
from policy_service.state import ServiceState
from policy_service.storage import accounts as account_store
from policy_service.storage import memberships as membership_store
from policy_service.storage.changes import record_change

DEMO_ACCOUNT = "demo"
DEMO_LABEL = "demo"
DEMO_USERS: tuple[tuple[str, str, bool, list[str]], ...] = (
    # principal, kind, platform admin, roles in the demo account
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


def seed_demo(state: ServiceState) -> list[DemoCredential]:
    """Create the demo account and members if missing; issue fresh tokens (old ones revoked)."""
    now = utcnow()
    with state.unit_of_work() as uow:
        if account_store.get_account(uow.session, DEMO_ACCOUNT) is None:
            account_store.add_account(
                uow.session,
                Account(DEMO_ACCOUNT, "Demo account", "trash-retains-all", 60, True, now, now),
            )
            record_change(uow.session, "account", account_id=DEMO_ACCOUNT)
            uow.record(
                operator_event(
                    state.runtime,
                    "account.created",
                    target_type="account",
                    target_id=DEMO_ACCOUNT,
                    account_id=DEMO_ACCOUNT,
                    details={"demo": True},
                )
            )
        for principal, _, _, roles in DEMO_USERS:
            if roles and membership_store.roles_of(uow.session, DEMO_ACCOUNT, principal) != roles:
                membership_store.set_roles(uow.session, DEMO_ACCOUNT, principal, roles)
                record_change(
                    uow.session, "membership", account_id=DEMO_ACCOUNT, subject_id=principal
                )
                uow.record(
                    operator_event(
                        state.runtime,
                        "membership.changed",
                        target_type="user",
                        target_id=principal,
                        account_id=DEMO_ACCOUNT,
                        details={"roles_after": roles},
                    )
                )
        uow.commit()
    revoke_tokens(state, label=DEMO_LABEL)
    credentials = []
    for principal, kind, platform_admin, roles in DEMO_USERS:
        _, token = issue_token(
            state, principal, kind=kind, platform_admin=platform_admin, label=DEMO_LABEL
        )
        described = "platform_admin" if platform_admin else ", ".join(roles)
        credentials.append(DemoCredential(principal, kind, described, token))
    state.sync_now()
    return credentials
