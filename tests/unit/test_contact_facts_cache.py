"""Contact facts in the runtime: small accounts are read whole, big ones by id, and a change
to an account's contacts makes the next question read again."""

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from policy_service.domain.changes import Change
from policy_service.domain.contacts import ContactFacts
from policy_service.policy.pack import load_pack
from policy_service.policy.runtime import PolicyRuntime, SyncSource

PACK = Path(__file__).resolve().parents[2] / "policies"
TRASHED = ContactFacts("trashed", datetime(2026, 1, 1, tzinfo=UTC), False, False, False)


class CountingSource(SyncSource):
    def __init__(self, contacts: dict[str, ContactFacts]) -> None:
        self.contacts = contacts
        self.whole_reads = 0
        self.reads_by_id: list[list[str]] = []
        self.changes: list[Change] = []

    def current_version(self) -> int:
        return len(self.changes)

    def changes_since(self, version: int) -> list[Change]:
        return self.changes[version:]

    def all_assignments(self) -> Iterable[tuple[str, str, str]]:
        return []

    def account_contact_facts(
        self, account_id: str, at_most: int
    ) -> dict[str, ContactFacts] | None:
        self.whole_reads += 1
        return None if len(self.contacts) > at_most else dict(self.contacts)

    def contact_facts(self, account_id: str, contact_ids: list[str]) -> dict[str, ContactFacts]:
        self.reads_by_id.append(contact_ids)
        return {c: self.contacts[c] for c in contact_ids if c in self.contacts}


def runtime() -> PolicyRuntime:
    return PolicyRuntime(load_pack(PACK), sync_interval=0)


def test_a_small_account_is_read_once_and_then_answers_unknown_ids_without_a_read() -> None:
    source = CountingSource({"c-1": TRASHED})
    rt = runtime()
    assert rt.contact_facts(source, "acme", ["c-1"]) == {"c-1": TRASHED}
    assert rt.contact_facts(source, "acme", ["c-2", "c-3"]) == {"c-2": None, "c-3": None}
    assert source.whole_reads == 1
    assert source.reads_by_id == []


def test_an_account_bigger_than_the_limit_is_read_by_id_and_not_listed_again() -> None:
    source = CountingSource(
        {f"c-{n}": TRASHED for n in range(PolicyRuntime.READ_WHOLE_ACCOUNT_UP_TO + 1)}
    )
    rt = runtime()
    assert rt.contact_facts(source, "acme", ["c-1"]) == {"c-1": TRASHED}
    assert rt.contact_facts(source, "acme", ["c-2"]) == {"c-2": TRASHED}
    assert rt.contact_facts(source, "acme", ["c-2"]) == {"c-2": TRASHED}
    assert source.whole_reads == 1
    assert source.reads_by_id == [["c-1"], ["c-2"]]


def test_a_change_to_the_accounts_contacts_makes_the_next_question_read_again() -> None:
    source = CountingSource({})
    rt = runtime()
    assert rt.contact_facts(source, "acme", ["c-1"]) == {"c-1": None}
    source.contacts["c-1"] = TRASHED
    source.changes.append(Change(1, "contacts", "acme", None, ""))
    rt.sync(source)
    assert rt.contact_facts(source, "acme", ["c-1"]) == {"c-1": TRASHED}
    assert source.whole_reads == 2


def test_a_source_that_cannot_list_an_account_is_asked_by_id() -> None:
    class ByIdOnly(CountingSource):
        def account_contact_facts(self, account_id: str, at_most: int) -> None:
            return None

    source = ByIdOnly({"c-1": TRASHED})
    rt = runtime()
    assert rt.contact_facts(source, "acme", ["c-1", "c-9"]) == {"c-1": TRASHED, "c-9": None}
    assert source.reads_by_id == [["c-1", "c-9"]]
