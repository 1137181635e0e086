"""The optional HTTP witness (``POLICY_SERVICE_AUDIT_WITNESS_URL``): one sender per process
and URL, created at first need, proving consistency from the service's stored Merkle tree.

Checkpoints reach it only after their transaction has committed: from ``witness`` (each
checkpoint the service signs on its own, queued to a background thread) and from the
periodic checkpoint task, which also sends again what failed before and the checkpoints the
writer signed inside appends.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from audit import Checkpoint, tree
from audit.http_witness import HttpWitness
from policy_service.ports import Configured, Stores, Witnesses

_senders: dict[str, HttpWitness] = {}
_senders_lock = threading.Lock()


def http_witness(state: Configured) -> HttpWitness | None:
    url = state.settings.audit_witness_url
    if url is None:
        return None
    with _senders_lock:
        sender = _senders.get(url)
        if sender is None:
            sender = _senders[url] = HttpWitness(url)
        return sender


def consistency_prover(state: Stores) -> Callable[[str, int, int], list[bytes]]:
    def prove(chain: str, first: int, second: int) -> list[bytes]:
        with state.unit_of_work(write=False) as uow:
            return tree.consistency_proof(uow.session, chain, first, second)

    return prove


def send_soon(state: Witnesses, checkpoint: Checkpoint) -> None:
    """Queue one committed checkpoint for the HTTP witness, if there is one."""
    sender = http_witness(state)
    if sender is not None:
        sender.submit_soon(checkpoint, consistency_prover(state))
