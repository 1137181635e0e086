"""Each chain's stored Merkle tree: perfect subtree hashes in ``audit_merkle_nodes``.

The tree is extended when a checkpoint is signed, under the chain's lock (the writer holds
the head row, or SQLite's write lock): every subtree the new events complete is inserted,
starting from the stored compact range; the writer hands over the hashes of the events it
has just written, so only older ones are read back. Appends between checkpoints do no
Merkle work. A proof against a checkpoint then needs at most ``2 * log2(n)`` nodes, fetched
in one query.

Only subtrees of ``BLOCK`` (16) leaves and up are stored. A smaller one is the hash of at
most 16 consecutive events, which the events' own ``(chain, seq)`` index reads back in one
range scan when a proof needs it (a proof needs at most three such runs: the leaf's, and
the right edges of the one or two tree sizes). Storing them would cost 15 of every 16 node
rows, the leaves themselves included, for nothing the events do not already hold. The
stored tree therefore covers whole blocks (:func:`stored_size`); the partial block at a
tree's right edge is always derived.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Final

from sqlalchemy import Connection, func, insert, or_, select, text, tuple_
from sqlalchemy.orm import Session

from audit import merkle
from audit.tables import audit_chain_heads, audit_events, audit_merkle_nodes

Executor = Session | Connection
BATCH: Final = 10_000
# An append's own checkpoint builds the tree only when it is at most this far behind; a chain
# further behind (e.g. signed before Merkle checkpoints existed) is caught up by
# :func:`catch_up` in transactions of its own, so no request waits for it.
INLINE_LIMIT: Final = 10_000
# Subtrees below this level are derived from the events, not stored (see the docstring).
STORED_FROM: Final = 4
BLOCK: Final = 1 << STORED_FROM
_nodes = audit_merkle_nodes.c


class MissingNodesError(LookupError):
    """The stored tree does not reach that far (no checkpoint at or beyond that size)."""


def stored_size(session: Executor, chain: str) -> int:
    """How many leaves the stored nodes cover: whole blocks (a multiple of ``BLOCK``)."""
    last = session.execute(
        select(func.max(_nodes.idx)).where(_nodes.chain == chain, _nodes.level == STORED_FROM)
    ).scalar()
    return 0 if last is None else (int(last) + 1) * BLOCK


def fetch(
    session: Executor, chain: str, wanted: Iterable[tuple[int, int]]
) -> dict[tuple[int, int], bytes]:
    """The perfect subtree hashes asked for: stored ones read, smaller ones derived."""
    pairs = sorted(set(wanted))
    found = _derived(session, chain, [p for p in pairs if p[0] < STORED_FROM])
    pairs = [p for p in pairs if p[0] >= STORED_FROM]
    for at in range(0, len(pairs), 500):
        chunk = pairs[at : at + 500]
        rows = session.execute(
            select(_nodes.level, _nodes.idx, _nodes.hash).where(
                _nodes.chain == chain, tuple_(_nodes.level, _nodes.idx).in_(chunk)
            )
        )
        for level, index, digest in rows:
            found[(int(level), int(index))] = bytes.fromhex(digest)
    missing = set(pairs) - set(found)
    if missing:
        raise MissingNodesError(f"chain {chain!r}: {len(missing)} Merkle nodes are not stored")
    return found


def _derived(
    session: Executor, chain: str, pairs: list[tuple[int, int]]
) -> dict[tuple[int, int], bytes]:
    """Subtrees smaller than a block, hashed from their events (one range read for all)."""
    if not pairs:
        return {}
    spans = sorted((index << level, (index + 1) << level) for level, index in pairs)
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    c = audit_events.c
    rows = session.execute(
        select(c.seq, c.hash).where(
            c.chain == chain,
            # Leaf i is the event at seq i + 1.
            or_(*(c.seq.between(start + 1, end) for start, end in merged)),
        )
    )
    leaves = {int(seq) - 1: merkle.leaf_hash(bytes.fromhex(digest)) for seq, digest in rows}
    found: dict[tuple[int, int], bytes] = {}
    for level, index in pairs:
        start = index << level
        span = [leaves.get(at) for at in range(start, start + (1 << level))]
        if all(leaf is not None for leaf in span):
            found[(level, index)] = merkle.memory_nodes([leaf for leaf in span if leaf])(level, 0)
    missing = len(pairs) - len(found)
    if missing:
        raise MissingNodesError(f"chain {chain!r}: {missing} Merkle subtree(s) lost events")
    return found


def _compute(
    session: Executor, chain: str, build: Callable[[merkle.NodeSource], bytes | list[bytes]]
) -> bytes | list[bytes]:
    nodes = fetch(session, chain, merkle.needed_nodes(build))
    return build(lambda level, index: nodes[(level, index)])


def root(session: Executor, chain: str, size: int) -> bytes:
    result = _compute(session, chain, lambda nodes: merkle.root_hash(nodes, size))
    assert isinstance(result, bytes)
    return result


def extend(
    session: Executor,
    chain: str,
    size: int,
    known: Mapping[int, str] | None = None,
    have: int | None = None,
) -> bytes:
    """Make the stored tree cover events ``1..size``; returns its root at ``size``.

    Incremental: only the new leaves and the perfect subtrees they complete are hashed and
    inserted (one statement on PostgreSQL), starting from the stored compact range, and the
    root comes from the new compact range in memory. ``known`` maps seq to event hash (hex)
    for events the caller has just written, which are then not read back; ``have`` is the
    stored size if the caller has just read it."""
    if have is None:
        have = stored_size(session, chain)
    if have >= size:
        return root(session, chain, size)
    positions = merkle.frontier_nodes(have)
    stored = fetch(session, chain, positions) if positions else {}
    frontier = [(level, index, stored[(level, index)]) for level, index in positions]
    kept, stack = merkle.extend_compact_range(
        frontier, have, _leaves(session, chain, have, size, known or {}), keep_from=STORED_FROM
    )
    for at in range(0, len(kept), BATCH):
        _insert_nodes(session, chain, kept[at : at + BATCH])
    if merkle.covered(stack) != size:
        raise MissingNodesError(f"chain {chain!r}: events up to seq {size} are not all there")
    return merkle.compact_root([(level, digest) for level, _, digest in stack])


_INSERT_NODES_PG: Final = text(
    "INSERT INTO audit_merkle_nodes "
    "SELECT * FROM json_populate_recordset(NULL::audit_merkle_nodes, CAST(:rows AS json))"
)


def _insert_nodes(session: Executor, chain: str, nodes: list[tuple[int, int, bytes]]) -> None:
    bind = session if isinstance(session, Connection) else session.get_bind()
    if bind.dialect.name == "postgresql":
        # One statement, its rows as one JSON text (as the writer sends events): far cheaper
        # for the driver than a row per node or three arrays.
        name = json.dumps(chain)
        rows = ",".join(
            f'{{"chain":{name},"level":{level},"idx":{index},"hash":"{digest.hex()}"}}'
            for level, index, digest in nodes
        )
        session.execute(_INSERT_NODES_PG, {"rows": f"[{rows}]"})
        return
    session.execute(
        insert(audit_merkle_nodes),
        [
            {"chain": chain, "level": level, "idx": index, "hash": digest.hex()}
            for level, index, digest in nodes
        ],
    )


def event_hashes(
    session: Executor, chain: str, after: int, up_to: int
) -> Iterator[tuple[int, str]]:
    """``(seq, hash)`` of the chain's stored events after ``after`` up to ``up_to``, in order,
    read a batch at a time; the callers decide what a gap in ``seq`` means."""
    c = audit_events.c
    while after < up_to:
        rows = session.execute(
            select(c.seq, c.hash)
            .where(c.chain == chain, c.seq > after, c.seq <= up_to)
            .order_by(c.seq)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        yield from rows
        after = rows[-1][0]


def _leaves(
    session: Executor, chain: str, have: int, size: int, known: Mapping[int, str]
) -> Iterator[bytes]:
    """Leaf hashes of events ``have + 1 .. size``: read from the events, but for the run
    of them at the end that the caller holds (``known``)."""
    after = have  # seq of the last leaf already in the tree (leaf index + 1)
    read_up_to = size
    while read_up_to in known and read_up_to > have:
        read_up_to -= 1
    for seq, digest in event_hashes(session, chain, have, read_up_to):
        if seq != after + 1:
            raise MissingNodesError(f"chain {chain!r}: event {after + 1} is missing")
        after = seq
        yield merkle.leaf_hash(bytes.fromhex(digest))
    if after < read_up_to:  # the chain's events end before the tree would
        return
    for seq in range(after + 1, size + 1):
        yield merkle.leaf_hash(bytes.fromhex(known[seq]))


def inclusion_proof(session: Executor, chain: str, index: int, size: int) -> list[bytes]:
    result = _compute(session, chain, lambda nodes: merkle.inclusion_proof(nodes, index, size))
    assert isinstance(result, list)
    return result


def consistency_proof(session: Executor, chain: str, first: int, second: int) -> list[bytes]:
    result = _compute(session, chain, lambda nodes: merkle.consistency_proof(nodes, first, second))
    assert isinstance(result, list)
    return result


def catch_up(session: Executor, chain: str, max_leaves: int = 50_000) -> bool:
    """Extend the chain's stored tree by at most ``max_leaves`` towards its head, under the
    head's lock; commit after each call. True when the tree has reached the head."""
    head = session.execute(
        select(audit_chain_heads.c.seq).where(audit_chain_heads.c.chain == chain).with_for_update()
    ).scalar()
    if head is None:
        return True
    have = stored_size(session, chain)
    # In whole blocks: progress is stored only when a block completes.
    target = min(int(head), have + max(BLOCK, max_leaves - max_leaves % BLOCK))
    if target > have:
        extend(session, chain, target)
    return target >= int(head)


def behind(session: Executor, chain: str, size: int) -> int:
    return max(0, size - stored_size(session, chain))
