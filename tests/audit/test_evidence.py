"""Evidence of a request's events that stands on its own: each canonical record, its RFC
9162 inclusion proof and the signed checkpoint note, checked with only the public key."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit import AuditWriter
from audit.evidence import evidence_for, evidence_json, unproven_chains, verify_evidence
from policy_service.storage.unit_of_work import UnitOfWork


def test_each_event_of_a_request_is_proven_against_a_signed_checkpoint(
    append: Callable[..., list[Any]],
    writer: AuditWriter,
    uow: Callable[..., UnitOfWork],
    signing_key: Ed25519PrivateKey,
) -> None:
    append(3, account_id="acct-1")
    append(2, account_id="acct-1", dsr_id="dsr-1")  # seq 4, 5: the writer signs at 5
    append(2, account_id="acct-2", dsr_id="dsr-1")  # unsigned yet
    append(1, account_id="acct-2", dsr_id="dsr-2")
    with uow(write=False) as work:
        assert unproven_chains(work.session, "dsr-1") == ["acct-2"]
    with uow() as work:
        writer.checkpoint(work.session, "acct-2")
        work.commit()
    with uow(write=False) as work:
        assert unproven_chains(work.session, "dsr-1") == []
        served = json.loads(json.dumps(evidence_json(evidence_for(work.session, "dsr-1"))))
    assert [(e["proof"]["chain"], e["proof"]["leaf_index"]) for e in served] == [
        ("acct-1", 3),
        ("acct-1", 4),
        ("acct-2", 0),
        ("acct-2", 1),
    ]
    assert [e["proof"]["tree_size"] for e in served] == [5, 5, 3, 3]
    key = signing_key.public_key()
    assert verify_evidence(served, key, {"dsr_id": "dsr-1"}) == []
    assert verify_evidence(served, key, {"dsr_id": "dsr-2"})  # not that request's events
    assert verify_evidence(served, Ed25519PrivateKey.generate().public_key())  # another key
    assert verify_evidence([], key) == [
        "no evidence: a list of events with their proofs is expected"
    ]

    swapped = json.loads(json.dumps(served))
    swapped[0]["record"], swapped[1]["record"] = swapped[1]["record"], swapped[0]["record"]
    problems = verify_evidence(swapped, key)
    assert len(problems) == 2
    assert all("hash" in problem for problem in problems)
