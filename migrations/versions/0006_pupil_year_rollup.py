"""The pupil-year rollup and the statistics cells, kept at ingest (docs/differential-privacy.md 5.1, stage 2).

A year-to-date statistic collapsed every enrolment of the year to one row per pupil at query time:
tens of seconds at the scale of England. ``pupil_years`` keeps that row per pupil, and ``stats_cells``
the clean pupil-years summed per combination of attributes, both moved at ingest. ``feeds`` gets an
index on (academic_year, date): the latest register of a year decides whether the rollup answers.

Upgrading a database that already holds registers fills both from the enrolments with the same code
the gateway runs for ``gateway stats rebuild`` (``gateway.db.repositories.rollup.rebuild``).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 02:50:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('pupil_years',
    sa.Column('academic_year', sa.Integer(), nullable=False),
    sa.Column('pupil_id', sa.String(length=64), nullable=False),
    sa.Column('attributes', sa.Integer(), nullable=False),
    sa.Column('possible', sa.Integer(), nullable=False),
    sa.Column('authorised', sa.Integer(), nullable=False),
    sa.Column('unauthorised', sa.Integer(), nullable=False),
    sa.Column('last_date', sa.Date(), nullable=False),
    sa.Column('clean', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('academic_year', 'pupil_id', name=op.f('pk_pupil_years'))
    )
    op.create_index('ix_pupil_years_unclean', 'pupil_years', ['academic_year'], unique=False,
                    postgresql_where=sa.text('NOT clean'), sqlite_where=sa.text('NOT clean'))
    op.create_table('stats_cells',
    sa.Column('academic_year', sa.Integer(), nullable=False),
    sa.Column('attributes', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('pupils', sa.BigInteger(), nullable=False),
    sa.Column('possible', sa.BigInteger(), nullable=False),
    sa.Column('authorised', sa.BigInteger(), nullable=False),
    sa.Column('unauthorised', sa.BigInteger(), nullable=False),
    sa.Column('pa', sa.BigInteger(), nullable=False),
    sa.Column('severe', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('academic_year', 'attributes', name=op.f('pk_stats_cells'))
    )
    op.create_index('ix_feeds_year_date', 'feeds', ['academic_year', 'date'], unique=False)
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT 1 FROM enrolments LIMIT 1")).first() is not None:
        from sqlalchemy.orm import Session

        from gateway.db.repositories import rollup as rollup_repository

        with Session(bind=bind) as db:
            rollup_repository.rebuild(db)
            db.flush()


def downgrade() -> None:
    op.drop_index('ix_feeds_year_date', table_name='feeds')
    op.drop_table('stats_cells')
    op.drop_index('ix_pupil_years_unclean', table_name='pupil_years',
                  postgresql_where=sa.text('NOT clean'), sqlite_where=sa.text('NOT clean'))
    op.drop_table('pupil_years')
