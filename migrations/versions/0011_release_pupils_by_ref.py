"""release_pupils keyed by the pupil_ref the school resolves, and only for releases that give one.

The rows exist for one reader: a school resolving a pupil_ref (``release_repository.resolve_pupil_ref``,
by reference). They had two indexes, the primary key (release_id, pupil_id) and one on pupil_ref, each
about 40 ms of the 80 ms COPY of a 10,549-pupil release on the releases bench. The primary key is now
(pupil_ref, release_id), which serves the resolution too. Rows without a reference (a purpose that
releases identifiers, not a pupil_ref) were never read and are no longer written. Retention deletes a
release's rows by release_id, now without an index: a daily batch, not a request.

The downgrade puts the old keys back; the rows without a reference it cannot bring back, and nothing
read them.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23 08:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

PK = 'pk_release_pupils'
BY_REF = 'ix_release_pupils_pupil_ref'


def upgrade() -> None:
    op.execute("DELETE FROM release_pupils WHERE pupil_ref IS NULL")
    with op.batch_alter_table('release_pupils', schema=None) as batch_op:
        batch_op.drop_index(BY_REF)
        batch_op.drop_constraint(PK, type_='primary')
        batch_op.alter_column('pupil_ref', existing_type=sa.String(length=40), nullable=False)
        batch_op.create_primary_key(PK, ['pupil_ref', 'release_id'])


def downgrade() -> None:
    with op.batch_alter_table('release_pupils', schema=None) as batch_op:
        batch_op.drop_constraint(PK, type_='primary')
        batch_op.alter_column('pupil_ref', existing_type=sa.String(length=40), nullable=True)
        batch_op.create_primary_key(PK, ['release_id', 'pupil_id'])
        batch_op.create_index(BY_REF, ['pupil_ref'], unique=False)
