"""A witness outside the database: an append-only directory of signed checkpoint notes.

Each checkpoint's C2SP signed note is written once, after its transaction commits, to
``<dir>/<chain, percent-encoded>/<tree size, 20 digits>.note`` (created exclusively, never
rewritten). Someone who can rewrite the database, checkpoints and all, cannot rewrite what
the witness already holds: :func:`verify_witness` recomputes each chain's Merkle tree from
the stored events and fails with ``truncated`` when the chain is now shorter than a
witnessed checkpoint, and ``fork`` when its root at a witnessed size differs.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote, unquote

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from audit import merkle
from audit.checkpoints import NOTE_KEY_NAME, origin_for
from audit.keys import PublicKeyLike, load_public_key
from audit.note import NoteError, open_note, parse_checkpoint
from audit.records import Checkpoint
from audit.report import Problem, VerificationReport
from audit.tree import event_hashes

SUFFIX = ".note"


def witness_path(directory: str | os.PathLike[str], chain: str, tree_size: int) -> Path:
    return Path(directory) / quote(chain, safe="") / f"{tree_size:020d}{SUFFIX}"


def write_witness(directory: str | os.PathLike[str], checkpoint: Checkpoint) -> Path | None:
    """Append the checkpoint's note (once; an existing file is left alone). ``None`` for a
    checkpoint without a note (signed before Merkle checkpoints)."""
    if checkpoint.note is None:
        return None
    path = witness_path(directory, checkpoint.chain, checkpoint.seq)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
    except FileExistsError:
        return path
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(checkpoint.note)
        handle.flush()
        os.fsync(handle.fileno())
    return path


def witnessed(
    directory: str | os.PathLike[str], public_key: PublicKeyLike, report: VerificationReport
) -> dict[str, dict[int, bytes]]:
    """chain -> {tree size: root} of every validly signed note in the directory; notes
    that do not verify are reported as ``checkpoint_signature_invalid``."""
    key = load_public_key(public_key)
    found: dict[str, dict[int, bytes]] = {}
    root = Path(directory)
    for folder in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        chain = unquote(folder.name)
        for path in sorted(folder.glob(f"*{SUFFIX}")):
            report.checkpoints_total += 1
            try:
                body = parse_checkpoint(open_note(path.read_text("utf-8"), NOTE_KEY_NAME, key))
            except (NoteError, OSError, UnicodeDecodeError):
                report.add(Problem(chain, None, "checkpoint_signature_invalid", f"{path.name}"))
                continue
            if body.origin != origin_for(chain):
                report.add(Problem(chain, body.tree_size, "wrong_chain", f"{path.name}"))
                continue
            report.checkpoints_valid += 1
            found.setdefault(chain, {})[body.tree_size] = body.root_hash
    return found


def verify_witness(
    session: Session | Connection,
    directory: str | os.PathLike[str],
    public_key: PublicKeyLike,
    chain: str | None = None,
) -> VerificationReport:
    """Compare every witnessed checkpoint (of ``chain``, or of every chain) with the
    database's events (not its checkpoint table, not its Merkle nodes: both could have been
    rewritten with the events)."""
    report = VerificationReport()
    sizes = witnessed(directory, public_key, report)
    if chain is not None:
        sizes = {chain: sizes[chain]} if chain in sizes else {}
    for name, roots in sorted(sizes.items()):
        report.chains_checked += 1
        wanted = max(roots)
        stack: list[tuple[int, bytes]] = []
        count = 0
        for seq, digest in event_hashes(session, name, 0, wanted):
            if seq != count + 1:
                break
            count = seq
            report.events_checked += 1
            level, node = 0, merkle.leaf_hash(bytes.fromhex(digest))
            while stack and stack[-1][0] == level:
                node = merkle.node_hash(stack.pop()[1], node)
                level += 1
            stack.append((level, node))
            expected = roots.get(seq)
            if expected is not None and merkle.compact_root(stack) != expected:
                report.add(
                    Problem(
                        name,
                        seq,
                        "fork",
                        f"the database's Merkle root at tree size {seq} is not the witnessed one",
                    )
                )
        if count < wanted:
            report.add(
                Problem(
                    name,
                    count + 1,
                    "truncated",
                    f"a witnessed checkpoint covers {wanted} events, the database has "
                    f"{count} in sequence",
                )
            )
    return report.finish()
