"""RFC 9162 (Certificate Transparency v2) Merkle tree arithmetic for the audit log.

Hashing is exactly RFC 9162 section 2.1.1, so any standard verifier (Trillian, transparency-dev,
sigstore, proofbundle) checks our proofs::

    leaf hash  = SHA-256(0x00 || entry)
    node hash  = SHA-256(0x01 || left || right)
    MTH({})    = SHA-256("")

Why stored nodes. The log is sized for ten million entries and a proof must be served in a few
milliseconds, so nothing here recomputes a tree from its leaves. The storage keeps, for every
level ``l >= 0``, the hash of every *complete aligned subtree*: node ``(l, i)`` is the MTH of
leaves ``[i * 2**l, (i + 1) * 2**l)``; level 0 holds the leaf hashes. Such a node never changes
once it exists (the log is append-only), so it can be written once, in the transaction that
appends the leaf completing it (`new_nodes_on_append`), and read forever after.

Every range whose MTH appears in an RFC 9162 root, audit path or consistency proof is made of at
most ``log2(n) + 1`` such nodes (`complete_nodes`), and a whole proof needs ``O(log n)`` of
them, a few dozen rows even for tens of millions of entries. The
``nodes_for_*`` functions list them up front, so the shell can fetch them in one query and hand
the proof functions a lookup into the result; the arithmetic itself then takes well under a
millisecond.

The proof definitions (PATH and SUBPROOF) follow RFC 9162 sections 2.1.3.1 and 2.1.4.1, and the
verifiers are the bit-twiddling algorithms of sections 2.1.3.2 and 2.1.4.2, written out from the
RFC rather than derived from the generators here, so that the two check each other.
"""

import hashlib
import hmac
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "GetNode",
    "InMemoryNodes",
    "MissingNode",
    "complete_nodes",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "mth",
    "new_nodes_on_append",
    "new_nodes_on_append_many",
    "node_hash",
    "nodes_for_consistency",
    "nodes_for_inclusion",
    "nodes_for_root",
    "root_hash",
    "subtree_hash",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
"""Bytes in a SHA-256 digest, the only hash this log uses."""

EMPTY_ROOT: bytes = hashlib.sha256(b"").digest()
"""MTH of the empty tree (RFC 9162 section 2.1.1)."""

GetNode = Callable[[int, int], bytes]
"""``get_node(level, index)`` returns the stored hash of complete subtree ``(level, index)``."""

# Sizes and indices are unsigned 64-bit in RFC 9162 (TransItem, tree_size); anything larger is
# malformed, and bounding them bounds the work a verifier does for an attacker-chosen input.
_MAX_TREE_SIZE = 2**64
# An audit path has at most 64 entries and a consistency proof at most 64 + 1 for such sizes;
# refusing longer lists before looking inside them keeps a hostile proof from costing anything.
_MAX_PROOF_LENGTH = 2 * 64

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


class MissingNode(LookupError):
    """A complete-subtree node that the arithmetic needs is not in the store.

    Either the tree is smaller than the caller believes, or the store is damaged; both mean a
    proof cannot be produced, never that a partial one should be.
    """

    def __init__(self, level: int, index: int) -> None:
        super().__init__(f"no stored Merkle node at level {level}, index {index}")
        self.level = level
        self.index = index


def leaf_hash(entry: bytes) -> bytes:
    """RFC 9162 leaf hash: the 0x00 prefix keeps a leaf from ever posing as an interior node."""
    return hashlib.sha256(_LEAF_PREFIX + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 interior node hash, domain-separated from leaves by the 0x01 prefix."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def mth(entries: Sequence[bytes]) -> bytes:
    """Merkle Tree Hash of ``entries`` (entry data, not leaf hashes) by the RFC's own recursion.

    This is the slow, obviously-correct reference: tests cross-check the stored-node arithmetic
    against it. Production code never calls it on a large log.
    """
    n = len(entries)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaf_hash(entries[0])
    k = _split(n)
    return node_hash(mth(entries[:k]), mth(entries[k:]))


def _split(n: int) -> int:
    """The RFC's ``k``: the largest power of two strictly smaller than ``n`` (``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


def _check_hash(value: bytes, what: str) -> None:
    """Refuse a value that is not a SHA-256 digest, naming the argument but not the value."""
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        raise ValueError(f"{what} must be {HASH_SIZE} bytes")


def _check_count(value: int, what: str) -> None:
    """Refuse a size or index that is not a non-negative int (a bool is not a count)."""
    if type(value) is not int or value < 0:
        raise ValueError(f"{what} must be a non-negative int")


# --- building the store --------------------------------------------------------------------------


def new_nodes_on_append(size_before: int, leaf: bytes, get_node: GetNode) -> list[tuple[int, int, bytes]]:
    """The ``(level, index, hash)`` nodes that become complete when leaf ``size_before`` is appended.

    ``leaf`` is the *leaf hash* (`leaf_hash` of the event bytes), not the event bytes: the length
    check below turns that easy mix-up into an error instead of a silently different tree. The
    first element is ``(0, size_before, leaf)``; then one node per level for as long as the new
    node is a right child, each combined with its left sibling read through ``get_node``. That is
    ``1 + trailing_ones(size_before)`` nodes, on average two.
    """
    return new_nodes_on_append_many(size_before, [leaf], get_node)


def new_nodes_on_append_many(
    size_before: int, leaves: Iterable[bytes], get_node: GetNode
) -> list[tuple[int, int, bytes]]:
    """`new_nodes_on_append` for consecutive leaves ``size_before, size_before + 1, ...`` at once.

    The shell appends a batch inside one transaction, before any of it is written, so a left
    sibling made earlier in the same batch is not in the store yet; it is taken from the batch's
    own frontier and ``get_node`` is asked only for nodes that existed before the batch. The
    frontier drops each node once it has been combined with its right sibling, so it holds at
    most one node per level whatever the batch size.
    """
    _check_count(size_before, "size_before")
    frontier: dict[tuple[int, int], bytes] = {}
    created: list[tuple[int, int, bytes]] = []
    for index, leaf in enumerate(leaves, start=size_before):
        _check_hash(leaf, "leaf")
        level, position, value = 0, index, leaf
        created.append((level, position, value))
        while position & 1:
            sibling = frontier.pop((level, position - 1), None)
            if sibling is None:
                sibling = _fetch(get_node, level, position - 1)
            value = node_hash(sibling, value)
            level, position = level + 1, position >> 1
            created.append((level, position, value))
        # The last node made is a left child (or the leftmost node): keep it for its right sibling.
        frontier[(level, position)] = value
    return created


def _fetch(get_node: GetNode, level: int, index: int) -> bytes:
    """Read one node and check it is a digest, so a damaged store fails here and not as a bad proof."""
    value = get_node(level, index)
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        raise MissingNode(level, index)
    return value


# --- which stored nodes a range, a root or a proof is made of ------------------------------------


def complete_nodes(start: int, end: int) -> list[tuple[int, int]]:
    """The ``(level, index)`` complete subtrees whose right fold is the MTH of leaves ``[start, end)``.

    RFC 9162 splits a list of ``s`` entries at ``k``, the largest power of two below ``s``, so the
    left part is complete and the right part is split again: the MTH of the range is
    ``node_hash(c1, node_hash(c2, ... cj))`` where ``c1 > c2 > ... > cj`` are the powers of two in
    the binary expansion of ``s``, laid out from ``start``. Those parts are stored nodes exactly
    when ``start`` is a multiple of the largest of them, which holds for every range the RFC's
    recursion produces from a tree ``[0, n)`` (a right part of size ``s - k < k`` starts at a
    multiple of ``k``). Any other range raises ``ValueError``: its hash is not made of stored
    nodes, and asking for it is a bug in the caller.
    """
    _check_count(start, "start")
    _check_count(end, "end")
    size = end - start
    if size <= 0:
        raise ValueError("a subtree needs start < end")
    top = size.bit_length() - 1
    if start % (1 << top):
        raise ValueError("start is not aligned to the largest complete subtree of the range")
    nodes: list[tuple[int, int]] = []
    position = start
    for level in range(top, -1, -1):
        if size >> level & 1:
            nodes.append((level, position >> level))
            position += 1 << level
    return nodes


def _inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges of PATH(index, D[size]) (RFC 9162 section 2.1.3.1), leaf to root.

    PATH(m, D[n]) = PATH(m, D[0:k]) : MTH(D[k:n])   if m < k
                  = PATH(m - k, D[k:n]) : MTH(D[0:k]) if m >= k
    Walked from the root down, then reversed, because each recursion appends after its sub-path.
    """
    _check_count(index, "index")
    _check_count(size, "size")
    if index >= size:
        raise ValueError("index must be smaller than the tree size")
    ranges: list[tuple[int, int]] = []
    start, end = 0, size
    while end - start > 1:
        middle = start + _split(end - start)
        if index < middle:
            ranges.append((middle, end))
            end = middle
        else:
            ranges.append((start, middle))
            start = middle
    ranges.reverse()
    return ranges


def _consistency_ranges(first: int, second: int) -> list[tuple[int, int]]:
    """The leaf ranges of PROOF(first, D[second]) (RFC 9162 section 2.1.4.1), in proof order.

    PROOF(m, D[n]) = SUBPROOF(m, D[n], true), with
    SUBPROOF(m, D[m], true)  = {}
    SUBPROOF(m, D[m], false) = {MTH(D[m])}
    SUBPROOF(m, D[n], b)     = SUBPROOF(m, D[0:k], b) : MTH(D[k:n])          if m <= k
                             = SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])  if m > k
    Ranges are absolute leaf positions, so "m == n" for the current subtree ``[start, end)`` reads
    ``first == end``. Equal sizes give the empty proof.
    """
    _check_count(first, "first")
    _check_count(second, "second")
    if not 0 < first <= second:
        raise ValueError("a consistency proof needs 0 < first <= second")
    ranges: list[tuple[int, int]] = []
    start, end, whole_tree = 0, second, True
    while first != end:
        middle = start + _split(end - start)
        if first <= middle:
            ranges.append((middle, end))
            end = middle
        else:
            ranges.append((start, middle))
            start, whole_tree = middle, False
    if not whole_tree:
        ranges.append((start, end))
    ranges.reverse()
    return ranges


def _nodes_of(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """All stored nodes behind ``ranges``, each once, in first-use order."""
    seen: dict[tuple[int, int], None] = {}
    for start, end in ranges:
        for node in complete_nodes(start, end):
            seen.setdefault(node)
    return list(seen)


def nodes_for_root(size: int) -> list[tuple[int, int]]:
    """The stored nodes `root_hash` reads for a tree of ``size`` leaves (one per set bit of size)."""
    _check_count(size, "size")
    return complete_nodes(0, size) if size else []


def nodes_for_inclusion(index: int, size: int) -> list[tuple[int, int]]:
    """The stored nodes `inclusion_proof` reads, so the shell can fetch them in one query."""
    return _nodes_of(_inclusion_ranges(index, size))


def nodes_for_consistency(first: int, second: int) -> list[tuple[int, int]]:
    """The stored nodes `consistency_proof` reads, so the shell can fetch them in one query."""
    return _nodes_of(_consistency_ranges(first, second))


# --- hashes and proofs from stored nodes ---------------------------------------------------------


def subtree_hash(start: int, end: int, get_node: GetNode) -> bytes:
    """MTH of leaves ``[start, end)`` from at most ``log2(end - start) + 1`` stored nodes.

    The range must be one that RFC 9162's recursive split produces (see `complete_nodes`).
    """
    hashes = [_fetch(get_node, level, index) for level, index in complete_nodes(start, end)]
    value = hashes.pop()
    for left in reversed(hashes):
        value = node_hash(left, value)
    return value


def root_hash(size: int, get_node: GetNode) -> bytes:
    """MTH of the first ``size`` leaves: the root a tree head of that size signs."""
    _check_count(size, "size")
    return subtree_hash(0, size, get_node) if size else EMPTY_ROOT


def inclusion_proof(index: int, size: int, get_node: GetNode) -> list[bytes]:
    """RFC 9162 audit path for leaf ``index`` in the tree of the first ``size`` leaves, leaf to root."""
    return [subtree_hash(start, end, get_node) for start, end in _inclusion_ranges(index, size)]


def consistency_proof(first: int, second: int, get_node: GetNode) -> list[bytes]:
    """RFC 9162 consistency proof that the tree of ``first`` leaves is a prefix of that of ``second``."""
    return [subtree_hash(start, end, get_node) for start, end in _consistency_ranges(first, second)]


# --- verifiers (RFC 9162 sections 2.1.3.2 and 2.1.4.2) -------------------------------------------


def _is_hash(value: Any) -> bool:
    return isinstance(value, bytes) and len(value) == HASH_SIZE


def _is_size(value: Any) -> bool:
    # `type(...) is int` rather than isinstance: True is an int to Python but not a tree size.
    return type(value) is int and 0 <= value < _MAX_TREE_SIZE


def _is_path(value: Any) -> bool:
    return (
        isinstance(value, list | tuple)
        and len(value) <= _MAX_PROOF_LENGTH
        and all(_is_hash(item) for item in value)
    )


def verify_inclusion(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> bool:
    """True iff ``proof`` shows the leaf with hash ``leaf_hash`` at ``index`` under ``root`` of ``size``.

    The algorithm of RFC 9162 section 2.1.3.2. Malformed input of any kind (wrong types, wrong
    digest lengths, out-of-range numbers, an over-long proof) is answered False, never an
    exception, because the inputs usually come from someone else. ``size`` and ``root`` must come
    together from one signed tree head: a path valid for one size can also fit nearby sizes.
    """
    if not (_is_hash(leaf_hash) and _is_hash(root) and _is_size(index) and _is_size(size)):
        return False
    if not _is_path(proof) or index >= size:
        return False
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            # "If LSB(fn) is not set, right-shift fn and sn until LSB(fn) is set or fn is 0":
            # when LSB(fn) is set the loop condition is already false, so no separate test.
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and hmac.compare_digest(r, root)


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> bool:
    """True iff ``proof`` shows the tree ``first_root`` of ``first`` leaves is a prefix of ``second_root``.

    The algorithm of RFC 9162 section 2.1.4.2, which assumes ``0 < first < second``. Two cases
    outside that are settled first, as other CT verifiers do: equal sizes are consistent exactly
    when the roots are equal and the proof is empty; a first size of 0 is refused, because RFC
    9162 defines no consistency proof from the empty tree. Malformed input is answered False.
    """
    if not (_is_hash(first_root) and _is_hash(second_root) and _is_size(first) and _is_size(second)):
        return False
    if not _is_path(proof) or not 0 < first <= second:
        return False
    if first == second:
        return not proof and hmac.compare_digest(first_root, second_root)
    # 1. An empty proof cannot link two different sizes.
    if not proof:
        return False
    # 2. A power-of-two first tree is a complete node the proof omits; the verifier supplies it.
    path = list(proof)
    if first & (first - 1) == 0:
        path.insert(0, first_root)
    # 3, 4.
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    # 5, 6.
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    # 7.
    return sn == 0 and hmac.compare_digest(fr, first_root) and hmac.compare_digest(sr, second_root)


# --- an in-memory store ---------------------------------------------------------------------------


class InMemoryNodes:
    """A dict-backed node store with the same ``get(level, index)`` contract as the database.

    Used by the tests, and by ``audit verify``, which re-hashes every stored event into one of
    these and compares roots and nodes with what the database holds: an independent rebuild is
    the point, so it shares only the arithmetic, not the storage.
    """

    def __init__(self) -> None:
        self._nodes: dict[tuple[int, int], bytes] = {}
        self._size = 0

    @property
    def size(self) -> int:
        """Number of leaves appended so far."""
        return self._size

    @property
    def nodes(self) -> Mapping[tuple[int, int], bytes]:
        """A read-only view of every stored ``(level, index) -> hash``, for comparing stores."""
        return MappingProxyType(self._nodes)

    def get(self, level: int, index: int) -> bytes:
        """The stored hash of complete subtree ``(level, index)``; `MissingNode` if there is none."""
        try:
            return self._nodes[(level, index)]
        except KeyError:
            raise MissingNode(level, index) from None

    def append(self, entry: bytes) -> int:
        """Append one entry (event bytes, hashed here) and return its leaf index."""
        self.extend([entry])
        return self._size - 1

    def extend(self, entries: Iterable[bytes]) -> None:
        """Append entries in order through the same batch arithmetic the database shell uses."""
        leaves = [leaf_hash(entry) for entry in entries]
        for level, index, value in new_nodes_on_append_many(self._size, leaves, self.get):
            self._nodes[(level, index)] = value
        self._size += len(leaves)
