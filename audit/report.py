"""What a verification run found: a :class:`VerificationReport` of :class:`Problem` s,
shared by database, export and witness verification."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

MAX_PROBLEMS: Final = 1000


@dataclass(frozen=True, slots=True)
class Problem:
    chain: str
    seq: int | None
    reason: str
    detail: str


@dataclass(slots=True)
class VerificationReport:
    """``ok`` is true when nothing is wrong. ``first_bad_*`` name the lowest bad sequence
    number of the first chain with a problem. ``gaps`` are (chain, first, last) missing
    sequence numbers. ``unanchored_events`` are events after their chain's last valid
    checkpoint: intact as far as the hash chain shows, but not covered by a signature;
    ``oldest_unanchored_at`` / ``_seconds`` say when the oldest of them was recorded (from
    the database only: an export's tail is covered by its signed end line).
    ``complete`` is false for an export of a filtered selection, where gaps are expected
    and so neither removal nor truncation can be detected."""

    ok: bool = True
    events_checked: int = 0
    chains_checked: int = 0
    checkpoints_valid: int = 0
    checkpoints_total: int = 0
    first_bad_chain: str | None = None
    first_bad_seq: int | None = None
    reason: str | None = None
    gaps: list[tuple[str, int, int]] = field(default_factory=list)
    unanchored_events: int = 0
    oldest_unanchored_at: datetime | None = None
    oldest_unanchored_seconds: float | None = None
    complete: bool = True
    problems: list[Problem] = field(default_factory=list)

    def add(self, problem: Problem) -> None:
        self.ok = False
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)

    def finish(self) -> VerificationReport:
        if self.problems:
            chain = self.problems[0].chain
            seqs = [p for p in self.problems if p.chain == chain and p.seq is not None]
            first = min(seqs, key=lambda p: p.seq or 0) if seqs else self.problems[0]
            self.first_bad_chain = chain
            self.first_bad_seq = first.seq
            self.reason = f"{first.reason}: {first.detail}"
        return self
