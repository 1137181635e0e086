"""Which changes a worker has applied, when versions can commit out of order.

On PostgreSQL change versions come from a sequence, with no lock (storage/changes.py): of
two writers, the one holding version N+1 may commit first. A worker therefore applies every
change as soon as it has committed, and keeps a *watermark*: the highest version at or below
which it has applied everything there will ever be. Consistency tokens are compared with the
watermark, so "current for token N" still means "has applied every change up to N".

A version missing below a version that has committed (a gap) is a transaction still
committing, or one whose commit failed after it took its number. The watermark waits for a
gap ``GAP_WAIT_S`` at most, then passes it; a passed gap is still looked for during
``LATE_WATCH_S``, in case its commit was only slow, and applied if it turns up.
"""

from __future__ import annotations

from collections.abc import Iterable

from policy_service.domain.changes import Change

GAP_WAIT_S = 5.0
LATE_WATCH_S = 600.0
# After a full load at store version V, versions below V missing from the last this many
# are treated as still committing.
LOAD_LOOKBACK = 1_000


class ChangeFeed:
    def __init__(self, watermark: int = 0) -> None:
        self.watermark = watermark
        self._ahead: set[int] = set()  # applied, above the watermark
        self._gap_since: dict[int, float] = {}  # missing below something applied, since when
        self._passed: dict[int, float] = {}  # gaps the watermark passed, since when

    @property
    def waiting(self) -> bool:
        """Whether something above the watermark is applied (a gap is open)."""
        return bool(self._ahead)

    def loaded(self, version: int, recent: Iterable[int], now: float) -> None:
        """A full load saw the store at ``version``; ``recent`` are the committed versions of
        the last ``LOAD_LOOKBACK``. Those missing may still commit: wait for them."""
        low = max(version - LOAD_LOOKBACK, 0)
        seen = {v for v in recent if low < v <= version}
        missing = [v for v in range(low + 1, version + 1) if v not in seen]
        self._gap_since = {}
        self._passed = {}
        if not missing:
            self.watermark, self._ahead = version, set()
            return
        self.watermark = missing[0] - 1
        self._ahead = {v for v in seen if v > self.watermark}
        self._gap_since = dict.fromkeys(missing, now)

    def take(self, changes: Iterable[Change], now: float) -> list[Change]:
        """Of changes read above the watermark, the ones not applied yet (to apply now)."""
        fresh = [c for c in changes if c.version > self.watermark and c.version not in self._ahead]
        for change in fresh:
            self._ahead.add(change.version)
            self._gap_since.pop(change.version, None)
        self._advance(now)
        return fresh

    def _advance(self, now: float) -> None:
        top = max(self._ahead, default=self.watermark)
        for version in range(self.watermark + 1, top):
            if version not in self._ahead:
                self._gap_since.setdefault(version, now)
        version = self.watermark
        while version < top:
            following = version + 1
            if following in self._ahead:
                self._ahead.discard(following)
            elif now - self._gap_since[following] >= GAP_WAIT_S:
                del self._gap_since[following]
                self._passed[following] = now
            else:
                break
            version = following
        self.watermark = version

    def passed_gaps(self, now: float) -> list[int]:
        """Passed gaps still worth looking for (older ones are given up)."""
        for version, since in list(self._passed.items()):
            if now - since > LATE_WATCH_S:
                del self._passed[version]
        return sorted(self._passed)

    def landed(self, changes: Iterable[Change]) -> list[Change]:
        """Of changes found at passed gaps, the ones to apply now (each once)."""
        return [c for c in changes if self._passed.pop(c.version, None) is not None]
