"""DfE's lines of persistent and severe absence: one definition for releases, reports and statistics."""

#: Persistent absence: an enrolment missing 10% or more of its own possible sessions (DfE threshold
#: since 2015/16; docs/domain.md 2.2). Exactly 10% qualifies.
PERSISTENT_ABSENCE_PERCENT = 10

#: Severe absence: an enrolment missing 50% or more of its own possible sessions (DfE; docs/domain.md 2.2).
SEVERE_ABSENCE_PERCENT = 50
