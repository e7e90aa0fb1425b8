"""The pupil-year rollup and the reason-code totals keep room on every page: ingest updates them in place.

Every school day rewrites every pupil's ``pupil_years`` row (their totals moved), as 0005 does for
``enrolments``: about 8 million updates a day. On full pages each update puts the new row version on
another page and new entries in both of the table's indexes. With half of each page free, a whole
register's rows (its pupils sit together, inserted on their first school day) get their new versions
on their own pages, without touching the indexes (heap-only tuples), and the old versions are pruned
page by page. On the ingest bench (bench/ingest.py) the rollup's update then writes a third of the WAL
records it did. ``enrolment_code_totals`` moves a reason code's sessions on each absence after a
pupil's first of that code: a fifth of each page is room enough for those. SQLite has no fillfactor.

Pages written before this revision keep their packing until the table is rewritten (VACUUM FULL or
CLUSTER in a maintenance window); new pages follow the setting at once.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 05:40:00.000000
"""

from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

#: Percent of each page filled by inserts, per table.
FILLFACTORS = {"pupil_years": 50, "enrolment_code_totals": 80}


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, fillfactor in FILLFACTORS.items():
            op.execute(f"ALTER TABLE {table} SET (fillfactor = {fillfactor})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in FILLFACTORS:
            op.execute(f"ALTER TABLE {table} RESET (fillfactor)")
