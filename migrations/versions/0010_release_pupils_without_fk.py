"""release_pupils without its foreign key to releases.

The key made PostgreSQL look up the release once per row: 10,000 lookups, 100-160 ms of a 10,000-pupil
release's 150-220 ms COPY into release_pupils on the releases bench, for rows that one function
(``gateway.db.repositories.releases.insert_release``) writes in the transaction that inserts the
release itself, just before them, and that retention deletes with it
(``gateway.db.repositories.retention``).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23 06:10:00.000000
"""

from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

FK = 'fk_release_pupils_release_id_releases'


def upgrade() -> None:
    with op.batch_alter_table('release_pupils', schema=None) as batch_op:
        batch_op.drop_constraint(FK, type_='foreignkey')


def downgrade() -> None:
    with op.batch_alter_table('release_pupils', schema=None) as batch_op:
        batch_op.create_foreign_key(FK, 'releases', ['release_id'], ['id'])
