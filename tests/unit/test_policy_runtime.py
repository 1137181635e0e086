"""The per-worker policy runtime: decisions, their cache, and applying changes."""

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from policy_service.domain.accounts import Account
from policy_service.domain.changes import Change
from policy_service.domain.facts import Facts
from policy_service.policy.pack import load_pack
from policy_service.policy.runtime import PolicyRuntime, SyncSource

PACK = Path(__file__).resolve().parents[2] / "policies"
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


class FakeSource(SyncSource):
    def __init__(self) -> None:
        self.roles: dict[tuple[str, str], list[str]] = {("acme", "ada"): ["admin"]}
        self.changes: list[Change] = []
        self.accounts = {"acme": Account("acme", "Acme", "p", 60, True, EPOCH, EPOCH)}
        self.account_reads = 0

    def current_version(self) -> int:
        return self.changes[-1].version if self.changes else 0

    def changes_since(self, version: int) -> list[Change]:
        return [c for c in self.changes if c.version > version]

    def all_assignments(self) -> Iterable[tuple[str, str, str]]:
        for (account, user), roles in self.roles.items():
            for role in roles:
                yield user, role, account

    def roles_of(self, account_id: str, user_id: str) -> list[str]:
        return self.roles.get((account_id, user_id), [])

    def is_platform_admin(self, principal_id: str) -> bool:
        return False

    def account(self, account_id: str) -> Account | None:
        self.account_reads += 1
        return self.accounts.get(account_id)

    def change_roles(self, account: str, user: str, roles: list[str]) -> None:
        self.roles[(account, user)] = roles
        self.changes.append(Change(self.current_version() + 1, "membership", account, user, ""))


def runtime_with(source: FakeSource, cache_size: int = 1000) -> PolicyRuntime:
    runtime = PolicyRuntime(load_pack(PACK), cache_size=cache_size, sync_interval=0)
    runtime.load_assignments(source)
    return runtime


def delete(runtime: PolicyRuntime, user: str) -> bool:
    return runtime.verdict(
        user, "acme", "contact", "contact.delete", Facts(subject_id=user)
    ).allowed


def test_a_repeated_decision_is_served_from_the_cache() -> None:
    runtime = runtime_with(FakeSource())
    assert delete(runtime, "ada") is True
    assert delete(runtime, "ada") is True
    assert (runtime.cache.hits, runtime.cache.misses) == (1, 1)


def test_different_facts_are_different_cache_entries() -> None:
    runtime = runtime_with(FakeSource())
    trashed = Facts(subject_id="ada", contact_state="trashed", purge_enabled=True)
    held = Facts(subject_id="ada", contact_state="trashed", purge_enabled=True, legal_hold=True)
    assert runtime.verdict("ada", "acme", "contact", "contact.purge", trashed).allowed is True
    assert runtime.verdict("ada", "acme", "contact", "contact.purge", held).allowed is False


def test_a_membership_change_drops_the_cached_decisions_of_that_user_only() -> None:
    source = FakeSource()
    source.roles[("acme", "bea")] = ["admin"]
    runtime = runtime_with(source)
    assert delete(runtime, "ada") is True
    assert delete(runtime, "bea") is True
    source.change_roles("acme", "ada", ["user"])
    runtime.sync(source)
    assert delete(runtime, "ada") is False
    assert delete(runtime, "bea") is True
    assert runtime.cache.hits == 1  # bea's answer was still good


def test_a_pack_reload_drops_every_cached_decision() -> None:
    runtime = runtime_with(FakeSource())
    delete(runtime, "ada")
    assert len(runtime.cache) == 1
    runtime.install_pack(load_pack(PACK))
    assert len(runtime.cache) == 0


def test_the_cache_never_grows_past_its_size() -> None:
    runtime = runtime_with(FakeSource(), cache_size=3)
    for state in ("active", "trashed", "purged", None, "active"):
        runtime.verdict("ada", "acme", "contact", "contact.read", Facts("ada", contact_state=state))
    assert len(runtime.cache) <= 3


def test_a_zero_cache_size_turns_caching_off() -> None:
    runtime = runtime_with(FakeSource(), cache_size=0)
    delete(runtime, "ada")
    delete(runtime, "ada")
    assert runtime.cache.hits == 0


def test_account_settings_are_read_once_until_a_change_says_otherwise() -> None:
    source = FakeSource()
    runtime = runtime_with(source)
    runtime.account(source, "acme")
    runtime.account(source, "acme")
    assert source.account_reads == 1
    source.changes.append(Change(1, "account", "acme", None, ""))
    runtime.sync(source)
    runtime.account(source, "acme")
    assert source.account_reads == 2


def test_sync_is_checked_at_most_once_per_interval() -> None:
    source = FakeSource()
    runtime = PolicyRuntime(load_pack(PACK), sync_interval=60)
    runtime.load_assignments(source)
    source.change_roles("acme", "ada", [])
    runtime.sync(source)
    assert delete(runtime, "ada") is True  # not yet checked: within the interval
    runtime.sync(source, force=True)
    assert delete(runtime, "ada") is False
