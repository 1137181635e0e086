"""Appending events: the only write path into the audit log.

The writer works inside the caller's transaction and never commits, so an action and its
audit event commit together or not at all. Everything that does not depend on an event's
position (validation, encryption, most of the canonical encoding) happens before any lock;
under the chain's lock only the sequence numbers and hashes are filled in.

PostgreSQL: one statement per chain updates the head row, which locks it, moving it only if
it still is where this writer last left it (compare-and-set, a ``CASE`` in the ``SET``), and
inserts every event of the batch from one JSON array of their canonical records
(``json_populate_recordset``). If another writer moved the head meanwhile, the update leaves
the row as it is but still locks it, and the statement inserts nothing and returns the real
head; the writer relinks the events and runs it again. (One UPDATE, not a locking SELECT
and then an UPDATE: the head row is found once, which saves a fifth of the statement's
server time.) A single uncontended append is thus one round trip, and the head
is never read while this process knows where it is. When a checkpoint falls due, the chain's
stored Merkle tree is extended from the hashes just computed (``tree.extend``) and signed,
still under the lock. SQLite: the caller's ``BEGIN IMMEDIATE`` already holds the database write
lock, so a plain read of the head, one ``executemany`` and an update do. On both, the
UNIQUE (chain, seq) constraint refuses a fork should locking ever be bypassed.

Its 400-odd lines are earned: the two dialects' append paths, their retry on a moved head,
and the checkpoint under the lock belong together, since each step relies on the lock the
one before took; split across modules, that reliance would no longer be in sight.
"""

from __future__ import annotations

import hashlib
import operator
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from audit import canonical, tree
from audit.checkpoints import checkpoint_from_row, checkpoint_row, sign_checkpoint
from audit.crypto import check_kek, data_keys_for_writing, encrypt_fields
from audit.ids import new_event_id
from audit.records import GENESIS_HASH, OUTCOMES, AuditEvent, Checkpoint, StoredEvent, chain_for
from audit.tables import (
    ID,
    NAME,
    audit_chain_heads,
    audit_checkpoints,
    audit_events,
    upsert_ignoring,
)

Executor = Session | Connection

# Column widths, checked here so both databases refuse the same input the same way.
_LIMITS: Final = {
    "account_id": ID,
    "actor_type": NAME,
    "actor_id": ID,
    "client_id": ID,
    "on_behalf_of": ID,
    "action": ID,
    "target_type": NAME,
    "target_id": ID,
    "reason_code": ID,
    "request_id": ID,
    "job_id": ID,
    "dsr_id": ID,
    "policy_version": NAME,
    "cascade_profile": NAME,
    "cascade_profile_version": NAME,
    "subject_id": ID,
}

# The limited fields' values in one C call, in _LIMITS order.
_limited: Final = operator.attrgetter(*_LIMITS)

# One statement per chain (see the module docstring). The events travel as one JSON array
# of row objects: a single parameter is far cheaper for the driver to send than 27 arrays.
# Each row object is the event's canonical record (the very bytes its hash covers; "v" has
# no column and is ignored) with "hash" added, so nothing is encoded twice. Run on the
# driver's connection in psycopg's own paramstyle: the statement is prepared once per
# connection (psycopg prepares a statement it sees repeatedly) and skips SQLAlchemy's
# per-execution work, which costs as much as the round trip.
_PG_APPEND_SQL: Final = """
    WITH moved AS (
        UPDATE audit_chain_heads
        SET seq = CASE WHEN seq = %(prev_seq)s AND hash = %(prev_hash)s
                       THEN %(last_seq)s ELSE seq END,
            hash = CASE WHEN seq = %(prev_seq)s AND hash = %(prev_hash)s
                        THEN %(last_hash)s ELSE hash END
        WHERE chain = %(chain)s
        RETURNING seq, hash
    ), added AS (
        INSERT INTO audit_events
        SELECT * FROM json_populate_recordset(NULL::audit_events, CAST(%(rows)s AS json))
        WHERE EXISTS (SELECT 1 FROM moved WHERE seq = %(last_seq)s AND hash = %(last_hash)s)
        RETURNING 1
    )
    SELECT (SELECT seq FROM moved), (SELECT hash FROM moved), (SELECT count(*) FROM added)
"""
_CURSOR: Final = "audit_writer_cursor"
# Events per statement when a long batch is pipelined (see AuditWriter._append_postgresql).
PIPELINE_CHUNK: Final = 200
_select_head = select(audit_chain_heads.c.seq, audit_chain_heads.c.hash)
_insert_events = insert(audit_events)


@dataclass(slots=True)
class AheadStatement:
    """A write of the caller's own transaction that the writer sends ahead of the events
    (``append_many(..., ahead=...)``), in the driver's SQL and parameters (psycopg's
    ``%(name)s`` style). ``rowcount`` is set once it has run, for the caller to check, and
    ``row`` to the first row it returned, if it returns rows (``RETURNING``)."""

    sql: str
    params: Mapping[str, Any]
    rowcount: int | None = None
    row: tuple[Any, ...] | None = None


@dataclass(slots=True)
class _Item:
    """One event on its way in: everything but its position is settled before the lock."""

    index: int
    event: AuditEvent
    chain: str
    roles: tuple[str, ...]
    details: dict[str, Any]
    row: dict[str, Any]  # column values; seq, prev_hash and hash are filled in by _link
    occurred: str  # the timestamps as canonical text
    recorded: str
    head: bytes
    middle: bytes
    tail: bytes
    stored: StoredEvent | None = None  # made early while the server works, once linked


class AuditWriter:
    """Appends events to their chains and signs checkpoints.

    ``key_encryption_key`` (32 bytes) wraps the per-subject data keys that encrypt protected
    fields. With a ``signing_key`` the writer signs a checkpoint each time a chain's
    sequence number reaches a multiple of ``checkpoint_every``. One writer can be shared
    by the threads of a process.
    """

    def __init__(
        self,
        key_encryption_key: bytes,
        signing_key: Ed25519PrivateKey | None = None,
        checkpoint_every: int = 1000,
    ) -> None:
        if checkpoint_every < 1:
            raise ValueError("checkpoint_every must be at least 1")
        self.key_encryption_key = check_kek(key_encryption_key)
        self.signing_key = signing_key
        self.checkpoint_every = checkpoint_every
        # Where this process last left each chain: only a guess for the compare-and-set,
        # never trusted (a rolled-back transaction leaves it wrong, which costs a retry).
        self._guesses: dict[str, tuple[int, str]] = {}
        self._guesses_lock = threading.Lock()

    def append(self, session: Executor, event: AuditEvent) -> StoredEvent:
        return self.append_many(session, [event])[0]

    def append_many(
        self,
        session: Executor,
        events: Sequence[AuditEvent],
        *,
        ahead: Sequence[AheadStatement] = (),
        wrapped_keys: Mapping[str, bytes] | None = None,
    ) -> list[StoredEvent]:
        """Append events in order, returned as stored. Per chain: one INSERT for all (a
        pipeline of them for a long batch on PostgreSQL, see ``_append_postgresql``).

        ``ahead`` (PostgreSQL only): writes of the caller's own transaction, whose results
        nobody reads but their row counts, that the writer sends first in its pipeline: the
        database runs them (a contact's UPDATE, its cascade) while the writer checks,
        encodes and hashes the events, in the same round trip, instead of the writer
        waiting for them and they for the writer.
        ``wrapped_keys``: subjects' wrapped data keys the caller has just read in this
        transaction, so they are not read again (``data_keys_for_writing``)."""
        postgres = _dialect(session) == "postgresql"
        if ahead and not postgres:
            raise ValueError("statements ahead of the events need PostgreSQL's pipeline")
        if not events:
            _execute_ahead(session, ahead)
            return []
        now = datetime.now(UTC)
        stamp = canonical.format_timestamp(now)
        # Every event is checked before any of them is written: a refused event leaves the
        # caller's transaction as it was, however long the batch. With a statement ahead,
        # the checks run once it is on its way, before the first event is sent.
        checked: list[tuple[datetime | None, str | None, dict[str, Any], tuple[str, ...]]] = []
        if not ahead:
            checked.extend(_checked(event) for event in events)
        # Made in the batch's order, so ids sort as the events were given across chains.
        event_ids = [new_event_id() for _ in events]
        protected_subjects = {e.subject_id for e in events if e.protected and e.subject_id}
        for subject in protected_subjects:  # before they are looked up, checked or not
            _check_limit("subject_id", subject)
        data_keys = data_keys_for_writing(
            session, self.key_encryption_key, protected_subjects, wrapped_keys
        )
        indexes_by_chain: dict[str, list[int]] = {}
        for index, event in enumerate(events):
            indexes_by_chain.setdefault(chain_for(event.account_id), []).append(index)

        def prepare(indexes: list[int]) -> list[_Item]:
            if not checked:
                checked.extend(_checked(event) for event in events)
            return [
                _prepare(
                    index, events[index], event_ids[index], checked[index], now, stamp, data_keys
                )
                for index in indexes
            ]

        by_chain: dict[str, list[_Item]] = {}
        due: list[tuple[str, int, str]] = []
        # Chains in name order, so two batches spanning the same chains cannot deadlock.
        for chain in sorted(indexes_by_chain):
            if postgres:
                items = self._append_postgresql(
                    session, chain, indexes_by_chain[chain], prepare, ahead
                )
                ahead = ()  # sent with the first chain
            else:
                items = prepare(indexes_by_chain[chain])
                _append_sqlite(session, chain, items)
            by_chain[chain] = items
            if self.signing_key is not None:
                every = self.checkpoint_every
                due.extend(
                    (chain, item.row["seq"], item.row["hash"])
                    for item in items
                    if item.row["seq"] % every == 0
                )
        if due and self.signing_key is not None:
            # Still under each chain's lock: extend its Merkle tree, then sign.
            rows = []
            trees: dict[str, int] = {}  # chain -> stored tree size
            for chain, seq, digest in due:
                have = trees.get(chain)
                if have is None:
                    have = tree.stored_size(session, chain)
                root = None  # far behind: catch_up builds it, off the request
                if seq - have <= tree.INLINE_LIMIT:
                    written = {item.row["seq"]: item.row["hash"] for item in by_chain[chain]}
                    root = _extended(session, chain, seq, written, have)
                    trees[chain] = seq
                checkpoint = sign_checkpoint(
                    self.signing_key, chain, seq, digest, now, root_hash=root
                )
                rows.append(checkpoint_row(checkpoint))
            session.execute(insert(audit_checkpoints), rows)
        items_in_order = sorted(
            (item for items in by_chain.values() for item in items), key=lambda i: i.index
        )
        return [item.stored or _stored(item) for item in items_in_order]

    def _append_postgresql(
        self,
        session: Executor,
        chain: str,
        indexes: list[int],
        prepare: Callable[[list[int]], list[_Item]],
        ahead: Sequence[AheadStatement] = (),
    ) -> list[_Item]:
        """Prepare and append one chain's events; returns them, linked.

        A batch longer than ``PIPELINE_CHUNK`` goes as a pipeline of statements of that
        many events each (psycopg's pipeline mode), each sent as soon as it is prepared: the
        server inserts one chunk while this process encodes, encrypts and hashes the next,
        instead of each waiting on the other. Every chunk compares the head with where the
        one before it left it, so if another writer moved the head first, the first chunk
        inserts nothing, and so does every chunk after it; they are then linked again from
        the real head, which that first chunk left locked, and sent one by one."""
        with self._guesses_lock:
            guess = self._guesses.get(chain, (0, GENESIS_HASH))
        connection = session if isinstance(session, Connection) else session.connection()
        driver = connection.connection.dbapi_connection
        assert driver is not None
        chunks = [
            indexes[at : at + PIPELINE_CHUNK] for at in range(0, len(indexes), PIPELINE_CHUNK)
        ]
        if len(chunks) == 1 and not ahead:
            items = prepare(indexes)
            self._append_items(session, connection, _cursor(connection), chain, items, guess)
            return items
        sent: list[tuple[Any, list[_Item]]] = []
        try:
            with driver.pipeline():
                sent_ahead = []
                for number, statement in enumerate(ahead, start=1):
                    cursor = _cursor(connection, number)
                    cursor.execute(statement.sql, statement.params)
                    sent_ahead.append((statement, cursor))
                for number, chunk in enumerate(chunks, start=len(ahead) + 1):
                    items = prepare(chunk)
                    params = _params(chain, items, guess)
                    cursor = _cursor(connection, number)
                    cursor.execute(_PG_APPEND_SQL, params)
                    sent.append((cursor, items))
                    guess = (items[-1].row["seq"], items[-1].row["hash"])
                    for item in items:  # while the server inserts them
                        item.stored = _stored(item)
        except connection.dialect.loaded_dbapi.Error as error:
            raise DBAPIError.instance(
                _PG_APPEND_SQL, {}, error, connection.dialect.loaded_dbapi.Error
            ) from error
        for statement, cursor in sent_ahead:
            _ran(statement, cursor)
        results = [cursor.fetchone() for cursor, _ in sent]
        for position, (seq, head_hash, added) in enumerate(results):
            if not added:
                rest = [item for _, later in sent[position:] for item in later]
                real = (0, GENESIS_HASH) if seq is None else (int(seq), str(head_hash))
                self._append_items(session, connection, _cursor(connection), chain, rest, real)
                for item in rest:  # linked anew: seq and hashes changed
                    item.stored = None
                break
        else:
            with self._guesses_lock:
                self._guesses[chain] = guess
        return [item for _, items in sent for item in items]

    def _append_items(
        self,
        session: Executor,
        connection: Connection,
        cursor: Any,
        chain: str,
        items: list[_Item],
        guess: tuple[int, str],
    ) -> None:
        """Link the events from ``guess`` and insert them in one statement, retrying from
        the real head if another writer moved it."""
        for _attempt in range(3):
            params = _params(chain, items, guess)
            try:
                seq, head_hash, added = cursor.execute(_PG_APPEND_SQL, params).fetchone()
            except connection.dialect.loaded_dbapi.Error as error:
                # Raised as SQLAlchemy would have raised it (IntegrityError, ...).
                raise DBAPIError.instance(
                    _PG_APPEND_SQL, params, error, connection.dialect.loaded_dbapi.Error
                ) from error
            if added:
                with self._guesses_lock:
                    self._guesses[chain] = (params["last_seq"], params["last_hash"])
                return
            if seq is None:
                # A new chain: create its head row (ON CONFLICT: a concurrent first append
                # may be doing the same) and try again from genesis.
                session.execute(
                    upsert_ignoring(session, audit_chain_heads),
                    [{"chain": chain, "seq": 0, "hash": GENESIS_HASH}],
                )
                guess = (0, GENESIS_HASH)
            else:
                # Someone else moved the head; this statement locked it, so the retry holds.
                guess = (int(seq), str(head_hash))
        raise RuntimeError(f"could not append to chain {chain!r}")  # pragma: no cover

    def checkpoint(self, session: Executor, chain: str) -> Checkpoint:
        """Sign the chain's current head now (idempotent per head)."""
        if self.signing_key is None:
            raise RuntimeError("this writer has no signing key")
        row = session.execute(
            _select_head.where(audit_chain_heads.c.chain == chain).with_for_update()
        ).first()
        if row is None or row[0] == 0:
            raise ValueError(f"chain {chain!r} has no events to checkpoint")
        seq, head_hash = int(row[0]), str(row[1])
        cps = audit_checkpoints
        existing = (
            session.execute(select(cps).where(cps.c.chain == chain, cps.c.seq == seq))
            .mappings()
            .first()
        )
        if existing is not None:
            return checkpoint_from_row(existing)
        root = _extended(session, chain, seq)
        checkpoint = sign_checkpoint(self.signing_key, chain, seq, head_hash, root_hash=root)
        session.execute(insert(cps), [checkpoint_row(checkpoint)])
        return checkpoint


def _extended(
    session: Executor,
    chain: str,
    seq: int,
    known: Mapping[int, str] | None = None,
    have: int | None = None,
) -> bytes | None:
    """The Merkle root for a checkpoint at ``seq``, its tree extended; None when events it
    would hash are gone from the database. Only tampering removes events: verification
    names them, and the log goes on taking appends, their checkpoints signed without a
    root, rather than refusing every audited action from then on."""
    try:
        return tree.extend(session, chain, seq, known=known, have=have)
    except tree.MissingNodesError:
        return None


def _execute_ahead(session: Executor, ahead: Sequence[AheadStatement]) -> None:
    """Statements ahead of no events: run as they are."""
    if not ahead:
        return
    connection = session if isinstance(session, Connection) else session.connection()
    cursor = _cursor(connection)
    for statement in ahead:
        _ran(statement, cursor.execute(statement.sql, statement.params))


def _ran(statement: AheadStatement, cursor: Any) -> None:
    """Note what a statement sent ahead did: its row count, and its first row if any."""
    statement.rowcount = cursor.rowcount
    if cursor.description is not None:
        statement.row = cursor.fetchone()


def _cursor(connection: Connection, number: int = 0) -> Any:
    """A cursor kept per driver connection: number 0 for single statements, and one per
    statement in flight in a pipeline (each holds its own result). Making a psycopg cursor
    costs more than sending a chunk's statement."""
    driver = connection.connection.dbapi_connection
    cursors: list[Any] = connection.connection.info.setdefault(_CURSOR, [])
    while len(cursors) <= number:
        cursors.append(None)
    cursor = cursors[number]
    if cursor is None or cursor.connection is not driver or cursor.closed:
        assert driver is not None
        cursor = cursors[number] = driver.cursor()
    return cursor


def _params(chain: str, items: list[_Item], guess: tuple[int, str]) -> dict[str, Any]:
    """The append statement's parameters: the events linked on from ``guess``."""
    records = _link(items, *guess)
    last = items[-1].row
    return {
        "rows": "[" + ",".join(records) + "]",
        "chain": chain,
        "prev_seq": guess[0],
        "prev_hash": guess[1],
        "last_seq": last["seq"],
        "last_hash": last["hash"],
    }


def _append_sqlite(session: Executor, chain: str, items: list[_Item]) -> None:
    # The caller's BEGIN IMMEDIATE serialises writers; FOR UPDATE does not exist here.
    where = audit_chain_heads.c.chain == chain
    row = session.execute(_select_head.where(where)).first()
    head = (0, GENESIS_HASH) if row is None else (int(row[0]), str(row[1]))
    if row is None:
        session.execute(
            insert(audit_chain_heads), [{"chain": chain, "seq": 0, "hash": GENESIS_HASH}]
        )
    _link(items, *head)
    last = items[-1].row
    encode = canonical.encode_value
    session.execute(
        _insert_events,
        [
            {**item.row, "actor_roles": encode(list(item.roles)), "details": encode(item.details)}
            for item in items
        ],
    )
    session.execute(
        update(audit_chain_heads).where(where).values(seq=last["seq"], hash=last["hash"])
    )


def _link(items: list[_Item], seq: int, prev_hash: str) -> list[str]:
    """Number and hash the chain's events from the given head. Returns each event's row as
    JSON text: its canonical record with ``"hash"`` added (for PostgreSQL)."""
    sha256 = hashlib.sha256
    rows = []
    for item in items:
        seq += 1
        record = item.head + prev_hash.encode() + item.middle + str(seq).encode() + item.tail
        digest = sha256(record).hexdigest()
        row = item.row
        row["seq"] = seq
        row["prev_hash"] = prev_hash
        row["hash"] = digest
        prev_hash = digest
        rows.append(f'{record[:-1].decode()},"hash":"{digest}"}}')
    return rows


def _check_limit(name: str, value: object) -> None:
    limit = _LIMITS[name]
    if not isinstance(value, str) or len(value) > limit:
        raise ValueError(f"{name} must be a string of at most {limit} characters")


def _checked(
    event: AuditEvent,
) -> tuple[datetime | None, str | None, dict[str, Any], tuple[str, ...]]:
    """Refuse an event the log cannot take (``ValueError``). Returns what the check worked
    out: the occurrence time in UTC and as canonical text (``None``: now), a deep copy of
    the details and the sorted roles."""
    if event.outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {sorted(OUTCOMES)}, got {event.outcome!r}")
    if not event.action:
        raise ValueError("action is required")
    if not event.actor_type:
        raise ValueError("actor_type is required")
    for value, name, limit in zip(_limited(event), _LIMITS, _LIMITS.values(), strict=True):
        if value is not None and (value.__class__ is not str or len(value) > limit):
            _check_limit(name, value)  # a str subclass within the limit passes
    occurred_at, occurred = None, None
    if event.occurred_at is not None:
        if event.occurred_at.tzinfo is None:
            raise ValueError("occurred_at must be timezone-aware")
        occurred_at = event.occurred_at.astimezone(UTC)
        occurred = canonical.format_timestamp(occurred_at)
    if not isinstance(event.details, Mapping):
        raise ValueError("details must be a JSON object")
    # Checked and deep-copied in one walk, so the returned event does not change if the
    # caller's dict does.
    details = canonical.checked_copy(event.details)
    roles = tuple(sorted(set(event.actor_roles)))
    if not all(isinstance(role, str) for role in roles):
        raise ValueError("actor_roles must be strings")
    if event.protected:
        if event.subject_id is None:
            raise ValueError("protected fields need a subject_id (whose key encrypts them)")
        for key, value in event.protected.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise ValueError("protected fields map names to strings")
    return occurred_at, occurred, details, roles


def _prepare(
    index: int,
    event: AuditEvent,
    event_id: str,
    checked: tuple[datetime | None, str | None, dict[str, Any], tuple[str, ...]],
    now: datetime,
    stamp: str,
    data_keys: Mapping[str, bytes],
) -> _Item:
    """Encode (and encrypt) everything about a checked event that does not need the lock."""
    occurred_at, occurred, details, roles = checked
    if occurred_at is None or occurred is None:
        occurred_at, occurred = now, stamp
    chain = chain_for(event.account_id)
    ciphertext = None
    if event.protected:
        assert event.subject_id is not None  # _checked
        ciphertext = encrypt_fields(data_keys[event.subject_id], event_id, event.protected)
    record: dict[str, Any] = {
        "account_id": event.account_id,
        "action": event.action,
        "actor_id": event.actor_id,
        "actor_roles": roles,
        "actor_type": event.actor_type,
        "cascade_profile": event.cascade_profile,
        "cascade_profile_version": event.cascade_profile_version,
        "chain": chain,
        "client_id": event.client_id,
        "details": event.details,
        "dsr_id": event.dsr_id,
        "event_id": event_id,
        "job_id": event.job_id,
        "occurred_at": occurred,
        "on_behalf_of": event.on_behalf_of,
        "outcome": event.outcome,
        "policy_version": event.policy_version,
        "prev_hash": "",
        "protected": ciphertext,
        "reason_code": event.reason_code,
        "recorded_at": stamp,
        "request_id": event.request_id,
        "seq": 0,
        "subject_id": event.subject_id,
        "target_id": event.target_id,
        "target_type": event.target_type,
        "v": canonical.FORMAT_VERSION,
    }
    head, middle, tail = canonical.record_parts(record)
    row = record  # reused as the column values: same names but "v", which has no column
    del row["v"]
    # actor_roles and details stay Python values here: PostgreSQL takes the rows from the
    # canonical records, SQLite's rows get their canonical texts in _append_sqlite.
    row.update(occurred_at=occurred_at, recorded_at=now, hash="")
    return _Item(index, event, chain, roles, details, row, occurred, stamp, head, middle, tail)


def _stored(item: _Item) -> StoredEvent:
    row, event = item.row, item.event
    return StoredEvent(
        event_id=row["event_id"],
        chain=item.chain,
        seq=row["seq"],
        occurred_at=row["occurred_at"],
        recorded_at=row["recorded_at"],
        account_id=event.account_id,
        actor_type=event.actor_type,
        actor_id=event.actor_id,
        actor_roles=item.roles,
        client_id=event.client_id,
        on_behalf_of=event.on_behalf_of,
        action=event.action,
        target_type=event.target_type,
        target_id=event.target_id,
        outcome=event.outcome,
        reason_code=event.reason_code,
        request_id=event.request_id,
        job_id=event.job_id,
        dsr_id=event.dsr_id,
        policy_version=event.policy_version,
        cascade_profile=event.cascade_profile,
        cascade_profile_version=event.cascade_profile_version,
        details=item.details,
        subject_id=event.subject_id,
        protected_ciphertext=row["protected"],
        protected=dict(event.protected) if event.protected else None,
        prev_hash=row["prev_hash"],
        hash=row["hash"],
    )


def _dialect(session: Executor) -> str:
    bind = session if isinstance(session, Connection) else session.get_bind()
    return bind.dialect.name
