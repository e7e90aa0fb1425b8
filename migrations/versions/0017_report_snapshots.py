"""The fortnightly benchmark snapshots behind the schools' attendance reports.

One row per (academic year, fortnight start): every open school's cohort counts, noised once under the
school-benchmarks share of the year's privacy budget (its spend in ``privacy_spends``), packed as
compressed JSON. Reports are post-processing of a snapshot and spend nothing.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 20:15:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('report_snapshots',
    sa.Column('academic_year', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('fortnight_start', sa.Date(), nullable=False),
    sa.Column('spend_id', sa.String(length=40), nullable=False),
    sa.Column('schools', sa.Integer(), nullable=False),
    sa.Column('body', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['spend_id'], ['privacy_spends.id'],
                            name=op.f('fk_report_snapshots_spend_id_privacy_spends')),
    sa.PrimaryKeyConstraint('academic_year', 'fortnight_start', name=op.f('pk_report_snapshots'))
    )


def downgrade() -> None:
    op.drop_table('report_snapshots')
