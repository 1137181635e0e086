"""The RFC 9162 (Certificate Transparency v2) Merkle tree over a chain's events.

Leaf ``i`` (0-based) is the event at ``seq = i + 1``; its leaf hash is
``SHA-256(0x00 || the event's 32-byte hash)`` and an interior node is
``SHA-256(0x01 || left || right)``. A tree of ``n`` leaves splits at the largest power of two
below ``n`` (RFC 9162 section 2.1.1).

Proofs are built from *perfect subtree* hashes: the node at ``(level, index)`` is the root
of leaves ``[index * 2**level, (index + 1) * 2**level)``. Anything that can answer those
(a list of leaves in memory, or the stored nodes of a chain) can make inclusion and
consistency proofs; any range the RFC's recursion asks for is either such a perfect subtree
or a right edge that splits into at most log2(n) of them. The verifiers are RFC 9162
sections 2.1.3.2 and 2.1.4.2, word for word.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from typing import Final

HASH_SIZE: Final = 32
EMPTY_ROOT: Final = hashlib.sha256(b"").digest()

# A source of perfect subtree hashes: (level, index) -> 32 bytes.
NodeSource = Callable[[int, int], bytes]


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(size: int) -> int:
    """The largest power of two smaller than ``size`` (``size >= 2``)."""
    if size < 2:
        raise ValueError("a split needs at least two leaves")
    return 1 << ((size - 1).bit_length() - 1)


def subtree_hash(nodes: NodeSource, start: int, end: int) -> bytes:
    """MTH of leaves ``[start, end)``; ``start`` is a multiple of the range's split size,
    as for every range the RFC's recursions produce."""
    size = end - start
    if size <= 0:
        raise ValueError("empty range")
    if size & (size - 1) == 0 and start % size == 0:
        level = size.bit_length() - 1
        return nodes(level, start >> level)
    k = split_point(size)
    return node_hash(subtree_hash(nodes, start, start + k), subtree_hash(nodes, start + k, end))


def root_hash(nodes: NodeSource, size: int) -> bytes:
    return EMPTY_ROOT if size == 0 else subtree_hash(nodes, 0, size)


def inclusion_proof(nodes: NodeSource, index: int, size: int) -> list[bytes]:
    """RFC 9162 2.1.3.1 PATH(index, D[0:size])."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = split_point(end - start)
        if index < start + k:
            path.append(subtree_hash(nodes, start + k, end))
            end = start + k
        else:
            path.append(subtree_hash(nodes, start, start + k))
            start += k
    path.reverse()  # the recursion appends on the way back up: leaf level first
    return path


def consistency_proof(nodes: NodeSource, first: int, second: int) -> list[bytes]:
    """RFC 9162 2.1.4.1 PROOF(first, D[0:second])."""
    if not 0 < first <= second:
        raise ValueError(f"no consistency proof from {first} to {second}")
    proof: list[bytes] = []
    start, end, m, known = 0, second, first, True
    while m != end - start:
        k = split_point(end - start)
        if m <= k:
            proof.append(subtree_hash(nodes, start + k, end))
            end = start + k
        else:
            proof.append(subtree_hash(nodes, start, start + k))
            start, m, known = start + k, m - k, False
    if not known:
        proof.append(subtree_hash(nodes, start, end))
    proof.reverse()
    return proof


def needed_nodes(build: Callable[[NodeSource], object]) -> set[tuple[int, int]]:
    """Which perfect subtrees ``build`` asks for (run it once against a recorder), so a
    store can fetch them all in one query."""
    wanted: set[tuple[int, int]] = set()

    def record(level: int, index: int) -> bytes:
        wanted.add((level, index))
        return bytes(HASH_SIZE)

    build(record)
    return wanted


def memory_nodes(leaves: Sequence[bytes]) -> NodeSource:
    """Perfect subtree hashes over leaf hashes held in memory (tests, small trees)."""
    levels: list[list[bytes]] = [list(leaves)]
    while len(levels[-1]) > 1:
        below = levels[-1]
        levels.append([node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)])
    return lambda level, index: levels[level][index]


def extend_compact_range(
    frontier: Sequence[tuple[int, int, bytes]],
    first_leaf: int,
    leaves: Iterable[bytes],
    keep_from: int = 0,
) -> tuple[list[tuple[int, int, bytes]], list[tuple[int, int, bytes]]]:
    """Append leaves to a tree: every perfect subtree this completes at ``keep_from`` or
    above, as ``(level, index, hash)`` (leaves, level 0, only with ``keep_from=0``), and the
    compact range afterwards, whose :func:`compact_root` is the new root and whose last
    node's index and level tell how many leaves it covers.

    ``frontier`` is the tree's compact range before the new leaves: its perfect subtrees
    for the first ``first_leaf`` leaves, largest (leftmost) first, as RFC 9162 splits them
    (:func:`frontier_nodes`)."""
    stack = list(frontier)
    kept: list[tuple[int, int, bytes]] = []
    keep = kept.append
    sha256 = hashlib.sha256
    position = first_leaf
    for leaf in leaves:
        level, index, digest = 0, position, leaf
        if keep_from == 0:
            keep((0, index, digest))
        while stack and stack[-1][0] == level:
            _, left_index, left = stack.pop()
            level, index = level + 1, left_index >> 1
            digest = sha256(b"\x01" + left + digest).digest()  # node_hash, inlined: hot
            if level >= keep_from:
                keep((level, index, digest))
        stack.append((level, index, digest))
        position += 1
    return kept, stack


def covered(stack: Sequence[tuple[int, int, bytes]]) -> int:
    """How many leaves a compact range covers."""
    if not stack:
        return 0
    level, index, _ = stack[-1]
    return (index + 1) << level


def compact_root(stack: Sequence[tuple[int, bytes]]) -> bytes:
    """The root of the leaves a compact range ``[(level, hash), ...]`` (largest subtree
    first) covers: fold from the right, as RFC 9162 splits the tree."""
    digest = stack[-1][1]
    for _, left in reversed(stack[:-1]):
        digest = node_hash(left, digest)
    return digest


def frontier_nodes(size: int) -> list[tuple[int, int]]:
    """(level, index) of the perfect subtrees that make up the first ``size`` leaves,
    largest first: one per set bit of ``size``."""
    result = []
    start = 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            result.append((level, start >> level))
            start += 1 << level
    return result


def verify_inclusion(
    leaf: bytes, index: int, size: int, path: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 2.1.3.2: does ``path`` prove leaf hash ``leaf`` at ``index`` in ``root``?"""
    if index >= size or index < 0:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 2.1.4.2: is the tree of ``second`` leaves an append-only extension of the
    tree of ``first``?"""
    if first <= 0 or first > second:
        return False
    if first == second:
        return not proof and first_root == second_root
    path = list(proof)
    if first & (first - 1) == 0:
        path.insert(0, first_root)
    if not path:
        return False
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0
