"""What executing a data-subject request would do, shown before the Execute button.

Read only, and read as the execution reads (``privacy.execution._prepare``): the contacts the
request's identity matches, active or in the trash, in the accounts it covers; for an erasure,
per contact, whether a legal hold restricts it and what the ``erasure`` cascade profile would
do to its related records. Ids and counts only: the identity itself is not shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from policy_service.decisions.authorization import Caller
from policy_service.domain.contacts import Contact
from policy_service.privacy.execution import ERASURE_PROFILE
from policy_service.privacy.records import (
    ALL,
    DataSubjectRequest,
    accounts_of,
    load_visible,
    request_view,
)
from policy_service.privacy.sealing import open_identity
from policy_service.state import ServiceState
from policy_service.storage import cascade as cascade_store
from policy_service.storage import contacts as contact_store
from policy_service.storage import dsr as dsr_store


@dataclass(frozen=True)
class FoundContact:
    account_id: str
    contact: Contact
    held: bool
    cascade: dict[str, dict[str, int]] = field(default_factory=dict)


def execution_preview(
    state: ServiceState, caller: Caller, dsr_id: str
) -> tuple[DataSubjectRequest, list[FoundContact]]:
    """The request (``dsr.manage`` checked as every step checks it) and the contacts found."""
    profile = state.runtime.pack.cascade_profiles.get(ERASURE_PROFILE)
    found: list[FoundContact] = []
    with state.unit_of_work(write=False) as uow:
        session = uow.session
        row = load_visible(state, session, caller, dsr_id)
        request = request_view(session, row)
        if row.identity_ciphertext is None:  # completed or denied: the identity is wiped
            return request, found
        identity = open_identity(state, row.id, row.identity_ciphertext)
        accounts = accounts_of(row)
        account_ids = dsr_store.all_account_ids(session) if accounts == ALL else list(accounts)
        pairs = dsr_store.matching_contacts(session, account_ids, identity.email, identity.phone)
        by_account: dict[str, list[str]] = {}
        for account_id, contact_id in pairs:
            by_account.setdefault(account_id, []).append(contact_id)
        for account_id, ids in by_account.items():
            contacts = contact_store.get_contacts(session, account_id, ids)
            counts = cascade_store.open_counts_per_contact(session, account_id, ids)
            facts = state.runtime.contact_facts(state.source, account_id, ids)
            for contact_id in ids:
                if contact_id not in contacts:
                    continue
                known = facts.get(contact_id)
                plan = (
                    cascade_store.plan_cascade(
                        counts.get(contact_id, {}), dict(profile.on_purge), "purge"
                    ).as_dict()
                    if profile is not None and request.type == "erasure"
                    else {}
                )
                held = bool(known and known.legal_hold)
                found.append(FoundContact(account_id, contacts[contact_id], held, plan))
    return request, found
