"""Decision logs, as OPA and Cerbos keep them: every decision answered gets an id, and is
written with who asked, for whom, about what, the answer, its reason and the policy version.

The request path only appends to a bounded in-memory list (under a lock held for an append)
and returns the id: a decision never waits for its log. A batch of evaluations is appended
as one group that shares its clock reading, caller and id prefix, so an item costs a tuple.
A background thread per worker turns what is pending into rows - masking the properties
that name personal data - and writes them in batches (COPY on PostgreSQL), many decisions
to a row of ``decision_log_batches``: a batch request's per account, and those answered
alone per account, endpoint and caller. When the list is full, new entries are dropped and
counted (``policy_service_decision_log_dropped_total``).
The same thread deletes entries older than the retention, at most once an hour.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import structlog
from sqlalchemy import Engine

from policy_service.config import Settings
from policy_service.decisions.authorization import Caller
from policy_service.domain.clock import utcnow
from policy_service.domain.decisions import Decision, DecisionRequest
from policy_service.integration import metrics
from policy_service.storage import decision_logs

log = structlog.get_logger(__name__)
MASK = "***"
SWEEP_SECONDS = 3600.0
FIRST_SWEEP_SECONDS = 60.0
Row = tuple[Any, ...]  # in decision_logs.BATCH_COLUMNS order


def new_decision_id() -> str:
    """32 hex digits: the time in nanoseconds, then 64 random bits. Ids sort by time (as
    UUIDv7 do), so the log's primary key grows at its end instead of at random places."""
    return f"{time.time_ns():016x}{os.urandom(8).hex()}"


def _group_prefix() -> str:
    return f"{time.time_ns():016x}{os.urandom(4).hex()}"


# What a row needs from one decision, taken on the request path as a tuple of strings and
# booleans: holding on to the decisions themselves (facts, reasons, rules: thousands of small
# objects a second) until the writer runs made the garbage collector's passes cost a batch
# endpoint a third of its throughput. Properties are kept only when there is more than the
# account id to mask and keep.
Item = tuple[
    str | None,  # subject type
    str | None,  # subject id
    str | None,  # action
    str | None,  # resource type
    str | None,  # resource id
    bool,  # decision
    str | None,  # reason code
    str | None,  # account id
    str | None,  # policy version
    tuple[dict[str, Any], dict[str, Any], dict[str, Any]] | None,  # properties to keep
]


def item_of(
    request: DecisionRequest | None,
    decision: Decision | None,
    allowed: bool | None = None,
    reason_code: str | None = None,
    policy_version: str | None = None,
    account_id: str | None = None,  # without a request: the account it was asked in, if any
) -> Item:
    if decision is not None:
        allowed, reason_code = decision.allowed, decision.reason.code
        policy_version = decision.policy_version
    if request is None:
        return (
            None,
            None,
            None,
            None,
            None,
            bool(allowed),
            reason_code,
            account_id,
            policy_version,
            None,
        )
    subject, action, resource = request.subject, request.action, request.resource
    properties = resource.properties
    account = decision.account_id if decision is not None else properties.get("account_id")
    keep = None
    if (
        subject.properties
        or action.properties
        or len(properties) > 1
        or (properties and "account_id" not in properties)
    ):
        keep = (subject.properties, action.properties, properties)
    return (
        subject.type,
        subject.id or None,
        decision.action if decision is not None else action.name or None,
        resource.type,
        resource.id,
        bool(allowed),
        reason_code,
        account if isinstance(account, str) else None,
        policy_version,
        keep,
    )


@dataclass(slots=True)
class Entry:
    """One answer, as the request path hands it over; made into a row off the request path."""

    decision_id: str
    at: float  # time.time()
    endpoint: str
    caller_id: str
    on_behalf_of: str | None
    request_id: str | None
    item: Item
    details: dict[str, Any] | None = None

    @property
    def allowed(self) -> bool:
        return self.item[5]


@dataclass(slots=True)
class Group:
    """The decisions of one batch request: item ``n`` is ``decision_id(n)``."""

    at: float
    endpoint: str
    caller_id: str
    on_behalf_of: str | None
    request_id: str | None
    prefix: str = field(default_factory=_group_prefix)
    items: list[Item] = field(default_factory=list)
    allowed: int = 0

    def add(self, request: DecisionRequest, decision: Decision) -> int:
        self.items.append(item_of(request, decision))
        self.allowed += decision.allowed
        return len(self.items) - 1

    def refused(self, reason_code: str, policy_version: str, account_id: str | None) -> int:
        """An item that could not be decided (its error's code as the reason), asked in
        ``account_id`` (None: not an account the caller may ask in)."""
        self.items.append(item_of(None, None, False, reason_code, policy_version, account_id))
        return len(self.items) - 1

    def decision_id(self, n: int) -> str:
        return f"{self.prefix}{n:08x}"


def group_for(endpoint: str, caller: Caller, request_id: str | None) -> Group:
    return Group(time.time(), endpoint, caller.principal_id, caller.on_behalf_of, request_id)


_CONTAINERS = (dict, list)
# Property names as the mask compares them, by the name sent: the same few names come in
# every request, and normalising one costs more than looking it up.
_NAMES: dict[str, str] = {}


def mask_name(name: str) -> str:
    """A property name as the mask compares it: its letters and digits, NFKC-normalised and
    case-folded. ``Email``, `` EMAIL ``, ``e-mail``, ``email`` with a zero-width space and
    the full-width form all name ``email``; ``First Name`` names ``first_name``. (Look-alike
    letters of other scripts are not caught: that needs Unicode's confusables table.)"""
    found = _NAMES.get(name)
    if found is None:
        if len(_NAMES) > 10_000:  # any string can be sent as a name: keep this bounded
            _NAMES.clear()
        folded = unicodedata.normalize("NFKC", name).casefold()
        found = _NAMES[name] = "".join(ch for ch in folded if ch.isalnum())
    return found


def masked(value: Any, names: frozenset[str]) -> Any:
    """``value`` with the values of properties named in ``names`` (each as ``mask_name``
    gives it) replaced, at any depth. An object naming none of them with nothing nested (most
    are) is returned as it is, not copied."""
    if isinstance(value, dict):
        if names.isdisjoint(map(mask_name, value)) and not any(
            isinstance(item, _CONTAINERS) for item in value.values()
        ):
            return value
        return {
            key: (MASK if mask_name(key) in names else masked(item, names))
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [masked(item, names) for item in value]
    return value


class DecisionLog:
    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.enabled = settings.decision_log
        self.capacity = settings.decision_log_queue_size
        self.batch_size = max(1, settings.decision_log_batch_size)
        self.flush_seconds = settings.decision_log_flush_seconds
        self.retention_days = settings.decision_log_retention_days
        self.mask = frozenset(map(mask_name, settings.decision_log_mask))
        # With jobs run inline (tests), nothing is written behind a test's back: entries wait
        # for ``flush`` (which GET /v1/decision-logs calls) or are dropped when the queue is full.
        self.threaded = settings.job_runner != "inline"
        self._pending: list[Entry | Group] = []
        self._count = 0  # decisions pending (a group counts its items)
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._last_sweep = 0.0
        self.dropped = 0
        self.written = 0
        self.failed = 0

    # -- the request path -------------------------------------------------------------------

    def record(self, entry: Entry | Group) -> None:
        """Queue one answer or one batch's group; what does not fit is dropped and counted."""
        if not self.enabled:
            return
        size = len(entry.items) if isinstance(entry, Group) else 1
        if not size:
            return
        if self._pid != os.getpid():
            self._start()
        with self._lock:
            room = self.capacity - self._count
            if room >= size:
                self._pending.append(entry)
                self._count += size
                lost = 0
            elif isinstance(entry, Group) and room > 0:
                kept = Group(
                    entry.at,
                    entry.endpoint,
                    entry.caller_id,
                    entry.on_behalf_of,
                    entry.request_id,
                    entry.prefix,
                    entry.items[:room],
                )
                self._pending.append(kept)
                self._count += room
                lost = size - room
            else:
                lost = size
            self.dropped += lost
            full = self._count >= self.batch_size
        if lost:
            metrics.DECISION_LOG_DROPPED.inc(lost)
        if full:
            self._wake.set()

    # -- the writer ---------------------------------------------------------------------------

    def _start(self) -> None:
        with self._flush_lock:
            if self._pid == os.getpid():
                return
            # After a fork, the parent's entries and thread are not this process's.
            self._pending, self._count = [], 0
            self._lock = threading.Lock()
            self._pid = os.getpid()
            if not self.threaded:
                return
            # The first sweep a minute after start, not an interval: a worker restarted more
            # often than hourly would otherwise never sweep.
            self._last_sweep = time.monotonic() - SWEEP_SECONDS + FIRST_SWEEP_SECONDS
            self._thread = threading.Thread(target=self._loop, name="decision-log", daemon=True)
            self._thread.start()
            atexit.register(self.flush)

    def _loop(self) -> None:
        while True:
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            self.flush()
            if self.retention_days and time.monotonic() - self._last_sweep > SWEEP_SECONDS:
                self._last_sweep = time.monotonic()
                try:
                    self.sweep()
                except Exception:
                    log.exception("decision log sweep failed")

    def flush(self) -> int:
        """Write everything pending now; returns how many decisions were written."""
        written = 0
        with self._flush_lock:
            with self._lock:
                pending, self._pending, self._count = self._pending, [], 0
            for rows, size in self._chunks(pending):
                try:
                    decision_logs.write_batch(self.engine, rows)
                except Exception:
                    self.failed += size
                    metrics.DECISION_LOG_FAILED.inc(size)
                    log.exception("decision log batch lost", entries=size)
                    continue
                written += size
            self.written += written
            if written:
                metrics.DECISION_LOG_WRITTEN.inc(written)
        return written

    def _chunks(self, pending: list[Entry | Group]) -> Iterator[tuple[list[Row], int]]:
        """Rows of about ``batch_size`` decisions per transaction, with how many they hold.

        A batch's decisions make a row per account; decisions answered alone are written
        together too, up to ``ALONE_PER_ROW`` a row, by account, endpoint and caller: written
        one row each, with five index entries, they had cost the database more than the
        decisions cost the worker."""
        rows: list[Row] = []
        alone: dict[tuple[str | None, str, str, str | None], list[Entry]] = {}
        for entry in pending:
            if isinstance(entry, Group):
                rows.extend(self.batch_rows(entry))
            else:
                key = (entry.item[7], entry.endpoint, entry.caller_id, entry.on_behalf_of)
                alone.setdefault(key, []).append(entry)
        for entries in alone.values():
            for start in range(0, len(entries), ALONE_PER_ROW):
                rows.append(self.alone_row(entries[start : start + ALONE_PER_ROW]))
        chunk: list[Row] = []
        size = 0
        for row in rows:
            chunk.append(row)
            size += row[_DECISIONS]
            if size >= self.batch_size:
                yield chunk, size
                chunk, size = [], 0
        if chunk:
            yield chunk, size

    def sweep(self, now: datetime | None = None) -> int:
        """Delete entries older than the retention; returns how many."""
        if not self.retention_days:
            return 0
        cutoff = (now or utcnow()) - timedelta(days=self.retention_days)
        return decision_logs.delete_older_than(self.engine, cutoff)

    # -- rows -----------------------------------------------------------------------------------

    def alone_row(self, entries: list[Entry]) -> Row:
        """Decisions answered alone (one account, endpoint and caller), in one row: each
        carries its own id, time and request id (``decision_logs._entries`` reads them)."""
        decisions = [
            [
                entry.decision_id,
                *entry.item[:7],  # subject type and id, action, resource type and id, ...
                entry.item[8],
                self._details(entry.item, entry.details) or None,
                entry.at,
                entry.request_id,
            ]
            for entry in entries
        ]
        times = [entry.at for entry in entries]
        first = entries[0]
        return self._row(
            (first.decision_id, max(times), min(times), first.endpoint, first.item[7]),
            (first.caller_id, first.on_behalf_of, None),  # each has its own request id
            decisions,
        )

    def batch_rows(self, group: Group) -> Iterator[Row]:
        """A batch's decisions, one row per account they were asked in: each by its index
        in the batch, which with the batch's prefix makes its id."""
        by_account: dict[str | None, list[int]] = {}
        for n, item in enumerate(group.items):
            by_account.setdefault(item[7], []).append(n)
        for account, numbers in by_account.items():
            decisions = []
            for n in numbers:
                item = group.items[n]
                kept = None if item[9] is None else self._kept(item[9])
                decisions.append([n, *item[:7], item[8], kept])
            yield self._row(
                (group.decision_id(numbers[0]), group.at, group.at, group.endpoint, account),
                (group.caller_id, group.on_behalf_of, group.request_id),
                decisions,
            )

    @staticmethod
    def _row(
        head: tuple[str, float, float, str, str | None],
        caller: tuple[str, str | None, str | None],
        decisions: list[list[Any]],
    ) -> Row:
        """A row in ``decision_logs.BATCH_COLUMNS`` order. ``head``: its id, its newest and
        oldest decision's times, endpoint and account; ``caller``: caller, on-behalf-of and
        request id. Each decision's array holds the subject id at 2, the resource id at 5 and
        the decision at 6."""
        row_id, newest, oldest, endpoint, account = head
        return (
            row_id,
            datetime.fromtimestamp(newest, UTC),
            datetime.fromtimestamp(oldest, UTC),
            endpoint,
            account,
            *caller,
            len(decisions),
            sum(1 for decision in decisions if decision[6]),
            sorted({d[2] for d in decisions if d[2] is not None}),
            sorted({d[5] for d in decisions if d[5] is not None}),
            # orjson: the one cost of a row that grows with its decisions, a tenth of json's.
            orjson.dumps(decisions, default=str).decode(),
        )

    def _details(self, item: Item, extra: dict[str, Any] | None) -> dict[str, Any]:
        details: dict[str, Any] = dict(extra) if extra else {}
        if item[9] is not None:
            details.update(self._kept(item[9]))
        return details

    def _kept(self, keep: tuple[dict[str, Any], dict[str, Any], dict[str, Any]]) -> dict[str, Any]:
        """The properties an entry keeps, masked: ``subject_properties`` and so on."""
        mask = self.mask
        subject, action, resource = keep
        kept: dict[str, Any] = {}
        if subject:
            kept["subject_properties"] = masked(subject, mask)
        if action:
            kept["action_properties"] = masked(action, mask)
        if resource:
            kept["resource_properties"] = masked(resource, mask)
        return kept


# Where a row holds its number of decisions (decision_logs.BATCH_COLUMNS).
_DECISIONS = decision_logs.BATCH_COLUMNS.index("decisions")
ALONE_PER_ROW = 100


def decision_entry(
    endpoint: str,
    caller: Caller,
    request: DecisionRequest,
    decision: Decision,
    request_id: str | None = None,
) -> Entry:
    return Entry(
        new_decision_id(),
        time.time(),
        endpoint,
        caller.principal_id,
        caller.on_behalf_of,
        request_id,
        item_of(request, decision),
    )
