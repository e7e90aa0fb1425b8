"""Foundation: schools, encrypted pupil identities, data keys, marks, running totals, feeds, audit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-22 22:57:11.711538
"""

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_event_orgs',
    sa.Column('idx', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('org_id', sa.String(length=20), nullable=False),
    sa.PrimaryKeyConstraint('idx', 'org_id', name=op.f('pk_audit_event_orgs'))
    )
    with op.batch_alter_table('audit_event_orgs', schema=None) as batch_op:
        batch_op.create_index('ix_audit_event_orgs_org', ['org_id', 'idx'], unique=False)

    op.create_table('audit_events',
    sa.Column('idx', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('actor_org_type', sa.String(length=20), nullable=False),
    sa.Column('actor_org_id', sa.String(length=20), nullable=False),
    sa.Column('purpose', sa.String(length=60), nullable=True),
    sa.Column('decision', sa.String(length=10), nullable=True),
    sa.Column('release_id', sa.String(length=40), nullable=True),
    sa.Column('entry', sa.LargeBinary(), nullable=False),
    sa.Column('leaf_hash', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('idx', name=op.f('pk_audit_events'))
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_events_action'), ['action'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_events_actor_org_id'), ['actor_org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_events_occurred_at'), ['occurred_at'], unique=False)

    op.create_table('audit_state',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('tree_size', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_state'))
    )
    op.bulk_insert(
        sa.table("audit_state", sa.column("id", sa.Integer), sa.column("tree_size", sa.BigInteger)),
        [{"id": 1, "tree_size": 0}],
    )
    op.create_table(
        "data_keys",
        sa.Column("pupil_id", sa.String(length=64), nullable=False),
        sa.Column("academic_year", sa.Integer(), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("master_key_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("pupil_id", "academic_year", name=op.f("pk_data_keys")),
    )
    op.create_table(
        "enrolment_code_totals",
        sa.Column("pupil_id", sa.String(length=64), nullable=False),
        sa.Column("urn", sa.Integer(), nullable=False),
        sa.Column("academic_year", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=2), nullable=False),
        sa.Column("sessions", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "pupil_id", "urn", "academic_year", "code", name=op.f("pk_enrolment_code_totals")
        ),
    )
    op.create_table(
        "mark_history",
        sa.Column("urn", sa.Integer(), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("pupil_id", sa.String(length=64), nullable=False),
        sa.Column("academic_year", sa.Integer(), nullable=False),
        sa.Column("am", sa.String(length=2), nullable=False),
        sa.Column("pm", sa.String(length=2), nullable=False),
        sa.PrimaryKeyConstraint("urn", "date", "version", "pupil_id", name=op.f("pk_mark_history")),
    )
    op.create_table(
        "marks",
        sa.Column("urn", sa.Integer(), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("pupil_id", sa.String(length=64), nullable=False),
        sa.Column("academic_year", sa.Integer(), nullable=False),
        sa.Column("am", sa.String(length=2), nullable=False),
        sa.Column("pm", sa.String(length=2), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("urn", "date", "pupil_id", name=op.f("pk_marks")),
    )
    with op.batch_alter_table("marks", schema=None) as batch_op:
        batch_op.create_index("ix_marks_pupil_year", ["pupil_id", "academic_year"], unique=False)

    op.create_table(
        "pupil_identities",
        sa.Column("pupil_id", sa.String(length=64), nullable=False),
        sa.Column("academic_year", sa.Integer(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("pupil_id", "academic_year", name=op.f("pk_pupil_identities")),
    )
    op.create_table(
        "schools",
        sa.Column("urn", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("la_code", sa.String(length=3), nullable=False),
        sa.Column("la_name", sa.String(length=120), nullable=False),
        sa.Column("establishment_number", sa.String(length=4), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("phase", sa.String(length=40), nullable=False),
        sa.Column("type_of_establishment", sa.String(length=120), nullable=True),
        sa.Column("status", sa.String(length=60), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("urn", name=op.f("pk_schools")),
    )
    with op.batch_alter_table("schools", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_schools_la_code"), ["la_code"], unique=False)

    op.create_table(
        "enrolments",
        sa.Column("pupil_id", sa.String(length=64), nullable=False),
        sa.Column("urn", sa.Integer(), nullable=False),
        sa.Column("academic_year", sa.Integer(), nullable=False),
        sa.Column("la_code", sa.String(length=3), nullable=False),
        sa.Column("year_group", sa.String(length=2), nullable=False),
        sa.Column("sen_status", sa.String(length=1), nullable=False),
        sa.Column("fsm_eligible", sa.Boolean(), nullable=False),
        sa.Column("first_date", sa.Date(), nullable=False),
        sa.Column("last_date", sa.Date(), nullable=False),
        sa.Column("sessions_possible", sa.Integer(), nullable=False),
        sa.Column("sessions_present", sa.Integer(), nullable=False),
        sa.Column("sessions_aea", sa.Integer(), nullable=False),
        sa.Column("sessions_authorised", sa.Integer(), nullable=False),
        sa.Column("sessions_unauthorised", sa.Integer(), nullable=False),
        sa.Column("sessions_not_counted", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["urn"], ["schools.urn"], name=op.f("fk_enrolments_urn_schools")),
        sa.PrimaryKeyConstraint("pupil_id", "urn", "academic_year", name=op.f("pk_enrolments")),
    )
    with op.batch_alter_table("enrolments", schema=None) as batch_op:
        batch_op.create_index("ix_enrolments_la_year", ["la_code", "academic_year"], unique=False)
        batch_op.create_index("ix_enrolments_urn_year", ["urn", "academic_year"], unique=False)

    op.create_table(
        "feeds",
        sa.Column("urn", sa.Integer(), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("academic_year", sa.Integer(), nullable=False),
        sa.Column("body_sha256", sa.String(length=64), nullable=False),
        sa.Column("pupil_count", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_by", sa.String(length=200), nullable=False),
        sa.Column("audit_index", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["urn"], ["schools.urn"], name=op.f("fk_feeds_urn_schools")),
        sa.PrimaryKeyConstraint("urn", "date", "version", name=op.f("pk_feeds")),
    )


def downgrade() -> None:
    op.drop_table("feeds")
    with op.batch_alter_table("enrolments", schema=None) as batch_op:
        batch_op.drop_index("ix_enrolments_urn_year")
        batch_op.drop_index("ix_enrolments_la_year")

    op.drop_table("enrolments")
    with op.batch_alter_table("schools", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_schools_la_code"))

    op.drop_table("schools")
    op.drop_table("pupil_identities")
    with op.batch_alter_table("marks", schema=None) as batch_op:
        batch_op.drop_index("ix_marks_pupil_year")

    op.drop_table("marks")
    op.drop_table("mark_history")
    op.drop_table("enrolment_code_totals")
    op.drop_table("data_keys")
    op.drop_table("audit_state")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_events_occurred_at"))
        batch_op.drop_index(batch_op.f("ix_audit_events_actor_org_id"))
        batch_op.drop_index(batch_op.f("ix_audit_events_action"))

    op.drop_table("audit_events")
    with op.batch_alter_table("audit_event_orgs", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_event_orgs_org")

    op.drop_table("audit_event_orgs")
