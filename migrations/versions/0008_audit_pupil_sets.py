"""The audit log's pupil index written before the append lock: pupil sets.

Up to 0007 the index behind subject access was one ``audit_pupil_refs`` row per (pupil pseudonym,
event index). Its rows could only be written once the event's index was claimed, that is with the
log locked, and they are random inserts into an index on the pseudonym: a release of 10,000 pupils
held every other append (every register, every release) waiting behind 10,000 of them.

Now an event's pseudonyms are a *pupil set*: rows of ``audit_pupil_sets`` (pupil_ref, set_id)
written in the same transaction before the lock is taken, under a set id drawn at random; with the
lock held only one row is added, ``audit_event_pupil_sets`` (idx, set_id), which names the event's
set. Both tables are append-only like the rest of the log. Events appended before this revision keep
their rows, moved over with their index as set id (new set ids are at least 2**62, far beyond any
index).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 05:40:00.000000
"""

import importlib

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

_audit_log = importlib.import_module('migrations.versions.0002_audit_log')
TABLES = ('audit_pupil_sets', 'audit_event_pupil_sets')


def upgrade() -> None:
    op.create_table('audit_pupil_sets',
    sa.Column('pupil_ref', sa.String(length=32), nullable=False),
    sa.Column('set_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.PrimaryKeyConstraint('pupil_ref', 'set_id', name=op.f('pk_audit_pupil_sets'))
    )
    op.create_index('ix_audit_pupil_sets_set', 'audit_pupil_sets', ['set_id'])
    op.create_table('audit_event_pupil_sets',
    sa.Column('idx', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('set_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.PrimaryKeyConstraint('idx', name=op.f('pk_audit_event_pupil_sets')),
    sa.UniqueConstraint('set_id', name=op.f('uq_audit_event_pupil_sets_set_id'))
    )
    op.execute('INSERT INTO audit_pupil_sets (pupil_ref, set_id) SELECT pupil_ref, idx FROM audit_pupil_refs')
    op.execute(
        "INSERT INTO audit_event_pupil_sets (idx, set_id) SELECT DISTINCT idx, idx FROM audit_pupil_refs"
    )
    op.drop_table("audit_pupil_refs")  # with its append-only triggers
    _audit_log.create_append_only_triggers(TABLES)


def downgrade() -> None:
    op.create_table(
        "audit_pupil_refs",
        sa.Column("pupil_ref", sa.String(length=32), nullable=False),
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("pupil_ref", "idx", name=op.f("pk_audit_pupil_refs")),
    )
    op.execute(
        "INSERT INTO audit_pupil_refs (pupil_ref, idx) SELECT s.pupil_ref, e.idx "
        "FROM audit_event_pupil_sets e JOIN audit_pupil_sets s ON s.set_id = e.set_id"
    )
    op.drop_table("audit_event_pupil_sets")
    op.drop_index("ix_audit_pupil_sets_set", table_name="audit_pupil_sets")
    op.drop_table("audit_pupil_sets")
    _audit_log.create_append_only_triggers(("audit_pupil_refs",))
