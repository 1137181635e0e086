"""What executing a data-subject request would do, shown before the Execute button.

Read only, and read as the execution reads (``privacy.execution._prepare``): the contacts the
request's identity matches, active or in the trash, in the accounts it covers; for an erasure,
per contact, whether a legal hold restricts it and what the ``erasure`` cascade profile would
do to its related records. Ids and counts only: the identity itself is not shown.

And, for an erasure, its part downstream (``privacy/systems.py``): the tasks it already gave
the account's systems (then its own execution is done and it waits for their confirmations),
or the systems executing would task (then executing does not complete it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from policy_service.decisions.authorization import Caller
from policy_service.domain import dsr as rules
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
from policy_service.storage import dsr_systems as system_store
from policy_service.storage.dsr_systems import PENDING, DsrSystem, SystemTask


@dataclass(frozen=True)
class FoundContact:
    account_id: str
    contact: Contact
    held: bool
    cascade: dict[str, dict[str, int]] = field(default_factory=dict)


@dataclass(frozen=True)
class Preview:
    request: DataSubjectRequest
    contacts: list[FoundContact]
    # The request's tasks for downstream systems (none before its execution).
    tasks: list[SystemTask]
    # The systems executing would give a task (an erasure not yet executed): it then waits.
    systems: list[DsrSystem]

    @property
    def awaiting_systems(self) -> bool:
        """Its own execution is done: only systems' confirmations are left."""
        return self.request.status == rules.IN_PROGRESS and bool(self.tasks)

    @property
    def pending(self) -> list[SystemTask]:
        return [task for task in self.tasks if task.status == PENDING]


def execution_preview(state: ServiceState, caller: Caller, dsr_id: str) -> Preview:
    """The request (``dsr.manage`` checked as every step checks it), the contacts found and
    its downstream systems."""
    profile = state.runtime.pack.cascade_profiles.get(ERASURE_PROFILE)
    found: list[FoundContact] = []
    with state.unit_of_work(write=False) as uow:
        session = uow.session
        row = load_visible(state, session, caller, dsr_id)
        request = request_view(session, row)
        tasks = system_store.tasks_of(session, dsr_id)
        accounts = accounts_of(row)
        account_ids = dsr_store.all_account_ids(session) if accounts == ALL else list(accounts)
        systems = (
            system_store.systems_of(session, account_ids)
            if request.type == "erasure" and not tasks and request.status in rules.OPEN
            else []
        )
        if row.identity_ciphertext is None:  # completed or denied: the identity is wiped
            return Preview(request, found, tasks, systems)
        identity = open_identity(state, row.id, row.identity_ciphertext)
        pairs = dsr_store.matching_contacts(session, account_ids, identity.email, identity.phone)
        by_account: dict[str, list[str]] = {}
        for account_id, contact_id in pairs:
            by_account.setdefault(account_id, []).append(contact_id)
        for account_id, ids in by_account.items():
            contacts = contact_store.get_contacts(session, account_id, ids)
            counts = cascade_store.open_counts_per_contact(session, account_id, ids)
            facts = contact_store.facts_of(session, account_id, ids)  # fresh, as shown
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
    return Preview(request, found, tasks, systems)
