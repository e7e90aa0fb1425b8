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


# Plain ALTER TABLE on both databases: SQLite adds and (since 3.35) drops a column in place, where a
# batch operation would copy the table and trip over the rows that refer to its schools.
def upgrade() -> None:
    for name, kind in COLUMNS:
        op.add_column("schools", sa.Column(name, kind, nullable=True))
    op.create_index("ix_schools_trust_uid", "schools", ["trust_uid"])


def downgrade() -> None:
    op.drop_index("ix_schools_trust_uid", table_name="schools")
    for name, _ in reversed(COLUMNS):
        op.execute(f"ALTER TABLE schools DROP COLUMN {name}")
