"""Each chain's stored Merkle tree: perfect subtree hashes in ``audit_merkle_nodes``.

The tree is extended when a checkpoint is signed, under the chain's lock (the writer holds
the head row, or SQLite's write lock): the new events' leaves and every subtree they
complete are inserted, starting from the stored compact range. Appends themselves do no
Merkle work. A proof against a checkpoint then needs at most ``2 * log2(n)`` stored nodes,
fetched in one query.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Final

from sqlalchemy import Connection, func, insert, select, tuple_
from sqlalchemy.orm import Session

from audit import merkle
from audit.tables import audit_chain_heads, audit_events, audit_merkle_nodes

Executor = Session | Connection
BATCH: Final = 10_000
# An append's own checkpoint builds the tree only when it is at most this far behind; a chain
# further behind (e.g. signed before Merkle checkpoints existed) is caught up by
# :func:`catch_up` in transactions of its own, so no request waits for it.
INLINE_LIMIT: Final = 10_000
_nodes = audit_merkle_nodes.c


class MissingNodesError(LookupError):
    """The stored tree does not reach that far (no checkpoint at or beyond that size)."""


def stored_size(session: Executor, chain: str) -> int:
    last = session.execute(
        select(func.max(_nodes.idx)).where(_nodes.chain == chain, _nodes.level == 0)
    ).scalar()
    return 0 if last is None else int(last) + 1


def fetch(
    session: Executor, chain: str, wanted: Iterable[tuple[int, int]]
) -> dict[tuple[int, int], bytes]:
    pairs = sorted(set(wanted))
    found: dict[tuple[int, int], bytes] = {}
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


def _compute(
    session: Executor, chain: str, build: Callable[[merkle.NodeSource], bytes | list[bytes]]
) -> bytes | list[bytes]:
    nodes = fetch(session, chain, merkle.needed_nodes(build))
    return build(lambda level, index: nodes[(level, index)])


def root(session: Executor, chain: str, size: int) -> bytes:
    result = _compute(session, chain, lambda nodes: merkle.root_hash(nodes, size))
    assert isinstance(result, bytes)
    return result


def extend(session: Executor, chain: str, size: int) -> bytes:
    """Make the stored tree cover events ``1..size``; returns its root at ``size``."""
    have = stored_size(session, chain)
    if have < size:
        positions = merkle.frontier_nodes(have)
        known = fetch(session, chain, positions)
        frontier = [(level, index, known[(level, index)]) for level, index in positions]
        rows: list[dict[str, object]] = []
        leaves = _leaves(session, chain, have, size)
        for level, index, digest in merkle.completed_nodes(frontier, have, leaves):
            rows.append({"chain": chain, "level": level, "idx": index, "hash": digest.hex()})
            if len(rows) >= BATCH:
                session.execute(insert(audit_merkle_nodes), rows)
                rows = []
        if rows:
            session.execute(insert(audit_merkle_nodes), rows)
        if stored_size(session, chain) != size:
            raise MissingNodesError(f"chain {chain!r}: events up to seq {size} are not all there")
    return root(session, chain, size)


def _leaves(session: Executor, chain: str, have: int, size: int) -> Iterable[bytes]:
    c = audit_events.c
    after = have  # seq of the last leaf already in the tree (leaf index + 1)
    while after < size:
        rows = session.execute(
            select(c.seq, c.hash)
            .where(c.chain == chain, c.seq > after, c.seq <= size)
            .order_by(c.seq)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        for seq, digest in rows:
            if seq != after + 1:
                raise MissingNodesError(f"chain {chain!r}: event {after + 1} is missing")
            after = seq
            yield merkle.leaf_hash(bytes.fromhex(digest))


def inclusion_proof(session: Executor, chain: str, index: int, size: int) -> list[bytes]:
    result = _compute(session, chain, lambda nodes: merkle.inclusion_proof(nodes, index, size))
    assert isinstance(result, list)
    return result


def consistency_proof(session: Executor, chain: str, first: int, second: int) -> list[bytes]:
    result = _compute(session, chain, lambda nodes: merkle.consistency_proof(nodes, first, second))
    assert isinstance(result, list)
    return result


def leaf(session: Executor, chain: str, index: int) -> bytes:
    return fetch(session, chain, [(0, index)])[(0, index)]


def catch_up(session: Executor, chain: str, max_leaves: int = 50_000) -> bool:
    """Extend the chain's stored tree by at most ``max_leaves`` towards its head, under the
    head's lock; commit after each call. True when the tree has reached the head."""
    head = session.execute(
        select(audit_chain_heads.c.seq).where(audit_chain_heads.c.chain == chain).with_for_update()
    ).scalar()
    if head is None:
        return True
    have = stored_size(session, chain)
    target = min(int(head), have + max_leaves)
    if target > have:
        extend(session, chain, target)
    return target >= int(head)


def behind(session: Executor, chain: str, size: int) -> int:
    return max(0, size - stored_size(session, chain))
