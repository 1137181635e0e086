"""The policy runtime's view of storage: short read-only sessions, one per question."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy.orm import Session, sessionmaker

from policy_service.domain.accounts import Account
from policy_service.domain.changes import Change
from policy_service.domain.contacts import ContactFacts
from policy_service.policy.runtime import SyncSource
from policy_service.storage import accounts, changes, contacts, memberships


class SqlSyncSource(SyncSource):
    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._session_factory = session_factory

    def current_version(self) -> int:
        with self._session_factory() as session:
            return changes.current_version(session)

    def changes_since(self, version: int) -> list[Change]:
        with self._session_factory() as session:
            return changes.changes_since(session, version)

    def changes_in(self, versions: list[int]) -> list[Change]:
        with self._session_factory() as session:
            return changes.changes_in(session, versions)

    def all_assignments(self) -> Iterator[tuple[str, str, str]]:
        with self._session_factory() as session:
            yield from memberships.all_assignments(session)

    def roles_of(self, account_id: str, user_id: str) -> list[str]:
        with self._session_factory() as session:
            return memberships.roles_of(session, account_id, user_id)

    def is_platform_admin(self, principal_id: str) -> bool:
        with self._session_factory() as session:
            return memberships.is_platform_admin(session, principal_id)

    def account(self, account_id: str) -> Account | None:
        with self._session_factory() as session:
            return accounts.get_account(session, account_id)

    def contact_facts(self, account_id: str, contact_ids: list[str]) -> dict[str, ContactFacts]:
        # On the hot path of every decision about an uncached contact: one statement on an
        # autocommit connection, not a session with its BEGIN and ROLLBACK round trips.
        engine = self._session_factory.kw["bind"]
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            return contacts.facts_of(connection, account_id, contact_ids)

    def account_contact_facts(
        self, account_id: str, at_most: int
    ) -> dict[str, ContactFacts] | None:
        engine = self._session_factory.kw["bind"]
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            facts = contacts.account_facts(connection, account_id, at_most + 1)
        return None if len(facts) > at_most else facts
