"""Evidence of a data-subject request's audit events for its completion certificate: each
event's canonical record, its RFC 9162 inclusion proof and the signed checkpoint (C2SP
signed note) it is proven against, checkable offline with only the public key
(``policy-service audit verify-certificate``).

As an export does, it signs a checkpoint at certificate time for every chain whose newest
checkpoint does not cover the request's last event there, so there is no unsigned tail.
"""

from __future__ import annotations

from audit.evidence import JsonObject, evidence_for, evidence_json, unproven_chains
from policy_service.audit_trail.checkpointing import witness
from policy_service.ports import Evidences


def dsr_evidence(state: Evidences, dsr_id: str) -> list[JsonObject]:
    with state.unit_of_work(write=False) as uow:
        unproven = unproven_chains(uow.session, dsr_id)
    for chain in unproven:
        with state.unit_of_work() as uow:
            # Signs the chain's current head (idempotent per head, so a concurrent reader
            # of the same certificate gets the same checkpoint back).
            checkpoint = state.audit.checkpoint(uow.session, chain)
            uow.commit()
        witness(state, checkpoint)
    with state.unit_of_work(write=False) as uow:
        return evidence_json(evidence_for(uow.session, dsr_id))
