"""Verifying an NDJSON export offline, with nothing but the public key (README: export
format): every line through :class:`~audit.chain_check.ChainCheck`, then the signed end line
(the export's closing checkpoint) against the last events found."""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Iterator
from typing import IO, Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from audit import canonical
from audit.chain_check import ChainCheck
from audit.checkpoints import seal_is_valid
from audit.keys import PublicKeyLike, load_public_key
from audit.report import Problem, VerificationReport

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
