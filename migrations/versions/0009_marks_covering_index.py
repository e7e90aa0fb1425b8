"""The marks' index by pupil covers what releases read of a pupil's marks.

``ix_marks_pupil_year`` (pupil_id, academic_year) found a pupil's marks, one heap page per mark: the
marks are stored in the order registers arrive (school by school, day by day), so a pupil's 70 marks
of a term sit on 70 pages. The penalty-notice criterion reads the marks of thousands of candidates
(300,000 marks for an LA of 60,000 pupils): 300,000 page visits. With the date, school and codes in
the index, it reads them from the index alone, a pupil's marks side by side in date order (on
PostgreSQL once vacuum has marked the pages all-visible, which autovacuum does for inserts too).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 05:50:00.000000
"""

from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

COLUMNS = ['pupil_id', 'academic_year', 'date', 'urn', 'am', 'pm']


def upgrade() -> None:
    with op.batch_alter_table('marks', schema=None) as batch_op:
        batch_op.drop_index('ix_marks_pupil_year')
        batch_op.create_index('ix_marks_pupil_year', COLUMNS, unique=False)


def downgrade() -> None:
    with op.batch_alter_table('marks', schema=None) as batch_op:
        batch_op.drop_index('ix_marks_pupil_year')
        batch_op.create_index('ix_marks_pupil_year', ['pupil_id', 'academic_year'], unique=False)
