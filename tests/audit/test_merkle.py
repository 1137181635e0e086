"""The Merkle hashing core against RFC 9162 / Certificate Transparency test vectors, and
signed notes against the Go ``sumdb/note`` package's published example.

Vectors: the CT leaf inputs and hashes as published in transparency-dev/merkle
(``testonly/constants.go``, ``testonly/reference_test.go``), from RFC 6962/9162's tests.
"""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit.merkle import (
    EMPTY_ROOT,
    compact_root,
    consistency_proof,
    covered,
    extend_compact_range,
    frontier_nodes,
    inclusion_proof,
    leaf_hash,
    memory_nodes,
    root_hash,
    verify_consistency,
    verify_inclusion,
)
from audit.note import (
    NoteError,
    checkpoint_text,
    open_note,
    parse_checkpoint,
    sign_note,
    verifier_key,
)

LEAF_INPUTS = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
INCLUSION = [
    (0, 1, []),
    (0, 2, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"]),
    (1, 2, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]
CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]
LEAVES = [leaf_hash(data) for data in LEAF_INPUTS]


def test_root_hashes_match_the_ct_vectors() -> None:
    assert EMPTY_ROOT.hex() == ROOTS[0]
    for size in range(1, 9):
        assert root_hash(memory_nodes(LEAVES[:size]), size).hex() == ROOTS[size]


@pytest.mark.parametrize(("index", "size", "expected"), INCLUSION)
def test_inclusion_proofs_match_the_ct_vectors_and_verify(
    index: int, size: int, expected: list[str]
) -> None:
    proof = inclusion_proof(memory_nodes(LEAVES[:size]), index, size)
    assert [p.hex() for p in proof] == expected
    root = bytes.fromhex(ROOTS[size])
    assert verify_inclusion(LEAVES[index], index, size, proof, root)
    assert not verify_inclusion(LEAVES[index], index, size, proof, bytes(32))
    if size > 1:
        assert not verify_inclusion(LEAVES[(index + 1) % size], index, size, proof, root)


@pytest.mark.parametrize(("first", "second", "expected"), CONSISTENCY)
def test_consistency_proofs_match_the_ct_vectors_and_verify(
    first: int, second: int, expected: list[str]
) -> None:
    proof = consistency_proof(memory_nodes(LEAVES[:second]), first, second)
    assert [p.hex() for p in proof] == expected
    old, new = bytes.fromhex(ROOTS[first]), bytes.fromhex(ROOTS[second])
    assert verify_consistency(first, second, old, new, proof)
    if first != second:
        assert not verify_consistency(first, second, new, new, proof)


def test_every_proof_in_a_small_tree_round_trips() -> None:
    leaves = [leaf_hash(bytes([i])) for i in range(37)]
    for size in range(1, 38):
        nodes = memory_nodes(leaves[:size])
        root = root_hash(nodes, size)
        for index in range(size):
            assert verify_inclusion(
                leaves[index], index, size, inclusion_proof(nodes, index, size), root
            )
        for first in range(1, size + 1):
            old = root_hash(nodes, first)
            assert verify_consistency(first, size, old, root, consistency_proof(nodes, first, size))


def test_extending_a_compact_range_completes_the_subtrees_a_whole_tree_has() -> None:
    leaves = [leaf_hash(bytes([i])) for i in range(23)]
    whole = memory_nodes(leaves)
    stored: dict[tuple[int, int], bytes] = {}
    for start, end in ((0, 5), (5, 6), (6, 16), (16, 23)):
        frontier = [(lv, ix, stored[(lv, ix)]) for lv, ix in frontier_nodes(start)]
        kept, stack = extend_compact_range(frontier, start, leaves[start:end])
        for level, index, digest in kept:
            stored[(level, index)] = digest
        assert covered(stack) == end
        assert compact_root([(lv, digest) for lv, _, digest in stack]) == root_hash(whole, end)
    for (level, index), digest in stored.items():
        assert whole(level, index) == digest
    assert len(stored) == 23 + 11 + 5 + 2 + 1  # every complete subtree, leaves included
    assert root_hash(lambda lv, ix: stored[(lv, ix)], 23) == root_hash(whole, 23)


def test_extending_a_compact_range_keeps_only_the_levels_asked_for() -> None:
    leaves = [leaf_hash(bytes([i])) for i in range(40)]
    kept, stack = extend_compact_range([], 0, leaves, keep_from=4)
    assert [(level, index) for level, index, _ in kept] == [(4, 0), (4, 1), (5, 0)]
    assert covered(stack) == 40
    assert compact_root([(lv, d) for lv, _, d in stack]) == root_hash(memory_nodes(leaves), 40)


# -- signed notes ------------------------------------------------------------------------

# golang.org/x/mod/sumdb/note's documented example key and note (Ed25519 is deterministic).
PETER_SKEY_SEED = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_SIGNATURE = (
    "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdng"
    "otpRZb6KE6RyyBwJnAM=\n"
)


def test_signed_notes_match_the_go_note_package_example() -> None:
    key = Ed25519PrivateKey.from_private_bytes(base64.b64decode(PETER_SKEY_SEED)[1:])
    assert verifier_key("PeterNeumann", key.public_key()) == PETER_VKEY
    note = sign_note(PETER_TEXT, "PeterNeumann", key)
    assert note == PETER_TEXT + "\n" + PETER_SIGNATURE
    assert open_note(note, "PeterNeumann", key.public_key()) == PETER_TEXT
    with pytest.raises(NoteError):
        open_note(note.replace("answer", "Answer"), "PeterNeumann", key.public_key())
    with pytest.raises(NoteError):
        open_note(note, "PeterNeumann", Ed25519PrivateKey.generate().public_key())


def test_a_checkpoint_body_round_trips() -> None:
    text = checkpoint_text("example.com/log", 8, bytes.fromhex(ROOTS[8]))
    assert text == "example.com/log\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n"
    body = parse_checkpoint(text)
    assert (body.origin, body.tree_size, body.root_hash.hex()) == ("example.com/log", 8, ROOTS[8])
    with pytest.raises(NoteError):
        parse_checkpoint("example.com/log\n08\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n")
