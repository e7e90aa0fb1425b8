"""DfE's lines of persistent and severe absence: one definition for releases, reports and statistics."""

#: Persistent absence: an enrolment missing 10% or more of its own possible sessions (DfE threshold
#: since 2015/16; docs/domain.md 2.2). Exactly 10% qualifies.
PERSISTENT_ABSENCE_PERCENT = 10

#: Severe absence: an enrolment missing 50% or more of its own possible sessions (DfE; docs/domain.md 2.2).
SEVERE_ABSENCE_PERCENT = 50


def is_persistent(absent: int, possible: int) -> bool:
    """At or past the persistent-absence line, in integers (no rounding can miss exactly 10%)."""
    return absent * 100 >= possible * PERSISTENT_ABSENCE_PERCENT


def is_severe(absent: int, possible: int) -> bool:
    return absent * 100 >= possible * SEVERE_ABSENCE_PERCENT


def persistent_sql(absent: str, possible: str) -> str:
    """`is_persistent` as a SQL condition over two expressions of our own (never a value)."""
    return f"({absent}) * 100 >= ({possible}) * {PERSISTENT_ABSENCE_PERCENT}"


def severe_sql(absent: str, possible: str) -> str:
    return f"({absent}) * 100 >= ({possible}) * {SEVERE_ABSENCE_PERCENT}"
