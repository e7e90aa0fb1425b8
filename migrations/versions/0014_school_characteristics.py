"""The characteristics of a school that the attendance reports match similar schools on, and its trust.

From the register of schools (GIAS): the establishment type group, religious character, admissions
policy, region, pupils on roll, and the UID and name of the academy trust the school belongs to. All
nullable: a school imported before, or from an extract without these columns, has them unknown until
the next import. The trust UID is indexed: a trust officer's overview lists the trust's schools.

Downgrade drops the columns.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 12:20:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

COLUMNS = (
    ("type_group", sa.String(60)),
    ("religious_character", sa.String(80)),
    ("admissions_policy", sa.String(60)),
    ("region", sa.String(60)),
    ("number_of_pupils", sa.Integer()),
    ("trust_uid", sa.String(10)),
    ("trust_name", sa.String(200)),
)


def upgrade() -> None:
    with op.batch_alter_table("schools") as batch:
        for name, kind in COLUMNS:
            batch.add_column(sa.Column(name, kind, nullable=True))
    op.create_index("ix_schools_trust_uid", "schools", ["trust_uid"])


def downgrade() -> None:
    op.drop_index("ix_schools_trust_uid", table_name="schools")
    with op.batch_alter_table("schools") as batch:
        for name, _ in reversed(COLUMNS):
            batch.drop_column(name)
