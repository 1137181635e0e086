"""Completing a request, in the caller's transaction: what the execution's last step does,
and what the last downstream system's confirmation does for an erasure that waited on them
(``privacy/systems.py``).

An erasure completes with its suppression entries, its signed certificate (what was erased
here, and each downstream system's confirmation), the identity wiped and the lease
released; an access request with its sealed package instead of the suppression entries.
"""

from __future__ import annotations

from policy_service.decisions.authorization import Caller
from policy_service.domain import dsr as rules
from policy_service.domain.clock import utcnow
from policy_service.ports import Finishes, FinishesErasure
from policy_service.privacy.certificate import Document, erasure_summary, sign_certificate
from policy_service.privacy.records import ALL, accounts_of
from policy_service.privacy.sealing import open_identity
from policy_service.privacy.steps import record_transition
from policy_service.privacy.suppression import suppress
from policy_service.storage import dsr as queries
from policy_service.storage.tables import DsrRow
from policy_service.storage.unit_of_work import UnitOfWork


def finish(state: Finishes, uow: UnitOfWork, caller: Caller, row: DsrRow, result: Document) -> None:
    """Sign the certificate, wipe the identity, release the lease, record the completion."""
    now = utcnow()
    sign_certificate(state, row, result, now)
    row.identity_ciphertext = None
    row.completed_at = now
    row.lease_owner = row.lease_until = None
    record_transition(
        state, uow, caller, row, "complete", rules.COMPLETED, details={"result": result}
    )


def finish_erasure(
    state: FinishesErasure,
    uow: UnitOfWork,
    caller: Caller,
    row: DsrRow,
    systems: list[dict[str, object]],
) -> None:
    """Complete an erasure whose own part is done and whose systems (if any) all confirmed."""
    session = uow.session
    accounts = accounts_of(row)
    account_ids = queries.all_account_ids(session) if accounts == ALL else list(accounts)
    identity = open_identity(state, row.id, row.identity_ciphertext or "")
    suppress(state, session, row.id, accounts, account_ids, identity)
    result = erasure_summary(queries.items_of(session, row.id))
    if systems:
        result["systems"] = systems
    finish(state, uow, caller, row, result)
