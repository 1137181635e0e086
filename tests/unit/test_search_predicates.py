"""Resource search pushes conditions into SQL: each SQL form must agree with its Python
condition on every generated contact, in every kind of account, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, insert, select
from sqlalchemy.orm import Session

from policy_service.decisions.authorization import gather_facts
from policy_service.decisions.search import (
    ACCOUNT_CONDITIONS,
    CONTACT_PREDICATES,
    condition_sql,
    sql_context,
)
from policy_service.domain.accounts import Account
from policy_service.domain.contacts import ContactFacts
from policy_service.domain.decisions import Action, DecisionRequest, Resource, Subject
from policy_service.policy.conditions import REGISTRY, parse_condition_names
from policy_service.policy.pack import load_pack
from policy_service.storage import accounts
from policy_service.storage.contact_predicates import contacts_t, holds_t, records_t
from tests.conftest import DEFAULT_PACK

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
PACK = load_pack(DEFAULT_PACK)
SHIPPED = sorted({c.name for rule in PACK.rules for c in parse_condition_names(rule.conditions)})


def test_every_condition_of_the_shipped_rules_has_a_sql_form() -> None:
    missing = [
        name
        for name in SHIPPED
        if name not in CONTACT_PREDICATES | dict.fromkeys(ACCOUNT_CONDITIONS)
    ]
    assert not missing
    assert set(CONTACT_PREDICATES) | ACCOUNT_CONDITIONS <= set(REGISTRY)


def _ages(retention: int) -> list[timedelta]:
    day = timedelta(days=1)
    second = timedelta(seconds=1)
    return [
        -day,
        timedelta(0),
        second,
        retention * day - second,
        retention * day,
        retention * day + second,
        (retention + 1) * day,
        200 * day,
    ]


@pytest.mark.parametrize("seed", [1, 2])
def test_sql_predicates_agree_with_the_python_conditions(engine: Engine, seed: int) -> None:
    rng = random.Random(seed)
    world: list[tuple[Account, dict[str, ContactFacts]]] = []
    with Session(engine) as session:
        for n, profile in enumerate(sorted(PACK.cascade_profiles)):
            for retention in (0, 1, 30):
                account = Account(
                    f"acct-{n}-{retention}", "A", profile, retention, rng.random() < 0.5, NOW, NOW
                )
                accounts.add_account(session, account)
                contacts: dict[str, ContactFacts] = {}
                for i in range(40):
                    contact_id = f"c-{i:03d}"
                    state = rng.choice(["active", "trashed", "trashed", "purged"])
                    deleted_at = None
                    if state != "active" or rng.random() < 0.1:
                        deleted_at = NOW - rng.choice(_ages(max(retention, 1)))
                    held = rng.random() < 0.3
                    workflow = rng.random() < 0.3
                    campaign = rng.random() < 0.3
                    session.execute(
                        insert(contacts_t).values(
                            account_id=account.id, id=contact_id, state=state,
                            deleted_at=deleted_at, created_at=NOW, updated_at=NOW,
                        )
                    )  # fmt: skip
                    for k, (wanted, kind) in enumerate(
                        ((workflow, "workflow_enrollments"), (campaign, "campaign_enrollments"))
                    ):
                        # An ended enrollment is never a guard; an active one is.
                        session.execute(
                            insert(records_t).values(
                                id=f"r-{account.id}-{i}-{k}", account_id=account.id,
                                contact_id=contact_id, origin_contact_id=contact_id, kind=kind,
                                state="active" if wanted else "stopped",
                            )
                        )  # fmt: skip
                    session.execute(
                        insert(holds_t).values(
                            id=f"h-{account.id}-{i}", account_id=account.id,
                            contact_id=contact_id, reason="r", placed_by="cora",
                            released_at=None if held else NOW,
                        )
                    )  # fmt: skip
                    contacts[contact_id] = ContactFacts(state, deleted_at, held, workflow, campaign)
                world.append((account, contacts))
        session.commit()

        checked = 0
        for account, contacts in world:
            ctx = sql_context(PACK, account, "ada", NOW)
            for name in sorted(set(CONTACT_PREDICATES) | ACCOUNT_CONDITIONS):
                predicate = condition_sql(name, ctx)
                assert predicate is not None
                in_sql = set(
                    session.execute(
                        select(contacts_t.c.id).where(
                            contacts_t.c.account_id == account.id, predicate
                        )
                    ).scalars()
                )
                for contact_id, contact in contacts.items():
                    request = DecisionRequest(
                        Subject("user", "ada"), Action("x"), Resource("contact", contact_id)
                    )
                    facts = gather_facts(request, account, PACK, NOW, contact).facts
                    expected = REGISTRY[name].test(facts)
                    assert (contact_id in in_sql) == expected, (name, account, contact, facts)
                    checked += 1
        assert checked > 1000
