"""Rosters: one row per (school, academic year) holding its pupils' running totals packed per pupil
slot (``schemas.rosters``), written by each register beside the enrolments (the first stage of the packed
storage).

The parts arrive compressed where that pays (zlib, in ``schemas.rosters``), and the rest are random
bytes: on PostgreSQL they are stored EXTERNAL, out of line without a second compression attempt.

Upgrading a database that already holds registers makes their rosters with the code that
``gateway stats rebuild`` runs (``gateway.db.repositories.rosters.rebuild``).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 02:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

PARTS = ('pupil_ids', 'digests', 'attributes', 'totals', 'codes', 'weeks')


def upgrade() -> None:
    op.create_table('rosters',
    sa.Column('urn', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('academic_year', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('format', sa.SmallInteger(), nullable=False),
    sa.Column('pupils', sa.Integer(), nullable=False),
    *(sa.Column(part, sa.LargeBinary(), nullable=False) for part in PARTS),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('urn', 'academic_year', name=op.f('pk_rosters'))
    )
    if op.get_bind().dialect.name == 'postgresql':
        external = ', '.join(f'ALTER COLUMN {part} SET STORAGE EXTERNAL' for part in PARTS)
        op.execute(f'ALTER TABLE rosters {external}')
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT 1 FROM marks LIMIT 1")).first() is not None:
        from sqlalchemy.orm import Session

        from gateway.db.repositories import rosters as roster_repository

        with Session(bind=bind) as db:
            roster_repository.rebuild(db, legacy=True)
            db.flush()


def downgrade() -> None:
    op.drop_table('rosters')
