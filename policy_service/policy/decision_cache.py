"""The per-worker decision cache, keyed by everything the enforcer sees.

Entries are grouped by (account, subject), so a membership change drops exactly that group;
a policy reload or a platform-admin change drops everything. The facts are part of the key
(the account's settings, the contact's state), so a change there simply makes a new key.
"""

from __future__ import annotations

from policy_service.domain.decisions import Verdict
from policy_service.domain.facts import Facts

CacheKey = tuple[str, str, Facts]


class DecisionCache:
    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._entries: dict[tuple[str, str], dict[CacheKey, Verdict]] = {}
        self._count = 0
        self.hits = 0
        self.misses = 0

    def get(self, domain: str, subject: str, key: CacheKey) -> Verdict | None:
        bucket = self._entries.get((domain, subject))
        verdict = bucket.get(key) if bucket is not None else None
        if verdict is None:
            self.misses += 1
        else:
            self.hits += 1
        return verdict

    def put(self, domain: str, subject: str, key: CacheKey, verdict: Verdict) -> None:
        if self.max_entries == 0:
            return
        if self._count >= self.max_entries:
            # Dropping everything is crude but O(1) amortised and never serves a stale entry;
            # a working set larger than the cache simply runs at enforcer speed.
            self.clear()
        self._entries.setdefault((domain, subject), {})[key] = verdict
        self._count += 1

    def forget(self, domain: str, subject: str) -> None:
        bucket = self._entries.pop((domain, subject), None)
        if bucket is not None:
            self._count -= len(bucket)

    def clear(self) -> None:
        self._entries = {}
        self._count = 0

    def __len__(self) -> int:
        return self._count
