"""The per-chain state machine both verifiers feed (from the database and from an export):
every event's hash, every link, every sequence number, every checkpoint signature and
Merkle root, and that no checkpoint points past the last event (a truncated tail).

Events arrive in sequence order, one at a time: memory holds one chain's checkpoints and
the compact range of its Merkle tree, never the chain.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from audit import merkle
from audit.checkpoints import note_is_valid, signature_is_valid
from audit.records import GENESIS_HASH
from audit.report import Problem, VerificationReport


class ChainCheck:
    """Checks one chain's events, fed in sequence order, against its checkpoints."""

    __slots__ = (
        "anchored",
        "chain",
        "checkpoints",
        "complete",
        "events",
        "expected",
        "first_seq",
        "last_hash",
        "last_seq",
        "matched",
        "report",
        "roots",
        "stack",
    )

    def __init__(self, report: VerificationReport, chain: str, *, complete: bool = True) -> None:
        self.report = report
        self.chain = chain
        self.complete = complete
        self.checkpoints: dict[int, str] = {}  # seq -> head hash, signature already checked
        self.matched = 0
        self.anchored = 0
        self.events = 0
        self.first_seq: int | None = None
        self.expected: int | None = None
        self.last_seq = 0
        self.last_hash = GENESIS_HASH
        # Merkle roots of checkpoints (seq -> hex), checked against the compact range of
        # the events seen so far (from seq 1 only: a segment has no tree of its own).
        self.roots: dict[int, str] = {}
        self.stack: list[tuple[int, bytes]] | None = None
        report.chains_checked += 1

    def problem(self, seq: int | None, reason: str, detail: str) -> None:
        self.report.add(Problem(self.chain, seq, reason, detail))

    def checkpoint(
        self,
        key: Ed25519PublicKey,
        seq: int,
        head_hash: str,
        created_at: str,
        key_id: str,
        signature: str,
        root_hash: str | None = None,
        note: str | None = None,
    ) -> None:
        self.report.checkpoints_total += 1
        if not signature_is_valid(key, self.chain, seq, head_hash, created_at, key_id, signature):
            self.problem(seq, "checkpoint_signature_invalid", f"checkpoint at seq {seq}")
            return
        if root_hash is not None or note is not None:
            if not note_is_valid(key, self.chain, seq, str(root_hash), str(note)):
                self.problem(seq, "checkpoint_signature_invalid", f"signed note at seq {seq}")
                return
            self.roots[seq] = str(root_hash)
        if self.expected is not None and seq < self.expected:
            # Its event has gone by: its hash was not kept, so it cannot be matched now.
            self.problem(seq, "checkpoint_out_of_order", "checkpoint listed after its events")
            return
        self.checkpoints[seq] = head_hash

    def event(self, seq: int, prev_hash: str, stored_hash: str, computed_hash: str) -> None:
        self.events += 1
        self.report.events_checked += 1
        if computed_hash != stored_hash:
            self.problem(seq, "hash_mismatch", "the event's content does not match its hash")
        expected = self.expected
        if expected is None:
            self.first_seq = seq
            if seq == 1 and self.roots:
                self.stack = []
            if seq == 1 and prev_hash != GENESIS_HASH:
                self.problem(seq, "chain_broken", "the first event does not start from genesis")
        elif seq == expected:
            if prev_hash != self.last_hash:
                self.problem(seq, "chain_broken", "prev_hash is not the previous event's hash")
        elif seq > expected:
            if self.complete:
                self.report.gaps.append((self.chain, expected, seq - 1))
                self.problem(expected, "gap", f"events {expected}..{seq - 1} are missing")
        else:
            self.problem(seq, "out_of_order", f"seq {seq} after seq {expected - 1}")
            return
        stack = self.stack
        if stack is not None:
            if expected is not None and seq != expected:
                self.stack = stack = None  # a gap or disorder, already reported
            else:
                level, digest = 0, merkle.leaf_hash(bytes.fromhex(stored_hash))
                while stack and stack[-1][0] == level:
                    digest = merkle.node_hash(stack.pop()[1], digest)
                    level += 1
                stack.append((level, digest))
                root = self.roots.get(seq)
                if root is not None and merkle.compact_root(stack).hex() != root:
                    self.problem(
                        seq, "checkpoint_mismatch", f"the Merkle root at seq {seq} differs"
                    )
        anchor = self.checkpoints.get(seq)
        if anchor is not None:
            if anchor == stored_hash and computed_hash == stored_hash:
                self.matched += 1
                self.anchored = seq
            else:
                self.problem(seq, "checkpoint_mismatch", f"the checkpoint at seq {seq} differs")
        self.expected = seq + 1
        self.last_seq = seq
        self.last_hash = stored_hash

    def finish(self, claimed_last: int | None = None, claim: str = "head") -> None:
        """End of the chain: anything that says it went further means a truncated tail."""
        self.report.checkpoints_valid += self.matched
        self.report.unanchored_events += max(0, self.last_seq - self.anchored)
        if not self.complete:
            return
        beyond = [seq for seq in self.checkpoints if seq > self.last_seq]
        if beyond:
            self.problem(
                self.last_seq + 1,
                "truncated",
                f"a checkpoint covers seq {max(beyond)} but the events end at {self.last_seq}",
            )
        elif claimed_last is not None and claimed_last > self.last_seq:
            self.problem(
                self.last_seq + 1,
                "truncated",
                f"the {claim} says seq {claimed_last} but the events end at {self.last_seq}",
            )
        # Checkpoints inside a gap never met their event; the gap is already reported.
