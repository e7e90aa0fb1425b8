"""Seeds: every draw comes from a generator seeded by a string naming its purpose, or for numbers asked
for millions of times from an integer hash; never from the global generator or the salted `hash()`."""

from __future__ import annotations

import functools
import hashlib
import random


def _rng(*parts: object) -> random.Random:
    """A generator for one purpose: seeding from a string (SHA-512 inside `random`) keeps it stable
    across runs and Python versions, unlike `hash()`, and independent of every other purpose."""
    return random.Random(":".join(str(p) for p in parts))


_MASK64 = (1 << 64) - 1


@functools.lru_cache(maxsize=256)
def _seed_key(seed: int | str, purpose: str) -> int:
    digest = hashlib.blake2b(f"{seed}:{purpose}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def _mix64(x: int) -> int:
    """splitmix64's finaliser: a well-mixed 64-bit hash of an integer."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def _unit(seed: int | str, purpose: str, a: int, b: int) -> float:
    """One uniform number in [0, 1) for (seed, purpose, a, b): integer hashing, far cheaper than seeding
    a generator when a single draw is all that is needed (cohort sizes are asked for millions of times)."""
    return _mix64(_seed_key(seed, purpose) ^ _mix64((a << 16) ^ b)) / 2.0 ** 64
