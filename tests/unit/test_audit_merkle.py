"""The audit log's Merkle arithmetic against RFC 9162, published vectors and an independent verifier."""

import hashlib
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from proofbundle import verify_consistency as independent_verify_consistency
from proofbundle import verify_inclusion as independent_verify_inclusion
from proofbundle.merkle import consistency_proof as independent_consistency_proof
from proofbundle.merkle import inclusion_proof as independent_inclusion_proof

from audit.merkle import (
    EMPTY_ROOT,
    InMemoryNodes,
    MissingNode,
    complete_nodes,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    mth,
    new_nodes_on_append,
    new_nodes_on_append_many,
    node_hash,
    nodes_for_consistency,
    nodes_for_inclusion,
    nodes_for_root,
    root_hash,
    subtree_hash,
    verify_consistency,
    verify_inclusion,
)

# --- Published RFC 6962 test vectors --------------------------------------------------------------
# The 8-leaf tree used by google/certificate-transparency (python/ct/crypto/in_memory_merkle_tree_test.py)
# and transparency-dev/merkle (testonly/constants.go, proof/verify_test.go). Indices are 0-based
# here; the Go verify_test.go lists leaves 1-based.

VECTOR_LEAVES = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]


def h(text: str) -> bytes:
    return bytes.fromhex(text)


VECTOR_ROOTS = [
    h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    h("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    h("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
    h("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
    h("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
    h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
]

# transparency-dev/merkle testonly.NodeHashes(): every complete subtree, by level then index.
VECTOR_NODES = [
    [
        h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
        h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
        h("0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7"),
        h("07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7"),
        h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        h("4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658"),
        h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
        h("46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1"),
    ],
    [
        h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
        h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
        h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
        h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
    ],
    [
        h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
    ],
    [h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")],
]

VECTOR_INCLUSION_PROOFS = [
    (0, 1, []),
    (
        0,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        5,
        8,
        [
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (2, 3, [h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")]),
    (
        1,
        5,
        [
            h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
]

VECTOR_CONSISTENCY_PROOFS = [
    (1, 1, []),
    (
        1,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        6,
        8,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (
        2,
        5,
        [
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
    (
        6,
        7,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
]

MAX_EXHAUSTIVE_SIZE = 64


def tree_of(entries: list[bytes]) -> InMemoryNodes:
    nodes = InMemoryNodes()
    for entry in entries:
        nodes.append(entry)
    return nodes


def entries_of(count: int) -> list[bytes]:
    """Distinct entries of varied lengths, including the empty entry."""
    return [bytes([i % 256]) * (i % 7) + i.to_bytes(2, "big") if i else b"" for i in range(count)]


@pytest.fixture(scope="module")
def big_entries() -> list[bytes]:
    return entries_of(MAX_EXHAUSTIVE_SIZE)


@pytest.fixture(scope="module")
def big_tree(big_entries: list[bytes]) -> InMemoryNodes:
    return tree_of(big_entries)


@pytest.fixture(scope="module")
def vector_tree() -> InMemoryNodes:
    return tree_of(VECTOR_LEAVES)


def flip_bit(value: bytes, position: int = 0) -> bytes:
    changed = bytearray(value)
    changed[position] ^= 0x08
    return bytes(changed)


# --- hashing --------------------------------------------------------------------------------------


def test_leaf_and_node_hashes_are_domain_separated_sha256_as_rfc_9162_defines_them() -> None:
    assert leaf_hash(b"abc") == hashlib.sha256(b"\x00abc").digest()
    assert node_hash(b"L" * 32, b"R" * 32) == hashlib.sha256(b"\x01" + b"L" * 32 + b"R" * 32).digest()
    assert EMPTY_ROOT == hashlib.sha256(b"").digest()


def test_the_reference_mth_gives_the_published_roots_for_every_prefix_of_the_vector_tree() -> None:
    for size, expected in enumerate(VECTOR_ROOTS):
        assert mth(VECTOR_LEAVES[:size]) == expected, size


def test_appending_the_vector_leaves_stores_exactly_the_published_complete_subtrees(
    vector_tree: InMemoryNodes,
) -> None:
    expected = {
        (level, index): value for level, row in enumerate(VECTOR_NODES) for index, value in enumerate(row)
    }
    assert dict(vector_tree.nodes) == expected
    assert vector_tree.size == 8


def test_roots_from_stored_nodes_match_the_published_roots_for_every_size(vector_tree: InMemoryNodes) -> None:
    for size, expected in enumerate(VECTOR_ROOTS):
        assert root_hash(size, vector_tree.get) == expected, size


@pytest.mark.parametrize(("index", "size", "expected"), VECTOR_INCLUSION_PROOFS)
def test_inclusion_proofs_match_the_published_vectors(
    vector_tree: InMemoryNodes, index: int, size: int, expected: list[bytes]
) -> None:
    proof = inclusion_proof(index, size, vector_tree.get)
    assert proof == expected
    assert verify_inclusion(leaf_hash(VECTOR_LEAVES[index]), index, size, proof, VECTOR_ROOTS[size])


@pytest.mark.parametrize(("first", "second", "expected"), VECTOR_CONSISTENCY_PROOFS)
def test_consistency_proofs_match_the_published_vectors(
    vector_tree: InMemoryNodes, first: int, second: int, expected: list[bytes]
) -> None:
    proof = consistency_proof(first, second, vector_tree.get)
    assert proof == expected
    assert verify_consistency(first, second, VECTOR_ROOTS[first], VECTOR_ROOTS[second], proof)


# --- exhaustive small trees, cross-checked with an independent implementation ---------------------


def test_every_inclusion_proof_up_to_64_leaves_verifies_here_and_in_proofbundle(
    big_entries: list[bytes], big_tree: InMemoryNodes
) -> None:
    for size in range(1, MAX_EXHAUSTIVE_SIZE + 1):
        root = root_hash(size, big_tree.get)
        assert root == mth(big_entries[:size]), size
        for index in range(size):
            proof = inclusion_proof(index, size, big_tree.get)
            where = f"index {index} of {size}"
            assert proof == independent_inclusion_proof(big_entries[:size], index), where
            assert verify_inclusion(leaf_hash(big_entries[index]), index, size, proof, root), where
            # proofbundle takes the entry data and hashes the leaf itself.
            assert independent_verify_inclusion(big_entries[index], index, size, proof, root), where
            # The proof is bound to the tree's height. (A size one off can still fit the same path:
            # that is inherent to RFC 9162, and why size and root come from one signed head.)
            for wrong_size in (2 * size, size // 2):
                assert not verify_inclusion(leaf_hash(big_entries[index]), index, wrong_size, proof, root), (
                    where
                )


def test_every_consistency_proof_up_to_64_leaves_verifies_here_and_in_proofbundle(
    big_entries: list[bytes], big_tree: InMemoryNodes
) -> None:
    roots = [root_hash(size, big_tree.get) for size in range(MAX_EXHAUSTIVE_SIZE + 1)]
    for second in range(1, MAX_EXHAUSTIVE_SIZE + 1):
        for first in range(1, second + 1):
            proof = consistency_proof(first, second, big_tree.get)
            where = f"{first} -> {second}"
            assert proof == independent_consistency_proof(big_entries[:second], first), where
            assert verify_consistency(first, second, roots[first], roots[second], proof), where
            # proofbundle's argument order: sizes, proof, then the two roots.
            assert independent_verify_consistency(first, second, proof, roots[first], roots[second]), where
            for wrong in {
                (first, 2 * second),
                (first, second // 2),
                (first - 1, second),
                (first + 1, second),
                (first ^ 2, second),
            } - {(first, second)}:
                assert not verify_consistency(*wrong, roots[first], roots[second], proof), (
                    f"{where} as {wrong}"
                )


def test_proofs_read_only_the_nodes_the_shell_is_told_to_fetch(big_tree: InMemoryNodes) -> None:
    def restricted(allowed: list[tuple[int, int]]) -> Callable[[int, int], bytes]:
        def get(level: int, index: int) -> bytes:
            assert (level, index) in allowed
            return big_tree.get(level, index)

        return get

    for size in range(1, MAX_EXHAUSTIVE_SIZE + 1):
        assert root_hash(size, restricted(nodes_for_root(size))) == root_hash(size, big_tree.get)
        for index in range(size):
            wanted = nodes_for_inclusion(index, size)
            assert inclusion_proof(index, size, restricted(wanted)) == inclusion_proof(
                index, size, big_tree.get
            )
        for first in range(1, size + 1):
            wanted = nodes_for_consistency(first, size)
            assert consistency_proof(first, size, restricted(wanted)) == consistency_proof(
                first, size, big_tree.get
            )
    assert nodes_for_root(0) == []


def test_a_proof_for_ten_million_entries_needs_only_a_few_dozen_stored_nodes() -> None:
    size = 10_000_000
    assert len(nodes_for_root(size)) == bin(size).count("1")
    assert max(len(nodes_for_inclusion(index, size)) for index in (0, 1, size // 2, size - 2, size - 1)) <= 48
    assert max(len(nodes_for_consistency(first, size)) for first in (1, 3, 5_000_001, size - 1)) <= 48


# --- properties -----------------------------------------------------------------------------------


@st.composite
def aligned_ranges(draw: st.DrawFn) -> tuple[list[bytes], int, int]:
    """Entries plus a range [start, end) of the kind RFC 9162's recursive split produces."""
    entries = draw(st.lists(st.binary(max_size=8), min_size=1, max_size=200))
    width = draw(st.integers(min_value=1, max_value=len(entries)))
    alignment = 1 << (width.bit_length() - 1)
    start = alignment * draw(st.integers(min_value=0, max_value=(len(entries) - width) // alignment))
    return entries, start, start + width


@settings(max_examples=150, deadline=None)
@given(aligned_ranges())
def test_a_subtree_hash_from_stored_nodes_equals_the_reference_mth(
    case: tuple[list[bytes], int, int],
) -> None:
    entries, start, end = case
    assert subtree_hash(start, end, tree_of(entries).get) == mth(entries[start:end])


@st.composite
def trees_with_an_index(draw: st.DrawFn) -> tuple[list[bytes], int]:
    entries = draw(st.lists(st.binary(max_size=4), min_size=1, max_size=300))
    return entries, draw(st.integers(min_value=0, max_value=len(entries) - 1))


@settings(max_examples=100, deadline=None)
@given(trees_with_an_index(), st.data())
def test_a_tampered_inclusion_proof_or_a_wrong_root_or_leaf_fails(
    case: tuple[list[bytes], int], data: st.DataObject
) -> None:
    entries, index = case
    size, tree = len(entries), tree_of(entries)
    root, leaf = root_hash(size, tree.get), leaf_hash(entries[index])
    proof = inclusion_proof(index, size, tree.get)
    assert verify_inclusion(leaf, index, size, proof, root)
    assert not verify_inclusion(leaf, index, size, proof, flip_bit(root, 31))
    assert not verify_inclusion(leaf_hash(entries[index] + b"!"), index, size, proof, root)
    assert not verify_inclusion(leaf, index, size, [*proof, root], root)
    assert not verify_inclusion(leaf, index, size, [root, *proof], root)
    if proof:
        position = data.draw(st.integers(min_value=0, max_value=len(proof) - 1))
        byte = data.draw(st.integers(min_value=0, max_value=31))
        tampered = [*proof]
        tampered[position] = flip_bit(proof[position], byte)
        assert not verify_inclusion(leaf, index, size, tampered, root)
        assert not verify_inclusion(leaf, index, size, proof[:-1], root)


@st.composite
def trees_with_two_sizes(draw: st.DrawFn) -> tuple[list[bytes], int]:
    entries = draw(st.lists(st.binary(max_size=4), min_size=2, max_size=300))
    return entries, draw(st.integers(min_value=1, max_value=len(entries) - 1))


@settings(max_examples=100, deadline=None)
@given(trees_with_two_sizes(), st.data())
def test_a_tampered_consistency_proof_or_swapped_roots_fail(
    case: tuple[list[bytes], int], data: st.DataObject
) -> None:
    entries, first = case
    second, tree = len(entries), tree_of(entries)
    first_root, second_root = root_hash(first, tree.get), root_hash(second, tree.get)
    proof = consistency_proof(first, second, tree.get)
    assert verify_consistency(first, second, first_root, second_root, proof)
    assert not verify_consistency(first, second, second_root, first_root, proof)
    assert not verify_consistency(first, second, flip_bit(first_root, 5), second_root, proof)
    assert not verify_consistency(first, second, first_root, flip_bit(second_root, 5), proof)
    assert not verify_consistency(first, second, first_root, second_root, [])
    assert not verify_consistency(first, second, first_root, second_root, proof[:-1])
    assert not verify_consistency(first, second, first_root, second_root, [*proof, first_root])
    position = data.draw(st.integers(min_value=0, max_value=len(proof) - 1))
    tampered = [*proof]
    tampered[position] = flip_bit(proof[position], data.draw(st.integers(min_value=0, max_value=31)))
    assert not verify_consistency(first, second, first_root, second_root, tampered)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.binary(max_size=4), max_size=40),
    st.lists(st.lists(st.binary(max_size=4), max_size=40), max_size=6),
)
def test_appending_in_batches_stores_the_same_nodes_as_appending_one_by_one(
    prefix: list[bytes], batches: list[list[bytes]]
) -> None:
    one_by_one = tree_of(prefix + [entry for batch in batches for entry in batch])

    batched = tree_of(prefix)
    store = dict(batched.nodes)
    size = len(prefix)
    fetched: list[tuple[int, int]] = []

    def get(level: int, index: int) -> bytes:
        fetched.append((level, index))
        return store[(level, index)]

    for batch in batches:
        fetched.clear()
        created = new_nodes_on_append_many(size, [leaf_hash(entry) for entry in batch], get)
        # Only nodes that existed before the batch are read from storage, each at most once.
        assert all(node in store for node in fetched)
        assert len(fetched) == len(set(fetched))
        assert not {(level, index) for level, index, _ in created} & set(store)
        store.update({(level, index): value for level, index, value in created})
        size += len(batch)

    assert store == dict(one_by_one.nodes)


def test_appending_one_leaf_creates_the_leaf_and_each_subtree_it_completes() -> None:
    tree = tree_of(VECTOR_LEAVES[:7])
    created = new_nodes_on_append(7, leaf_hash(VECTOR_LEAVES[7]), tree.get)
    assert created == [
        (0, 7, VECTOR_NODES[0][7]),
        (1, 3, VECTOR_NODES[1][3]),
        (2, 1, VECTOR_NODES[2][1]),
        (3, 0, VECTOR_NODES[3][0]),
    ]
    assert new_nodes_on_append(0, VECTOR_NODES[0][0], tree.get) == [(0, 0, VECTOR_NODES[0][0])]


# --- misuse is refused loudly by the builders, quietly (False) by the verifiers ------------------


def test_appending_event_bytes_instead_of_a_leaf_hash_is_refused() -> None:
    with pytest.raises(ValueError, match="leaf must be 32 bytes"):
        new_nodes_on_append(0, b'{"action": "feed.accepted"}', InMemoryNodes().get)
    with pytest.raises(ValueError, match="size_before"):
        new_nodes_on_append(-1, b"\x00" * 32, InMemoryNodes().get)


def test_a_store_missing_a_node_or_returning_garbage_raises_missing_node() -> None:
    tree = tree_of(VECTOR_LEAVES[:3])
    with pytest.raises(MissingNode) as raised:
        inclusion_proof(0, 4, tree.get)
    assert (raised.value.level, raised.value.index) == (1, 1)
    with pytest.raises(MissingNode):
        root_hash(2, lambda level, index: b"short")
    with pytest.raises(MissingNode):
        new_nodes_on_append(3, b"\x00" * 32, lambda level, index: b"")


@pytest.mark.parametrize(
    ("start", "end"),
    [(0, 0), (3, 2), (1, 3), (2, 6), (4, 12), (-1, 1), (0, True)],
    ids=["empty", "backwards", "misaligned-pair", "misaligned-four", "misaligned-eight", "negative", "bool"],
)
def test_a_range_that_is_not_made_of_stored_subtrees_is_refused(start: int, end: int) -> None:
    with pytest.raises(ValueError):
        complete_nodes(start, end)


def test_ranges_from_the_rfc_split_decompose_into_aligned_complete_subtrees() -> None:
    assert complete_nodes(0, 7) == [(2, 0), (1, 2), (0, 6)]
    assert complete_nodes(8, 13) == [(2, 2), (0, 12)]
    assert complete_nodes(2, 5) == [(1, 1), (0, 4)]


@pytest.mark.parametrize(
    ("index", "size"), [(0, 0), (3, 3), (-1, 4), (0, -1)], ids=["empty", "past-end", "negative", "neg-size"]
)
def test_an_inclusion_proof_outside_the_tree_is_refused(index: int, size: int) -> None:
    with pytest.raises(ValueError):
        inclusion_proof(index, size, InMemoryNodes().get)


@pytest.mark.parametrize(
    ("first", "second"), [(0, 4), (5, 4), (-1, 4)], ids=["from-empty", "backwards", "neg"]
)
def test_a_consistency_proof_between_impossible_sizes_is_refused(first: int, second: int) -> None:
    with pytest.raises(ValueError):
        consistency_proof(first, second, InMemoryNodes().get)


def test_a_root_for_a_negative_size_is_refused() -> None:
    with pytest.raises(ValueError):
        root_hash(-1, InMemoryNodes().get)


def test_the_empty_tree_has_the_empty_root() -> None:
    assert root_hash(0, InMemoryNodes().get) == EMPTY_ROOT == mth([])


GOOD_LEAF = leaf_hash(VECTOR_LEAVES[5])
GOOD_PROOF = VECTOR_INCLUSION_PROOFS[2][2]
GOOD_ROOT = VECTOR_ROOTS[8]


@pytest.mark.parametrize(
    "arguments",
    [
        (GOOD_LEAF[:31], 5, 8, GOOD_PROOF, GOOD_ROOT),
        ("not bytes", 5, 8, GOOD_PROOF, GOOD_ROOT),
        (GOOD_LEAF, 5, 8, GOOD_PROOF, GOOD_ROOT + b"\x00"),
        (GOOD_LEAF, 5.0, 8, GOOD_PROOF, GOOD_ROOT),
        (GOOD_LEAF, True, 8, GOOD_PROOF, GOOD_ROOT),
        (GOOD_LEAF, -1, 8, GOOD_PROOF, GOOD_ROOT),
        (GOOD_LEAF, 5, 2**64, GOOD_PROOF, GOOD_ROOT),
        (GOOD_LEAF, 8, 8, GOOD_PROOF, GOOD_ROOT),
        (GOOD_LEAF, 5, 8, iter(GOOD_PROOF), GOOD_ROOT),
        (GOOD_LEAF, 5, 8, [*GOOD_PROOF[:2], "x" * 32], GOOD_ROOT),
        (GOOD_LEAF, 5, 8, [GOOD_ROOT] * 129, GOOD_ROOT),
        (GOOD_LEAF, 5, 8, None, GOOD_ROOT),
    ],
    ids=[
        "short-leaf",
        "str-leaf",
        "long-root",
        "float-index",
        "bool-index",
        "negative-index",
        "huge-size",
        "index-past-end",
        "iterator-proof",
        "str-in-proof",
        "overlong-proof",
        "no-proof",
    ],
)
def test_malformed_inclusion_input_is_answered_false_not_raised(arguments: tuple[object, ...]) -> None:
    assert verify_inclusion(*arguments) is False  # type: ignore[arg-type]


def test_the_known_good_inclusion_proof_behind_the_malformed_cases_does_verify() -> None:
    assert verify_inclusion(GOOD_LEAF, 5, 8, GOOD_PROOF, GOOD_ROOT) is True
    assert verify_inclusion(GOOD_LEAF, 5, 8, tuple(GOOD_PROOF), GOOD_ROOT) is True


def test_a_bool_is_not_taken_for_an_index_or_a_size_even_where_its_int_value_would_verify() -> None:
    index, size, proof = VECTOR_INCLUSION_PROOFS[4]
    assert index == 1
    assert verify_inclusion(leaf_hash(VECTOR_LEAVES[1]), 1, size, proof, VECTOR_ROOTS[size])
    assert not verify_inclusion(leaf_hash(VECTOR_LEAVES[1]), True, size, proof, VECTOR_ROOTS[size])
    assert not verify_inclusion(VECTOR_ROOTS[1], False, True, [], VECTOR_ROOTS[1])
    first, second, consistency = VECTOR_CONSISTENCY_PROOFS[1]
    assert first == 1
    assert not verify_consistency(True, second, VECTOR_ROOTS[1], VECTOR_ROOTS[second], consistency)


def test_an_inclusion_proof_for_a_single_leaf_tree_is_empty_and_a_non_empty_one_fails() -> None:
    leaf = leaf_hash(b"data")
    assert verify_inclusion(leaf, 0, 1, [], leaf)
    assert not verify_inclusion(leaf, 0, 1, [leaf], leaf)


GOOD_CONSISTENCY = VECTOR_CONSISTENCY_PROOFS[2][2]


@pytest.mark.parametrize(
    "arguments",
    [
        (6, 8, VECTOR_ROOTS[6][:31], VECTOR_ROOTS[8], GOOD_CONSISTENCY),
        (6, 8, VECTOR_ROOTS[6], None, GOOD_CONSISTENCY),
        (6.0, 8, VECTOR_ROOTS[6], VECTOR_ROOTS[8], GOOD_CONSISTENCY),
        (6, 2**64, VECTOR_ROOTS[6], VECTOR_ROOTS[8], GOOD_CONSISTENCY),
        (0, 8, EMPTY_ROOT, VECTOR_ROOTS[8], GOOD_CONSISTENCY),
        (8, 6, VECTOR_ROOTS[8], VECTOR_ROOTS[6], GOOD_CONSISTENCY),
        (6, 8, VECTOR_ROOTS[6], VECTOR_ROOTS[8], {"proof": GOOD_CONSISTENCY}),
        (6, 8, VECTOR_ROOTS[6], VECTOR_ROOTS[8], [*GOOD_CONSISTENCY[:2], b"short"]),
        (4, 4, VECTOR_ROOTS[4], VECTOR_ROOTS[4], [VECTOR_ROOTS[4]]),
        (4, 4, VECTOR_ROOTS[4], VECTOR_ROOTS[5], []),
        (1, 2, VECTOR_ROOTS[1], VECTOR_ROOTS[2], [VECTOR_NODES[0][1]] * 3),
    ],
    ids=[
        "short-root",
        "no-root",
        "float-size",
        "huge-size",
        "from-empty",
        "backwards",
        "dict-proof",
        "short-element",
        "equal-sizes-non-empty-proof",
        "equal-sizes-different-roots",
        "proof-longer-than-the-tree",
    ],
)
def test_malformed_consistency_input_is_answered_false_not_raised(arguments: tuple[object, ...]) -> None:
    assert verify_consistency(*arguments) is False  # type: ignore[arg-type]


def test_equal_sizes_are_consistent_with_an_empty_proof_and_equal_roots() -> None:
    assert verify_consistency(5, 5, VECTOR_ROOTS[5], VECTOR_ROOTS[5], [])


def test_the_in_memory_store_reports_a_missing_node_with_its_coordinates() -> None:
    tree = InMemoryNodes()
    assert tree.append(b"first") == 0
    assert tree.append(b"second") == 1
    with pytest.raises(MissingNode, match="level 1, index 1"):
        tree.get(1, 1)
    with pytest.raises(TypeError):
        tree.nodes[(9, 9)] = b""  # type: ignore[index]
