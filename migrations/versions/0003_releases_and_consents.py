"""Releases (who received which pupils, for what, until when) and the consent/objection registry.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 23:19:41.249963
"""

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('consents',
    sa.Column('receipt_id', sa.String(length=40), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('pupil_id', sa.String(length=64), nullable=False),
    sa.Column('academic_year', sa.Integer(), nullable=False),
    sa.Column('purpose', sa.String(length=60), nullable=False),
    sa.Column('decision', sa.String(length=10), nullable=False),
    sa.Column('recorded_by_urn', sa.Integer(), nullable=False),
    sa.Column('recorded_by_sub', sa.String(length=200), nullable=False),
    sa.Column('evidence', sa.LargeBinary(), nullable=True),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('audit_index', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('receipt_id', name=op.f('pk_consents')),
    sa.UniqueConstraint('seq', name=op.f('uq_consents_seq'))
    )
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.create_index('ix_consents_pupil_purpose', ['pupil_id', 'purpose', 'seq'], unique=False)

    op.create_table('releases',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('purpose', sa.String(length=60), nullable=False),
    sa.Column('recipient_org_type', sa.String(length=20), nullable=False),
    sa.Column('recipient_org_id', sa.String(length=20), nullable=False),
    sa.Column('requested_by', sa.String(length=200), nullable=False),
    sa.Column('criterion', sa.String(length=60), nullable=False),
    sa.Column('window_from', sa.Date(), nullable=False),
    sa.Column('window_to', sa.Date(), nullable=False),
    sa.Column('academic_year', sa.Integer(), nullable=False),
    sa.Column('fields', sa.String(length=2000), nullable=False),
    sa.Column('justification', sa.String(length=2000), nullable=False),
    sa.Column('record_count', sa.Integer(), nullable=False),
    sa.Column('withheld_consent', sa.Integer(), nullable=False),
    sa.Column('withheld_objection', sa.Integer(), nullable=False),
    sa.Column('policy_version', sa.String(length=40), nullable=False),
    sa.Column('policy_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('deletion_attested_by', sa.String(length=200), nullable=True),
    sa.Column('expired_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('audit_index', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_releases'))
    )
    with op.batch_alter_table('releases', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_releases_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_releases_purpose'), ['purpose'], unique=False)
        batch_op.create_index(batch_op.f('ix_releases_recipient_org_id'), ['recipient_org_id'], unique=False)

    op.create_table(
        "release_pupils",
        sa.Column("release_id", sa.String(length=40), nullable=False),
        sa.Column("pupil_id", sa.String(length=64), nullable=False),
        sa.Column("pupil_ref", sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(
            ["release_id"], ["releases.id"], name=op.f("fk_release_pupils_release_id_releases")
        ),
        sa.PrimaryKeyConstraint("release_id", "pupil_id", name=op.f("pk_release_pupils")),
    )
    with op.batch_alter_table("release_pupils", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_release_pupils_pupil_ref"), ["pupil_ref"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("release_pupils", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_release_pupils_pupil_ref"))

    op.drop_table("release_pupils")
    with op.batch_alter_table("releases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_releases_recipient_org_id"))
        batch_op.drop_index(batch_op.f("ix_releases_purpose"))
        batch_op.drop_index(batch_op.f("ix_releases_expires_at"))

    op.drop_table("releases")
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.drop_index("ix_consents_pupil_purpose")

    op.drop_table("consents")
