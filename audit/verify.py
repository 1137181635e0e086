"""Verification, from the database or offline from an export file (like CloudTrail's
``validate-logs``): every event's hash, every link, every sequence number, every checkpoint
signature, and that no checkpoint points past the last event (a truncated tail).

Both verifiers feed the same per-chain state machine, :class:`ChainCheck`. Events are
streamed: memory holds one chain's checkpoints and a batch of events, never the log.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Connection, func, select, union
from sqlalchemy.orm import Session

from audit import canonical, merkle
from audit.checkpoints import note_is_valid, seal_is_valid, signature_is_valid
from audit.keys import PublicKeyLike, load_public_key
from audit.records import GENESIS_HASH
from audit.rows import RECORD_COLUMNS, record_bytes
from audit.tables import audit_chain_heads, audit_checkpoints, audit_events

MAX_PROBLEMS: Final = 1000
BATCH: Final = 10_000


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


# -- from the database ------------------------------------------------------------------


def verify_database(
    session: Session | Connection,
    public_key: PublicKeyLike,
    chain: str | None = None,
    *,
    max_unanchored_seconds: float | None = None,
    now: datetime | None = None,
) -> VerificationReport:
    """Verify one chain, or every chain, as stored. Streams in keyset batches.

    With ``max_unanchored_seconds`` (the service passes twice its checkpoint interval) a
    chain fails with ``unsigned_tail`` when its oldest event after the last valid checkpoint
    was recorded longer ago than that: checkpoints are signed on a schedule, so an old
    unsigned tail means the schedule stopped or checkpoints were removed."""
    moment = now or datetime.now(UTC)
    key = load_public_key(public_key)
    report = VerificationReport()
    if chain is not None:
        chains = [chain]
    else:
        names = union(
            select(audit_events.c.chain).distinct(),
            select(audit_checkpoints.c.chain).distinct(),
            select(audit_chain_heads.c.chain),
        ).subquery()
        chains = list(session.execute(select(names.c.chain).order_by(names.c.chain)).scalars())
    columns = [audit_events.c[name] for name in RECORD_COLUMNS]
    seq_at, prev_at = RECORD_COLUMNS.index("seq"), RECORD_COLUMNS.index("prev_hash")
    sha256 = hashlib.sha256
    for name in chains:
        check = ChainCheck(report, name)
        cps = audit_checkpoints
        for row in session.execute(
            select(
                cps.c.seq,
                cps.c.hash,
                cps.c.created_at,
                cps.c.key_id,
                cps.c.signature,
                cps.c.root_hash,
                cps.c.note,
            )
            .where(cps.c.chain == name)
            .order_by(cps.c.seq)
        ):
            check.checkpoint(key, row[0], row[1], canonical.format_timestamp(row[2]), *row[3:])
        head = session.execute(
            select(audit_chain_heads.c.seq).where(audit_chain_heads.c.chain == name)
        ).scalar()
        last = 0
        while True:
            rows = session.execute(
                select(*columns)
                .where(audit_events.c.chain == name, audit_events.c.seq > last)
                .order_by(audit_events.c.seq)
                .limit(BATCH)
            ).all()
            for row in rows:
                computed = sha256(record_bytes(row)).hexdigest()
                check.event(row[seq_at], row[prev_at], row[-1], computed)
            if len(rows) < BATCH:
                break
            last = rows[-1][seq_at]
        check.finish(head, "chain head")
        if check.last_seq > check.anchored:
            _unanchored_age(session, report, check, moment, max_unanchored_seconds)
    return report.finish()


def _unanchored_age(
    session: Session | Connection,
    report: VerificationReport,
    check: ChainCheck,
    now: datetime,
    limit: float | None,
) -> None:
    first = check.anchored + 1
    recorded = session.execute(
        select(audit_events.c.recorded_at)
        .where(audit_events.c.chain == check.chain, audit_events.c.seq >= first)
        .order_by(audit_events.c.seq)
        .limit(1)
    ).scalar()
    if recorded is None:
        return
    if recorded.tzinfo is None:  # SQLite hands back naive UTC
        recorded = recorded.replace(tzinfo=UTC)
    age = max(0.0, (now - recorded).total_seconds())
    if report.oldest_unanchored_seconds is None or age > report.oldest_unanchored_seconds:
        report.oldest_unanchored_seconds = age
        report.oldest_unanchored_at = recorded
    if limit is not None and age > limit:
        count = check.last_seq - check.anchored
        check.problem(
            first,
            "unsigned_tail",
            f"{count} events after the last checkpoint (seq {check.anchored}), the oldest "
            f"recorded {age:.0f} s ago; checkpoints are due every {limit / 2:.0f} s",
        )


def count_events(session: Session | Connection) -> int:
    return int(session.execute(select(func.count()).select_from(audit_events)).scalar_one())


# -- offline, from an export file -------------------------------------------------------

_EVENT_PREFIX: Final = b'{"type":"event","hash":"'
_RECORD_AT: Final = len(_EVENT_PREFIX) + 64
_RECORD_KEY: Final = b'","record":'
_BODY_AT: Final = _RECORD_AT + len(_RECORD_KEY)


def verify_export(
    source: str | os.PathLike[str] | IO[bytes] | IO[str], public_key: PublicKeyLike
) -> VerificationReport:
    """Verify an NDJSON export with nothing but the public key. See README: export format."""
    key = load_public_key(public_key)
    if isinstance(source, str | os.PathLike):
        with open(source, "rb") as handle:
            return _verify_lines(handle, key)
    if isinstance(source, io.TextIOBase):
        return _verify_lines((line.encode("utf-8") for line in source), key)
    return _verify_lines(source, key)  # type: ignore[arg-type]


def _verify_lines(lines: Iterator[bytes] | IO[bytes], key: Ed25519PublicKey) -> VerificationReport:
    report = VerificationReport()
    sha256 = hashlib.sha256
    check: ChainCheck | None = None
    seen: list[ChainCheck] = []
    claimed_last = 0
    chain_token = b""
    ended: dict[str, Any] | None = None
    header: dict[str, Any] | None = None
    number = 0
    for number, line in enumerate(lines, 1):
        # The fast path reads the exporter's own line layout without a JSON parse: the
        # record's bytes are exactly what was hashed, and the canonical key order puts
        # "chain", "prev_hash" and "seq" where a plain search finds the top-level ones
        # (see README). Anything else takes the slow path through json.loads.
        if (
            check is not None
            and line.startswith(_EVENT_PREFIX)
            and line[_RECORD_AT:_BODY_AT] == _RECORD_KEY
        ):
            record = line[_BODY_AT:].rstrip(b"\r\n")[:-1]
            fields = _fast_fields(record, chain_token)
            if fields is not None:
                seq, prev_hash = fields
                stored = line[len(_EVENT_PREFIX) : _RECORD_AT].decode("ascii")
                check.event(seq, prev_hash, stored, sha256(record).hexdigest())
                continue
        stripped = line.strip()
        if not stripped:
            continue
        try:
            item = json.loads(stripped)
            kind = item["type"]
        except (ValueError, TypeError, KeyError):
            report.add(Problem(check.chain if check else "", None, "malformed", f"line {number}"))
            continue
        if ended is not None:
            report.add(Problem("", None, "malformed", f"line {number} follows the end line"))
        if kind == "header":
            header = item
            if item.get("format") != "audit-export" or item.get("version") != 1:
                report.add(Problem("", None, "malformed", "not an audit export, version 1"))
            report.complete = bool(item.get("complete"))
        elif kind == "chain":
            if check is not None:
                check.finish(claimed_last, "export's chain line")
            check = ChainCheck(report, str(item["chain"]), complete=bool(item.get("complete")))
            seen.append(check)
            claimed_last = int(item.get("last_seq") or 0)
            chain_token = b',"chain":' + canonical.encode_value(check.chain).encode() + b","
        elif kind == "checkpoint" and check is not None:
            if item.get("chain") != check.chain:
                check.problem(item.get("seq"), "wrong_chain", f"checkpoint on line {number}")
                continue
            check.checkpoint(
                key,
                int(item["seq"]),
                str(item["hash"]),
                str(item["created_at"]),
                str(item["key_id"]),
                str(item["signature"]),
                item.get("root_hash"),
                item.get("note"),
            )
        elif kind == "event" and check is not None:
            _slow_event(check, item, number)
        elif kind == "end":
            ended = item
        else:
            report.add(Problem("", None, "malformed", f"unexpected {kind!r} on line {number}"))
    if check is not None:
        check.finish(claimed_last, "export's chain line")
    if header is None:
        report.add(Problem("", None, "malformed", "no header line"))
    if ended is None:
        report.add(Problem("", None, "truncated", "the export has no end line"))
    elif ended.get("events") != report.events_checked:
        report.add(
            Problem(
                "",
                None,
                "truncated",
                f"the end line counts {ended.get('events')} events, found {report.events_checked}",
            )
        )
    if ended is not None:
        _check_seal(report, ended, seen, key)
    return report.finish()


def _check_seal(
    report: VerificationReport, end: dict[str, Any], seen: list[ChainCheck], key: Ed25519PublicKey
) -> None:
    """The end line is the export's closing checkpoint, signed at export time: it must be
    signed, and its per-chain heads must be exactly the last events found (no unsigned tail,
    nothing dropped at the end, no count fixed up)."""
    if "signature" not in end:
        report.add(
            Problem(
                "", None, "unsigned_tail", "the export's end line is not signed: an unsigned tail"
            )
        )
        return
    report.checkpoints_total += 1
    if not seal_is_valid(key, end):
        # Then nothing signs the export's tail: say so per chain (where nothing worse was
        # found), then that the signature is bad.
        reported = {problem.chain for problem in report.problems}
        for check in seen:
            if check.last_seq > check.anchored and check.chain not in reported:
                check.problem(
                    check.anchored + 1,
                    "unsigned_tail",
                    f"no valid signature covers the events after seq {check.anchored}",
                )
        report.add(
            Problem("", None, "checkpoint_signature_invalid", "the export's end line signature")
        )
        return
    report.checkpoints_valid += 1
    if bool(end.get("complete")) != report.complete:
        report.add(Problem("", None, "malformed", "the header and the signed end disagree"))
    heads = end.get("heads")
    if not isinstance(heads, list) or not all(isinstance(h, dict) for h in heads):
        report.add(Problem("", None, "malformed", "the end line has no heads"))
        return
    signed = {str(head.get("chain")): head for head in heads}
    for check in seen:
        head = signed.pop(check.chain, None)
        if head is None:
            check.problem(
                check.first_seq,
                "unsigned_tail",
                "the signed end does not name it: an unsigned tail",
            )
            continue
        last = head.get("seq")
        if not isinstance(last, int) or last > check.last_seq:
            check.problem(
                check.last_seq + 1,
                "truncated",
                f"the signed end says seq {last} but the events end at {check.last_seq}",
            )
        elif last < check.last_seq:
            check.problem(
                last + 1, "unsigned_tail", f"events after seq {last} are an unsigned tail"
            )
        elif head.get("hash") != check.last_hash:
            check.problem(last, "checkpoint_mismatch", "the signed end's head hash differs")
        elif head.get("events") != check.events or head.get("first_seq") != check.first_seq:
            check.problem(
                check.first_seq,
                "truncated",
                f"the signed end counts {head.get('events')} events, found {check.events}",
            )
        else:
            # Everything up to the end is anchored by the export-time signature.
            report.unanchored_events -= max(0, check.last_seq - check.anchored)
    for chain in signed:
        report.add(Problem(chain, None, "truncated", "a chain in the signed end is missing"))


def _fast_fields(record: bytes, chain_token: bytes) -> tuple[int, str] | None:
    at = record.find(b',"chain":')
    if at < 0 or not record.startswith(chain_token, at):
        return None
    at = record.rfind(b',"seq":')
    end = record.find(b",", at + 7)
    digits = record[at + 7 : end]
    if at < 0 or end < 0 or not digits.isdigit():
        return None
    at = record.rfind(b',"prev_hash":"')
    prev = record[at + 14 : at + 78]
    if at < 0 or record[at + 78 : at + 79] != b'"':
        return None
    return int(digits), prev.decode("ascii")


def _slow_event(check: ChainCheck, item: dict[str, Any], number: int) -> None:
    record = item.get("record")
    if not isinstance(record, dict) or record.get("v") != canonical.FORMAT_VERSION:
        check.problem(None, "malformed", f"event on line {number}")
        return
    seq = record.get("seq")
    if not isinstance(seq, int):
        check.problem(None, "malformed", f"event on line {number} has no seq")
        return
    if record.get("chain") != check.chain:
        check.problem(seq, "wrong_chain", f"event on line {number}")
        return
    try:
        computed = canonical.sha256_hex(canonical.encode(record))
    except (TypeError, ValueError):
        check.problem(seq, "malformed", f"event on line {number}")
        return
    check.event(seq, str(record.get("prev_hash")), str(item.get("hash")), computed)
