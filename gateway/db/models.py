"""SQLAlchemy 2 typed models. No pupil identifier is stored in clear: `pupil_id` is a keyed
pseudonym of the UPN, identifiers live only AES-GCM-encrypted in `pupil_identities` under a data key
per pupil per academic year (`data_keys`), itself wrapped by the master key."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db.base import Base, UTCDateTime

PUPIL_ID = String(64)


class School(Base):
    __tablename__ = "schools"

    urn: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    la_code: Mapped[str] = mapped_column(String(3), index=True)
    la_name: Mapped[str] = mapped_column(String(120))
    establishment_number: Mapped[str | None] = mapped_column(String(4))
    name: Mapped[str] = mapped_column(String(200))
    phase: Mapped[str] = mapped_column(String(40))
    type_of_establishment: Mapped[str | None] = mapped_column(String(120))
    status: Mapped[str] = mapped_column(String(60))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    # What similar schools are matched on, and the school's academy trust (GIAS; unknown when null).
    type_group: Mapped[str | None] = mapped_column(String(60))
    religious_character: Mapped[str | None] = mapped_column(String(80))
    admissions_policy: Mapped[str | None] = mapped_column(String(60))
    region: Mapped[str | None] = mapped_column(String(60))
    number_of_pupils: Mapped[int | None] = mapped_column(Integer)
    trust_uid: Mapped[str | None] = mapped_column(String(10), index=True)
    trust_name: Mapped[str | None] = mapped_column(String(200))


class DataKey(Base):
    """A pupil's data key for one academic year, wrapped by a master key. Deleting the row
    crypto-shreds every copy of that year's identifiers."""

    __tablename__ = "data_keys"

    pupil_id: Mapped[str] = mapped_column(PUPIL_ID, primary_key=True)
    academic_year: Mapped[int] = mapped_column(Integer, primary_key=True)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    master_key_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class PupilIdentity(Base):
    __tablename__ = "pupil_identities"

    pupil_id: Mapped[str] = mapped_column(PUPIL_ID, primary_key=True)
    academic_year: Mapped[int] = mapped_column(Integer, primary_key=True)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    digest: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class Enrolment(Base):
    """Running totals of one pupil's enrolment at one school in one academic year, kept exact at
    ingest (corrections subtract the superseded marks) so that case lists and statistics never
    rescan the marks."""

    __tablename__ = "enrolments"

    pupil_id: Mapped[str] = mapped_column(PUPIL_ID, primary_key=True)
    urn: Mapped[int] = mapped_column(Integer, ForeignKey("schools.urn"), primary_key=True)
    academic_year: Mapped[int] = mapped_column(Integer, primary_key=True)
    la_code: Mapped[str] = mapped_column(String(3))
    year_group: Mapped[str] = mapped_column(String(2))
    sen_status: Mapped[str] = mapped_column(String(1))
    fsm_eligible: Mapped[bool] = mapped_column(Boolean)
    first_date: Mapped[dt.date] = mapped_column(Date)
    last_date: Mapped[dt.date] = mapped_column(Date)
    sessions_possible: Mapped[int] = mapped_column(Integer, default=0)
    sessions_present: Mapped[int] = mapped_column(Integer, default=0)
    sessions_aea: Mapped[int] = mapped_column(Integer, default=0)
    sessions_authorised: Mapped[int] = mapped_column(Integer, default=0)
    sessions_unauthorised: Mapped[int] = mapped_column(Integer, default=0)
    sessions_not_counted: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        Index("ix_enrolments_urn_year", "urn", "academic_year"),
        Index("ix_enrolments_la_year", "la_code", "academic_year"),
    )


class EnrolmentCodeTotal(Base):
    """Sessions by reason code for an enrolment; the plain present codes / and \\ are not listed
    (they are sessions_present less L)."""

    __tablename__ = "enrolment_code_totals"

    pupil_id: Mapped[str] = mapped_column(PUPIL_ID, primary_key=True)
    urn: Mapped[int] = mapped_column(Integer, primary_key=True)
    academic_year: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(2), primary_key=True)
    sessions: Mapped[int] = mapped_column(Integer)


class _RegisterBody:
    """What a register row holds beside its key, current or superseded."""

    body_sha256: Mapped[str] = mapped_column(String(64))
    pupil_count: Mapped[int] = mapped_column(Integer)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    submitted_by: Mapped[str] = mapped_column(String(200))
    audit_index: Mapped[int] = mapped_column(BigInteger)
    format: Mapped[int] = mapped_column(SmallInteger)
    marks: Mapped[bytes] = mapped_column(LargeBinary)


class Register(_RegisterBody, Base):
    """A school's current register for a day: what the feed carried (digest, pupil count, the audit
    event that recorded it) and its marks packed in the order of the school's roster slots
    (`schemas.registers`). A correction moves the version it supersedes to ``register_history``, so
    a reader finds the current version by its key alone. The URN comes first in the key, as in the
    rosters, so that a cluster keeps a school's rows on one node."""

    __tablename__ = "registers"

    urn: Mapped[int] = mapped_column(Integer, ForeignKey("schools.urn"), primary_key=True,
                                     autoincrement=False)
    # In the key so that PostgreSQL can partition by it (a date has one academic year).
    academic_year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    date: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    version: Mapped[int] = mapped_column(Integer)

    #: The latest register date of a year (``statistics.latest_feed_date``) without a scan.
    __table_args__ = (Index("ix_registers_year_date", "academic_year", "date"),)


class RegisterHistory(_RegisterBody, Base):
    """Superseded versions of registers, kept for the audit trail of corrections."""

    __tablename__ = "register_history"

    urn: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    academic_year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    date: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)

    __table_args__ = (Index("ix_register_history_year", "academic_year"),)


class RegisterCode(Base):
    """The number of each register code in packed registers (`schemas.registers.CODES`), for the
    ``register_marks`` view and for analysts reading the packed bytes with plain SQL."""

    __tablename__ = "register_codes"

    number: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    code: Mapped[str] = mapped_column(String(2))
    hex: Mapped[str] = mapped_column(String(2))


class Mark(Base):
    """The current AM and PM marks of one pupil at one school on one day."""

    __tablename__ = "marks"

    urn: Mapped[int] = mapped_column(Integer, primary_key=True)
    date: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    pupil_id: Mapped[str] = mapped_column(PUPIL_ID, primary_key=True)
    academic_year: Mapped[int] = mapped_column(Integer)
    am: Mapped[str] = mapped_column(String(2))
    pm: Mapped[str] = mapped_column(String(2))
    version: Mapped[int] = mapped_column(Integer)

    # Covering: a pupil's marks are read from the index alone (migrations/versions/0009).
    __table_args__ = (Index("ix_marks_pupil_year", "pupil_id", "academic_year", "date", "urn", "am", "pm"),)


class Roster(Base):
    """One school's pupils in one academic year and their running totals, packed per pupil slot
    (`schemas.rosters`): stage 1 of the packed storage (README, "Storage"), kept beside the
    enrolments. The URN comes first in the key, so that a cluster can keep a school's rows on one node."""

    __tablename__ = "rosters"

    urn: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    academic_year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    format: Mapped[int] = mapped_column(SmallInteger)
    pupils: Mapped[int] = mapped_column(Integer)
    pupil_ids: Mapped[bytes] = mapped_column(LargeBinary)
    digests: Mapped[bytes] = mapped_column(LargeBinary)
    attributes: Mapped[bytes] = mapped_column(LargeBinary)
    totals: Mapped[bytes] = mapped_column(LargeBinary)
    codes: Mapped[bytes] = mapped_column(LargeBinary)
    weeks: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class AuditState(Base):
    """One row: the log's size. Locking it serialises appends across gateway processes."""

    __tablename__ = "audit_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    tree_size: Mapped[int] = mapped_column(BigInteger)


class AuditEvent(Base):
    """An append-only log entry: `entry` holds the event's canonical bytes (RFC 8785 JSON)."""

    __tablename__ = "audit_events"

    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    action: Mapped[str] = mapped_column(String(40), index=True)
    actor_org_type: Mapped[str] = mapped_column(String(20))
    actor_org_id: Mapped[str] = mapped_column(String(20), index=True)
    purpose: Mapped[str | None] = mapped_column(String(60))
    decision: Mapped[str | None] = mapped_column(String(10))
    release_id: Mapped[str | None] = mapped_column(String(40))
    entry: Mapped[bytes] = mapped_column(LargeBinary)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary)


class AuditEventOrg(Base):
    """Which organisations an event is about, so that an organisation's DPO sees its own."""

    __tablename__ = "audit_event_orgs"

    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    org_id: Mapped[str] = mapped_column(String(20), primary_key=True)

    __table_args__ = (Index("ix_audit_event_orgs_org", "org_id", "idx"),)


class AuditNode(Base):
    """The hash of one complete aligned subtree of the audit log (RFC 9162 MTH of leaves
    ``[idx * 2**level, (idx + 1) * 2**level)``); level 0 holds the leaf hashes. Written once, in the
    transaction of the append that completes it, so that any proof is O(log n) row reads."""

    __tablename__ = "audit_nodes"

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary)


class AuditTreeHead(Base):
    """Every signed tree head the log has issued (docs/design.md "tree head"); none is ever replaced."""

    __tablename__ = "audit_tree_heads"

    tree_size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    key_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary)
    signed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    algorithm: Mapped[str] = mapped_column(String(10))
    signature: Mapped[bytes] = mapped_column(LargeBinary)


class AuditPupilSet(Base):
    """Which pupils (by audit pseudonym) an event names, as one row per event: its pupil set, written
    before the append lock is taken (migrations/versions/0008). `refs` holds the sorted pseudonyms,
    each between two line feeds, so that subject access finds a pupil's sets with a plain substring
    search on either database and a release of 10,000 pupils writes one row, not 10,000
    (migrations/versions/0016)."""

    __tablename__ = "audit_pupil_sets"

    set_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    pupils: Mapped[int] = mapped_column(Integer)
    refs: Mapped[str] = mapped_column(Text)


class AuditEventPupilSet(Base):
    """The pupil set of an event that names pupils, added with the event under the append lock."""

    __tablename__ = "audit_event_pupil_sets"

    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    set_id: Mapped[int] = mapped_column(BigInteger, unique=True)


__all__ = [
    "AuditEvent",
    "AuditEventOrg",
    "AuditNode",
    "AuditEventPupilSet",
    "AuditPupilSet",
    "AuditTreeHead",
    "AuditState",
    "DataKey",
    "Enrolment",
    "EnrolmentCodeTotal",
    "Mark",
    "Register",
    "RegisterCode",
    "RegisterHistory",
    "PupilIdentity",
    "School",
]


class Release(Base):
    """A case-level release: who got what, for which purpose, until when. The records themselves are
    not kept: they leave once, and the recipient attests their deletion."""

    __tablename__ = "releases"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(60), index=True)
    recipient_org_type: Mapped[str] = mapped_column(String(20))
    recipient_org_id: Mapped[str] = mapped_column(String(20), index=True)
    requested_by: Mapped[str] = mapped_column(String(200))
    criterion: Mapped[str] = mapped_column(String(60))
    window_from: Mapped[dt.date] = mapped_column(Date)
    window_to: Mapped[dt.date] = mapped_column(Date)
    academic_year: Mapped[int] = mapped_column(Integer)
    fields: Mapped[str] = mapped_column(String(2000))  # JSON list of output field names
    justification: Mapped[str] = mapped_column(String(2000))
    record_count: Mapped[int] = mapped_column(Integer)
    withheld_consent: Mapped[int] = mapped_column(Integer, default=0)
    withheld_objection: Mapped[int] = mapped_column(Integer, default=0)
    policy_version: Mapped[str] = mapped_column(String(40))
    policy_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    deletion_attested_by: Mapped[str | None] = mapped_column(String(200))
    expired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    audit_index: Mapped[int] = mapped_column(BigInteger)


class ReleasePupil(Base):
    """The pupil_ref a release gave each of its pupils, so that the pupil's school can resolve it;
    only releases whose fields include a pupil_ref have rows (migrations/versions/0011)."""

    __tablename__ = "release_pupils"

    # No foreign key: written only with its release, in one transaction, and deleted with it; the key
    # cost a lookup per row (migrations/versions/0010). Keyed by reference first: the resolution's
    # index, and the only one.
    pupil_ref: Mapped[str] = mapped_column(String(40), primary_key=True)
    release_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    pupil_id: Mapped[str] = mapped_column(PUPIL_ID)


__all__ += ["Release", "ReleasePupil"]


class ConsentRecord(Base):
    """Append-only history of parental consent and objection decisions; the current state of a pupil
    for a purpose is the latest row. The evidence text is encrypted under the pupil's data key."""

    __tablename__ = "consents"

    receipt_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    pupil_id: Mapped[str] = mapped_column(PUPIL_ID)
    academic_year: Mapped[int] = mapped_column(Integer)
    purpose: Mapped[str] = mapped_column(String(60))
    decision: Mapped[str] = mapped_column(String(10))
    recorded_by_urn: Mapped[int] = mapped_column(Integer)
    recorded_by_sub: Mapped[str] = mapped_column(String(200))
    evidence: Mapped[bytes | None] = mapped_column(LargeBinary)
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    audit_index: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_consents_pupil_purpose", "pupil_id", "purpose", "seq"),)


__all__ += ["ConsentRecord"]


# --- differentially private statistics ----------------------------------------------------------

from sqlalchemy import CheckConstraint, Float, UniqueConstraint  # noqa: E402


class PrivacyLedger(Base):
    """The privacy budget of one academic year, for every statistics consumer together: zCDP rho in
    integer units of ``anonymisation.dp.RHO_UNIT``. The cap is fixed when the year is first spent
    from (from settings, within the catalogue's ceiling) and changes only by a DPO's audited approval
    (``gateway stats approve-cap``). Each consumer draws on its catalogue share of the cap; what was
    spent is the sum of the year's ``privacy_spends``. Locking this row serialises every reservation
    of the year, whichever organisation asks, so together they can never overspend the cap."""

    __tablename__ = "privacy_ledgers"

    academic_year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    cap_units: Mapped[int] = mapped_column(BigInteger)
    epsilon: Mapped[float] = mapped_column(Float)
    delta: Mapped[float] = mapped_column(Float)
    #: ``settings`` when fixed at first use, else the DPO's subject who approved the last change.
    fixed_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class PrivacySpend(Base):
    """One reservation of budget, made before any noise is drawn and never refunded. ``reserved``
    becomes ``released`` once the noisy answer is stored; a reservation whose answer never came (a
    crash between the two) stays spent. ``measurement`` is the plan: each statistic's OpenDP
    measurement (``dp.serialize``), scale, sensitivity and rho."""

    __tablename__ = "privacy_spends"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    academic_year: Mapped[int] = mapped_column(Integer, ForeignKey("privacy_ledgers.academic_year"))
    #: The catalogue share drawn on (``dfe-statistics``); ``requester`` the organisation that asked.
    consumer: Mapped[str] = mapped_column(String(40))
    requester: Mapped[str] = mapped_column(String(60))
    units: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(10))
    kind: Mapped[str] = mapped_column(String(10))
    question_hash: Mapped[str] = mapped_column(String(64), index=True)
    question: Mapped[str] = mapped_column(Text)
    measurement: Mapped[str] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    released_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    audit_index: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        CheckConstraint("units > 0", name="units_positive"),
        CheckConstraint("status IN ('reserved', 'released')", name="status_known"),
        Index("ix_privacy_spends_year_consumer", "academic_year", "consumer"),
    )


class StatsAnswer(Base):
    """The stored noisy answer to one question (a statistic, or a named bundle of them): asking the
    same question again returns it, spending nothing. ``answer`` is the published JSON body (noisy
    values, intervals, scales), ``csv`` a bundle's DfE open-data file; nothing exact is kept."""

    __tablename__ = "stats_answers"

    question_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    spend_id: Mapped[str] = mapped_column(String(40), ForeignKey("privacy_spends.id"), unique=True)
    academic_year: Mapped[int] = mapped_column(Integer)
    consumer: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(10))
    bundle: Mapped[str | None] = mapped_column(String(80))
    answer: Mapped[str] = mapped_column(Text)
    csv: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    audit_index: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (UniqueConstraint("consumer", "bundle", name="uq_stats_answers_consumer_bundle"),)


class StatsMeasurement(Base):
    """One published noisy vector (a statistic over a window, grouping and key set), as the US Census
    Bureau keeps its noisy measurement files: a later measure over the same window and grouping reuses
    it (post-processing, free) instead of drawing and paying for the same statistic again. ``noisy`` is
    the JSON list of noisy cells in key-set order; ``scale`` and ``sensitivity`` its noise."""

    __tablename__ = "stats_measurements"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    spend_id: Mapped[str] = mapped_column(String(40), ForeignKey("privacy_spends.id"), index=True)
    academic_year: Mapped[int] = mapped_column(Integer)
    consumer: Mapped[str] = mapped_column(String(40))
    statistic: Mapped[str] = mapped_column(String(20))
    key: Mapped[str] = mapped_column(Text)
    sensitivity: Mapped[int] = mapped_column(Integer)
    scale: Mapped[float] = mapped_column(Float)
    units: Mapped[int] = mapped_column(BigInteger)
    noisy: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


__all__ += ["PrivacyLedger", "PrivacySpend", "StatsAnswer", "StatsMeasurement"]


from sqlalchemy import text  # noqa: E402


class PupilYearRollup(Base):
    """One row per pupil per academic year: the privacy unit of the statistics (docs/differential-privacy.md
    5.1, stage 2), kept at ingest from the pupil's enrolments (``gateway.db.repositories.rollup``).

    ``attributes`` packs the pupil's public key-set indexes (LA, phase, year group, SEN status, FSM;
    bit layout in ``gateway.db.repositories.statistics``) taken from the enrolment they are attributed to;
    the totals are summed over all their enrolments, unclamped. ``clean`` says the totals are within
    the public bounds of any year-to-date window that includes ``last_date`` (no negative count,
    absences within possible sessions, possible sessions within two per weekday since 1 August), so
    that clamping them would change nothing: such a pupil is counted in ``stats_cells``; any other is
    clamped when a statistic is asked for."""

    __tablename__ = "pupil_years"

    academic_year: Mapped[int] = mapped_column(Integer, primary_key=True)
    pupil_id: Mapped[str] = mapped_column(PUPIL_ID, primary_key=True)
    attributes: Mapped[int] = mapped_column(Integer)
    possible: Mapped[int] = mapped_column(Integer)
    authorised: Mapped[int] = mapped_column(Integer)
    unauthorised: Mapped[int] = mapped_column(Integer)
    last_date: Mapped[dt.date] = mapped_column(Date)
    clean: Mapped[bool] = mapped_column(Boolean)

    __table_args__ = (
        Index(
            "ix_pupil_years_unclean",
            "academic_year",
            postgresql_where=text("NOT clean"),
            sqlite_where=text("NOT clean"),
        ),
    )


class StatsCell(Base):
    """The clean pupil-years of an academic year with possible sessions, summed per combination of
    attributes: the exact year-to-date statistics before the key-set join, so that a national release
    reads a few thousand rows rather than every pupil. Kept exact at ingest alongside
    ``pupil_years``; ``gateway stats rebuild`` recomputes both from the enrolments."""

    __tablename__ = "stats_cells"

    academic_year: Mapped[int] = mapped_column(Integer, primary_key=True)
    attributes: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    pupils: Mapped[int] = mapped_column(BigInteger)
    possible: Mapped[int] = mapped_column(BigInteger)
    authorised: Mapped[int] = mapped_column(BigInteger)
    unauthorised: Mapped[int] = mapped_column(BigInteger)
    pa: Mapped[int] = mapped_column(BigInteger)
    severe: Mapped[int] = mapped_column(BigInteger)


__all__ += ["PupilYearRollup", "StatsCell"]


class ReportSnapshot(Base):
    """A fortnight's benchmark snapshot: every open school's noisy cohort counts (compressed JSON),
    drawn once on the school-benchmarks share; the schools' reports are post-processing of it."""

    __tablename__ = "report_snapshots"

    academic_year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    fortnight_start: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    spend_id: Mapped[str] = mapped_column(String(40), ForeignKey("privacy_spends.id"))
    schools: Mapped[int] = mapped_column(Integer)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
