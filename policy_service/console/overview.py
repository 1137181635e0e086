"""What the console's pages show, read through the same use cases as the API.

Before each read the console asks the decision function whether the caller may make it
(``may``), so a section the caller may not see is left out rather than refused (and
recorded as a refusal) on every page view.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from audit import EventFilter, StoredEvent
from policy_service import scheduler
from policy_service.audit_trail import access as audit_access
from policy_service.decisions.authorization import Caller, check_in_account, decide_for_caller
from policy_service.domain import dsr as dsr_rules
from policy_service.domain.accounts import Account
from policy_service.domain.clock import utcnow
from policy_service.domain.contacts import Contact, ContactFacts
from policy_service.lifecycle import jobs as job_service
from policy_service.lifecycle.legal_holds import LegalHold
from policy_service.lifecycle.preview import TrashEntry, search_trash
from policy_service.privacy.records import ALL, DataSubjectRequest
from policy_service.privacy.requests import list_requests
from policy_service.state import ServiceState
from policy_service.storage import accounts as account_store
from policy_service.storage import contacts as contact_store
from policy_service.storage import legal_holds as hold_store
from policy_service.storage import scheduled_tasks
from policy_service.storage.jobs import QUEUED, RUNNING, Job

TRASH_LIMIT = 200
CHART_DAYS = 14
CHART_MAX_EVENTS = 5000


def may(state: ServiceState, caller: Caller, account_id: str, obj: str, action: str) -> bool:
    """The decision function's answer for an account-level action (nothing recorded)."""
    return check_in_account(state.runtime, caller, account_id, obj, action).allowed


def my_accounts(state: ServiceState, caller: Caller) -> list[Account]:
    """The accounts where the caller holds a role (platform admins included: theirs only)."""
    roles = state.runtime.roles
    found: list[Account] = []
    after: str | None = None
    with state.unit_of_work(write=False) as uow:
        while True:
            page = account_store.list_accounts(uow.session, after=after, limit=200)
            found.extend(a for a in page if roles.roles_of(caller.principal_id, a.id))
            if len(page) < 200:
                return found
            after = page[-1].id


def roles_in(state: ServiceState, caller: Caller, account_id: str) -> list[str]:
    return sorted(state.runtime.roles.roles_of(caller.principal_id, account_id))


# -- data-subject requests -----------------------------------------------------------------


@dataclass(frozen=True)
class DsrRow:
    request: DataSubjectRequest
    days_left: int
    overdue: bool

    @property
    def badge(self) -> str:
        """The badge's colour class: red overdue or within 3 days, amber within 10."""
        if self.overdue or self.days_left <= 3:
            return "bad"
        return "warn" if self.days_left <= 10 else "ok"


def account_requests(
    state: ServiceState, caller: Caller, account_id: str, *, open_only: bool = True
) -> list[DsrRow] | None:
    """Requests about the account, soonest deadline first; None if the caller may not see them."""
    if not may(state, caller, account_id, "dsr", "dsr.manage"):
        return None
    now = utcnow()
    found, _ = list_requests(state, caller, status=None, overdue=False)
    rows = []
    for request in found:
        if request.accounts != ALL and account_id not in request.accounts:
            continue
        if open_only and request.status not in dsr_rules.OPEN:
            continue
        rows.append(DsrRow(request, request.days_left(now), request.overdue(now)))
    return rows


# -- trash and jobs ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TrashRow:
    entry: TrashEntry
    held: bool
    may_restore: bool
    may_purge: bool


def trash(
    state: ServiceState, caller: Caller, account: Account, *, query: str | None = None
) -> list[TrashRow] | None:
    """The trash with, per contact, whether the policy would let the caller restore or purge
    it now - asked of the same decision the actions make, on the facts read from the database
    just after the trash (not the worker's cached ones), so a button shown is one that works."""
    if not may(state, caller, account.id, "contact", "contact.read"):
        return None
    entries = search_trash(state, caller, account.id, query, None, TRASH_LIMIT)
    ids = [entry.contact.id for entry in entries]
    facts = state.source.contact_facts(account.id, ids) if ids else {}
    now = utcnow()
    rows = []
    for entry in entries:
        contact_facts = facts.get(entry.contact.id)
        if contact_facts is None:  # purged meanwhile
            continue

        def allowed(
            action: str, cid: str = entry.contact.id, f: ContactFacts = contact_facts
        ) -> bool:
            return decide_for_caller(state.runtime, caller, account, action, cid, f, now).allowed

        may_restore, may_purge = allowed("contact.restore"), allowed("contact.purge")
        rows.append(TrashRow(entry, contact_facts.legal_hold, may_restore, may_purge))
    return rows


def jobs(
    state: ServiceState, caller: Caller, account_id: str, *, status: str | None = None
) -> list[tuple[Job, dict[str, int]]] | None:
    if not may(state, caller, account_id, "contact", "contact.read"):
        return None
    found, _ = job_service.list_jobs(
        state, caller, account_id, status=status, kind=None, cursor=None, limit=50
    )
    summaries = job_service.item_summaries(state, [job.id for job in found]) if found else {}
    return [(job, summaries.get(job.id, {})) for job in found]


def running_jobs(state: ServiceState, caller: Caller, account_id: str) -> list[Job] | None:
    listed = jobs(state, caller, account_id)
    if listed is None:
        return None
    return [job for job, _ in listed if job.status in (QUEUED, RUNNING)]


# -- audit ------------------------------------------------------------------------------------


@dataclass
class DayCount:
    day: date
    succeeded: int = 0
    refused: int = 0

    @property
    def total(self) -> int:
        return self.succeeded + self.refused


@dataclass
class Chart:
    days: list[DayCount]
    truncated: bool = False
    peak: int = field(default=0)


def audit_chart(state: ServiceState, caller: Caller, account_id: str) -> Chart | None:
    """Audit events per day over the last two weeks (succeeded, and denied or failed)."""
    if not may(state, caller, account_id, "audit", "audit.read"):
        return None
    today = utcnow().date()
    first = today - timedelta(days=CHART_DAYS - 1)
    since = datetime(first.year, first.month, first.day, tzinfo=UTC)
    succeeded: Counter[date] = Counter()
    refused: Counter[date] = Counter()
    cursor: str | None = None
    seen = 0
    truncated = False
    while True:
        page = audit_access.read_events(
            state, caller, EventFilter(account_id=account_id, since=since), cursor, 500
        )
        for event in page.events:
            day = event.occurred_at.date()
            (succeeded if event.outcome == "succeeded" else refused)[day] += 1
        seen += len(page.events)
        cursor = page.next_cursor
        if cursor is None:
            break
        if seen >= CHART_MAX_EVENTS:
            truncated = True
            break
    days = [
        DayCount(d, succeeded[d], refused[d])
        for d in (first + timedelta(days=i) for i in range(CHART_DAYS))
    ]
    return Chart(days, truncated, max((d.total for d in days), default=0))


def last_verification(state: ServiceState, caller: Caller, account_id: str) -> StoredEvent | None:
    """The last ``audit.verify`` event of the account's chain (None if never, or not visible)."""
    if not may(state, caller, account_id, "audit", "audit.read"):
        return None
    page = audit_access.read_events(
        state, caller, EventFilter(account_id=account_id, action="audit.verify"), None, 1
    )
    return page.events[0] if page.events else None


def last_sweep(state: ServiceState) -> scheduled_tasks.TaskStatus | None:
    """How the scheduled retention sweep last ran (what /health reports)."""
    with state.engine.connect() as connection:
        runs = scheduled_tasks.read_status(connection, (scheduler.RETENTION_SWEEP,))
    return runs.get(scheduler.RETENTION_SWEEP)


# -- legal holds ------------------------------------------------------------------------------

HOLD_LIMIT = 2000


@dataclass(frozen=True)
class HeldContact:
    contact: Contact
    holds: list[LegalHold]


def held_contacts(
    state: ServiceState, caller: Caller, account_id: str
) -> tuple[list[HeldContact], bool] | None:
    """Contacts with an active legal hold (one account-wide query), and whether there were
    more than ``HOLD_LIMIT`` holds. None if the caller may not read holds (the permission
    ``lifecycle.legal_holds.list_holds`` asks for)."""
    if not may(state, caller, account_id, "contact", "legal_hold.read"):
        return None
    with state.unit_of_work(write=False) as uow:
        found, truncated = hold_store.active_holds_in_account(
            uow.session, account_id, limit=HOLD_LIMIT
        )
        contacts = contact_store.get_contacts(
            uow.session, account_id, sorted({hold.contact_id for hold in found})
        )
    by_contact: dict[str, list[LegalHold]] = {}
    for hold in found:
        by_contact.setdefault(hold.contact_id, []).append(hold)
    return [
        HeldContact(contacts[cid], holds) for cid, holds in by_contact.items() if cid in contacts
    ], truncated
