"""The periodic audit checkpoint (issue 10): every chain with events not yet covered by a
checkpoint gets one, and every chain's newest checkpoint goes to the witness directory.

Run by the scheduler once per ``audit_checkpoint_seconds`` across all workers (and by
``POST /v1/audit/checkpoints`` for one chain). Each chain is signed in a transaction of its
own, so appenders to other chains never wait on this; the witness gets a note only after
its checkpoint has committed. With ``POLICY_SERVICE_AUDIT_WITNESS_URL`` the same checkpoints
also go to a C2SP tlog-witness over HTTP (``witnesses.py``); a failed submission is retried
and counted, and sent again by the next pass.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog

from audit import Checkpoint, chains_due
from audit.checkpoints import newest_signed_checkpoints
from audit.tree import MissingNodesError, catch_up
from audit.witness import witness_path, write_witness
from policy_service.audit_trail.witnesses import consistency_prover, http_witness, send_soon
from policy_service.domain.clock import utcnow
from policy_service.ports import CheckpointDeps, Witnesses, WitnessesOverHttp

log = structlog.get_logger(__name__)


def sign_due_checkpoints(state: CheckpointDeps) -> dict[str, Any]:
    with state.unit_of_work(write=False) as uow:
        due = chains_due(uow.session)
    signed = 0
    for chain in due:
        # A chain whose Merkle tree is far behind (signed before Merkle checkpoints) is built
        # up in bounded transactions first, so appends to it never wait long on the lock.
        done = False
        while not done:
            with state.unit_of_work() as uow:
                try:
                    done = catch_up(uow.session, chain)
                except MissingNodesError as error:
                    # Events were deleted behind the service's back: the tree cannot grow past
                    # them. The chain is still signed (without a root) and so is every other
                    # one; verification names the gap.
                    log.warning("audit.merkle_tree_blocked", chain=chain, error=str(error))
                    break
                uow.commit()
        with state.unit_of_work() as uow:
            state.audit.checkpoint(uow.session, chain)
            uow.commit()
        signed += 1
    witnessed = witness_newest(state)
    result: dict[str, Any] = {"chains_due": len(due), "signed": signed, "witnessed": witnessed}
    sent = send_to_http_witness(state)
    if sent is not None:
        result["http_witness"] = sent
    return result


def witness(state: Witnesses, checkpoint: Checkpoint) -> None:
    """Append one committed checkpoint to the witness directory, if there is one, and
    queue it for the HTTP witness, if there is one."""
    send_soon(state, checkpoint)
    directory = state.settings.audit_witness_dir
    if directory is None:
        return
    try:
        write_witness(directory, checkpoint)
    except OSError as error:
        # The checkpoint stands; the periodic task hands the witness the newest one later.
        log.warning("audit.witness_unavailable", chain=checkpoint.chain, error=str(error))


def witness_newest(state: Witnesses) -> int:
    """Give the witness each chain's newest checkpoint it does not hold yet (those the
    writer signs every N events inside an append's transaction included)."""
    directory = state.settings.audit_witness_dir
    if directory is None:
        return 0
    written = 0
    with state.unit_of_work(write=False) as uow:
        for checkpoint in newest_signed_checkpoints(uow.session):
            if not witness_path(directory, checkpoint.chain, checkpoint.seq).exists():
                write_witness(directory, checkpoint)
                written += 1
    return written


_http_passes: dict[str, datetime] = {}  # witness URL -> when this process's last pass began


def send_to_http_witness(state: WitnessesOverHttp) -> dict[str, int] | None:
    """Hand the HTTP witness each chain's newest checkpoint signed since the last pass (the
    writer's, signed inside appends, included) or not cosigned before; its counters."""
    sender = http_witness(state)
    if sender is None:
        return None
    url = sender.url
    since = _http_passes.get(url, state.started_at)
    _http_passes[url] = utcnow()
    pending = sender.pending()
    with state.unit_of_work(write=False) as uow:
        due = [
            checkpoint
            for checkpoint in newest_signed_checkpoints(uow.session)
            if (checkpoint.chain in pending or checkpoint.created_at >= since)
            and sender.known_size(checkpoint.chain) < checkpoint.seq
        ]
    prove = consistency_prover(state)
    for checkpoint in due:
        sender.submit(checkpoint, prove)
    stats = sender.stats
    return {
        "sent": len(due),
        "accepted": stats.accepted,
        "retries": stats.retries,
        "failures": stats.failures,
        "pending": len(sender.pending()),
    }
