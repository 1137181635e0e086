"""The policy as one worker process holds it: pack, enforcer, role index, caches, sync.

Each gunicorn worker has its own ``PolicyRuntime``. Changes made by any worker (membership,
account settings, platform admins, a policy reload) are written to the change log in the
same transaction as the change; every worker checks the log's version at most every
``sync_interval`` seconds before it answers, and applies what it missed. A worker therefore
never answers on state older than ``sync_interval`` (0.5 s by default), restart-free.

Authenticated tokens are cached the same way and dropped when a token is revoked.

Decisions are cached per worker, keyed by everything the enforcer sees: (account, subject)
then (object, action, facts). A membership change drops that (account, subject) entry; a
policy reload or a platform-admin change drops everything. Facts include the account's
settings and the contact's state, so a change there simply makes a new key
(``policy/decision_cache.py``). A refusal's reason is named from the rules by
``policy/refusals.py``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

import structlog

from policy_service.domain.accounts import Account
from policy_service.domain.changes import Change
from policy_service.domain.contacts import ContactFacts
from policy_service.domain.decisions import RuleRef, Verdict
from policy_service.domain.errors import PolicyPackError
from policy_service.domain.facts import Facts
from policy_service.domain.identifiers import PLATFORM_DOMAIN
from policy_service.policy.change_feed import LOAD_LOOKBACK, ChangeFeed
from policy_service.policy.decision_cache import DecisionCache
from policy_service.policy.enforcer import build_enforcers
from policy_service.policy.pack import PolicyPack, PolicyRule
from policy_service.policy.refusals import (
    RuleEvaluation,
    allowed_verdict,
    evaluate_rules,
    refusal_verdict,
)
from policy_service.policy.roles import RoleIndex

log = structlog.get_logger(__name__)


class SyncSource:
    """What a runtime needs from storage to stay current (implemented over SQLAlchemy)."""

    def current_version(self) -> int:
        raise NotImplementedError

    def changes_since(self, version: int) -> list[Change]:
        raise NotImplementedError

    def all_assignments(self) -> Iterable[tuple[str, str, str]]:
        raise NotImplementedError

    def roles_of(self, account_id: str, user_id: str) -> list[str]:
        raise NotImplementedError

    def is_platform_admin(self, principal_id: str) -> bool:
        raise NotImplementedError

    def account(self, account_id: str) -> Account | None:
        raise NotImplementedError

    def contact_facts(self, account_id: str, contact_ids: list[str]) -> dict[str, ContactFacts]:
        """What the store knows about these contacts; none by default (no contact store)."""
        return {}

    def account_contact_facts(
        self, account_id: str, at_most: int
    ) -> dict[str, ContactFacts] | None:
        """Every contact of the account, or None when it has more than ``at_most`` (or the
        source cannot list them: then contacts are asked for by id)."""
        return None

    def changes_in(self, versions: list[int]) -> list[Change]:
        """The changes at these versions that have committed by now."""
        return []


class PolicyRuntime:
    def __init__(
        self,
        pack: PolicyPack,
        *,
        cache_size: int = 200_000,
        sync_interval: float = 0.5,
        pack_loader: Callable[[], PolicyPack] | None = None,
    ) -> None:
        self.roles = RoleIndex()
        self.pack = pack
        self._enforcers = build_enforcers(pack, self.roles)
        self._rules_by_row = {tuple(rule.as_casbin()): rule for rule in pack.rules}
        self.cache = DecisionCache(cache_size)
        self.sync_interval = sync_interval
        self.synced_version = 0  # the change feed's watermark
        self.feed = ChangeFeed()
        # The store's version at the last check: what exists, applied here or not yet.
        self.store_version = 0
        self._last_sync_check = 0.0
        self._accounts: dict[str, Account | None] = {}
        # What the store says about contacts (None: not in the store), per account. Every
        # lifecycle change writes a "contacts" change for its account in its transaction.
        self._contacts: dict[str, dict[str, ContactFacts | None]] = {}
        self._contacts_cached = 0
        # Accounts whose every contact is in ``_contacts`` (an id not there is not in the
        # store), and accounts found too big to read whole.
        self._complete: set[str] = set()
        self._large: set[str] = set()
        # Authenticated tokens by hash -> (principal id, kind, platform admin). Revocations and
        # principal changes arrive through the change log like every other change.
        self.tokens: dict[str, tuple[str, str, bool]] = {}
        self._pack_loader = pack_loader
        self._lock = threading.RLock()
        # Change kinds other parts of the worker keep caches for (the webhook outbox's
        # subscriptions): each is told of its changes as they are applied.
        self.change_listeners: dict[str, Callable[[Change], None]] = {}

    # -- loading ---------------------------------------------------------------------------

    def load_assignments(self, source: SyncSource) -> None:
        with self._lock:
            version = source.current_version()
            self.roles.load(source.all_assignments(), self._static_rows(self.pack))
            self._accounts.clear()
            self.forget_all_contacts()
            self.tokens.clear()
            self.cache.clear()
            now = time.monotonic()
            recent = [c.version for c in source.changes_since(max(version - LOAD_LOOKBACK, 0))]
            self.feed.loaded(version, recent, now)
            self.synced_version = self.feed.watermark
            self.store_version = version
            self._last_sync_check = now

    @staticmethod
    def _static_rows(pack: PolicyPack) -> list[tuple[str, str, str]]:
        return [(a.user, a.role, a.account) for a in pack.assignments]

    def install_pack(self, pack: PolicyPack) -> None:
        """Swap in a new pack. The new enforcer is built before the swap: no request sees
        half a policy."""
        enforcers = build_enforcers(pack, self.roles)
        rules_by_row = {tuple(rule.as_casbin()): rule for rule in pack.rules}
        with self._lock:
            self.roles.replace_static(self._static_rows(pack))
            self._enforcers = enforcers
            self._rules_by_row = rules_by_row
            self.pack = pack
            self.cache.clear()

    # -- keeping current ---------------------------------------------------------------------

    def sync(self, source: SyncSource, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_sync_check < self.sync_interval:
            return
        with self._lock:
            if not force and now - self._last_sync_check < self.sync_interval:
                return  # another thread synced while this one waited for the lock
            # The check time moves only when the check succeeds: while the store cannot be
            # read, every request tries again (and fails) rather than answering on state
            # older than the interval.
            store_version = source.current_version()
            feed = self.feed
            if store_version > feed.watermark or feed.waiting:
                for change in feed.take(source.changes_since(feed.watermark), now):
                    self._apply(change, source)
            passed = feed.passed_gaps(now)
            if passed:
                for change in feed.landed(source.changes_in(passed)):
                    self._apply(change, source)
            self.synced_version = feed.watermark
            self.store_version = max(store_version, self.synced_version)
            self._last_sync_check = now

    def sync_to(self, source: SyncSource, version: int) -> None:
        """Sync now, whatever the interval, unless this worker already has ``version``
        (perhaps another thread's sync got there while this one waited for the lock)."""
        with self._lock:
            if self.synced_version < version:
                self.sync(source, force=True)

    def _apply(self, change: Change, source: SyncSource) -> None:
        if change.kind == "membership" and change.account_id and change.subject_id:
            roles = source.roles_of(change.account_id, change.subject_id)
            self.roles.set_roles(change.account_id, change.subject_id, roles)
            self.cache.forget(change.account_id, change.subject_id)
        elif change.kind == "principal" and change.subject_id:
            admin = source.is_platform_admin(change.subject_id)
            self.roles.set_roles(
                PLATFORM_DOMAIN, change.subject_id, ["platform_admin"] if admin else []
            )
            self.cache.clear()
            self.tokens.clear()
        elif change.kind == "token":
            self.tokens.clear()
        elif change.kind == "account" and change.account_id:
            self._accounts.pop(change.account_id, None)
        elif change.kind == "contacts" and change.account_id:
            self.forget_contacts(change.account_id)
        elif change.kind == "policy":
            if self._pack_loader is not None and change.detail != self.pack.version:
                self._install_accepted_pack(change.detail)
        elif change.kind in self.change_listeners:
            self.change_listeners[change.kind](change)
        else:
            log.warning("sync.unknown_change", kind=change.kind, version=change.version)

    def _install_accepted_pack(self, version: str | None) -> None:
        """Take up a pack another worker reloaded - only the very version it accepted.

        The change log holds the version of a pack whose own policy tests passed when it was
        reloaded (``services.policy_admin``). The version is a hash of the pack's contents, so
        a pack read from disk with another version (edited since, say) was never checked:
        it is not installed, nor is one that no longer loads. This worker keeps its running
        policy and logs why, until the next accepted reload.
        """
        assert self._pack_loader is not None
        try:
            pack = self._pack_loader()
        except PolicyPackError as error:
            log.error("policy.reload_not_applied", expected=version, error=str(error))
            return
        if pack.version != version:
            log.error(
                "policy.reload_not_applied",
                expected=version,
                found=pack.version,
                error="the pack on disk is not the version that was accepted",
            )
            return
        self.install_pack(pack)

    def account(self, source: SyncSource, account_id: str) -> Account | None:
        if account_id in self._accounts:
            return self._accounts[account_id]
        account = source.account(account_id)
        # Only accounts that exist are kept: any token can name made-up accounts, and caching
        # each "no such account" would let it grow this worker's memory without bound.
        if account is not None:
            self._accounts[account_id] = account
        return account

    def forget_account(self, account_id: str) -> None:
        self._accounts.pop(account_id, None)

    MAX_CACHED_CONTACTS = 500_000
    # An account with this many contacts or fewer is read whole on its first miss: one
    # statement then answers every question about it, "no such contact" included, until a
    # change to its contacts. Bigger accounts are read by id, as a whole read after every
    # change would cost more than it saves.
    READ_WHOLE_ACCOUNT_UP_TO = 256

    def contact_facts(
        self, source: SyncSource, account_id: str, contact_ids: list[str]
    ) -> dict[str, ContactFacts | None]:
        """The store's facts about contacts, read once and kept until a change says otherwise."""
        cached = self._contacts.get(account_id)
        if cached is None:
            cached = self._contacts[account_id] = {}
        missing = [c for c in contact_ids if c not in cached]
        if missing and account_id not in self._complete and account_id not in self._large:
            whole = source.account_contact_facts(account_id, self.READ_WHOLE_ACCOUNT_UP_TO)
            if whole is None:
                self._large.add(account_id)
            else:
                self.forget_contacts(account_id)  # the partial view it replaces
                if self._contacts_cached + len(whole) > self.MAX_CACHED_CONTACTS:
                    self.forget_all_contacts()
                cached = self._contacts[account_id] = dict(whole)
                self._contacts_cached += len(cached)
                self._complete.add(account_id)
        if missing and account_id not in self._complete:
            found = source.contact_facts(account_id, missing)
            if self._contacts_cached + len(missing) > self.MAX_CACHED_CONTACTS:
                self.forget_all_contacts()
                cached = self._contacts[account_id] = {}
            for contact_id in missing:
                cached[contact_id] = found.get(contact_id)
            self._contacts_cached += len(missing)
        return {c: cached.get(c) for c in contact_ids}

    def forget_contacts(self, account_id: str) -> None:
        self._complete.discard(account_id)
        self._large.discard(account_id)
        dropped = self._contacts.pop(account_id, None)
        if dropped:
            self._contacts_cached -= len(dropped)

    def forget_all_contacts(self) -> None:
        self._contacts = {}
        self._contacts_cached = 0
        self._complete = set()
        self._large = set()

    # -- deciding ------------------------------------------------------------------------------

    @property
    def version(self) -> str:
        return self.pack.version

    def verdict(self, subject: str, domain: str, obj: str, action: str, facts: Facts) -> Verdict:
        key = (obj, action, facts)
        cached = self.cache.get(domain, subject, key)
        if cached is not None:
            return cached
        verdict = self.uncached_verdict(subject, domain, obj, action, facts)
        self.cache.put(domain, subject, key, verdict)
        return verdict

    def uncached_verdict(
        self, subject: str, domain: str, obj: str, action: str, facts: Facts
    ) -> Verdict:
        enforcer = self._enforcers.get(action)
        rules_by_row = self._rules_by_row
        if enforcer is None:  # no rule names this action: nothing can allow it
            return self._explain_verdict(False, None, subject, domain, obj, action, facts)
        allowed, row = enforcer.enforce_ex(subject, domain, obj, action, facts)
        rule = rules_by_row.get(tuple(row)) if row else None
        return self._explain_verdict(bool(allowed), rule, subject, domain, obj, action, facts)

    def _explain_verdict(
        self,
        allowed: bool,
        rule: PolicyRule | None,
        subject: str,
        domain: str,
        obj: str,
        action: str,
        facts: Facts,
    ) -> Verdict:
        ref: RuleRef | None = rule.ref if rule else None
        if allowed:
            return allowed_verdict(ref)
        evaluations = self.candidate_rules(subject, domain, obj, action, facts)
        return refusal_verdict(evaluations, self.roles, subject, domain, obj, action, facts, ref)

    def candidate_rules(
        self, subject: str, domain: str, obj: str, action: str, facts: Facts
    ) -> list[RuleEvaluation]:
        """The rules that speak to this action on this object in this domain."""
        return evaluate_rules(self.pack.rules, self.roles, subject, domain, obj, action, facts)
